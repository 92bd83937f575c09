"""Running one task: start its worker and answer it over the worker protocol.

The node side of ``reference/protocol.md``: replies to WORKER, TASK, INPUT, INPUT_ERR,
MSG, OUTPUT, PING; DONE/ERROR/FATAL end the task. Local outputs are indexed in
``<jobhome>/.disco/<stage>-<taskid>-<us>.results`` and reported as one ``dir`` output.

Failure handling, as upstream: a framing error collects the worker's last words and
fails the task (it is retried); a payload of the wrong shape, an unknown message, a wrong
version or a MSG flood is fatal for the job; a worker that exits without DONE (even if a
child it left behind keeps the pipe open), sends no WORKER within 30 s, or stops for 30 s
in the middle of a message, fails the task. The two 30 s limits can be changed with the
node's environment (``DISCO_WORKER_HELLO_TIMEOUT``, ``DISCO_WORKER_STUCK_TIMEOUT``), and
``DISCO_WORKER_TIMEOUT`` (seconds, none by default) fails a task whose worker runs longer.

A worker that offered reuse in its WORKER message and ended its task with DONE is not killed
but parked in the node's pool (:mod:`.warm`); the next attempt of the same job on this node
takes it and answers that DONE with its own TASK reply. Such a worker may also post its
MSG, OUTPUT and COUNT messages (``"post": true`` in WORKER): the node sends no OK for them
(``docs/worker-protocol.md``).
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from collections import deque
from typing import Any, Protocol

from tornado.iostream import PipeIOStream, StreamClosedError

from .. import PROTOCOL_VERSION
from ..errors import ProtocolError
from ..protocol import FrameParser, decode_payload, encode, validate
from ..util import format_duration
from .forkserver import die_with_parent
from .jobhome import JobHomes
from .taskdata import TaskData

log = logging.getLogger("disco.node.runner")

LAST_WORDS = 100 * 1024
HELLO_TIMEOUT = 30.0   # DISCO_WORKER_HELLO_TIMEOUT: seconds from start to the WORKER message
STUCK_TIMEOUT = 30.0   # DISCO_WORKER_STUCK_TIMEOUT: seconds of silence inside one message
EXIT_GRACE = 1.0       # after the worker exits, how long its pipe may stay silent but open
MSG_RATE = 5
#: Seconds between two live reports of a task's counters to the master.
COUNT_INTERVAL = 1.0


#: What the tasks of a node read of its settings (:attr:`TaskRun.fixed`), by settings object.
_FIXED: dict[int, tuple[Any, dict]] = {}


class TaskEnded(Exception):
    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message


class TaskHost(Protocol):
    """What a :class:`TaskRun` needs of the node that runs it (:class:`.app.Node`): its host
    name, its master's address and its settings, the job homes and the fork server it starts
    workers from, and the calls through which a task's inputs come and its events and
    outcome go. An interface rather than an import of :mod:`.app`, which imports this module."""

    host: str
    master_url: str
    settings: Any
    jobhomes: JobHomes
    forkserver: Any  # the node's ForkServerClient, or None before it starts one

    def worker_env(self, jobenvs: dict) -> dict[str, str]: ...

    def fetch_inputs(self, url: str) -> list: ...

    def event(self, job: str, text: str) -> None: ...

    def report(self, msg: dict) -> None: ...


class TaskRun(TaskData):
    """One attempt of a task on this node: its worker process, its inputs (those of the
    task's message, and more that the master sends while a concurrent stage runs), the
    replicas the worker found failing, its outputs, and whether it was killed or ended.

    It owns all of that: the worker changes it only through protocol messages that
    :meth:`handle` checks (INPUT, INPUT_ERR, OUTPUT, DONE, ...), the node only by
    :meth:`add_inputs` and :meth:`kill` on the master's word. Its outcome goes to the master
    once, through the node (:class:`TaskHost`), never by changing the node's state.
    """

    def __init__(self, node: TaskHost, msg: dict) -> None:
        self.node = node
        self.job = msg["job"]
        self.taskid = int(msg["taskid"])
        self.runid = int(msg["runid"])
        self.stage = msg["stage"]
        self.grouping = msg["grouping"]
        self.group = msg["group"]
        self.jobpack_url = msg["jobpack"]
        self.save_info: str | None = msg.get("save_info")  # a last stage's, with save_results
        # per-task input ids 0..n-1: [label, [[rep_id, url], ...]]; a task with too many
        # inputs for its message names where to fetch them instead (``inputs_ref``)
        self.inputs_ref = msg.get("inputs_ref")
        self.inputs: list[list] = []
        if self.inputs_ref is None:
            self.set_inputs(msg["inputs"])
        self.inputs_done = bool(msg.get("inputs_done", True))
        self.inputs_changed = asyncio.Event()
        self.input_feed: Any = None  # once inputs come by reference (.feeds)
        self.feed_failure = ""  # why inputs by reference could not be fetched
        self.failed_replicas: dict[tuple[int, int], float] = {}
        self.key = "%s:%d" % (self.stage, self.taskid)
        self.pid: int | None = None
        self.outputs: list[tuple[int, str, int]] = []
        self.remote_outputs: list[tuple[int, str, int]] = []
        self.started = time.time()
        self.msg_times: deque[float] = deque()
        self.counts: dict = {}       # the attempt's counters (COUNT), sent with its DONE
        self.counts_sent = 0.0
        self.killed = False
        self.ended = False
        self.stdin: PipeIOStream | None = None
        self.stderr: PipeIOStream | None = None
        self.exit_future: asyncio.Future | None = None
        self.exited = False
        self.reading: asyncio.Future | None = None
        self.jobhome = ""
        self.reuse = False  # the worker asked to run more tasks of the job (warm.py)
        self.post = False   # ... and posts MSG, OUTPUT and COUNT: no OK for them
        self.parser = FrameParser()

    # -- lifecycle ----------------------------------------------------------------------
    async def run(self) -> None:
        kind = ""
        try:
            if self.inputs_ref is not None:
                loop = asyncio.get_running_loop()
                self.set_inputs(await loop.run_in_executor(None, self.node.fetch_inputs,
                                                           self.inputs_ref))
            self.jobhome, meta = await self.node.jobhomes.prepare(self.job, self.jobpack_url)
            warm = self.take_warm_worker()
            if warm is None:
                await self.start_worker(meta)
            kind, message, outputs = await self.converse(resumed=warm is not None)
        except TaskEnded as end:
            kind, message, outputs = end.kind, end.message, []
        except Exception as exc:  # the node must go on serving other tasks
            log.exception("task %s of %s", self.key, self.job)
            kind, message, outputs = "error", "node %s could not run the task: %s: %s" % (
                self.node.host, type(exc).__name__, exc), []
        finally:
            if not self.park_worker(kind):
                self.kill_worker()
        if self.feed_failure:  # it ran without inputs it was meant to have
            kind, message, outputs = "error", self.feed_failure, []
        if self.killed:
            return
        if kind == "done":
            self.node.report({"op": "done", "job": self.job, "taskid": self.taskid,
                              "runid": self.runid, "outputs": outputs,
                              "counters": self.counts})
        else:
            report = {"op": "failed", "job": self.job, "taskid": self.taskid,
                      "runid": self.runid, "kind": kind, "message": message}
            lost = self.lost_inputs() if kind == "error" else []
            if lost:
                report["lost"] = lost  # the master may have them made again
            self.node.report(report)

    def event(self, text: str) -> None:
        self.node.event(self.job, text)

    async def start_worker(self, meta: dict) -> None:
        worker = meta["jobdict"]["worker"]
        path = os.path.normpath(os.path.join(self.jobhome, worker))
        if not path.startswith(self.jobhome + os.sep) or not os.path.isfile(path):
            raise TaskEnded("fatal", "the job's worker %r is not a file in its job home" % worker)
        env = self.node.worker_env(meta["jobenvs"])
        stdin_r, stdin_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            entry = python_worker_entry(path)
            if entry and self.node.forkserver is not None:
                self.pid, self.exit_future = await self.node.forkserver.spawn(
                    self.jobhome, env, entry, stdin_r, err_w)
            else:
                # it dies with the node, as a forked one dies with its fork server
                proc = subprocess.Popen(["nice", "-n", "19", path], cwd=self.jobhome, env=env,
                                        stdin=stdin_r, stdout=err_w, stderr=err_w,
                                        start_new_session=True, close_fds=True,
                                        preexec_fn=die_with_parent)
                self.pid = proc.pid
                self.exit_future = self.node.children.wait(proc)
        except OSError as exc:
            for fd in (stdin_r, stdin_w, err_r, err_w):
                os.close(fd)
            raise TaskEnded("error", "cannot start the worker %s: %s" % (worker, exc)) from None
        os.close(stdin_r)
        os.close(err_w)
        self.stdin = PipeIOStream(stdin_w)
        self.stderr = PipeIOStream(err_r)

    def take_warm_worker(self) -> Any:
        """A warm worker of this job from the node's pool (see :mod:`.warm`), made this
        attempt's worker; None when there is none."""
        pool = getattr(self.node, "warm", None)
        warm = pool.take(self.job) if pool is not None else None
        if warm is not None:
            self.pid, self.stdin, self.stderr = warm.pid, warm.stdin, warm.stderr
            self.exit_future, self.reuse, self.post = warm.exit_future, True, warm.post
        return warm

    def park_worker(self, kind: str) -> bool:
        """After a DONE, give a worker that asked for reuse to the node's pool instead of
        killing it. Only a worker that did its task, is still running and has said nothing
        more is parked; a killed attempt's or a failed one's never is."""
        pool = getattr(self.node, "warm", None)
        if (pool is None or kind != "done" or not self.reuse or self.killed or self.exited
                or self.pid is None or self.stdin is None or self.stderr is None
                or self.parser.buf or self.reading is not None
                or (self.exit_future is not None and self.exit_future.done())):
            return False
        from .warm import WarmWorker
        pool.park(WarmWorker(self.job, self.pid, self.stdin, self.stderr, self.exit_future,
                             post=self.post))
        self.pid = self.stdin = self.stderr = None
        return True

    def kill(self) -> None:
        """The master no longer wants this task (job killed, or reassigned)."""
        self.killed = True
        self.inputs_done = True  # release an INPUT long poll, so the task's coroutine ends
        self.inputs_changed.set()
        self.kill_worker()

    def kill_worker(self) -> None:
        if self.pid is not None:
            for target in (lambda: os.killpg(self.pid, signal.SIGKILL),
                           lambda: os.kill(self.pid, signal.SIGKILL)):
                try:
                    target()
                    break
                except (ProcessLookupError, PermissionError):
                    continue
        if self.reading is not None and not self.reading.done():
            self.reading.cancel()
        for stream in (self.stdin, self.stderr):
            if stream is not None and not stream.closed():
                stream.close()

    # -- the conversation ---------------------------------------------------------------
    def seconds(self, setting: str, default: float) -> float:
        try:
            return float(self.node.settings.get(setting, default))
        except (TypeError, ValueError):
            return default

    @property
    def fixed(self) -> dict:
        """What every task of this node reads of its settings, read for its first task: a
        setting the environment does not hold costs a look for the settings file (about
        30 us), and a task looked up eight of them."""
        settings = self.node.settings
        hit = _FIXED.get(id(settings))
        if hit is not None and hit[0] is settings:
            return hit[1]
        s = settings
        fixed = {"hello": self.seconds("DISCO_WORKER_HELLO_TIMEOUT", HELLO_TIMEOUT),
                 "stuck": self.seconds("DISCO_WORKER_STUCK_TIMEOUT", STUCK_TIMEOUT),
                 "run": self.seconds("DISCO_WORKER_TIMEOUT", 0.0),
                 "fsync": s.flag("DISCO_FSYNC_OUTPUTS"),
                 "taskinfo": {"disco_port": int(s["DISCO_PORT"]),
                              "put_port": int(s["DDFS_PUT_PORT"]),
                              "ddfs_data": s["DDFS_DATA"], "disco_data": s["DISCO_DATA"]}}
        _FIXED[id(settings)] = (settings, fixed)
        return fixed

    async def converse(self, resumed: bool = False) -> tuple[str, str, list]:
        """The worker's messages and the node's replies, to the end of the task. A
        ``resumed`` (warm) worker said WORKER already and waits for the reply to its last
        task's DONE: this task's TASK reply."""
        parser = self.parser
        assert self.stderr is not None
        hello = resumed
        if resumed:
            await self.reply("TASK", self.taskinfo())
        fixed = self.fixed
        hello_timeout, stuck_timeout, run_timeout = fixed["hello"], fixed["stuck"], fixed["run"]
        deadline = time.monotonic() + hello_timeout
        run_deadline = time.monotonic() + run_timeout if run_timeout > 0 else None
        while True:
            if not hello:
                timeout: float | None = max(0.01, deadline - time.monotonic())
            else:
                timeout = stuck_timeout if parser.partial else None
            if run_deadline is not None:
                left = max(0.01, run_deadline - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
            try:
                chunk = await self.next_chunk(timeout)
            except asyncio.TimeoutError:
                if run_deadline is not None and time.monotonic() >= run_deadline:
                    return ("error", "Worker ran for more than %g seconds "
                            "(DISCO_WORKER_TIMEOUT): killed" % run_timeout, [])
                if not hello:
                    return ("error", "Worker did not send its PID in %g seconds" % hello_timeout,
                            [])
                return ("error", "Worker stuck in the middle of a message for %g seconds. "
                        "Last words:\n%s" % (stuck_timeout, _truncate(
                            bytes(parser.buf).decode("utf-8", "replace"))), [])
            except StreamClosedError:
                chunk = None
            if chunk is None:
                return await self.worker_died(bytes(parser.buf))
            try:
                frames = parser.feed(chunk)
            except ProtocolError:
                self.event("WARNING: [%s] Could not parse worker event" % self.key)
                words = await self.last_words(bytes(parser.buf))
                return ("error", "Worker died. Last words:\n%s" % words, [])
            for name, raw in frames:
                try:
                    payload = decode_payload(name, raw)
                    validate(name, payload)
                except ProtocolError as exc:
                    return ("fatal", str(exc), [])
                if isinstance(payload, str):
                    payload = _printable(payload)
                if not hello and name != "WORKER":
                    return ("fatal", "the worker sent %s before WORKER" % name, [])
                end = await self.handle(name, payload)
                if name == "WORKER":
                    hello = True
                if end is not None:
                    return end

    async def next_chunk(self, timeout: float | None) -> bytes | None:
        """The worker's next bytes; None once its process has exited and the pipe stayed
        silent for EXIT_GRACE seconds (children it left behind may hold the pipe open, so
        the end of the pipe alone would never come). Raises TimeoutError, StreamClosedError."""
        assert self.stderr is not None
        if self.reading is None:
            self.reading = asyncio.ensure_future(self.stderr.read_bytes(65536, partial=True))
        if self.reading.done():  # the bytes were there already: no wait to set up
            future, self.reading = self.reading, None
            return future.result()
        while True:
            waits = {self.reading}
            limit = timeout
            if self.exited:
                limit = EXIT_GRACE if timeout is None else min(timeout, EXIT_GRACE)
            elif self.exit_future is not None:
                waits.add(self.exit_future)
            done, _ = await asyncio.wait(waits, timeout=limit,
                                         return_when=asyncio.FIRST_COMPLETED)
            if self.reading in done:
                future, self.reading = self.reading, None
                return future.result()
            if not done:
                if self.exited:
                    return None
                raise asyncio.TimeoutError
            self.exited = True

    async def reply(self, name: str, payload: Any) -> None:
        assert self.stdin is not None
        try:
            await self.stdin.write(encode(name, payload))
        except StreamClosedError:
            pass

    async def handle(self, name: str, payload: Any) -> tuple[str, str, list] | None:
        if name == "WORKER":
            version = payload.get("version")
            if version is None:
                return ("fatal", "No worker version received", [])
            if version != PROTOCOL_VERSION:
                return ("fatal", "Invalid worker version: %r (this node speaks %s)"
                        % (version, PROTOCOL_VERSION), [])
            self.pid = payload["pid"] if self.pid is None else self.pid
            self.worker_pid = payload["pid"]
            self.reuse = payload.get("reuse") is True
            self.post = self.reuse and payload.get("post") is True
            await self.reply("OK", "ok")
        elif name == "TASK":
            await self.reply("TASK", self.taskinfo())
        elif name == "INPUT":
            reply = self.input_reply(payload)
            while not reply[1] and not self.inputs_done:
                # long poll: nothing new yet, and more may come (a concurrent stage)
                self.inputs_changed.clear()
                await self.inputs_changed.wait()
                reply = self.input_reply(payload)
            await self.reply("INPUT", reply)
        elif name == "INPUT_ERR":
            input_id, rep_ids = payload
            remaining = self.input_failed(input_id, rep_ids)
            if remaining:
                await self.reply("RETRY", remaining)
            else:
                await self.reply("FAIL", "")
        elif name == "MSG":
            self.event("MSG: [%s] %s" % (self.key, payload))
            delay = self.rate_limit()
            if delay is None:
                return ("fatal", "Worker is behaving badly: Sent %d events in a second, "
                        "ignoring replies. A task may send %d messages a second (more are "
                        "slowed down, %d in one second end the job): print less often, e.g. "
                        "every N records as status_interval does"
                        % (len(self.msg_times), MSG_RATE, 2 * MSG_RATE), [])
            if delay:
                await asyncio.sleep(delay)
            if not self.post:
                await self.reply("OK", "ok")
        elif name == "OUTPUT":
            problem = self.add_output(*payload)
            if problem:
                return ("error", problem, [])
            if not self.post:
                await self.reply("OK", "ok")
        elif name == "PING":
            await self.reply("OK", "pong")
        elif name == "COUNT":
            self.counts = payload
            now = time.monotonic()
            if now - self.counts_sent >= COUNT_INTERVAL:  # live, at most once a second
                self.counts_sent = now
                self.node.report_live({"op": "counters", "job": self.job,
                                       "taskid": self.taskid, "runid": self.runid,
                                       "counts": payload})
            if not self.post:
                await self.reply("OK", "ok")
        elif name == "DONE":
            if self.save_info is not None and self.outputs:
                problem = await self.save_outputs(self.save_info)
                if problem:
                    return problem
            if self.outputs and self.fixed["fsync"]:
                # the index is fsynced: in a thread, as the loop must not wait for a disk
                outputs = await asyncio.get_running_loop().run_in_executor(
                    None, self.finish_outputs)
            else:  # a small file written to the page cache: at once
                outputs = self.finish_outputs()
            self.event("DONE: [%s] Task finished in %s"
                       % (self.key, format_duration(time.time() - self.started)))
            return ("done", "", outputs)
        elif name == "ERROR":
            return ("error", payload, [])
        elif name == "FATAL":
            return ("fatal", payload, [])
        return None

    async def worker_died(self, buffered: bytes) -> tuple[str, str, list]:
        code = await self.exit_code()
        text = buffered.decode("utf-8", "replace")
        if code not in (0, None):
            self.event("WARNING: [%s] Worker crashed! (exit code: %s)" % (self.key, code))
        if text.strip():
            return ("error", "Worker died. Last words:\n%s" % _truncate(text), [])
        return ("error", "Worker died without output (exit code: %s)" % code, [])

    async def exit_code(self) -> Any:
        if self.exit_future is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self.exit_future), 2.0)
        except asyncio.TimeoutError:
            return None

    async def last_words(self, buffered: bytes) -> str:
        data = bytearray(buffered)
        assert self.stderr is not None
        while len(data) < LAST_WORDS:
            try:
                chunk = await self.next_chunk(10.0)
            except (asyncio.TimeoutError, StreamClosedError):
                break
            if chunk is None:
                break
            data += chunk
        return _truncate(data.decode("utf-8", "replace"))

    def rate_limit(self) -> float | None:
        now = time.monotonic()
        times = self.msg_times
        times.append(now)
        while times and now - times[0] > 1.0:
            times.popleft()
        if len(times) >= 2 * MSG_RATE:
            return None
        if len(times) > MSG_RATE:
            return 1.0 / MSG_RATE
        return 0.0


def python_worker_entry(path: str) -> str | None:
    """The entry point of a Python worker launcher script, or None for other workers."""
    from ..jobpack import LAUNCHER_MARK
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if LAUNCHER_MARK.encode() in head:
        return "disco_core.worker:main"
    return None


def _printable(text: str) -> str:
    """Text as UTF-8 can carry it: JSON may escape lone surrogates (``"\\udcff"``), which no
    event log or reply could encode; they are shown as ``\\udcff``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _truncate(text: str) -> str:
    if len(text) > LAST_WORDS:
        return text[:LAST_WORDS] + "..."
    return text

