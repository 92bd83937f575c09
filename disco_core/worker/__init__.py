"""The Python worker: a job's parameters on the client side, a task's driver on the node.

A :class:`Worker` builds the job pack's worker parts on the client (``jobdict``,
``jobenvs``, ``jobhome``) and, in the task process, speaks the worker protocol
(:meth:`Worker.main`): ``WORKER``, ``TASK``, ``INPUT``..., the stage's work, ``OUTPUT``...,
``DONE``. A subclass says what each stage does: for a task of stage ``S`` the worker calls
its method ``stage_S(task, inputs)`` (:mod:`disco_core.worker.classic`,
:mod:`disco_core.worker.pipeline`, :mod:`disco_core.worker.simple`). A stage method reads
with :meth:`Worker.input` (or :class:`Input` per input) and writes with
:meth:`Worker.output`; :meth:`Worker.labelled_input_map` and :meth:`Worker.concat_input`
make a shuffle. A subclass for a version-2 job pack adds the pipeline to its ``jobdict``.

Errors in the task: a :class:`~disco_core.errors.DataError` (or ``OSError``,
``MemoryError``) and any other exception from job code send ``ERROR`` with the traceback,
the task and the input being read, so the master retries the task (elsewhere, if it can)
up to the job's failure limit. :class:`FatalError` (the job cannot run anywhere: its
functions do not load, the Python versions differ) sends ``FATAL`` and ends the job.

This module only gathers the names: :class:`Worker` and :class:`Params` are in
:mod:`.base`, the job file's loading in :mod:`.jobfile`, the running task
(:func:`active_task`) in :mod:`.task`, the launcher in :mod:`disco_core.jobpack`; the worker's
modules import those, never this package, so none of them is in a circle with it.
"""
from __future__ import annotations

from ..errors import FatalError
from ..jobpack import LAUNCHER, LAUNCHER_MARK, LAUNCHER_SOURCE
from .base import Params, Worker, main
from .inout import (BaseOutput, IDedInput, Input, MergedInput, Output, ParallelInput,
                    ReplicaIter, SerialInput)
from .jobfile import load_job, read_jobdict
from .task import active_task

__all__ = ["Worker", "Params", "FatalError", "active_task", "main", "load_job", "read_jobdict",
           "LAUNCHER", "LAUNCHER_MARK", "LAUNCHER_SOURCE", "Input", "SerialInput",
           "ParallelInput", "MergedInput", "Output", "BaseOutput", "IDedInput", "ReplicaIter"]
