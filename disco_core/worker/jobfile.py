"""A job file as a task reads it: the job pack the node saved in the job home, whose jobdict
and pickled ``(job, jobargs)`` the worker loads."""
from __future__ import annotations

# pickle is imported before the job's lib/ goes first on sys.path (see .jobpath)
import io
import json
import os
import pickle
import sys
from typing import Any

from .. import jobpack as jp
from ..errors import FatalError


def read_jobdict(jobfile: str) -> dict:
    """The jobdict of a job file (without reading the rest of it)."""
    with open(jobfile, "rb") as f:
        return _read_jobdict(f)[0]


def _read_jobdict(f: Any) -> tuple[dict, int]:
    head = f.read(jp.HEADER_SIZE)
    _version, (o1, o2, _o3, o4) = jp.offsets(head, os.fstat(f.fileno()).st_size)
    return json.loads(f.read(o2 - o1)), o4


def load_job(jobfile: str) -> tuple[dict, Any, dict]:
    """The jobdict (:func:`~disco_core.jobpack.task_jobdict`: without the job's inputs) and the
    unpickled ``(job, jobargs)`` of a job file.

    The jobdict and ``(job, jobargs)`` are decoded afresh for each call, so no task sees what
    another left in them; what is read of the file is kept per process and job file (a warm
    worker runs many tasks of one job), so a call after the first only checks that the file
    is the same one. The job's inputs, which the client pickles apart after them
    (:meth:`~.base.Worker.jobdata`), are unpickled once per process and job file: a job of
    50,000 inputs would otherwise have each of its 50,000 tasks decode all of them. The
    list in ``jobargs["input"]`` is shared by the calls while no task changes it (a
    :class:`JobInputs`; a copy per call cost a warm worker a pass over every input, for
    every task, 0.2 ms a task at 20,000 inputs); once one has, the next call gets a new
    one."""
    st = os.stat(jobfile)
    key = (jobfile, st.st_ino, st.st_size, st.st_mtime_ns)
    global _read_cache
    fresh = None
    if _read_cache is None or _read_cache[0] != key:
        _read_cache = None
        jobdict_text, objs, inputs, fresh = _read(jobfile, key)
        _read_cache = (key, jobdict_text, objs, inputs)
    _key, jobdict_text, objs, inputs = _read_cache
    jobdict = json.loads(jobdict_text)  # its Python version was checked by _read
    try:
        job, jobargs = fresh if fresh is not None else pickle.loads(objs)
    except MemoryError:
        raise  # this node is short of memory now: the task is retried, the job lives on
    except Exception as exc:
        raise _cannot_load(exc) from exc
    if inputs is not None:
        global _shared_inputs
        shared = _shared_inputs
        if shared is None or shared[0] is not inputs or shared[1].changed:
            shared = _shared_inputs = (inputs, JobInputs(inputs))
        jobargs["input"] = shared[1]
    return jobdict, job, jobargs


class JobInputs(list):
    """The job's inputs as a task sees them in ``jobargs["input"]``: a list that notes
    being changed, so that the tasks after the one that changed it get a fresh copy."""

    changed = False


def _noting_change(name: str) -> Any:
    method = getattr(list, name)

    def changing(self: JobInputs, *args: Any, **kwargs: Any) -> Any:
        self.changed = True
        return method(self, *args, **kwargs)
    changing.__name__ = changing.__qualname__ = name
    return changing


for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend",
              "insert", "pop", "remove", "clear", "sort", "reverse"):
    setattr(JobInputs, _name, _noting_change(_name))
del _name


#: The inputs :func:`load_job` last handed out: (the cached list, the list handed out).
_shared_inputs: tuple[list, JobInputs] | None = None


#: What :func:`load_job` read of the job file it read last: (its identity, the jobdict as
#: JSON, the pickled ``(job, jobargs)``, the job's inputs or None).
_read_cache: tuple[tuple, str, bytes, list | None] | None = None


def _read(jobfile: str, key: tuple) -> tuple[str, bytes, list | None, Any]:
    """The jobdict as JSON, the pickled ``(job, jobargs)``, the job's inputs (or None) and
    ``(job, jobargs)`` unpickled, of the job file."""
    jobdict = jp.task_jobdict(jobfile)
    want = jobdict.get("python_version")
    have = "%d.%d" % sys.version_info[:2]
    if want and want != have:
        raise FatalError("the job was built with Python %s but this node runs Python %s: "
                         "run the client with Python %s" % (want, have, have))
    try:
        with open(jobfile, "rb") as f:
            head = f.read(jp.HEADER_SIZE)
            size = os.fstat(f.fileno()).st_size
            _version, (_o1, _o2, _o3, o4) = jp.offsets(head, size)
            f.seek(o4)
            data = f.read()
        view = io.BytesIO(data)
        objs = pickle.Unpickler(view).load()
        where = view.tell()
        inputs = None
        if where < len(data):
            inputs = _job_inputs(view, key + (o4 + where,))
    except MemoryError:
        raise
    except Exception as exc:
        raise _cannot_load(exc) from exc
    return json.dumps(jobdict), data[:where], inputs, objs


def _cannot_load(exc: Exception) -> FatalError:
    return FatalError("cannot load the job's functions on this node: %s: %s. If they come "
                      "from a module the nodes lack, name it in required_modules or "
                      "install it on the nodes" % (type(exc).__name__, exc))


#: The inputs of the job file this process read last: (its identity, the inputs).
_inputs_cache: tuple[tuple, list] | None = None


def _job_inputs(f: Any, key: tuple) -> list:
    """The job's inputs, pickled after ``(job, jobargs)`` from where ``f`` stands."""
    global _inputs_cache
    if _inputs_cache is not None and _inputs_cache[0] == key:
        return _inputs_cache[1]
    (inputs,) = pickle.Unpickler(f).load()
    _inputs_cache = (key, inputs)
    return inputs
