"""The simple worker (``disco.worker.simple``): a job's stages are methods of the job.

For each task the worker calls ``getitem(task.stage, job, jobargs)(worker, task, **jobargs)``,
i.e. the job's method named after the stage, ``map(self, worker, task, **jobargs)`` or
``reduce(self, worker, task, **jobargs)`` (a ``run()`` argument of that name wins, as for
every parameter). The method reads its records itself with ``worker.input(task)`` and
writes them with ``worker.output(task, label).add(key, value)``::

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

import heapq
from typing import Any, Callable, Iterator

from .. import jobpack as jp
from ..errors import DiscoError
from . import FatalError, Worker as BaseWorker
from . import task_io
from .classic import Outputs, normalize_inputs
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


class Output:
    """A task's output file for one label: ``add(key, value)`` / ``append(record)``
    write records; ``file`` is the record writer, ``path`` the file's path."""

    type = "disco"

    def __init__(self, path: str, label: int, file: Any) -> None:
        self.path = path
        self.label = label
        self.file = file

    def add(self, key: Any, value: Any) -> None:
        self.file.add(key, value)

    def append(self, record: Any) -> None:
        self.file.append(record)

    def __repr__(self) -> str:
        return "Output(%r, label=%d)" % (self.path, self.label)


class TaskInput:
    """The records of a task's inputs: iterating opens the inputs one after the other
    (or, ``merged``, heap-merges them: each input must already be sorted)."""

    def __init__(self, worker: "Worker", inputs: list[Input], open: Any,
                 merged: bool = False) -> None:
        self.worker = worker
        self.inputs = inputs
        self.open = open
        self.merged = merged

    def _records(self, source: Any) -> Iterator[Any]:
        if callable(self.open):
            url = source if isinstance(source, str) else source.urls[0]
            self.worker.current_input = url
            yield from self.open(url)
        else:
            yield from self.worker.open_source(source, list(self.open))
        self.worker.current_input = ""

    def __iter__(self) -> Iterator[Any]:
        sources = [src for _label, src in self.worker.sources(self.inputs)]
        if self.merged:
            return heapq.merge(*(self._records(src) for src in sources))
        return (record for src in sources for record in self._records(src))


class Worker(BaseWorker):
    """Runs the job's method named after each stage."""

    jobpack_version = jp.VERSION2
    first_input_chain = [task_io.task_input_stream]
    interior_input_chain = [task_io.task_input_stream, task_io.chain_reader]
    output_chain = [task_io.task_output_stream, task_io.disco_output_stream]

    def defaults(self) -> dict:
        d = super().defaults()
        d.update({"input": [], "stages": None})
        return d

    # -- client side --------------------------------------------------------------------
    def jobdict(self, job: Any, **jobargs: Any) -> dict:
        d = super().jobdict(job, **jobargs)
        stages = job_stages(self, job, jobargs)
        inputs = normalize_inputs(self.getitem("input", job, jobargs) or [])
        if not inputs:
            raise DiscoError("the job has no input: give input=[url, ...] to run()")
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
        self._outputs: dict[int, Output] = {}
        super().start(task, job, jobargs, proto)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("stage_") and "_first" in self.__dict__:
            return self.run_stage
        raise AttributeError(name)

    def run_stage(self, task: Task, inputs: list[Input]) -> None:
        method: Callable = self.getitem(task.stage, self.job, self.jobargs)
        self._inputs = inputs
        self._files = Outputs(self, self.output_chain,
                              self.getitem("params", self.job, self.jobargs))
        try:
            method(self, task, **self.jobargs)
            self._files.close()
        except BaseException:
            self._files.abort()
            raise

    def input(self, task: Task, merged: bool = False, open: Any = None,
              **kwargs: Any) -> TaskInput:
        """The records of every input of the task. ``open`` is an input chain (a list of
        stream functions) or ``open(url) -> records``; by default the first stage reads
        text lines and later stages read records."""
        if open is None:
            open = self.first_input_chain if self._first else self.interior_input_chain
        elif not callable(open) and not isinstance(open, (list, tuple)):
            raise DiscoError("input(open=...) must be a list of stream functions or a "
                             "function open(url), got %r" % (open,))
        return TaskInput(self, self._inputs, open, merged)

    def output(self, task: Task, label: int | None = None, **kwargs: Any) -> Output:
        """The task's output for ``label`` (0 when None), the same object on every call."""
        if label is None:
            label = kwargs.get("partition")
        label = 0 if label is None else label
        out = self._outputs.get(label)
        if out is None:
            writer = self._files[label]  # checks the label
            out = self._outputs[label] = Output(task.output_path(label), label, writer)
        return out


__all__ = ["Worker", "Output", "TaskInput", "DEFAULT_STAGES"]
