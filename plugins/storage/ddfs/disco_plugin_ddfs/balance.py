"""Evening out the nodes' disks (part of a GC run, :mod:`.gc`; ``reference/ddfs.md``
section 8, item 6).

A node's disk use is the share of its space it uses (what it last said in ``/ddfs/space``:
its volumes' file systems, or its blobs against ``DDFS_VOLUME_CAPACITY``). Among the nodes
that answered the run, are usable for new blobs and have said how much they use, those more
than ``DDFS_GC_BALANCE_THRESHOLD`` above the average are over-used, those more than it below
under-used. When there are both, blobs of the most over-used node are moved to the under-used
ones, the largest first, each to the under-used node that uses least, until the node is no
longer over-used (none is moved that would take its target above the average, and at most
:data:`MAX_MOVES` a run).

A move never leaves a blob with fewer good replicas: the target pulls a copy and keeps it
only if it matches the source's checksum (as re-replication does); then the run counts the
source's replica as beyond the replica count (:func:`.extras.plan_extras` takes it first),
the tags trade its URL for the new copy's, and only then is it deleted, if no tag names it
any more. Whatever stops a move half-way (a node or the master dying) leaves a copy no tag
names yet (collected as an orphan later) or a replica no tag names any more: never one
fewer than before. Only blobs with exactly their replica count, all on good volumes, move
(the run takes the extra replicas of others off the most used disks first anyway).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .replicate import BlobMap, Copy, counted

#: Blobs moved at most in one GC run.
MAX_MOVES = 1000


@dataclass
class Plan:
    """What a run found of the disks and which moves it chose."""

    threshold: float
    use: dict[str, float] = field(default_factory=dict)  # host -> share of its disk used
    average: float = 0.0
    over: list[str] = field(default_factory=list)
    under: list[str] = field(default_factory=list)
    moves: list[Copy] = field(default_factory=list)

    def summary(self) -> dict:
        return {"threshold": self.threshold, "average": round(self.average, 4),
                "use": {h: round(u, 4) for h, u in sorted(self.use.items())},
                "over": self.over, "under": self.under}


def plan_moves(bmap: BlobMap, k: int, hosts: list[str], gc_black: set[str],
               space: dict[str, tuple[int, int]], threshold: float,
               present: Callable[[str, str], bool], busy: set[str] = frozenset(),
               limit: int = MAX_MOVES) -> Plan:
    """The moves that bring the most over-used of ``hosts`` towards the average (see the
    module docstring). ``space``: ``host -> (free, used)`` bytes; ``present(name, host)``:
    the replica there is on a good volume; ``busy``: blobs this run copies already."""
    plan = Plan(threshold)
    total = {}
    for host in hosts:
        free, used = space.get(host, (0, 0))
        if host in gc_black or host not in bmap.reachable or free + used <= 0:
            continue
        total[host] = free + used
        plan.use[host] = used / total[host]
    if not plan.use:
        return plan
    plan.average = sum(plan.use.values()) / len(plan.use)
    plan.over = sorted((h for h, u in plan.use.items() if u > plan.average + threshold),
                       key=lambda h: (-plan.use[h], h))
    plan.under = sorted((h for h, u in plan.use.items() if u < plan.average - threshold),
                        key=lambda h: (plan.use[h], h))
    if not plan.over or not plan.under:
        return plan
    source = plan.over[0]
    projected = dict(plan.use)
    blobs = sorted(((there[source].size, name) for name, there in bmap.where.items()
                    if source in there and name in bmap.refs and name not in busy),
                   key=lambda sn: (-sn[0], sn[1]))
    for size, name in blobs:
        if projected[source] <= plan.average + threshold or len(plan.moves) >= limit:
            break
        there = bmap.where[name]
        good = [h for h in counted(there, gc_black) if present(name, h)]
        if source not in good or len(good) != k or len(good) < len(there):
            continue  # short of replicas, beyond them or with a bad one: not for moving
        targets = [h for h in plan.under if h not in there
                   and projected[h] + size / total[h] <= plan.average]
        if not targets:
            continue
        target = min(targets, key=lambda h: (projected[h], h))
        plan.moves.append(Copy(name, source, there[source].path, target))
        projected[source] -= size / total[source]
        projected[target] += size / total[target]
    return plan
