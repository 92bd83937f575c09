"""The base :class:`Worker` and :class:`Params`: what a job's worker is on the client (the
job pack's worker parts) and in the task process (the protocol's driver); see
:mod:`disco_core.worker`, which gathers the names.
"""
from __future__ import annotations

# Standard modules are imported here, not where they are used: a task puts the job's lib/
# first on sys.path (see .jobpath), where a user module may be named like one of them.
# (cProfile is the exception: the client imports this module from folders holding the FAQ's
# profile.py; a task has it preloaded.)
import io
import marshal
import os
import shutil
import sys
import traceback
import zipfile
from collections import defaultdict
from typing import Any, Iterable

import cloudpickle  # noqa: F401  (registers the reducers job pickles use)

from .. import jobpack as jp
from ..errors import DataError, DiscoError, FatalError
from ..jobpack import LAUNCHER, LAUNCHER_SOURCE
from ..settings import DiscoSettings
from .inout import (IDedInput, Input, MergedInput, Output, ReplicaIter, SerialInput,
                    check_label, default_output_chain)
from . import counters
from .jobfile import load_job
from .protocol import MessageWriter, WorkerProtocol
from .task import Input as InputSpec, Task, set_active_task


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
    #: Input chains of :meth:`input` in the job's first stage and in later stages, and the
    #: output chain of :meth:`output`; None: text lines / record files / record files.
    first_input_chain: list | None = None
    interior_input_chain: list | None = None
    output_chain: list | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(self.defaults())
        self.update(kwargs)
        self.proto: WorkerProtocol | None = None
        self.outputs: list[tuple[int, str, int]] = []
        self.opened_outputs: dict[int, Output] = {}

    def __getstate__(self) -> dict:
        return {"items": dict(self)}

    def __setstate__(self, state: dict) -> None:
        self.update(state["items"])
        self.proto = None
        self.outputs = []
        self.opened_outputs = {}

    @property
    def bin(self) -> str:
        """The worker program, relative to the job home: what ``jobdict["worker"]`` names and
        every node runs (the Python launcher the job home carries)."""
        return LAUNCHER

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
        required = self.getitem("required_plugins", job, jobargs, None)  # checked by master
        return {"prefix": job.name,
                **({"required_plugins": required} if required else {}),
                "worker": self.bin,
                "owner": self.getitem("owner", job, jobargs, None) or settings["DISCO_JOB_OWNER"],
                "save_results": bool(save),
                "save_info": self.getitem("save_info", job, jobargs, "ddfs"),
                "scheduler": scheduler,
                "python_version": "%d.%d" % sys.version_info[:2]}

    def jobenvs(self, job: Any, **jobargs: Any) -> dict:
        """The environment the job's tasks run in: ``lib/`` on the paths, and how text inputs
        reach job functions (``text_inputs`` of the job, else the client's
        ``DISCO_TEXT_INPUTS``), so every node reads them as the client asked."""
        settings = getattr(job, "settings", None) or DiscoSettings()
        mode = self.getitem("text_inputs", job, jobargs, None) or settings["DISCO_TEXT_INPUTS"]
        mode = str(mode).strip().lower()
        from .dataio import TEXT_MODES
        if mode not in TEXT_MODES:
            raise DiscoError("text_inputs=%r is not one of %s: give str (text lines as str, "
                             "the default) or bytes (as the original gave them)"
                             % (mode, ", ".join(TEXT_MODES)))
        return {"PYTHONPATH": "lib", "LD_LIBRARY_PATH": "lib", "DISCO_TEXT_INPUTS": mode}

    def job_functions(self, job: Any, jobargs: dict) -> list[Any]:
        """The objects whose modules the job home must carry."""
        objs: list[Any] = [type(job)]
        # the inputs are URLs (a task would scan all of a job's inputs for functions)
        objs.extend(v for k, v in jobargs.items()
                    if k != "input" and (callable(v) or isinstance(v, (list, tuple))))
        flat: list[Any] = []
        for obj in objs:
            flat.extend(obj if isinstance(obj, (list, tuple)) else [obj])
        params = self.getitem("params", job, jobargs)
        if params is not None and hasattr(params, "__dict__"):
            flat.extend(v for v in vars(params).values() if callable(v))
        return flat

    def module_plan(self, job: Any, jobargs: dict) -> tuple[list[tuple[str, str]], list[list]]:
        """The modules the job home carries and its tasks bind as globals of the job
        functions (:func:`~.modutil.module_plan` of ``required_modules``)."""
        from .modutil import module_plan
        return module_plan(self.getitem("required_modules", job, jobargs),
                           self.job_functions(job, jobargs))

    def jobhome(self, job: Any, **jobargs: Any) -> bytes:
        from .modutil import archive_name
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            info = zipfile.ZipInfo(LAUNCHER)
            info.external_attr = 0o755 << 16
            z.writestr(info, LAUNCHER_SOURCE)
            modules, _bind = self.module_plan(job, jobargs)
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
        """``(job, jobargs)`` pickled, the job's inputs apart after them: a task unpickles
        its job's functions afresh, and the inputs (which may be many) once per process
        (:func:`~.jobfile.load_job` puts them back in ``jobargs["input"]``)."""
        from .task import jobdata
        inputs = jobargs.get("input")
        if not isinstance(inputs, list):
            return jobdata(job, jobargs)
        rest = {k: v for k, v in jobargs.items() if k != "input"}
        return jobdata(job, rest) + jobdata(inputs)

    def jobpack(self, job: Any, **jobargs: Any) -> jp.JobPack:
        self["_bound_modules"] = self.module_plan(job, jobargs)[1]
        return jp.JobPack(self.jobpack_version, self.jobdict(job, **jobargs),
                          self.jobenvs(job, **jobargs), self.jobhome(job, **jobargs),
                          self.jobdata(job, jobargs))

    # -- task side: the protocol ------------------------------------------------------
    def _request(self, name: str, payload: Any, expect: tuple[str, ...] = ()) -> tuple[str, Any]:
        if self.proto is None:
            raise DiscoError("%s is sent from a running task: this worker is not running one "
                             "(the node starts tasks with Worker.main())" % name)
        return self.proto.request(name, payload, expect)

    def send(self, name: str, payload: Any = "") -> Any:
        """Send one protocol message; its reply's payload."""
        return self._request(name, payload)[1]

    def get_task(self) -> Task:
        """The task this process runs (TASK)."""
        return Task.from_reply(self._request("TASK", "", ("TASK",))[1])

    def _ided(self, item: list) -> IDedInput:
        input_id, _status, label, replicas = item
        return IDedInput(input_id, label, [tuple(r) for r in replicas], worker=self)

    def get_inputs(self, exclude: Iterable[int] = ()) -> list[IDedInput]:
        """Every input of the task but those in ``exclude`` (ids), polling while the node
        says more may come."""
        excluded = set(exclude)
        task = getattr(self, "task", None)
        sent = task.__dict__.pop("sent_inputs", None) if task is not None else None
        if sent is not None and not excluded:  # the node sent them with the task
            return [self._ided(item) for item in sorted(sent, key=lambda item: item[0])]
        inputs: dict[int, IDedInput] = {}
        request: Any = ["exclude", sorted(excluded)] if excluded else ""
        while True:
            _, (flag, items) = self._request("INPUT", request, ("INPUT",))
            for item in items:
                if item[0] not in excluded:
                    inputs[item[0]] = self._ided(item)
            if flag == "done":
                break
            request = ["exclude", sorted(excluded | set(inputs))]
        return [inputs[i] for i in sorted(inputs)]

    def get_input(self, id: int) -> IDedInput:
        """Input ``id`` of the task as the node has it now (its replicas in the order to try
        them, those that failed lately last): INPUT ``["include", [id]]``."""
        _, (_flag, items) = self._request("INPUT", ["include", [id]], ("INPUT",))
        for item in items:
            if item[0] == id:
                if item[1] == "failed":
                    raise DataError("input %d of the task has failed on the node" % id,
                                    item[3][0][1] if item[3] else "?")
                return self._ided(item)
        raise DiscoError("the task has no input %r: its inputs are numbered from 0 in the "
                         "order get_inputs() gives them" % (id,))

    def input_failed(self, input_id: int, rep_ids: list[int]) -> list[tuple[int, str]]:
        """Report replicas of an input as unreadable (INPUT_ERR); the node's others."""
        reply, body = self._request("INPUT_ERR", [input_id, rep_ids], ("RETRY", "FAIL"))
        return [tuple(r) for r in body] if reply == "RETRY" else []

    # -- task side: inputs ----------------------------------------------------------------
    def sources(self, inputs: list[InputSpec], task: Task | None = None) -> list[tuple[Any, Any]]:
        """``(label, source)`` for everything the inputs hold: each file an index input
        lists (a URL, with the index line's label), and each data input (an Input)."""
        from .dataio import is_index, read_index
        task = task if task is not None else getattr(self, "task", None)
        out: list[tuple[Any, Any]] = []
        for inp in inputs:
            urls = inp.urls
            if urls and is_index(urls[0]):
                self.current_input = urls[0]
                try:
                    lines = read_index(urls[0], task)
                except (DataError, OSError):
                    self.input_lost(inp)
                    raise
                for label, url, _size in lines:
                    if inp.label == "all" or label == inp.label:
                        out.append((label, url))
                        self.index_of[url] = inp
            else:
                out.append((inp.label, inp))
        return out

    @property
    def index_of(self) -> dict[str, Any]:
        """The index input each file :meth:`sources` gave was listed in."""
        return self.__dict__.setdefault("_index_of", {})

    def input_lost(self, inp: Any) -> None:
        """No replica of the task input ``inp`` can be read: the node is told (INPUT_ERR
        for each), so the master can have it made again when an earlier stage made it."""
        replicas = getattr(inp, "replicas", None)
        if replicas and getattr(inp, "id", None) is not None \
                and getattr(self, "proto", None) is not None:
            self.input_failed(inp.id, [rid for rid, _url in replicas])

    def _reading(self, records: Any, index: Any) -> Any:
        try:
            yield from records
        except (DataError, OSError):
            self.input_lost(index)
            raise

    def open_source(self, source: Any, chain: list) -> Any:
        """Records of a source from :meth:`sources`, through an input chain. The replicas
        of a data input are tried in turn (``INPUT_ERR`` asks the node for more), and one
        that fails part-way is resumed on the next after the records already read
        (:class:`~.inout.Input`)."""
        from .dataio import apply_input_chain
        params = self.getitem("params", self.job, self.jobargs)
        if isinstance(source, str):
            self.current_input = source
            index = self.index_of.get(source)
            if index is None:
                return apply_input_chain(source, chain, params)
            try:
                return self._reading(apply_input_chain(source, chain, params), index)
            except (DataError, OSError):
                self.input_lost(index)
                raise
        if getattr(source, "worker", self) is None:
            source.worker = self
        return Input(source, self.task, open=chain, params=params).read(source)

    def is_first_stage(self, task: Task) -> bool:
        """Whether the task's stage is the job's first (it reads the job's inputs)."""
        from .inout import first_stage
        return task.stage == first_stage(task)

    def input_chain(self, task: Task) -> list:
        """The input chain :meth:`input` reads with by default in the task's stage."""
        from .inout import default_input_chain
        first = self.is_first_stage(task)
        chain = self.first_input_chain if first else self.interior_input_chain
        return list(chain) if chain is not None else default_input_chain(first)

    def _params(self) -> Any:
        return self.getitem("params", getattr(self, "job", None), getattr(self, "jobargs", {}))

    def input(self, task: Task, merged: bool = False, **kwargs: Any) -> SerialInput:
        """The records of every input of the task: a :class:`SerialInput` (inputs one after
        the other), or with ``merged`` a :class:`MergedInput` (sorted inputs merged).
        ``open`` (an input chain or ``open(url) -> records``) says how to read a URL; by
        default the job's first stage reads text lines and later stages records. Other
        keywords go to the :class:`Input` of each input."""
        inputs = getattr(self, "task_inputs", None)
        if inputs is None:
            inputs = self.task_inputs = self.get_inputs()
        if kwargs.get("open") is None:
            kwargs["open"] = self.input_chain(task)
        kwargs.setdefault("params", self._params())
        kind = MergedInput if merged else SerialInput
        return kind(inputs, task=task, **kwargs)

    def labelled_input_map(self, task: Task, inputs: list[InputSpec]) -> dict[Any, list[list[str]]]:
        """``{label: [replica URLs, ...]}`` of the inputs: an index input contributes each
        file it lists (for its label, or every label for ``"all"``) under that file's label,
        a data input its replicas under its own label."""
        label_map: dict[Any, list[list[str]]] = defaultdict(list)
        for label, source in self.sources(inputs, task):
            label_map[label].append([source] if isinstance(source, str) else list(source.urls))
        self.current_input = ""
        return label_map

    # -- task side: outputs ---------------------------------------------------------------
    def output(self, task: Task, label: int | None = None, **kwargs: Any) -> Output:
        """The task's :class:`Output` for ``label`` (None: 0; ``partition=`` is another name
        for it), the same object on every call; finished and reported when the stage ends.
        ``open`` (an output chain or ``open(path) -> file``) says how the file is written,
        by default as a record file."""
        partition = kwargs.pop("partition", None)
        if label is None:
            label = partition
        label = check_label(0 if label is None else label)
        out = self.opened_outputs.get(label)
        if out is None:
            open = kwargs.pop("open", None)
            if open is None:
                open = list(self.output_chain) if self.output_chain is not None \
                    else default_output_chain()
            out = Output(task.output(label), open=open, params=self._params(), **kwargs)
            self.opened_outputs[label] = out
        return out

    def close_outputs(self) -> None:
        """Finish the files of :meth:`output` and record them as the task's outputs."""
        for label in sorted(self.opened_outputs):
            out = self.opened_outputs[label]
            if not out.closed:
                out.close()
                self.add_output(label, out.path)

    def abort_outputs(self) -> None:
        """Discard the unfinished files of :meth:`output`."""
        for out in self.opened_outputs.values():
            out.abort()

    def concat_input(self, task: Task, output_label: int,
                     replicas: Iterable[Any]) -> tuple[str, int]:
        """Copy inputs byte for byte, one after the other, into the task's output file for
        ``output_label`` and record it as an output of the task (what a shuffle does:
        record files concatenate). ``replicas`` is a list of inputs, each a list of replica
        URLs (or one URL), as :meth:`labelled_input_map` gives them; a replica that fails
        is left for the next. Returns the file's path and size."""
        from .dataio import AtomicFile, open_url
        label = check_label(output_label)
        path = task.output_path(label)
        if label in self.opened_outputs or os.path.exists(path):
            raise DiscoError("output %d of task %s is already written: concatenate every "
                             "input of a label in one concat_input() call, and do not also "
                             "write it with output()" % (label, task.uid))
        out = AtomicFile(path, sync=None)
        try:
            for reps in replicas:
                start = out.tell()
                errors: list[str] = []
                urls = ReplicaIter([reps] if isinstance(reps, str) else list(reps), task)
                for url in urls:
                    self.current_input = url
                    try:
                        src = open_url(url, task)
                        try:
                            shutil.copyfileobj(src, out, 1 << 20)
                        finally:
                            src.close()
                        break
                    except (DataError, OSError) as exc:
                        errors.append("%s: %s" % (url, exc))
                        out.seek(start)
                        out.truncate()
                else:
                    raise DataError("no replica could be read for output %d (%s)"
                                    % (label, "; ".join(errors) or "no replicas given"),
                                    str(reps))
            out.close()
        except BaseException:
            out.abort()
            raise
        self.current_input = ""
        self.add_output(label, path)
        return path, os.path.getsize(path)

    def add_output(self, label: int, path: str) -> None:
        """Record a finished local output file (absolute path inside the job home)."""
        self.outputs.append((label, os.path.relpath(path, self.task.jobhome),
                             os.path.getsize(path)))

    def send_outputs(self) -> None:
        """OUTPUT for each output. A worker that posts them (:meth:`WorkerProtocol.post`)
        holds them for the DONE that follows, which goes in the same write."""
        post = getattr(self.proto, "post", None)
        for label, relpath, size in self.outputs:
            if post is None:
                self.send("OUTPUT", [label, relpath, size])
            else:
                post("OUTPUT", [label, relpath, size], hold=True)

    # -- task side: running a task --------------------------------------------------------
    def start(self, task: Task, job: Any, jobargs: dict, proto: WorkerProtocol) -> None:
        """Run the task: fetch its inputs, call ``stage_<stage>(task, inputs)``, finish the
        files of :meth:`output` and report every output."""
        self.task, self.job, self.jobargs, self.proto = task, job, jobargs, proto
        self.current_input = ""
        task.makedirs()
        stage = getattr(self, "stage_" + task.stage, None)
        if stage is None:
            raise FatalError("this worker has no stage %r" % task.stage)
        inputs = self.task_inputs = self.get_inputs()
        from .runtime import inject
        inject(self.job_functions(job, jobargs), [u for inp in inputs for u in inp.urls[:1]],
               self.get("_bound_modules") or [])
        try:
            if self.getitem("profile", job, jobargs, False):
                import cProfile
                prof = cProfile.Profile()
                prof.runcall(stage, task, inputs)
                self.save_profile(prof)
            else:
                stage(task, inputs)
            self.close_outputs()
        except BaseException:
            self.abort_outputs()
            raise
        self.send_outputs()

    @classmethod
    def main(cls) -> None:
        """Run tasks over the worker protocol on fds 0 (replies) and 2 (requests): WORKER
        (offering reuse), then for each task TASK, the job's worker's :meth:`start`, DONE;
        ERROR (the master retries the task) or FATAL (the job ends) when it fails. A node
        that takes the offer answers DONE with the next task of the same job; the process
        exits when it does not, after a failure, and when handed another job's task."""
        from .jobpath import job_modules_first
        job_modules_first(os.path.join(os.getcwd(), "lib"))
        proto = WorkerProtocol(0, 2)
        proto.hello(reuse=True)
        writer = MessageWriter(proto)
        sys.stdout = sys.stderr = writer  # type: ignore[assignment]
        agent = cls.__new__(cls)  # speaks the protocol until the job's worker is loaded
        agent.proto = proto
        try:
            task = agent.get_task()
        except BaseException as exc:
            _report(proto, writer, "ERROR", "".join(traceback.format_exception(
                type(exc), exc, exc.__traceback__)).rstrip())
            os._exit(0)
        _limit_memory()
        jobname = task.jobname
        home, environ = os.getcwd(), dict(os.environ)
        raw = _raw_environ()
        before = dict(raw)
        while _run_task(proto, writer, task):
            reply = proto.next_task()
            if reply is None or reply.get("jobname") != jobname:
                break  # the node ends this process, or a task of another job: never run
            task = Task.from_reply(reply)
            # each task starts where the node starts a worker: in the job home, with the
            # job's environment, whatever the task before changed
            os.chdir(home)
            if raw != before:  # compared as the bytes the process holds: no decoding
                os.environ.clear()
                os.environ.update(environ)
                raw = _raw_environ()
        os._exit(0)

    def save_profile(self, prof: Any) -> None:
        """Store the task's profile with the master (``Disco.profile_stats``)."""
        from ..comm import request
        prof.create_stats()
        key = "profile-%s" % self.task.uid.replace(":", "_")
        request("POST", "%s/disco/ctrl/oob_put?name=%s&key=%s"
                % (self.task.master, self.task.jobname, key), marshal.dumps(prof.stats))


def main() -> None:
    """Run one task (what the launcher and the nodes' fork server call): :meth:`Worker.main`."""
    Worker.main()


def _run_task(proto: WorkerProtocol, writer: MessageWriter, task: Task) -> bool:
    """Run one task to its DONE (True) or its ERROR/FATAL (False). The job's objects are
    loaded afresh from the job file for every task, so no task sees what another left in
    them."""
    worker = None
    try:
        set_active_task(task)
        jobdict, job, jobargs = load_job(task.jobfile)
        task.__dict__["jobobjs"] = (job, jobargs)  # Task.jobobjs without a 2nd unpickling
        worker = job.worker
        counters.attach(proto)
        worker.start(task, job, jobargs, proto)
        writer.flush()
        counters.flush()  # the final counts, before the task is done
        proto.send("DONE", "")
        return True
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
        counters.detach()
        set_active_task(None)
        from .runtime import uninject
        uninject()  # the next task injects its own Task, inputs, ... (runtime.inject)
    return False


def _raw_environ() -> dict:
    """The environment as :data:`os.environ` holds it (its encoded mapping, which changes as
    it does); a copy of ``os.environ`` where a Python has no such mapping."""
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else dict(os.environ)


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
