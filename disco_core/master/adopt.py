"""Node processes a restarted master finds still running, and adopts.

A local node process outlives a master killed with ``kill -9`` (it runs in its own session)
and keeps trying to reconnect. Before the new master starts a node process for a host, it
looks at the host's node lock (:mod:`disco_core.nodelock`): if a live process holds it, the
master adopts that process (a :class:`~.nodes.NodeProcess` watching an
:class:`AdoptedPid`) rather than start a twin, which would find the lock taken and exit.
The adopted node reconnects by itself, its ``hello`` saying which attempts it still runs.
Once it exits, the master starts its own, as for any node process that died.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from .. import nodelock

#: How often (seconds) the end of an adopted process, which is not the master's child, is
#: polled for.
POLL = 0.05


class AdoptedPid:
    """A node process another master started, known by its pid and the lock it holds (it
    is alive while it holds it: a pid alone could be reused)."""

    def __init__(self, pid: int, lock: str) -> None:
        self.pid = pid
        self.lock = lock

    def alive(self) -> bool:
        holder = nodelock.holder(self.lock)
        return holder is not None and holder.get("pid") == self.pid

    def _signal(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    async def end(self, timeout: float = 5.0) -> None:
        """SIGTERM, and SIGKILL if it is still there ``timeout`` seconds later."""
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            await asyncio.sleep(POLL)
        if self.alive():
            self._signal(signal.SIGKILL)

    def stop(self, timeout: float = 5.0) -> None:
        """:meth:`end`, blocking (for a master that is shutting down)."""
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(POLL)
        if self.alive():
            self._signal(signal.SIGKILL)


def running_node(settings: Any, host: str, master_url: str) -> tuple[AdoptedPid | None, str]:
    """The node process already running for ``host`` on this machine, and a problem to
    report if it serves another master; ``(None, "")`` when there is none."""
    lock = nodelock.lock_path(settings["DISCO_DATA"], host)
    holder = nodelock.holder(lock)
    if holder is None or not isinstance(holder.get("pid"), int):
        return None, ""
    adopted = AdoptedPid(holder["pid"], lock)
    serves = str(holder.get("master", "")).rstrip("/")
    if serves == master_url.rstrip("/"):
        return adopted, ""
    return adopted, ("the node process %d left running for %s serves master %s, not this "
                     "one: this master starts its own once it exits (kill %d to hasten it)"
                     % (adopted.pid, host, serves or "?", adopted.pid))
