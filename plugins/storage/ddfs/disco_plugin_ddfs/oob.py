"""A job's out-of-band values in DDFS (``reference/ddfs.md`` section 10): each value a task
``put`` is also stored as a blob whose prefix is its key, in the job's tag
``disco:job:oob:<job>``, appended with ``delayed=1`` (the values of many tasks make one
incarnation a second); the tag goes when the job is purged.

The master's own store stays where ``oob_get`` and ``oob_list`` read (core's
:mod:`disco_core.master.oob`); the tag is the reference's view of the same values, for the
programs that read it (``DDFS().blobs("disco:job:oob:<job>")``, ``ddfs ls``). The blobs
are written from the master, in its thread pool, :data:`PARALLEL` at a time.
"""
from __future__ import annotations

import asyncio
from typing import Any

from .names import safe_name
from .tags import INTERNAL

#: OOB values copied to the nodes at once.
PARALLEL = 2
_limit: dict[int, asyncio.Semaphore] = {}


def oob_tag(jobname: str) -> str:
    return "disco:job:oob:%s" % jobname


def _upload(ddfs: Any, key: str, path: str) -> list[str]:
    from .client import DDFS
    client = DDFS(ddfs.master.url)
    return client._upload(lambda: open(path, "rb"), safe_name(key), None, (), 10)


async def store_oob(ddfs: Any, jobname: str, key: str, path: str) -> None:
    loop = asyncio.get_running_loop()
    limit = _limit.setdefault(id(loop), asyncio.Semaphore(PARALLEL))
    async with limit:
        replicas = await loop.run_in_executor(None, _upload, ddfs, key, path)
    await ddfs.tags.append(oob_tag(jobname), [replicas], INTERNAL, delayed=True)


async def purge_oob(ddfs: Any, jobname: str) -> None:
    await ddfs.tags.delete(oob_tag(jobname), INTERNAL)
