"""The fair job policy: a free slot goes to the job furthest below its share of the cluster.

Each active job's share is ``cores / number of jobs with work``. A job's *deficit* is an
exponential moving average (``DISCO_SCHEDULER_ALPHA``) of ``share - running``, updated
each time the scheduler asks; the job with the largest deficit goes first, ties to the
oldest job. With one job this is simply that job.
"""
from __future__ import annotations

from typing import Any


class FairPolicy:
    name = "fair"

    def __init__(self, settings: Any = None, cores: Any = None) -> None:
        alpha = 0.001
        if settings is not None:
            alpha = float(settings["DISCO_SCHEDULER_ALPHA"])
        self.alpha = alpha
        self.cores = cores or (lambda: 1)
        self.deficit: dict[str, float] = {}

    def order(self, jobs: list[Any], host: str) -> list[Any]:
        share = max(1, self.cores()) / max(1, len(jobs))
        live = {job.name for job in jobs}
        for name in list(self.deficit):
            if name not in live:
                del self.deficit[name]
        a = self.alpha
        for job in jobs:
            old = self.deficit.get(job.name, 0.0)
            self.deficit[job.name] = (1 - a) * old + a * (share - job.running)
        return sorted(jobs, key=lambda j: (j.running - share - self.deficit[j.name], j.started))
