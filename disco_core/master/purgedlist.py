"""The jobs purged lately, kept on disk under the master's root so that they survive a
master restart: a node that was away when a job was purged still deletes its data when it
asks the master (its GC's ``gc_query``) after the master was restarted.

The list is ``purged.json`` (``{job name: when purged}``), written whole (fsynced, renamed
into place) after each purge, and bounded as the list in memory is: an entry older than the
master's memory of purges (``PURGED_MEMORY``) is dropped when the list is read or written.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time

from ..atomicfile import AtomicFile

log = logging.getLogger("disco.master")

NAME = "purged.json"


def path(root: str) -> str:
    return os.path.join(root, NAME)


def fresh(purged: dict[str, float], memory: float, now: float | None = None) -> dict[str, float]:
    """The entries of ``purged`` purged in the last ``memory`` seconds."""
    cutoff = (time.time() if now is None else now) - memory
    return {name: when for name, when in purged.items() if when >= cutoff}


def load(root: str, memory: float) -> dict[str, float]:
    """The jobs purged in the last ``memory`` seconds, as the last master left them; none
    when there is no list, and none (with a warning naming the file) when it is broken."""
    where = path(root)
    try:
        with open(where) as f:
            purged = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("the list of purged jobs %s cannot be read (%s): nodes may keep the data "
                    "of jobs purged before this start until their GC deletes it", where, exc)
        return {}
    if not (isinstance(purged, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in purged.items())):
        log.warning("the list of purged jobs %s is not {job: time}: ignored", where)
        return {}
    return fresh(purged, memory)


def save(root: str, purged: dict[str, float], memory: float) -> None:
    """Write the list (its fresh entries) whole; blocks: call it in a thread."""
    with AtomicFile(path(root)) as f:
        f.write(json.dumps(fresh(purged, memory)).encode("utf-8"))


async def keep(lock: asyncio.Lock, root: str, purged: dict[str, float], memory: float) -> None:
    """:func:`save` in a thread, one save at a time (so the newest list is the one left)."""
    async with lock:
        await asyncio.get_running_loop().run_in_executor(None, save, root, dict(purged), memory)
