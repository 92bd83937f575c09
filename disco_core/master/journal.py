"""A job's journal: what the master needs to resume the job after a restart.

Each job's directory holds, beside its ``jobfile``, an append-only ``journal`` of JSON lines,
one per stimulus that changed the job in a way it could not work out again by itself:

* ``["job", started, inputs]``: first, the job's inputs as the master resolved them (an
  input's index or a storage tag may read differently later);
* ``["run", taskid, runid, host, started]``: an attempt was sent to a node;
* ``["done", taskid, runid, host, outputs, counts, ended]``: its outputs were accepted;
* ``["failed", taskid, runid, host, kind, message, ended]``: it failed (``[..., message,
  lost, ended]`` when it named inputs it could not read, ``lost``: :mod:`.recovery`);
* ``["kill", reason]``: the job was killed.

A :class:`JournaledJob` writes them as its stimuli happen, in the order the job saw them.
Replayed in that order against a new job made from the same pack (:mod:`.restore`), they
bring it to the same state: its tasks are made from its inputs and the accepted outputs
only, and the random choices among replicas follow a generator seeded with the job's name,
drawn in the same order. Entries are written by one thread (:class:`JournalWriter`),
batched, each batch fsynced: a master killed mid-batch loses at most the newest entries,
and a journal cut short is still a history of the job, of fewer finished tasks.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import random
import threading
import time
from typing import Any

from ..errors import DiscoError
from .coordinator import Job, Task
from .pipeline import Output

log = logging.getLogger("disco.master.journal")

JOURNAL = "journal"


class JournalWriter:
    """Appends journal lines to their files in a thread of its own, in the order they
    were given, fsyncing each file once per batch. :meth:`synced` tells when what was
    given so far is on disk (a job's first line, before its name is answered)."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.closed = False

    def append(self, path: str, entry: list) -> None:
        if self.closed:
            return  # the master is stopping: the journals stay as they were
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="journal", daemon=True)
            self.thread.start()
        self.queue.put((path, json.dumps(entry, ensure_ascii=False) + "\n"))

    def synced(self, path: str) -> asyncio.Future:
        """A future of the running loop, done once every line given so far for ``path`` is
        written and fsynced; an :class:`OSError` naming the file if that failed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self.closed:
            future.set_exception(OSError("the master is stopping: %s is not written" % path))
            return future
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="journal", daemon=True)
            self.thread.start()
        self.queue.put(_Sync(path, future, loop))
        return future

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread (and take no more)."""
        self.closed = True
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join(timeout)
            self.thread = None

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            files: dict[str, list[str]] = {}
            syncs = []
            for item in batch:
                if isinstance(item, _Sync):
                    syncs.append(item)
                elif item is not None:
                    files.setdefault(item[0], []).append(item[1])
            errors = {path: _append(path, lines) for path, lines in files.items()}
            for sync in syncs:  # each was queued after its lines: they are in this batch
                sync.done(errors.get(sync.path))
            if None in batch:
                return


class _Sync:
    """A :meth:`JournalWriter.synced` request, answered on its loop from the writer."""

    def __init__(self, path: str, future: asyncio.Future,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.path, self.future, self.loop = path, future, loop

    def done(self, error: str | None) -> None:
        def answer() -> None:
            if self.future.done():
                return
            if error:
                self.future.set_exception(OSError(error))
            else:
                self.future.set_result(None)
        try:
            self.loop.call_soon_threadsafe(answer)
        except RuntimeError:
            pass  # the loop is closed: no one waits


def _append(path: str, lines: list[str]) -> str | None:
    """Append ``lines`` to ``path`` and fsync it; what went wrong, if anything."""
    try:
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as f:
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())
    except FileNotFoundError:
        return "%s is gone (the job was cleaned meanwhile)" % path
    except OSError as exc:
        log.error("cannot write the journal %s (the job is resumed from an older state if "
                  "the master restarts): %s", path, exc)
        return "cannot write the journal %s: %s" % (path, exc)
    return None


async def first_line_synced(writer: JournalWriter, job: "JournaledJob", jobdir: str) -> None:
    """Wait until the new job's first journal line is on disk, so that a job whose name was
    answered is never lost by a master killed right after; if it cannot be written, the
    job's directory is removed and a :class:`DiscoError` says why it was not created."""
    try:
        await writer.synced(job.journal_path)
    except OSError as exc:
        import shutil
        await asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, jobdir, True)
        raise DiscoError("job %s was not created: %s" % (job.name, exc)) from None


def read(path: str) -> list[list]:
    """The entries of a journal; a last line cut short by a crash is left out."""
    entries = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    break
                if not isinstance(entry, list) or not entry:
                    break
                entries.append(entry)
    except FileNotFoundError:
        pass
    return entries


class JournaledJob(Job):
    """A :class:`~.coordinator.Job` that journals its stimuli (see the module's docstring)
    once :meth:`begin` named its journal; while it is replayed it writes nothing."""

    def __init__(self, name: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)
        self.rng = random.Random(name)  # the same choices when the job is replayed
        self.journal_path = ""
        self.writer: JournalWriter | None = None

    def begin(self, writer: JournalWriter, jobdir: str, first: bool = True) -> None:
        """Journal from now on into ``jobdir``; ``first`` for a new job (its first entry)."""
        self.writer = writer
        self.journal_path = os.path.join(jobdir, JOURNAL)
        if first:
            self._note(["job", self.started, [o.to_json() for o in self.inputs]])

    def _note(self, entry: list) -> None:
        if self.writer is not None:
            self.writer.append(self.journal_path, entry)

    def _current(self, task: Task, runid: int) -> bool:
        return task.state == "running" and runid == task.runid and self.status == "active"

    def task_started(self, task: Task, host: str) -> None:
        super().task_started(task, host)
        self._note(["run", task.id, task.runid, host, task.started])

    def task_done(self, task: Task, runid: int, host: str, outputs: list[Output],
                  counts: dict | None = None) -> None:
        if not self._current(task, runid):
            return
        ended, attempt = time.time(), task.attempt
        self._note(["done", task.id, runid, host, [o.to_json() for o in outputs], counts or {},
                    ended])
        super().task_done(task, runid, host, outputs, counts)
        ended_at(attempt, ended)

    def task_failed(self, task: Task, runid: int, host: str, kind: str, message: str,
                    lost: list[str] | tuple = ()) -> None:
        if not self._current(task, runid):
            return
        ended, attempt = time.time(), task.attempt
        self._note(["failed", task.id, runid, host, kind, message]
                   + ([list(lost)] if lost else []) + [ended])
        super().task_failed(task, runid, host, kind, message, lost)
        ended_at(attempt, ended)

    def kill(self, reason: str = "Job killed") -> None:
        if self.status == "active":
            self._note(["kill", reason])
        super().kill(reason)


def ended_at(attempt: list | None, ended: float) -> None:
    """The attempt ended when its journal entry says (the same time once replayed)."""
    if attempt is not None and attempt[5] is not None:
        attempt[5] = ended
