"""The simple worker (``disco.worker.simple``): a job's stages are methods of the job.

For each task the worker calls ``getitem(task.stage, job, jobargs)(worker, task, **jobargs)``,
i.e. the job's method named after the stage, ``map(self, worker, task, **jobargs)`` or
``reduce(self, worker, task, **jobargs)`` (a ``run()`` argument of that name wins, as for
every parameter). The method reads its records itself with ``worker.input(task)`` and
writes them with ``worker.output(task, label).add(key, value)``, the base Worker's
(:mod:`disco_core.worker`) ``input`` and ``output``::

    class WordCount(SimpleJob):
        def map(self, worker, task, **jobargs):
            out = worker.output(task)
            for line in worker.input(task):
                for word in line.split():
                    out.add(word, 1)

        def reduce(self, worker, task, **jobargs):
            counts = {}
            for word, n in worker.input(task):
                counts[word] = counts.get(word, 0) + n
            for word, n in sorted(counts.items()):
                worker.output(task).add(word, n)

Stages: by default ``map`` (grouping ``split``: one task per input) when the job has a
``map``, then ``reduce`` (``group_all``: one task over every map output) when it has a
``reduce`` -- the original's map/reduce job without the node-local shuffle. A job may name
its own stages with a ``stages`` parameter (a Job attribute or ``run()`` argument): a list
of ``(name, grouping)`` pairs, each name a method of the job. The job is a version-2 job
pack whose pipeline is these stages.

Records: the first stage reads its inputs as text lines (``str``, newline kept), later
stages read the previous stage's outputs as ``(key, value)`` records. Outputs are record
files (the internal format), one per label, written atomically; a task that writes no
output has no result.
"""
from __future__ import annotations

from typing import Any, Callable

from .. import jobpack as jp
from ..errors import DiscoError, FatalError
from .base import Worker as BaseWorker
from .classic import normalize_inputs
from .inout import Output
from .task import Input, Task

DEFAULT_STAGES = (("map", "split"), ("reduce", "group_all"))


def job_stages(worker: "Worker", job: Any, jobargs: dict) -> list[tuple[str, str]]:
    """The job's ``(stage, grouping)`` list; raises :class:`DiscoError` when it is unusable."""
    kind = type(job).__name__
    given = worker.getitem("stages", job, jobargs)
    if given is None:
        stages = [(name, grouping) for name, grouping in DEFAULT_STAGES
                  if callable(worker.getitem(name, job, jobargs))]
        if not stages:
            raise DiscoError("%s has no stage to run: define map(self, worker, task, "
                             "**jobargs) and/or reduce(self, worker, task, **jobargs)" % kind)
        return stages
    if isinstance(given, (str, bytes)) or not isinstance(given, (list, tuple)) or not given:
        raise DiscoError("stages of %s must be a list of (name, grouping) pairs, got %r"
                         % (kind, given))
    stages, names = [], set()
    for item in given:
        if not isinstance(item, (list, tuple)) or len(item) != 2 \
                or not isinstance(item[0], str) or not item[0]:
            raise DiscoError("stage %r of %s must be a (name, grouping) pair" % (item, kind))
        name, grouping = item
        if grouping not in jp.GROUPINGS:
            raise DiscoError("unknown grouping %r of stage %r: use one of %s"
                             % (grouping, name, ", ".join(jp.GROUPINGS)))
        if name in names:
            raise DiscoError("stage %r of %s is given twice" % (name, kind))
        names.add(name)
        if not callable(worker.getitem(name, job, jobargs)):
            raise DiscoError("%s has no method for its stage %r: define %s(self, worker, "
                             "task, **jobargs)" % (kind, name, name))
        stages.append((name, grouping))
    return stages


class Worker(BaseWorker):
    """Runs the job's method named after each stage."""

    jobpack_version = jp.VERSION2

    def defaults(self) -> dict:
        d = super().defaults()
        d.update({"input": [], "stages": None})
        return d

    # -- client side --------------------------------------------------------------------
    def jobdict(self, job: Any, **jobargs: Any) -> dict:
        d = super().jobdict(job, **jobargs)
        stages = job_stages(self, job, jobargs)
        inputs = normalize_inputs(self.getitem("input", job, jobargs) or [])
        d["pipeline"] = [[name, grouping, False] for name, grouping in stages]
        d["inputs"] = [[0, 0, [i] if isinstance(i, str) else list(i)] for i in inputs]
        return d

    # -- task side ----------------------------------------------------------------------
    def start(self, task: Task, job: Any, jobargs: dict, proto: Any) -> None:
        names = [name for name, _grouping in job_stages(self, job, jobargs)]
        if task.stage not in names:
            raise FatalError("the job's stages are %s; it has no stage %r"
                             % (", ".join(names), task.stage))
        self._first = names.index(task.stage) == 0
        super().start(task, job, jobargs, proto)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("stage_") and "_first" in self.__dict__:
            return self.run_stage
        raise AttributeError(name)

    def is_first_stage(self, task: Task) -> bool:
        if "_first" in self.__dict__:
            return self._first
        return super().is_first_stage(task)

    def run_stage(self, task: Task, inputs: list[Input]) -> None:
        """Call the job's method of the stage; it reads with :meth:`input` and writes with
        :meth:`output` (the base Worker finishes and reports the outputs)."""
        method: Callable = self.getitem(task.stage, self.job, self.jobargs)
        method(self, task, **self.jobargs)

__all__ = ["Worker", "Output", "DEFAULT_STAGES"]
