"""The pipeline worker (``disco.worker.pipeline.worker``): a job as a list of stages.

``Worker(pipeline=[(grouping, Stage), ...])`` (or ``(grouping, Stage, concurrent)``); the
pipeline may also be a ``pipeline`` attribute of the Job or a ``run()`` argument. Each
task of a stage runs:

1. ``state = stage.init(interface, params)``;
2. its inputs, grouped by label (an index input contributes each file it lists, with
   that line's label), ordered by ``stage.input_hook(state, labels)``;
3. per label, ``stage.process(interface, state, label, inp)`` once per input, or once
   with every input of the label chained when ``combine=True`` (sorted by key, on disk
   past a bound, when also ``sort=True``);
4. ``stage.done(interface, state)``.

``interface.output(label).add(key, value)`` writes records to that label's output file.
The first stage reads inputs through ``[task_input_stream]`` (text lines), later stages
through ``[task_input_stream, chain_reader]`` (records), unless a stage gives its own
``input_chain``; outputs go through ``[task_output_stream, disco_output_stream]``.
"""
from __future__ import annotations

import itertools
from collections import namedtuple
from typing import Any, Callable, Iterable

from .. import jobpack as jp
from ..errors import DiscoError, FatalError
from . import task_io
from .base import Worker as BaseWorker
from .classic import Outputs, normalize_inputs
from .sort import external_sort, parse_buffer_size
from .task import Input, Task

TaskInfo = namedtuple("TaskInfo", "jobname host stage group label")


def input_hook(state: Any, input_labels: Iterable) -> Iterable:
    return input_labels


class Stage:
    def __init__(self, name: str = "", init: Callable | None = None,
                 process: Callable | None = None, done: Callable | None = None,
                 input_hook: Callable = input_hook, input_chain: list | None = None,
                 output_chain: list | None = None, combine: bool = False,
                 sort: bool = False) -> None:
        self.name = name
        self.init = init
        self.process = process
        self.done = done
        self.input_hook = input_hook
        self.input_chain = list(input_chain or [])
        self.output_chain = list(output_chain or [])
        self.combine = combine
        self.sort = sort
        self.taskinfo: TaskInfo | None = None

    def __repr__(self) -> str:
        return "Stage(%r)" % self.name


class Interface:
    """What a stage's functions get as ``interface``: outputs by label, and the task."""

    def __init__(self, task: Task, outputs: Outputs) -> None:
        self.task = task
        self.outputs = outputs

    def output(self, label: int) -> Any:
        return self.outputs[label]

    @property
    def jobname(self) -> str:
        return self.task.jobname

    @property
    def host(self) -> str:
        return self.task.host


def _stages(pipeline: Any) -> list[tuple[str, Stage, bool]]:
    if not isinstance(pipeline, (list, tuple)) or not pipeline:
        raise DiscoError("Bad pipeline %r: give a list of (grouping, Stage)" % (pipeline,))
    out = []
    names = set()
    for item in pipeline:
        if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
            raise DiscoError("Bad Stage %r: give (grouping, Stage) or "
                             "(grouping, Stage, concurrent)" % (item,))
        grouping, stage = item[0], item[1]
        concurrent = bool(item[2]) if len(item) == 3 else False
        if not isinstance(stage, Stage) or not stage.name:
            raise DiscoError("Bad Stage %r: a Stage with a name is needed" % (stage,))
        if grouping not in jp.GROUPINGS:
            raise DiscoError("Unknown grouping %r in stage %r: use one of %s"
                             % (grouping, stage.name, ", ".join(jp.GROUPINGS)))
        if stage.name in names:
            raise DiscoError("Repeated stage %r" % stage.name)
        names.add(stage.name)
        out.append((grouping, stage, concurrent))
    return out


class Worker(BaseWorker):
    jobpack_version = jp.VERSION2
    pipeline_input_chain = [task_io.task_input_stream]
    interior_input_chain = [task_io.task_input_stream, task_io.chain_reader]
    default_output_chain = [task_io.task_output_stream, task_io.disco_output_stream]

    def __init__(self, pipeline: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if pipeline is not None:
            self["pipeline"] = pipeline

    def defaults(self) -> dict:
        d = super().defaults()
        d.update({"pipeline": None, "input": [], "sort_buffer_size": None})
        return d

    # -- client side --------------------------------------------------------------------
    def jobdict(self, job: Any, **jobargs: Any) -> dict:
        d = super().jobdict(job, **jobargs)
        stages = _stages(self.getitem("pipeline", job, jobargs))
        inputs = normalize_inputs(self.getitem("input", job, jobargs) or [])
        d["pipeline"] = [[stage.name, grouping, concurrent]
                         for grouping, stage, concurrent in stages]
        d["inputs"] = [[0, 0, [i] if isinstance(i, str) else list(i)] for i in inputs]
        return d

    def job_functions(self, job: Any, jobargs: dict) -> list[Any]:
        funcs = super().job_functions(job, jobargs)
        for _grouping, stage, _concurrent in _stages(self.getitem("pipeline", job, jobargs)):
            funcs.extend(f for f in (stage.init, stage.process, stage.done, stage.input_hook,
                                     *stage.input_chain, *stage.output_chain) if callable(f))
        return funcs

    # -- task side ----------------------------------------------------------------------
    def start(self, task: Task, job: Any, jobargs: dict, proto: Any) -> None:
        stages = _stages(self.getitem("pipeline", job, jobargs))
        index = next((i for i, (_g, s, _c) in enumerate(stages) if s.name == task.stage), None)
        if index is None:
            raise FatalError("the job's pipeline has no stage %r" % task.stage)
        self._stage = stages[index][1]
        self._first = index == 0
        super().start(task, job, jobargs, proto)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("stage_") and "_stage" in self.__dict__:
            return self.run_stage
        raise AttributeError(name)

    def run_stage(self, task: Task, inputs: list[Input]) -> None:
        stage = self._stage
        params = self.getitem("params", self.job, self.jobargs)
        chain = stage.input_chain or (self.pipeline_input_chain if self._first
                                      else self.interior_input_chain)
        outputs = Outputs(self, stage.output_chain or self.default_output_chain, params)
        interface = Interface(task, outputs)
        try:
            state = stage.init(interface, params) if stage.init else None
            by_label: dict[Any, list] = {}
            for label, source in self.sources(inputs):
                by_label.setdefault(label, []).append(source)
            labels = list(stage.input_hook(state, sorted(by_label, key=_label_key)))
            for label in labels:
                stage.taskinfo = TaskInfo(task.jobname, task.host, task.stage,
                                          task.group_str, label)
                sources = by_label.get(label, [])
                if stage.combine:
                    records: Any = itertools.chain.from_iterable(
                        self.open_source(src, chain) for src in sources)
                    if stage.sort:
                        size = self.getitem("sort_buffer_size", self.job, self.jobargs) \
                            or 256 << 20
                        records = external_sort(records, task.path("sort"),
                                                parse_buffer_size(size))
                    if stage.process:
                        stage.process(interface, state, label, records)
                else:
                    for src in sources:
                        records = self.open_source(src, chain)
                        if stage.process:
                            stage.process(interface, state, label, records)
                self.current_input = ""
            if stage.done:
                stage.done(interface, state)
            outputs.close()
        except BaseException:
            outputs.abort()
            raise


def _label_key(label: Any) -> tuple:
    return (0, label, "") if isinstance(label, int) else (1, 0, str(label))
