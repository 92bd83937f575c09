"""A node: runs tasks the master sends, reports back, and serves the node's data.

Started by the master (``python -m disco_core.node --host H --master URL``) with the
cluster secret in ``DISCO_CLUSTER_SECRET``, or over SSH with ``--settings-stdin`` (its
settings, the secret among them, on the first line of stdin; it exits when stdin closes).
It connects to the master's WebSocket (naming its core version) and
keeps reconnecting if the connection drops. Its tasks go on meanwhile: each connection
starts with a ``hello`` listing the attempts the node still runs; the master settles the
others and kills those it gave up on (see ``Master.node_hello``). It exits when the
master says ``stop`` or stays unreachable for ``DISCO_NODE_ORPHAN_TIMEOUT`` seconds.
Unless the master serves this host's data itself (same address and port), the node serves
``/disco/`` and the plugins' node routes on ``H:DISCO_PORT``; beside the master it serves
them on a loopback port it names when it connects, and the master hands them on
(:mod:`disco_core.master.nodeproxy`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from .. import __version__
from ..access import data_allowed, data_key, is_loopback
from ..children import ChildWatcher
from ..dataserver import LimitedApplication, data_routes
from ..loopwatch import LoopWatch
from .. import nodelock
from ..plugins import get_host
from ..settings import DiscoSettings
from .gc import DataGC
from .jobhome import JobHomes
from .runner import TaskRun
from .warm import IDLE, WarmPool

log = logging.getLogger("disco.node")
#: The exit status of a node process that found another one running for its host and data
#: root (:mod:`disco_core.nodelock`).
LOCKED_EXIT = 3


class ForkServerClient:
    """The node's handle on its fork server process (see :mod:`.forkserver`)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([sys.executable, "-m", "disco_core.node.forkserver",
                                      str(child.fileno())], pass_fds=[child.fileno()], env=env,
                                     stdin=subprocess.DEVNULL)
        child.close()
        self.sock.setblocking(False)
        self.next_id = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.exits: dict[int, asyncio.Future] = {}
        self.early_exits: dict[int, int] = {}
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
                for fut in list(self.pending.values()) + list(self.exits.values()):
                    if not fut.done():
                        fut.set_exception(RuntimeError("the fork server died"))
                return
            msg = json.loads(data)
            if "exited" in msg:
                fut = self.exits.pop(msg["exited"], None)
                if fut is None:
                    self.early_exits[msg["exited"]] = msg["status"]
                elif not fut.done():
                    fut.set_result(msg["status"])
            else:
                fut = self.pending.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    if "error" in msg:
                        fut.set_exception(OSError(msg["error"]))
                    else:
                        fut.set_result(msg["pid"])

    async def spawn(self, cwd: str, env: dict, entry: str, stdin_fd: int,
                    err_fd: int) -> tuple[int, asyncio.Future]:
        loop = asyncio.get_running_loop()
        self.next_id += 1
        fut = loop.create_future()
        self.pending[self.next_id] = fut
        request = {"id": self.next_id, "cwd": cwd, "env": env, "entry": entry, "nice": 19}
        socket.send_fds(self.sock, [json.dumps(request).encode("utf-8")], [stdin_fd, err_fd])
        pid = await fut
        exit_fut = loop.create_future()
        if pid in self.early_exits:
            exit_fut.set_result(self.early_exits.pop(pid))
        else:
            self.exits[pid] = exit_fut
        return pid, exit_fut

    def close(self) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        except Exception:
            pass
        self.sock.close()
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Node:
    """One node process: the attempts it runs (``tasks``, by job and task id, one attempt
    each), its job homes, its fork server, its connection to the master (``conn``) and what
    waits to be sent on it (``pending_events``, ``outbox``).

    Only the master changes what runs here, by its messages (:meth:`on_message`: run, add
    inputs, kill, purge, GC, stop), which the node handles on its IOLoop. Each
    :class:`~.runner.TaskRun` reports through the node (:meth:`event`, :meth:`report`) and
    does not touch ``tasks``: an attempt leaves it when it ends, or when the master kills it.
    """

    def __init__(self, host: str, master_url: str, settings: DiscoSettings | None = None,
                 serve_data: bool = True, secret: str = "") -> None:
        self.host = host
        self.master_url = master_url.rstrip("/")
        self.settings = settings or DiscoSettings()
        self.serve_data = serve_data
        self.data_port: int | None = None  # where the routes are served when not DISCO_PORT
        self.secret = secret or os.environ.get("DISCO_CLUSTER_SECRET", "")
        self.jobhomes = JobHomes(self.settings["DISCO_DATA"], host)
        self.tasks: dict[tuple[str, int], TaskRun] = {}
        self.forkserver: ForkServerClient | None = None
        self.warm = WarmPool(_seconds("DISCO_WORKER_IDLE",
                                      self.settings.get("DISCO_WORKER_IDLE", IDLE), IDLE))
        self.children = ChildWatcher()  # the workers started without the fork server
        self.conn: Any = None
        self.pending_events: list[list[str]] = []
        self.outbox: list[dict] = []
        self.flush_soon = False
        self.stop_event = asyncio.Event()
        self.session = uuid.uuid4().hex  # this node process, as its hello names it
        self._installed: dict | None = None  # what its hello says is installed here
        self._base_env: dict[str, str] | None = None
        self.lock_fd: int | None = None  # the node lock (:mod:`disco_core.nodelock`)
        self.gc = DataGC(self.jobhomes.root, self.settings, self.ask_gc,
                         lambda: {job for job, _taskid in self.tasks})

    # -- environment --------------------------------------------------------------------
    def worker_env(self, jobenvs: dict) -> dict[str, str]:
        if self._base_env is None:
            env = self.settings.env
            env.pop("DISCO_CLUSTER_SECRET", None)
            env["DISCO_DATA_KEY"] = data_key(self.secret)  # other nodes' job data, for tasks
            bindir = os.path.dirname(sys.executable)
            env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
            self._base_env = env
        env = dict(self._base_env)
        env.update(jobenvs)
        return env

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        os.makedirs(self.jobhomes.root, exist_ok=True)
        # one node process per host and data root: a second one stops here (NodeLocked)
        self.lock_fd = nodelock.acquire(
            nodelock.lock_path(self.settings["DISCO_DATA"], self.host),
            {"pid": os.getpid(), "host": self.host, "master": self.master_url})
        if self.settings.flag("DISCO_WORKER_FORK"):
            self.forkserver = ForkServerClient(self.worker_env({}))
        s = self.settings
        allowed = None
        if self.serve_data and not is_loopback(self.host):  # job data to the cluster only
            token = str(s.get("DISCO_TOKEN", "") or "")
            allowed = lambda headers: data_allowed(headers, self.secret, token)  # noqa: E731
        rules = data_routes(s["DISCO_DATA"], allowed)
        rules += get_host().routes("disco_node_routes", node=self)
        app = LimitedApplication(rules)  # bodies past dataserver.MAX_BODY: 413
        if self.serve_data:
            app.listen(int(s["DISCO_PORT"]), address=self.host if self.host != "localhost"
                       else "127.0.0.1")
        else:  # the master takes HOST:DISCO_PORT and hands node routes on to this port
            sockets = tornado.netutil.bind_sockets(0, address="127.0.0.1")
            self.data_port = sockets[0].getsockname()[1]
            tornado.httpserver.HTTPServer(app, max_body_size=app.max_body).add_sockets(sockets)
        self.gc.start()
        self.loopwatch = LoopWatch(log, "node %s" % self.host)
        self.loopwatch.start()
        await get_host().acall("disco_node_started", node=self)

    async def run(self) -> None:
        await self.start()
        connector = asyncio.ensure_future(self.connect_loop())
        await self.stop_event.wait()
        connector.cancel()
        self.shutdown()

    def shutdown(self) -> None:
        self.gc.stop()
        for run in list(self.tasks.values()):
            run.kill()
        self.warm.drop()
        if self.forkserver is not None:
            self.forkserver.close()
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # releases the node lock
            self.lock_fd = None

    async def connect_loop(self) -> None:
        url = self.master_url.replace("http://", "ws://").replace("https://", "wss://")
        url += "/disco/node/connect?host=%s&version=%s" % (self.host, __version__)
        if self.data_port is not None:
            url += "&data_port=%d" % self.data_port
        orphan = float(os.environ.get("DISCO_NODE_ORPHAN_TIMEOUT", "60"))
        interval = self.settings.seconds("DISCO_NODE_PING_INTERVAL")
        ping = {"ping_interval": interval,  # a ping's timeout is at most the interval
                "ping_timeout": min(interval, self.settings.seconds("DISCO_NODE_PING_TIMEOUT"))}
        last_ok = time.monotonic()
        delay = 0.1
        while not self.stop_event.is_set():
            try:
                request = _request(url, self.secret)
                self.conn = await tornado.websocket.websocket_connect(request, **ping)
            except Exception as exc:
                if time.monotonic() - last_ok > orphan:
                    log.error("master %s unreachable for %.0fs (%s): exiting",
                              self.master_url, orphan, exc)
                    self.stop_event.set()
                    return
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
                continue
            delay = 0.1
            self.conn.protocol.stream.set_nodelay(True)  # no Nagle delay on small reports
            self.flush()  # reports of tasks that ended while the connection was down
            self.hello()
            self.ask_gc()  # jobs purged while this node was away lose their data now
            while True:
                msg = await self.conn.read_message()
                if msg is None:
                    break
                last_ok = time.monotonic()
                self.handle(msg)
            reason = self.conn.close_reason
            self.conn = None
            if not self.stop_event.is_set():
                log.warning("the connection to the master closed (%s): reconnecting",
                            reason or "no reason given")
            last_ok = time.monotonic()
            # running tasks go on: the next session's hello tells the master about them
            if self.stop_event.is_set():
                return
            if reason and ("secret" in reason or "node table" in reason
                           or "version" in reason):
                log.error("the master refused this node: %s", reason)
                self.stop_event.set()
                return

    def hello(self) -> None:
        """Start a session: tell the master which task attempts this node still runs."""
        running = [[run.job, run.taskid, run.runid] for run in self.tasks.values()
                   if not run.killed]
        self.send({"op": "hello", "session": self.session, "running": running,
                   "plugins": self.installed()})

    def installed(self) -> dict:
        """What this node has installed (core, plugin distributions, driver names), as the
        master checks a job's needs against it; the same for the node process's life."""
        if self._installed is None:
            self._installed = get_host().installed()
        return self._installed

    def handle(self, raw: str | bytes | dict) -> None:
        """One message from the master. One this node cannot handle is logged and answered
        with an ``error`` message; the node goes on with the next."""
        try:
            msg = raw if isinstance(raw, dict) else json.loads(raw)
            if not isinstance(msg, dict):
                raise ValueError("not a JSON object")
            if msg.get("op") == "batch":  # the master's messages of one round, in order
                for one in msg["messages"]:
                    self.handle(one)
                return
            self.on_message(msg)
        except Exception as exc:
            text = (json.dumps(raw) if isinstance(raw, dict) else
                    raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
            problem = "node %s cannot handle the message %s: %s: %s" % (
                self.host, text[:200], type(exc).__name__, exc)
            log.exception("%s", problem)
            self.send({"op": "error", "message": problem})

    def send(self, msg: dict) -> bool:
        if self.conn is None:
            return False
        try:
            self.conn.write_message(json.dumps(msg))
        except tornado.websocket.WebSocketClosedError:
            return False
        return True

    def fetch_inputs(self, url: str) -> list:
        """A task's inputs from the master (for tasks with too many to send in a message)."""
        request = urllib.request.Request(url, headers={"X-Disco-Secret": self.secret})
        with urllib.request.urlopen(request, timeout=300) as resp:
            inputs = json.load(resp)
        if not isinstance(inputs, list):
            raise ValueError("the master's task inputs at %s are not a list" % url)
        return inputs

    def on_message(self, msg: dict) -> None:
        op = msg.get("op")
        if op == "run":
            run = TaskRun(self, msg)
            earlier = self.tasks.get((run.job, run.taskid))
            if earlier is not None:
                earlier.kill()  # an attempt the master gave up on: never two at once
            self.tasks[(run.job, run.taskid)] = run
            task = asyncio.ensure_future(run.run())
            task.add_done_callback(lambda _f, key=(run.job, run.taskid), r=run:
                                   self.tasks.pop(key, None) if self.tasks.get(key) is r else None)
        elif op == "inputs":
            run = self.tasks.get((msg["job"], msg["taskid"]))
            if run is not None and run.runid == msg.get("runid", run.runid):
                run.feed(msg)
        elif op == "kill":
            key = (msg["job"], msg["taskid"])
            run = self.tasks.get(key)
            if run is not None and msg.get("runid", run.runid) == run.runid:
                del self.tasks[key]
                run.kill()
        elif op == "purge":
            for key, run in list(self.tasks.items()):
                if key[0] == msg["job"]:
                    run.kill()
                    del self.tasks[key]
            self.warm.drop(msg["job"])
            asyncio.ensure_future(self.jobhomes.purge(msg["job"]))
        elif op == "gc_jobs":
            asyncio.ensure_future(self.collect_garbage(msg))
        elif op == "stop":
            self.stop_event.set()
        else:
            raise ValueError("unknown op %r" % (op,))

    # -- job data GC --------------------------------------------------------------------
    def ask_gc(self) -> bool:
        """Ask the master which jobs are active and purged; its answer starts a GC pass."""
        return self.send({"op": "gc_query"})

    async def collect_garbage(self, msg: dict) -> None:
        for job in await self.gc.answer(msg):
            self.warm.drop(job)
            self.jobhomes.forget(job)

    # -- reporting ----------------------------------------------------------------------
    def event(self, job: str, text: str) -> None:
        self._flush_soon()
        self.pending_events.append([job, self.host, text])

    def report(self, msg: dict) -> None:
        self._flush_soon()
        self.outbox.append(msg)

    def _flush_soon(self) -> None:
        """Send what waits at the end of this loop iteration: the events and reports of
        every task that ended in it go in one message."""
        if not self.flush_soon:
            self.flush_soon = True
            asyncio.get_event_loop().call_soon(self.flush)

    def report_live(self, msg: dict) -> None:
        """A report only worth sending now (a running task's counters): dropped while
        disconnected, as a later one (or the task's end) says more."""
        if self.conn is not None:
            self.report(msg)

    def flush(self) -> None:
        """Send the events and reports waiting: one message, a ``batch`` of them when
        there are several. Reports stay in the outbox while the connection is down."""
        self.flush_soon = False
        if self.conn is None:
            return
        reports = len(self.outbox)
        msgs = self.outbox[:reports]
        if self.pending_events:
            msgs.insert(0, {"op": "events", "events": self.pending_events})
        if not msgs:
            return
        msg = msgs[0] if len(msgs) == 1 else {"op": "batch", "messages": msgs}
        try:
            self.conn.write_message(json.dumps(msg))
        except tornado.websocket.WebSocketClosedError:
            return
        self.pending_events = []
        del self.outbox[:reports]


def _seconds(name: str, value: Any, default: float) -> float:
    """The setting ``name`` as seconds; a warning naming it, and ``default``, for a value
    that is not a number of seconds >= 0."""
    try:
        seconds = float(value)
        if seconds >= 0:
            return seconds
    except (TypeError, ValueError):
        pass
    log.warning("setting %s=%r is not a number of seconds: using %g (set it to a number "
                "such as %g, or unset it)", name, value, default, default)
    return default


def _request(url: str, secret: str) -> Any:
    import tornado.httpclient
    return tornado.httpclient.HTTPRequest(url, headers={"X-Disco-Secret": secret},
                                          connect_timeout=5, request_timeout=30)


def main(argv: list[str] | None = None) -> None:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m disco_core.node")
    parser.add_argument("--host", required=True, help="this node's name in the node table")
    parser.add_argument("--master", required=True, help="the master's URL")
    parser.add_argument("--no-data-server", action="store_true",
                        help="the master serves this host's port: serve on a loopback "
                        "port the master hands requests on to")
    parser.add_argument("--settings-stdin", action="store_true",
                        help="read settings (a JSON object of names and values) from the "
                        "first line of stdin, and exit when stdin closes (a node the master "
                        "started over SSH: the channel closing means the master is gone)")
    args = parser.parse_args(argv)
    if args.settings_stdin:
        read_stdin_settings()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s node " + args.host + " %(levelname)s %(message)s")
    # DISCO_PROXY is a client's way in: the cluster's own processes (and tasks) reach each
    # other directly, whatever a shared settings file says
    os.environ["DISCO_PROXY"] = ""

    async def run() -> None:
        node = Node(args.host, args.master, serve_data=not args.no_data_server)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, node.stop_event.set)
        if args.settings_stdin:
            loop.add_reader(sys.stdin.fileno(), _stdin_readable, node)
        await node.run()

    try:
        asyncio.run(run())
    except nodelock.NodeLocked as exc:
        log.error("node %s cannot start: %s", args.host, exc)
        sys.exit(LOCKED_EXIT)


def read_stdin_settings() -> None:
    """The settings a master sends a node it started over SSH, as the first line of stdin:
    a JSON object of setting names and values, put in this process's environment (so the
    cluster secret and the token never appear on a command line)."""
    line = sys.stdin.buffer.readline()
    try:
        values = json.loads(line)
        if not isinstance(values, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        sys.exit("node: --settings-stdin needs a JSON object of settings on the first line "
                 "of stdin (%s)" % exc)
    for name, value in values.items():
        os.environ[str(name)] = str(value)


def _stdin_readable(node: Node) -> None:
    """Stdin of a node started over SSH: its end (the SSH channel closed) stops the node."""
    if not os.read(sys.stdin.fileno(), 65536):
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        log.warning("stdin closed (the master's SSH connection ended): stopping")
        node.stop_event.set()
