"""Locality placement: which of a job's queued tasks a node with a free slot runs.

In order: a task bound to this node (its group's host) or whose inputs live here; then a
task that can run anywhere (inputs on no cluster node, or a re-run); then, so that no
slot idles while work waits, a task bound to a node that cannot take it now (not
connected, blacklisted, or with no free slot).
"""
from __future__ import annotations

from typing import Any, Callable


class LocalityPlacement:
    name = "locality"

    def __init__(self, settings: Any = None, cores: Any = None) -> None:
        pass

    def pick(self, queue: Any, host: str, cluster: Any, ok: Callable[[Any], bool]) -> Any:
        task = queue.pop_host(host, ok)
        if task is None:
            task = queue.pop_any(ok)
        if task is None:
            task = queue.pop_bound_elsewhere(
                host, lambda other: not cluster.available(other) or cluster.free(other) == 0, ok)
        return task
