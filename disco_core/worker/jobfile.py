"""A job file as a task reads it: the job pack the node saved in the job home, whose jobdict
and pickled ``(job, jobargs)`` the worker loads."""
from __future__ import annotations

# pickle is imported before the job's lib/ goes first on sys.path (see .jobpath)
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
    unpickled
    ``(job, jobargs)`` of a job file."""
    jobdict = jp.task_jobdict(jobfile)
    with open(jobfile, "rb") as f:
        head = f.read(jp.HEADER_SIZE)
        _version, (_o1, _o2, _o3, o4) = jp.offsets(head, os.fstat(f.fileno()).st_size)
        f.seek(o4)
        data = f.read()
    want = jobdict.get("python_version")
    have = "%d.%d" % sys.version_info[:2]
    if want and want != have:
        raise FatalError("the job was built with Python %s but this node runs Python %s: "
                         "run the client with Python %s" % (want, have, have))
    try:
        job, jobargs = pickle.loads(data)
    except MemoryError:
        raise  # this node is short of memory now: the task is retried, the job lives on
    except Exception as exc:
        raise FatalError("cannot load the job's functions on this node: %s: %s. If they come "
                         "from a module the nodes lack, name it in required_modules or "
                         "install it on the nodes" % (type(exc).__name__, exc)) from exc
    return jobdict, job, jobargs
