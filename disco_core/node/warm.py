"""Warm workers: worker processes that finished a task and wait to run the next of their job.

A worker asks for this in its ``WORKER`` message (``"reuse": true``; the Python worker
does). When such a worker's task ends with ``DONE``, the node keeps the process instead of
killing it, and the next task of the same job on this node is its reply to that ``DONE``:
the ``TASK`` reply it would have asked for, after which the conversation goes on as in a
fresh worker (``INPUT``, ``OUTPUT``, ..., ``DONE``). A worker that never asked is killed
after ``DONE`` as the reference says; so is one that failed its task (``ERROR``,
``FATAL``, a crash or a broken message), so a failure ends only its own task and leaves
nothing behind for the next.

A warm worker serves only the job it started for (the pool is kept by job, and the worker
checks the job name it is handed); it is killed after ``DISCO_WORKER_IDLE`` seconds
without a task (default :data:`IDLE`), when its job is purged or collected, and when the
node stops.
"""
from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

#: Seconds a warm worker waits for the next task of its job before it is killed.
IDLE = 2.0


class WarmWorker:
    """One parked worker process: its pid, its pipes, and the future of its exit status."""

    def __init__(self, job: str, pid: int, stdin: Any, stderr: Any,
                 exit_future: asyncio.Future | None, post: bool = False) -> None:
        self.job = job
        self.post = post  # it posts MSG, OUTPUT and COUNT (no OK for them)
        self.pid = pid
        self.stdin = stdin
        self.stderr = stderr
        self.exit_future = exit_future
        self.timer: asyncio.TimerHandle | None = None
        #: The pool's callback on ``exit_future`` while the worker is parked: removed when
        #: it is taken out, or a process running thousands of tasks would carry one per
        #: task, and every wait on its exit (several per task) would go through them all.
        self.on_exit: Any = None

    def unpark(self) -> None:
        """No longer parked: its idle timer and exit callback are gone."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.on_exit is not None and self.exit_future is not None:
            self.exit_future.remove_done_callback(self.on_exit)
        self.on_exit = None

    @property
    def alive(self) -> bool:
        return not (self.stdin.closed() or self.stderr.closed()
                    or (self.exit_future is not None and self.exit_future.done()))

    def kill(self) -> None:
        self.unpark()
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL),
                       lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                target()
                break
            except (ProcessLookupError, PermissionError):
                continue
        for stream in (self.stdin, self.stderr):
            if not stream.closed():
                stream.close()


class WarmPool:
    """The node's warm workers, by job."""

    def __init__(self, idle: float = IDLE) -> None:
        self.idle = idle
        self.by_job: dict[str, list[WarmWorker]] = {}

    def __len__(self) -> int:
        return sum(len(workers) for workers in self.by_job.values())

    def park(self, worker: WarmWorker) -> None:
        if self.idle <= 0 or not worker.alive:
            worker.kill()
            return
        loop = asyncio.get_running_loop()
        worker.timer = loop.call_later(self.idle, self.discard, worker)
        if worker.exit_future is not None:
            worker.on_exit = lambda _f: self.discard(worker)
            worker.exit_future.add_done_callback(worker.on_exit)
        self.by_job.setdefault(worker.job, []).append(worker)

    def take(self, job: str) -> WarmWorker | None:
        """A live warm worker of ``job`` (no longer in the pool), or None."""
        workers = self.by_job.get(job)
        while workers:
            worker = workers.pop()
            worker.unpark()
            if worker.alive:
                if not workers:
                    del self.by_job[job]
                return worker
            worker.kill()
        self.by_job.pop(job, None)
        return None

    def discard(self, worker: WarmWorker) -> None:
        """Kill ``worker`` if it is still in the pool (idle too long, or it exited)."""
        workers = self.by_job.get(worker.job, [])
        if worker in workers:
            workers.remove(worker)
            if not workers:
                del self.by_job[worker.job]
            worker.kill()

    def drop(self, job: str | None = None) -> None:
        """Kill the warm workers of ``job`` (None: of every job)."""
        jobs = list(self.by_job) if job is None else [job]
        for name in jobs:
            for worker in self.by_job.pop(name, []):
                worker.kill()
