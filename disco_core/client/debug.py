"""Running one task of a job again in this process, to see it fail or step through it.

``disco debug JOB [TASK]`` and :meth:`Disco.debug <disco_core.client.disco.Disco.debug>`
ask the master what it knows about the task (``taskinfo``: its stage, group and inputs),
fetch the job pack, unpack the job home into a fresh folder and run the task there with the
job's own worker, functions and params, as a node would: the worker's protocol requests
(TASK, INPUT, INPUT_ERR, OUTPUT, MSG, DONE) are answered by :class:`LocalNode` from the
task's description instead of by a node. The inputs are the task's own (the URLs the master
gave it, replicas included), read through the same scheme plugins; ``disco://`` and
``dir://`` ones are fetched from the nodes that serve them (the replayed task's ``host`` is
empty, so nothing is mistaken for a local file). Outputs go to the folder, which is kept
and reported.

With ``pdb`` the task runs under :mod:`pdb`: it stops where the job's own function for the
stage starts (``map``, ``reduce``, a pipeline stage's ``process``, ...; at the start of the
task when there is none), and where an exception is raised (post mortem).

Two differences from the task's run on a node: profiling is off, and the job's
environment variables (``jobenvs``) are not applied to this process.
"""
from __future__ import annotations

import bdb
import io
import os
import sys
import tempfile
import traceback
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..errors import DiscoError, ProtocolError


class LocalNode:
    """The node's side of the worker protocol for a task run in this process: inputs from
    the task's description, outputs and messages recorded."""

    def __init__(self, inputs: list[list[Any]], echo: Any = None) -> None:
        self.inputs = [[label, [[i, url] for i, url in enumerate(urls)]]
                       for label, urls in inputs]
        self.failed: set[tuple[int, int]] = set()
        self.outputs: list[tuple[int, str, int]] = []
        self.messages: list[str] = []
        self.echo = echo
        self.ended = ""

    def request(self, name: str, payload: Any = "",
                expect: tuple[str, ...] = ()) -> tuple[str, Any]:
        reply = self.answer(name, payload)
        if expect and reply[0] not in expect:
            raise ProtocolError("unexpected_reply", "expected %s in reply to %s, got %s %r"
                                % ("/".join(expect), name, reply[0], reply[1]))
        return reply

    def send(self, name: str, payload: Any = "") -> None:
        self.answer(name, payload)

    def answer(self, name: str, payload: Any) -> tuple[str, Any]:
        if name == "INPUT":
            ids = list(range(len(self.inputs)))
            if isinstance(payload, list) and len(payload) == 2:
                mode, chosen = payload
                ids = [i for i in ids if (i in set(chosen)) == (mode == "include")]
            return "INPUT", ["done", [[i, "ok", self.inputs[i][0], self.replicas(i)]
                                      for i in ids]]
        if name == "INPUT_ERR":
            input_id, rep_ids = payload
            self.failed.update((input_id, r) for r in rep_ids)
            left = [r for r in self.replicas(input_id) if (input_id, r[0]) not in self.failed]
            return ("RETRY", left) if left else ("FAIL", "")
        if name == "MSG":
            self.messages.append(str(payload))
            if self.echo is not None:
                self.echo.write("%s\n" % payload)
            return "OK", "ok"
        if name == "OUTPUT":
            label, location, size = payload
            self.outputs.append((int(label), location, int(size)))
            return "OK", "ok"
        if name in ("WORKER", "PING"):
            return "OK", "pong" if name == "PING" else "ok"
        if name in ("DONE", "ERROR", "FATAL"):
            self.ended = name
            return name, payload
        raise ProtocolError("unknown_message", "a replayed task sent %s, which this stand-in "
                            "for the node does not answer" % name)

    def replicas(self, input_id: int) -> list[list[Any]]:
        if not 0 <= input_id < len(self.inputs):
            return []
        return [list(r) for r in self.inputs[input_id][1]]


@dataclass
class Replay:
    """What a replayed task did: its outputs (``(label, path, size)``), its messages, and
    the exception it raised (None when it finished), with the traceback as the job's own
    frames (``traceback``) and with every frame (``details``)."""

    job: str
    task: str
    info: dict
    workdir: str
    outputs: list[tuple[int, str, int]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    error: BaseException | None = None
    traceback: str = ""
    details: str = ""
    quit: bool = False   # the debugger was told to quit before the task ended

    @property
    def ok(self) -> bool:
        return self.error is None and not self.quit

    def records(self, label: int | None = None, reader: Any = "default") -> Iterator[Any]:
        """The records of the task's output files (of ``label`` only, if given), read as
        record files (or with ``reader``, as ``result_iterator`` takes it)."""
        from .results import result_iterator
        paths = [path for lab, path, _size in self.outputs if label is None or lab == label]
        return result_iterator(paths, reader=reader)

    def report(self, most: int = 20) -> str:
        """What ``disco debug`` prints: the task, where its files are, and what it produced
        (up to ``most`` records of each output) or the traceback."""
        info = self.info
        inputs = [urls[0] for _label, urls in info.get("inputs", []) if urls]
        where = ", ".join(inputs[:3]) + (" and %d more" % (len(inputs) - 3)
                                         if len(inputs) > 3 else "")
        lines = ["Replayed %s of job %s (it ran on %s; %s: %s) in %s" % (
            self.task, self.job, ", ".join(dict.fromkeys(info.get("hosts") or [])) or
            "no node yet", "input" if len(inputs) == 1 else "inputs", where or "none",
            self.workdir)]
        if self.quit:
            lines.append("The debugger quit before the task ended.")
        elif self.error is not None:
            lines.append("The task raised:")
            lines.append(self.traceback.rstrip())
        else:
            lines.append("The task finished: %d output file(s)" % len(self.outputs))
        for label, path, size in self.outputs:
            lines.append("output %d: %s (%d bytes)" % (label, path, size))
            try:
                for n, record in enumerate(self.records(label)):
                    if n == most:
                        lines.append("  ... (more records)")
                        break
                    lines.append("  %s" % _show(record))
            except Exception as exc:  # an output chain of the job's own: show the file only
                lines.append("  (not a record file: %s)" % exc)
        return "\n".join(lines)


def _show(record: Any) -> str:
    if isinstance(record, tuple) and len(record) == 2:
        return "%r\t%r" % record
    return repr(record)


def replay(disco: Any, jobname: str, task: str | None = None, pdb: bool = False,
           workdir: str | None = None, stdin: Any = None, stdout: Any = None) -> Replay:
    """Run task ``task`` (``stage:id``; None: the first failed one) of ``jobname`` again
    in this process; see the module's docstring."""
    from ..jobpack import JobPack
    from ..worker.jobfile import load_job
    from ..worker.task import Task, active_task, set_active_task
    info = disco.taskinfo(jobname, task)
    from urllib.parse import quote
    raw = disco.request("/disco/ctrl/parameters?name=%s" % quote(jobname), as_bytes=True)
    pack = JobPack.loads(raw)
    key = info["task"]
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="disco-debug-%s-" % key.replace(":", "-"))
    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    jobfile = os.path.join(workdir, "jobfile")
    with open(jobfile, "wb") as f:
        f.write(raw)
    with zipfile.ZipFile(io.BytesIO(pack.jobhome)) as z:
        z.extractall(workdir)
    _check_python_worker(jobname, pack.jobdict.get("worker", ""), workdir)
    lib = os.path.join(workdir, "lib")
    added = os.path.isdir(lib) and lib not in sys.path
    if added:
        sys.path.append(lib)
    settings = disco.settings
    result = Replay(jobname, key, info, workdir)
    previous = active_task()
    try:
        _jobdict, job, jobargs = load_job(jobfile)
        jobargs = dict(jobargs)
        jobargs["profile"] = False
        the_task = Task(taskid=info["taskid"], master=disco.master,
                        disco_port=info.get("disco_port", settings["DISCO_PORT"]),
                        put_port=info.get("put_port", settings["DDFS_PUT_PORT"]),
                        ddfs_data=settings["DDFS_DATA"], disco_data=settings["DISCO_DATA"],
                        stage=info["stage"], grouping=info["grouping"],
                        group=tuple(info["group"]), jobfile=jobfile, jobname=jobname, host="")
        the_task.__dict__["jobobjs"] = (job, jobargs)
        node = LocalNode(info.get("inputs", []), echo=stdout if pdb else None)
        worker = job.worker
        set_active_task(the_task)

        def run() -> None:
            worker.start(the_task, job, jobargs, node)

        if pdb:
            _run_pdb(run, _entry_function(worker, job, jobargs, the_task.stage), result,
                     worker, stdin, stdout)
        else:
            try:
                run()
            except (Exception, SystemExit) as exc:
                _record_error(result, exc, worker)
        result.messages = node.messages
        result.outputs = [(label, os.path.join(workdir, rel), size)
                          for label, rel, size in node.outputs]
    finally:
        from ..worker.runtime import uninject
        uninject()
        set_active_task(previous)
        if added:
            sys.path.remove(lib)
    return result


def _check_python_worker(jobname: str, worker: str, jobhome: str) -> None:
    from ..jobpack import LAUNCHER_MARK
    try:
        with open(os.path.join(jobhome, worker), "rb") as f:
            python = LAUNCHER_MARK.encode() in f.read(256)
    except OSError:
        python = False
    if not python:
        raise DiscoError("job %s runs the worker %r, not the Python worker: only tasks of "
                         "Python jobs can be replayed here (its events show what its tasks "
                         "said: disco events %s)" % (jobname, worker, jobname))


def _record_error(result: Replay, exc: BaseException, worker: Any) -> None:
    from ..tracebacks import user_traceback
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    where = getattr(worker, "current_input", "")
    if where:
        text += "(while reading input %s)" % where
    result.error = exc
    result.details = user_traceback(text.rstrip(), verbose=True)
    result.traceback = user_traceback(text.rstrip())


def _entry_function(worker: Any, job: Any, jobargs: dict, stage: str) -> Callable | None:
    """The job's own Python function that the stage calls first, where pdb stops."""
    candidates: list[Any] = []
    pipeline = worker.getitem("pipeline", job, jobargs) if "pipeline" in worker else None
    if pipeline:
        for item in pipeline:
            st = item[1] if isinstance(item, (list, tuple)) and len(item) > 1 else None
            if getattr(st, "name", None) == stage:
                candidates = [st.process, st.init, st.done]
    else:
        candidates = [worker.getitem(stage, job, jobargs), getattr(job, stage, None)]
    for fn in candidates:
        fn = getattr(fn, "__func__", fn)
        fn = getattr(fn, "func", fn)  # functools.partial
        if getattr(fn, "__code__", None) is not None:
            return fn
    return None


def _run_pdb(run: Callable[[], None], entry: Callable | None, result: Replay, worker: Any,
             stdin: Any, stdout: Any) -> None:
    import pdb
    out = stdout or sys.stdout
    debugger = pdb.Pdb(stdin=stdin, stdout=stdout)
    if entry is not None:
        code = entry.__code__
        problem = debugger.set_break(code.co_filename, code.co_firstlineno, temporary=True,
                                     funcname=code.co_name)
        if problem:
            out.write("cannot stop in %s (%s): stopping where the task starts\n"
                      % (code.co_name, problem))
        else:
            out.write("Stopping in %s (%s, line %d); 'c' runs on to the end or to an "
                      "exception\n" % (code.co_name, code.co_filename, code.co_firstlineno))
            debugger.rcLines.insert(0, "continue")  # past the framework, to the breakpoint
    try:
        debugger.runcall(run)
    except bdb.BdbQuit:
        result.quit = True
        return
    except (Exception, SystemExit) as exc:
        _record_error(result, exc, worker)
        out.write(result.traceback + "\n")
        out.write("Post mortem: where the exception was raised ('q' ends the replay)\n")
        debugger.reset()
        try:
            debugger.interaction(None, exc.__traceback__)
        except bdb.BdbQuit:
            pass


__all__ = ["LocalNode", "Replay", "replay"]

