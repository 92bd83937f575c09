"""Waiting for child processes on an event loop, without a thread per child.

The master waits for the node processes it starts, a node for the workers it starts itself
(workers the fork server starts are reaped there, which reports their exits: see
:mod:`disco_core.node.forkserver`). Each is a ``subprocess.Popen``, and
:class:`ChildWatcher` tells when it exits: the loop watches a pidfd of each (Linux 5.3+),
which becomes readable when the process exits; where there are no pidfds, one timer polls
every child it waits for.
"""
from __future__ import annotations

import asyncio
import os
import subprocess

#: Seconds between two polls of the children, where there are no pidfds.
POLL_INTERVAL = 0.1


class ChildWatcher:
    """The exits of a node's own child processes, as futures of their exit codes (negative:
    killed by that signal, as ``Popen.returncode``)."""

    def __init__(self) -> None:
        self.polled: dict[subprocess.Popen, asyncio.Future] = {}
        self._timer: asyncio.TimerHandle | None = None

    def wait(self, proc: subprocess.Popen) -> asyncio.Future:
        """A future of ``proc``'s exit code, done when it exits."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        try:
            fd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):  # no pidfds here, or the child is already reaped
            self.polled[proc] = fut
            self._poll_soon()
            return fut
        loop.add_reader(fd, self._exited, fd, proc, fut)
        return fut

    def _exited(self, fd: int, proc: subprocess.Popen, fut: asyncio.Future) -> None:
        code = proc.poll()
        if code is None:
            return  # woken early: the process still runs
        asyncio.get_running_loop().remove_reader(fd)
        os.close(fd)
        if not fut.done():
            fut.set_result(code)

    def _poll_soon(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(POLL_INTERVAL, self._poll)

    def _poll(self) -> None:
        self._timer = None
        for proc, fut in list(self.polled.items()):
            code = proc.poll()
            if code is not None or fut.cancelled():
                del self.polled[proc]
                if not fut.done():
                    fut.set_result(code)
        if self.polled:
            self._poll_soon()
