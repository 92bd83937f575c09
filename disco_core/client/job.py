"""``Job``: what a job is (its functions and options); running it goes through ``Disco``.

Parameters come from ``run()`` arguments first, then the Job's attributes and methods
(so a ``Job`` subclass with ``map``/``reduce``/``partitions``... as attributes is a job),
then the worker's defaults. ``run()`` builds the job pack, submits it, sets ``name`` to
the name the master gave the job and returns the job, so ``Job().run(...).wait()`` works.
"""
from __future__ import annotations

import functools
from typing import Any

from ..settings import DiscoSettings
from .disco import Disco

PROXY = ("clean", "events", "kill", "jobinfo", "jobpack", "oob_get", "oob_list",
         "profile_stats", "purge", "results", "stageresults", "wait")


def _classic_worker() -> Any:
    from ..worker.classic import Worker
    return Worker


class Job:
    Worker: Any = None  # the classic worker unless a subclass says otherwise

    def __init__(self, name: str | None = None, master: Any = None, worker: Any = None,
                 settings: DiscoSettings | None = None) -> None:
        self.name = name or type(self).__name__
        self.settings = settings or DiscoSettings()
        self.disco = master if isinstance(master, Disco) else Disco(master, settings=self.settings)
        if worker is None:
            worker = (type(self).Worker or _classic_worker())()
        self.worker = worker

    def __getattr__(self, attr: str) -> Any:
        if attr in PROXY:
            disco = self.__dict__.get("disco")
            if disco is not None:
                return functools.partial(getattr(disco, attr), self.name)
        raise AttributeError("%r object has no attribute %r" % (type(self).__name__, attr))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("disco", None)
        state.pop("settings", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def run(self, **jobargs: Any) -> "Job":
        pack = self.worker.jobpack(self, **jobargs)
        self.name = self.disco.submit(pack.dumps())
        return self


class SimpleJob(Job):
    pass
