"""A job's timeline: every attempt of every task on its node and worker slot, over time.

The coordinator records attempts (:attr:`~.coordinator.Job.attempts`); :func:`timeline`
lays them out the way the job page draws them: one row per node and slot. The master does
not number a node's slots, so a slot here is a lane: an attempt takes the lowest lane of its
node that is free when it starts, which is what the node's slots were at that moment.
"""
from __future__ import annotations

import time
from typing import Any

OUTCOMES = ("running", "done", "failed", "fatal", "abandoned", "killed")


def timeline(attempts: list[list], started: float, now: float | None = None,
             most: int = 20000) -> dict[str, Any]:
    """``{"started", "now", "nodes": {host: lanes}, "stages": [...], "attempts": [...],
    "omitted": n}``, each attempt ``{"task", "stage", "host", "lane", "runid", "start",
    "end", "outcome"}`` with times in seconds from the job's start (``end`` ``None`` while it
    runs). Past ``most`` attempts only the newest ``most`` are laid out (``omitted`` says
    how many older ones were left out)."""
    now = time.time() if now is None else now
    omitted = max(0, len(attempts) - most)
    chosen = attempts[omitted:]
    free_at: dict[str, list[float]] = {}   # host -> when each lane is free again
    stages: list[str] = []
    out = []
    for key, stage, host, runid, start, end, outcome in sorted(chosen, key=lambda a: a[4]):
        lanes = free_at.setdefault(host, [])
        finish = end if end is not None else float("inf")
        lane = next((i for i, free in enumerate(lanes) if free <= start), len(lanes))
        if lane == len(lanes):
            lanes.append(finish)
        else:
            lanes[lane] = finish
        if stage not in stages:
            stages.append(stage)
        out.append({"task": key, "stage": stage, "host": host, "lane": lane, "runid": runid,
                    "start": round(start - started, 3),
                    "end": None if end is None else round(end - started, 3),
                    "outcome": outcome})
    return {"started": started, "now": round(now - started, 3),
            "nodes": {host: len(lanes) for host, lanes in sorted(free_at.items())},
            "stages": stages, "attempts": out, "omitted": omitted}
