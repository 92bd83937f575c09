"""Locality placement: which of a job's queued tasks a node with a free slot runs.

In order: a task bound to this node (its group's host) or whose inputs live here; then a
task that can run anywhere (inputs on no cluster node, a re-run, or inputs only on nodes
that cannot take it now); then, so that no slot idles while work waits, a task bound to a
node that cannot take it now (not connected, blacklisted, or with no free slot).

A task whose inputs live on another node that has a free slot (and where it has not
failed) is left for that node.
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
            def anywhere(task: Any) -> bool:
                return ok(task) and not any(
                    other != host and other not in task.failed_hosts
                    and cluster.available(other) and cluster.free(other) > 0
                    for other in task.preferred)
            task = queue.pop_any(anywhere)
        if task is None:
            task = queue.pop_bound_elsewhere(
                host, lambda other: not cluster.available(other) or cluster.free(other) == 0, ok)
        return task
