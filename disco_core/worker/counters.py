"""Counters: numbers a job's functions count as they go (``counters.add("bad_lines")``).

A task's counters travel to its node in ``COUNT`` messages (the totals so far, at most
once a second and once more before ``DONE``); the node passes them to the master, which
shows the running attempts' counts live and adds an attempt's final counts to the job's
only when that attempt's output is accepted. So a retried, abandoned or duplicated attempt,
or one on a node that was lost, never counts twice.

Job functions find ``counters`` as a global (as they find ``this_partition``), or import
it: ``from disco import counters``.
"""
from __future__ import annotations

import math
import numbers
import time
from typing import Any

from ..protocol import MAX_COUNTER_NAME as MAX_NAME, MAX_COUNTERS

#: Seconds between two ``COUNT`` messages of a task.
INTERVAL = 1.0

_counts: dict[str, int | float] = {}
_proto: Any = None
_sent_at = 0.0
_dirty = False


def add(name: str, n: int | float = 1) -> None:
    """Add ``n`` (default 1) to the counter ``name`` of this task."""
    global _dirty
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise ValueError("a counter's name is a string of 1 to %d characters, not %r"
                         % (MAX_NAME, name))
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or not math.isfinite(n):
        raise TypeError("counters.add(%r, n): n is a finite number, not %r" % (name, n))
    if name not in _counts and len(_counts) >= MAX_COUNTERS:
        raise ValueError("a task may have at most %d counters; %r would be one more"
                         % (MAX_COUNTERS, name))
    _counts[name] = _counts.get(name, 0) + n
    _dirty = True
    if _proto is not None and time.monotonic() - _sent_at >= INTERVAL:
        flush()


def values() -> dict[str, int | float]:
    """This task's counters so far (a copy)."""
    return dict(_counts)


def flush() -> None:
    """Send the totals to the node now, if they changed since they were last sent."""
    global _sent_at, _dirty
    if _proto is None or not _dirty:
        return
    _proto.request("COUNT", dict(_counts), ("OK",))
    _sent_at = time.monotonic()
    _dirty = False


def attach(proto: Any) -> None:
    """Count for the task this worker process runs, over ``proto`` (a fresh start)."""
    global _proto, _sent_at, _dirty
    _counts.clear()
    _proto, _sent_at, _dirty = proto, time.monotonic(), False


def detach() -> None:
    global _proto
    _proto = None
