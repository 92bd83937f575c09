"""Job temp-data GC on a node: deleting the job directories nobody needs any more.

Every ``DATA_GC_INTERVAL`` hours (fractions allowed), and each time the node (re)connects to
the master, the node asks the master which jobs are active and which were purged (the master
remembers purged jobs for 24 hours), then deletes each job directory
``DISCO_DATA/<host>/<hh>/<job>/`` whose job is not active and either was purged or whose
directory was last modified more than ``DISCO_GC_AFTER`` seconds ago (default 100 years).

Asking on connect is what removes the data of a job purged while this node was down: the
master's ``purge`` message never reached it, the master's list of purged jobs does. A job the
master calls active, or that has a task running on this node, is never touched; the master's
answer comes fresh for every pass, so a job that starts after it has a new directory (or none),
which neither rule matches.

:func:`collect` is the pass itself, a plain function over a directory tree; :class:`DataGC` is
the node's shell around it (the timer, the question, the answer).
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from typing import Any, Callable, Iterable

from ..jobpack import hexhash

log = logging.getLogger("disco.node.gc")


def job_dirs(root: str) -> Iterable[tuple[str, str]]:
    """``(job name, path)`` of every job directory under a node's data root: the
    ``<hh>/<job>`` entries whose fan-out directory is the job name's hash (anything else
    under the root is not a job's and is left alone)."""
    try:
        fanouts = os.listdir(root)
    except FileNotFoundError:
        return
    for hh in fanouts:
        if len(hh) != 2 or not os.path.isdir(os.path.join(root, hh)):
            continue
        for name in os.listdir(os.path.join(root, hh)):
            path = os.path.join(root, hh, name)
            if hexhash(name) == hh and os.path.isdir(path) and not os.path.islink(path):
                yield name, path


def collect(root: str, active: Iterable[str], purged: Iterable[str], gc_after: float,
            busy: Iterable[str] = (), now: float | None = None) -> list[str]:
    """Delete the job directories under ``root`` that are not ``active`` nor ``busy`` and
    either ``purged`` or older than ``gc_after`` seconds; the names of the jobs deleted."""
    keep, purged = set(active) | set(busy), set(purged)
    now = time.time() if now is None else now
    removed = []
    for name, path in list(job_dirs(root)):
        if name in keep:
            continue
        try:
            age = now - os.stat(path).st_mtime
        except FileNotFoundError:
            continue
        if name in purged or age > gc_after:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def read_hours(settings: Any, name: str) -> float | None:
    """A positive number of hours from a setting, or None (GC off) with a logged reason."""
    try:
        value = float(settings[name])
    except (TypeError, ValueError) as exc:
        log.error("periodic job data GC is off: %s", exc)
        return None
    if value <= 0:
        log.error("periodic job data GC is off: %s=%r is not a positive number of hours; "
                  "set it to e.g. 12", name, value)
        return None
    return value


class DataGC:
    """The node's GC: asks the master on a timer and on connect, collects on the answer.

    ``ask`` sends the question to the master (False when not connected); the master's
    answer comes back as a ``gc_jobs`` message, handed to :meth:`answer`. ``busy`` names the
    jobs with tasks on this node (read in the event loop, before the pass starts).
    """

    def __init__(self, root: str, settings: Any, ask: Callable[[], bool],
                 busy: Callable[[], Iterable[str]]) -> None:
        self.root = root
        self.settings = settings
        self.ask = ask
        self.busy = busy
        self.interval = read_hours(settings, "DATA_GC_INTERVAL")
        self.running = False
        self._timer: asyncio.Task | None = None

    def start(self) -> None:
        if self.interval is not None:
            self._timer = asyncio.ensure_future(self._every_interval(self.interval * 3600.0))

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    async def _every_interval(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.ask()

    def gc_after(self) -> float:
        try:
            return float(self.settings["DISCO_GC_AFTER"])
        except (TypeError, ValueError) as exc:
            log.error("job data GC keeps old jobs: %s", exc)
            return float("inf")

    async def answer(self, msg: dict) -> list[str]:
        """Run one pass with the master's answer; the jobs whose data was deleted."""
        if self.running:
            return []
        active, purged = msg.get("active", []), msg.get("purged", [])
        if not (isinstance(active, list) and isinstance(purged, list)):
            log.error("ignoring a malformed gc_jobs message from the master: %r", msg)
            return []
        self.running = True
        try:
            loop = asyncio.get_running_loop()
            removed = await loop.run_in_executor(None, collect, self.root, active, purged,
                                                 self.gc_after(), set(self.busy()))
        except OSError as exc:
            log.error("job data GC under %s failed: %s", self.root, exc)
            return []
        finally:
            self.running = False
        if removed:
            log.info("job data GC deleted the data of %d job(s): %s", len(removed),
                     ", ".join(sorted(removed)))
        return removed
