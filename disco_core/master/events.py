"""A job's event log: one JSON line per event, ``["YYYY/MM/DD HH:MM:SS", host, message]``.

Events are kept in memory (the last 200, for ``jobevents``) and appended to the job's
``events`` file, which is flushed every 2 seconds, every 1000 events, and whenever it is
read (``rawevents``) or the job ends.

The file is open only while the job runs: :meth:`EventLog.close` (when the job finishes)
releases it, and an event that comes later (a node's late message) is appended by opening
the file for that one write, so a finished job holds no file descriptor. A log made with
``EventLog(path, readonly=True)`` reads a finished job's file from disk.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import deque
from typing import Any, Callable

BUFFER = 200
FLUSH_EVERY = 1000


_last_stamp: tuple[int, str] = (-1, "")


def timestamp(t: float | None = None) -> str:
    """``YYYY/MM/DD HH:MM:SS`` of ``t`` (now if None), in local time. The text of the
    current second is made once: a busy job logs thousands of events a second."""
    global _last_stamp
    second = int(time.time() if t is None else t)
    if _last_stamp[0] != second:
        _last_stamp = (second, time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(second)))
    return _last_stamp[1]


class EventLog:
    def __init__(self, path: str, notify: Callable[[str, str, str], None] | None = None,
                 readonly: bool = False) -> None:
        self.path = path
        self.file: Any = None
        if not readonly:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.file = _append(path)
        self.recent: deque[list[str]] = deque(maxlen=BUFFER)
        self.unflushed = 0
        self.notify = notify
        self.listeners: list[Callable[[], None]] = []

    def add(self, host: str, message: str, notify: bool = True) -> None:
        """Append an event; ``notify=False`` keeps it from the ``disco_job_event`` hook
        (for the master's own notes about that hook)."""
        event = [timestamp(), host, message]
        self.recent.append(event)
        line = json.dumps(event, ensure_ascii=False) + "\n"
        if self.file is None:
            with _append(self.path) as f:
                f.write(line)
        else:
            self.file.write(line)
            self.unflushed += 1
        if self.unflushed >= FLUSH_EVERY:
            self.flush()
        if notify and self.notify is not None:
            self.notify(host, message, event[0])
        for listener in self.listeners:
            listener()

    def flush(self) -> None:
        if self.unflushed and self.file is not None:
            self.file.flush()
            self.unflushed = 0

    def close(self) -> None:
        """Release the file; later events are still written (see the module's docstring)."""
        if self.file is not None:
            self.flush()
            self.file.close()
            self.file = None

    def raw(self, offset: int = 0) -> bytes:
        self.flush()
        with open(self.path, "rb") as f:
            f.seek(offset)
            return f.read()

    def newest(self, num: int = 10, filter: str = "") -> list[Any]:
        """The newest ``num`` events (newest first), optionally containing ``filter``."""
        self.flush()
        return _newest(self.path, list(self.recent), num, filter)

    async def newest_async(self, num: int = 10, filter: str = "") -> list[Any]:
        """:meth:`newest`, reading the file (when the events in memory do not answer) in a
        thread: a long job's file is many MB, and the loop must not wait for its scan."""
        self.flush()
        recent = list(self.recent)
        if not filter and len(recent) >= _clamp(num):
            return _newest(self.path, recent, num, filter)
        return await asyncio.get_running_loop().run_in_executor(None, _newest, self.path,
                                                                recent, num, filter)


def _clamp(num: int) -> int:
    return max(1, min(int(num), 1000))


def _newest(path: str, recent: list[Any], num: int, filter: str) -> list[Any]:
    num = _clamp(num)
    if not filter:
        events = recent
        if len(events) < num and os.path.exists(path):
            events = _file_events(path)
        return events[::-1][:num]
    pattern = re.sub(r"[^a-zA-Z0-9:\-_!@ ]", "", filter).lower()
    return [e for e in _file_events(path)[::-1] if pattern in json.dumps(e).lower()][:num]


def _file_events(path: str) -> list[Any]:
    events: list[Any] = []
    if not os.path.exists(path):
        return events
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def _append(path: str) -> Any:
    return open(path, "a", encoding="utf-8", errors="backslashreplace")
