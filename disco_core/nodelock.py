"""One node process per host and data root: the lock a node holds while it runs.

A node takes an exclusive ``flock`` on ``<DISCO_DATA>/<host>/.node.lock`` when it starts
and holds it until it exits (the kernel releases it then, however the process ends). The
file says who holds it: the node's pid and the master it serves. A second node process for
the same host and data root cannot take the lock and exits at once, saying which process
has it; a master that restarts finds a node its predecessor started still holding the lock
and adopts it (:mod:`disco_core.master.nodes`) instead of starting a twin.
"""
from __future__ import annotations

import fcntl
import json
import os
from typing import Any

NAME = ".node.lock"


def lock_path(disco_data: str, host: str) -> str:
    return os.path.join(disco_data, host, NAME)


class NodeLocked(Exception):
    """Another live process holds the node lock: ``holder`` is what it wrote there."""

    def __init__(self, path: str, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        super().__init__("another node process (pid %s, master %s) already runs for this "
                         "host and data root: it holds %s. Stop it first (disco stop), or "
                         "give this node another DISCO_DATA" % (holder.get("pid", "?"),
                                                                 holder.get("master", "?"),
                                                                 path))


def acquire(path: str, holder: dict[str, Any]) -> int:
    """Take the lock for this process (its file descriptor, to keep open while it runs),
    writing ``holder`` into the file; :class:`NodeLocked` if a live process has it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise NodeLocked(path, read_holder(path)) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
    return fd


def holder(path: str) -> dict[str, Any] | None:
    """What the live process holding the lock wrote (``pid``, ``master``, ...), or None if
    no process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_holder(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def read_holder(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
