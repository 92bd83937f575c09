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

PROXY = ("clean", "counters", "debug", "events", "kill", "jobinfo", "jobpack", "oob_get",
         "oob_list",
         "profile_stats", "purge", "results", "stageresults", "taskinfo", "wait")


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
        self.name = self.disco.submit(pack)  # sent in pieces, not joined
        return self


def _simple_worker() -> Any:
    from ..worker.simple import Worker
    return Worker


class SimpleJob(Job):
    """A job whose stages are its own methods, ``map(self, worker, task, **jobargs)`` and
    ``reduce(self, worker, task, **jobargs)``, reading ``worker.input(task)`` and writing
    ``worker.output(task, label)`` themselves (:mod:`disco_core.worker.simple`)."""

    def __init__(self, name: str | None = None, master: Any = None, worker: Any = None,
                 settings: DiscoSettings | None = None) -> None:
        if worker is None and type(self).Worker is None:
            worker = _simple_worker()()
        super().__init__(name, master, worker, settings)


class JobChain(dict):
    """``{job: inputs}`` where inputs may name other jobs of the chain: ``wait()`` runs each
    job as soon as every job among its inputs is ready (their results become its input).
    ``inputs`` is a list of URLs and jobs, or one job (``{a: urls, b: a}``); ``timeout``
    (seconds, default none) ends the wait with a JobError naming a job not yet ready."""

    def wait(self, poll_interval: float = 1, timeout: float | None = None) -> "JobChain":
        import time
        from ..errors import JobError
        started: set[int] = set()
        deadline = None if timeout is None else time.time() + timeout
        while True:
            pending = 0
            for job in self:
                if id(job) in started:
                    continue
                inputs = self.inputs(job)
                pending += 1
                deps = [i for i in inputs if isinstance(i, Job)]
                states = [self._status(dep) for dep in deps]
                if any(s == "dead" for s in states):
                    raise JobError(job, "an input job died")
                if all(s == "ready" for s in states):
                    job.run(input=[r for i in inputs
                                   for r in (i.wait() if isinstance(i, Job) else [i])])
                    started.add(id(job))
            for job in self:
                if id(job) in started and self._status(job) == "dead":
                    raise JobError(job, "Status dead")
            if not pending and all(self._status(j) == "ready" for j in self):
                return self
            if deadline is not None and time.time() > deadline:
                late = next(j for j in self if self._status(j) != "ready")
                raise JobError(late, "Timeout")
            time.sleep(poll_interval)

    @staticmethod
    def _status(job: Job) -> str:
        if "@" not in job.name:
            return "unsubmitted"
        return job.disco.results(job.name, timeout=0)[0]

    def walk(self) -> list[Job]:
        return list(self)

    def inputs(self, job: Job) -> list:
        """The inputs of ``job`` as a list (a job given alone is a list of one)."""
        inputs = self[job]
        if isinstance(inputs, Job) or isinstance(inputs, str):
            return [inputs]
        return list(inputs)

    def purge(self) -> None:
        for job in self:
            if "@" in job.name:
                job.purge()
