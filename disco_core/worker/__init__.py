"""The Python worker: a job's parameters on the client side, a task's driver on the node.

A :class:`Worker` builds the job pack's worker parts on the client (``jobdict``,
``jobenvs``, ``jobhome``) and, in the task process, speaks the worker protocol
(:func:`main`): ``WORKER``, ``TASK``, ``INPUT``..., the stage's work, ``OUTPUT``...,
``DONE``. A subclass says what each stage does (:mod:`disco_core.worker.classic`).

Errors in the task: a :class:`~disco_core.errors.DataError` (or ``OSError``,
``MemoryError``) and any other exception from job code send ``ERROR`` with the traceback,
the task and the input being read, so the master retries the task (elsewhere, if it can)
up to the job's failure limit. :class:`FatalError` (the job cannot run anywhere: its
functions do not load, the Python versions differ) sends ``FATAL`` and ends the job.
"""
from __future__ import annotations

import importlib
import io
import json
import os
import sys
import traceback
import zipfile
from typing import Any

from .. import jobpack as jp
from ..errors import DiscoError
from ..settings import DiscoSettings
from .protocol import MessageWriter, WorkerProtocol
from .task import Input, Task

LAUNCHER = "disco_worker"
LAUNCHER_MARK = "# disco-python-worker"
LAUNCHER_SOURCE = """#!/usr/bin/env python3
%s: the Python worker; nodes may fork it from a warm interpreter instead of running this.
import os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "lib"))
from disco_core.worker import main
main()
""" % LAUNCHER_MARK

_active_task: Task | None = None


def active_task() -> Task | None:
    """The task this process is running (None outside a task)."""
    return _active_task


class FatalError(DiscoError):
    """The job cannot run on any node: report FATAL and end the job."""


class Params:
    """An attribute bag passed to job functions as ``params``; may hold functions."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return "Params(%s)" % ", ".join("%s=%r" % kv for kv in sorted(self.__dict__.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Params) and vars(self) == vars(other)


class Worker(dict):
    """Job parameters with defaults; subclasses define the stages."""

    jobpack_version = jp.VERSION1

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(self.defaults())
        self.update(kwargs)
        self.proto: WorkerProtocol | None = None
        self.outputs: list[tuple[int, str, int]] = []

    def __getstate__(self) -> dict:
        return {"items": dict(self)}

    def __setstate__(self, state: dict) -> None:
        self.update(state["items"])
        self.proto = None
        self.outputs = []

    def defaults(self) -> dict:
        return {"save_results": False, "save_info": "ddfs", "profile": False,
                "required_files": {}, "required_modules": None, "scheduler": {},
                "params": Params()}

    def getitem(self, key: str, job: Any, jobargs: dict, default: Any = None) -> Any:
        """run() arguments win, then the Job's attributes, then the worker's defaults."""
        if key in jobargs:
            return jobargs[key]
        if job is not None and not key.startswith("_") and hasattr(job, key):
            return getattr(job, key)
        return self.get(key, default)

    # -- client side --------------------------------------------------------------------
    def jobdict(self, job: Any, **jobargs: Any) -> dict:
        settings = getattr(job, "settings", None) or DiscoSettings()
        scheduler = dict(self.getitem("scheduler", job, jobargs) or {})
        save = self.getitem("save_results", job, jobargs, False) or \
            self.getitem("save", job, jobargs, False)
        return {"prefix": job.name,
                "worker": LAUNCHER,
                "owner": self.getitem("owner", job, jobargs, None) or settings["DISCO_JOB_OWNER"],
                "save_results": bool(save),
                "save_info": self.getitem("save_info", job, jobargs, "ddfs"),
                "scheduler": scheduler,
                "python_version": "%d.%d" % sys.version_info[:2]}

    def jobenvs(self, job: Any, **jobargs: Any) -> dict:
        return {"PYTHONPATH": "lib", "LD_LIBRARY_PATH": "lib"}

    def job_functions(self, job: Any, jobargs: dict) -> list[Any]:
        """The objects whose modules the job home must carry."""
        objs: list[Any] = [type(job)]
        objs.extend(v for v in jobargs.values() if callable(v) or isinstance(v, (list, tuple)))
        flat: list[Any] = []
        for obj in objs:
            flat.extend(obj if isinstance(obj, (list, tuple)) else [obj])
        params = self.getitem("params", job, jobargs)
        if params is not None and hasattr(params, "__dict__"):
            flat.extend(v for v in vars(params).values() if callable(v))
        return flat

    def jobhome(self, job: Any, **jobargs: Any) -> bytes:
        from .modutil import archive_name, find_modules
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            info = zipfile.ZipInfo(LAUNCHER)
            info.external_attr = 0o755 << 16
            z.writestr(info, LAUNCHER_SOURCE)
            required = self.getitem("required_modules", job, jobargs)
            if required is None:
                modules = find_modules(self.job_functions(job, jobargs))
            else:
                modules = []
                for entry in required:
                    if isinstance(entry, (tuple, list)):
                        modules.append((entry[0], entry[1]))
                    else:
                        mod = sys.modules.get(entry) or importlib.import_module(entry)
                        path = getattr(mod, "__file__", None)
                        if path and path.endswith(".py"):
                            modules.append((entry, path))
            for name, path in modules:
                z.write(path, os.path.join("lib", archive_name(name, path)))
            files = self.getitem("required_files", job, jobargs) or {}
            if isinstance(files, dict):
                for name, data in files.items():
                    z.writestr(name, data)
            else:
                for path in files:
                    z.write(path, os.path.join("lib", os.path.basename(path)))
        return buf.getvalue()

    def jobdata(self, job: Any, jobargs: dict) -> bytes:
        from .task import jobdata
        return jobdata(job, jobargs)

    def jobpack(self, job: Any, **jobargs: Any) -> jp.JobPack:
        return jp.JobPack(self.jobpack_version, self.jobdict(job, **jobargs),
                          self.jobenvs(job, **jobargs), self.jobhome(job, **jobargs),
                          self.jobdata(job, jobargs))

    # -- task side ----------------------------------------------------------------------
    def send(self, name: str, payload: Any = "") -> Any:
        assert self.proto is not None
        return self.proto.request(name, payload)[1]

    def get_inputs(self) -> list[Input]:
        """Every input of the task, polling while the master says more may come."""
        assert self.proto is not None
        inputs: dict[int, Input] = {}
        request: Any = ""
        while True:
            _, (flag, items) = self.proto.request("INPUT", request, ("INPUT",))
            for input_id, _status, label, replicas in items:
                inputs[input_id] = Input(input_id, label, [tuple(r) for r in replicas])
            if flag == "done":
                break
            request = ["exclude", sorted(inputs)]
        return [inputs[i] for i in sorted(inputs)]

    def input_failed(self, input_id: int, rep_ids: list[int]) -> list[tuple[int, str]]:
        assert self.proto is not None
        reply, body = self.proto.request("INPUT_ERR", [input_id, rep_ids], ("RETRY", "FAIL"))
        return [tuple(r) for r in body] if reply == "RETRY" else []

    def sources(self, inputs: list[Input]) -> list[tuple[Any, Any]]:
        """``(label, source)`` for everything the inputs hold: each file an index input
        lists (a URL, with the index line's label), and each data input (an Input)."""
        from .dataio import is_index, read_index
        out: list[tuple[Any, Any]] = []
        for inp in inputs:
            urls = inp.urls
            if urls and is_index(urls[0]):
                self.current_input = urls[0]
                for label, url, _size in read_index(urls[0], self.task):
                    if inp.label == "all" or label == inp.label:
                        out.append((label, url))
            else:
                out.append((inp.label, inp))
        return out

    def open_source(self, source: Any, chain: list) -> Any:
        """Records of a source from :meth:`sources`, through an input chain; the replicas
        of a data input are tried in turn (``INPUT_ERR`` asks the node for more)."""
        from .dataio import apply_input_chain, open_replicas
        params = self.getitem("params", self.job, self.jobargs)
        if isinstance(source, str):
            self.current_input = source
            return apply_input_chain(source, chain, params)
        url, records = open_replicas(source, lambda u: apply_input_chain(u, chain, params),
                                     self.input_failed)
        self.current_input = url
        return records

    def add_output(self, label: int, path: str) -> None:
        """Record a finished local output file (absolute path inside the job home)."""
        self.outputs.append((label, os.path.relpath(path, self.task.jobhome),
                             os.path.getsize(path)))

    def send_outputs(self) -> None:
        for label, relpath, size in self.outputs:
            self.send("OUTPUT", [label, relpath, size])

    def start(self, task: Task, job: Any, jobargs: dict, proto: WorkerProtocol) -> None:
        self.task, self.job, self.jobargs, self.proto = task, job, jobargs, proto
        self.current_input = ""
        task.makedirs()
        stage = getattr(self, "stage_" + task.stage, None)
        if stage is None:
            raise FatalError("this worker has no stage %r" % task.stage)
        inputs = self.get_inputs()
        from .runtime import inject
        inject(self.job_functions(job, jobargs), [u for inp in inputs for u in inp.urls[:1]])
        if self.getitem("profile", job, jobargs, False):
            import cProfile
            prof = cProfile.Profile()
            prof.runcall(stage, task, inputs)
            self.save_profile(prof)
        else:
            stage(task, inputs)
        self.send_outputs()

    def save_profile(self, prof: Any) -> None:
        """Store the task's profile with the master (``Disco.profile_stats``)."""
        import marshal
        from ..client.comm import request
        prof.create_stats()
        key = "profile-%s" % self.task.uid.replace(":", "_")
        request("POST", "%s/disco/ctrl/oob_put?name=%s&key=%s"
                % (self.task.master, self.task.jobname, key), marshal.dumps(prof.stats))


def load_job(jobfile: str) -> tuple[dict, Any, dict]:
    """The jobdict and the unpickled ``(job, jobargs)`` of a job file."""
    with open(jobfile, "rb") as f:
        head = f.read(jp.HEADER_SIZE)
        _version, (o1, o2, _o3, o4) = jp.offsets(head, os.fstat(f.fileno()).st_size)
        jobdict = json.loads(f.read(o2 - o1))
        f.seek(o4)
        data = f.read()
    want = jobdict.get("python_version")
    have = "%d.%d" % sys.version_info[:2]
    if want and want != have:
        raise FatalError("the job was built with Python %s but this node runs Python %s: "
                         "run the client with Python %s" % (want, have, have))
    import cloudpickle  # noqa: F401  (registers reducers used by the pickle)
    import pickle
    try:
        job, jobargs = pickle.loads(data)
    except Exception as exc:
        raise FatalError("cannot load the job's functions on this node: %s: %s. If they come "
                         "from a module the nodes lack, name it in required_modules or "
                         "install it on the nodes" % (type(exc).__name__, exc)) from exc
    return jobdict, job, jobargs


def main() -> None:
    """Run one task over the worker protocol on fds 0 (replies) and 2 (requests)."""
    global _active_task
    proto = WorkerProtocol(0, 2)
    proto.hello()
    writer = MessageWriter(proto)
    sys.stdout = sys.stderr = writer  # type: ignore[assignment]
    worker = None
    try:
        _, info = proto.request("TASK", "", ("TASK",))
        _limit_memory()
        task = Task.from_reply(info)
        _active_task = task
        jobdict, job, jobargs = load_job(task.jobfile)
        task.__dict__["jobobjs"] = (job, jobargs)  # Task.jobobjs without a second unpickling
        worker = job.worker
        worker.start(task, job, jobargs, proto)
        writer.flush()
        proto.send("DONE", "")
    except FatalError as exc:
        _report(proto, writer, "FATAL", "%s" % exc)
    except BaseException as exc:  # job code failed: the master retries the task
        where = getattr(worker, "current_input", "") if worker is not None else ""
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        if where:
            text += "(while reading input %s)" % where
        _report(proto, writer, "ERROR", text.rstrip())
    finally:
        try:
            sys.stdout.flush()
        except Exception:
            pass
    os._exit(0)


def _limit_memory() -> None:
    """Cap the task's address space at DISCO_WORKER_MAX_MEM, as the original did."""
    from ..sysutil import set_mem_limit
    limit = os.environ.get("DISCO_WORKER_MAX_MEM", "")
    try:
        set_mem_limit(limit)
    except (DiscoError, ValueError, OSError) as exc:
        print("DISCO_WORKER_MAX_MEM=%r is not applied: %s" % (limit, exc))


def _report(proto: WorkerProtocol, writer: MessageWriter, kind: str, text: str) -> None:
    try:
        writer.flush()
    except Exception:
        pass
    proto.send(kind, text)
