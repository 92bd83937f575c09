"""Replicas beyond the count, and where they go (part of a GC run, :mod:`.gc`).

A blob with more counted replicas than ``DDFS_BLOB_REPLICAS`` (a node that came back after
its blobs were copied elsewhere, a lower setting, a push that asked for more) loses the
extra ones: the nodes that use the largest share of their disk give theirs up first, so
the extras also even out the disks. Only replicas that count (on a node that answered the
run, not gc-blacklisted, on a good volume) are weighed, so at least ``DDFS_BLOB_REPLICAS``
of them remain, and a blob with a single good replica is never touched. The tags lose the
URLs first (the run's ``rr_tags``); a replica is deleted only once no tag names it there.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from .replicate import BlobMap, blob_of, counted, url_host

log = logging.getLogger("disco.ddfs.gc")


def plan_extras(bmap: BlobMap, k: int, gc_black: set[str],
                present: Callable[[str, str], bool],
                use: Callable[[str], float], first: dict[str, str] | None = None
                ) -> dict[str, list[str]]:
    """``host -> blob names`` whose replica there is beyond ``k`` good ones (see the
    module docstring); ``present(name, host)``: the replica is on a good volume;
    ``use(host)``: the share of its disk the host uses; ``first``: ``name -> host`` whose
    replica goes before any other (a move's old one, :mod:`.balance`)."""
    first = first or {}
    out: dict[str, list[str]] = {}
    if k < 1:
        return out
    for name in sorted(bmap.refs):
        good = [h for h in counted(bmap.where.get(name, {}), gc_black) if present(name, h)]
        if len(good) <= k:
            continue
        good.sort(key=lambda h: (h == first.get(name), use(h), h), reverse=True)
        for host in good[:len(good) - k]:
            out.setdefault(host, []).append(name)
    return out


def forget(bmap: BlobMap, extras: dict[str, list[str]]) -> None:
    """The run goes on as if the extra replicas were gone (the tags then drop them)."""
    for host, names in extras.items():
        for name in names:
            bmap.where.get(name, {}).pop(host, None)


def still_named(docs: dict[str, dict]) -> set[tuple[str, str]]:
    """``(host, blob)`` of every blob replica the tags name now."""
    out = set()
    for doc in docs.values():
        for replicas in doc.get("urls", []):
            for url in replicas:
                name = blob_of(url)
                if name is not None:
                    out.add((url_host(url), name))
    return out


async def delete_extras(upkeep: Any, extras: dict[str, list[str]], report: dict) -> None:
    """Delete the extra replicas no tag names any more (a tag that could not be updated
    keeps its replica for the next run)."""
    named = still_named(dict(upkeep.ddfs.tags.docs))
    for host, names in sorted(extras.items()):
        doomed = [n for n in names if (host, n) not in named]
        if not doomed:
            continue
        try:
            got = await upkeep.call(host, "POST", "delete", doomed)
        except Exception as exc:
            log.error("GC could not delete extra replicas on %s: %s", host, exc)
            continue
        report["removed"] += [[host, name] for name in got["deleted"]]
    if report["removed"]:
        log.info("DDFS GC: %d extra blob replicas deleted", len(report["removed"]))
