"""Test helpers: real clusters on loopback, a local HTTP server, chosen plugin sets.

Used as a pytest plugin (``pytest_plugins = ["disco_core.testing"]``) it provides:

* ``disco_cluster`` (session): a master started with ``disco start`` under a fresh
  ``DISCO_HOME`` on a free port, its local node(s), and the environment set so that
  ``Job()``, ``Disco()`` and the ``disco`` command all talk to it. Retries are fast
  (no back-off) so failure tests finish quickly.
* ``http_server``: a threaded HTTP server on 127.0.0.1 serving a temporary directory.
* ``plugin_host``: a :class:`~disco_core.plugins.PluginHost` with chosen plugins only.
* ``data_server``: a node's real data server (Tornado) on 127.0.0.2 over temporary dirs.

and, for tests that drive the master's pure parts, :class:`RecordingActions` (the
coordinator's window on the network), :func:`make_job` and :class:`SchedulerSim`.

Contract suites, one per plugin kind, that every plugin's tests subclass:
:class:`SchemeContract`, :class:`ReaderContract`, :class:`SchedulerContract`.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from typing import Any, Iterator

import pytest


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Cluster:
    """A running cluster: its settings (as environment) and a ``disco`` command runner."""

    def __init__(self, home: str, port: int, hosts: list[tuple[str, int]] | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = port
        self.env = {"DISCO_HOME": home, "DISCO_PORT": str(port),
                    "DDFS_PUT_PORT": str(free_port()), "DISCO_MASTER_HOST": "localhost",
                    "DISCO_RETRY_BASE": "0", "DISCO_RETRY_JITTER": "0",
                    "DISCO_NODE_ORPHAN_TIMEOUT": "20", "DISCO_SETTINGS_FILE": ""}
        self.env.update(extra_env or {})
        self.hosts = hosts
        self.saved: dict[str, str | None] = {}

    @property
    def master(self) -> str:
        return "http://localhost:%d" % self.port

    def cli(self, *args: str, check: bool = True, input: str | None = None,
            timeout: float = 120, cwd: str | None = None) -> subprocess.CompletedProcess:
        exe = os.path.join(os.path.dirname(sys.executable), "disco")
        env = dict(os.environ)
        env.update(self.env)
        proc = subprocess.run([exe, *args], capture_output=True, text=True, env=env,
                              input=input, timeout=timeout, cwd=cwd)
        if check and proc.returncode != 0:
            raise AssertionError("disco %s failed (%d):\n%s%s" % (
                " ".join(args), proc.returncode, proc.stdout, proc.stderr))
        return proc

    def start(self) -> None:
        for key, value in self.env.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value
        if self.hosts is not None:
            import json
            from .settings import DiscoSettings
            path = DiscoSettings()["DISCO_MASTER_CONFIG"]
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump({"hosts": [[h, str(n)] for h, n in self.hosts]}, f)
        self.cli("start")

    def stop(self) -> None:
        try:
            self.cli("stop", check=False)
        finally:
            for key, value in self.saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    @property
    def disco(self) -> Any:
        from .client import Disco
        return Disco(self.master)

    def log(self, name: str = "") -> str:
        logdir = os.path.join(self.home, "root", "log")
        out = []
        for fname in sorted(os.listdir(logdir)):
            if name in fname:
                with open(os.path.join(logdir, fname), errors="replace") as f:
                    out.append(f.read())
        return "\n".join(out)


@contextlib.contextmanager
def running_cluster(hosts: list[tuple[str, int]] | None = None,
                    extra_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    home = tempfile.mkdtemp(prefix="disco-test-")
    cluster = Cluster(home, free_port(), hosts, extra_env)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def disco_cluster() -> Iterator[Cluster]:
    with running_cluster() as cluster:
        yield cluster


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class HTTPServer:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        handler = functools.partial(_QuietHandler, directory=directory)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def add(self, name: str, data: bytes | str) -> str:
        path = os.path.join(self.directory, name)
        with open(path, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        return self.url(name)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_server(tmp_path: Any) -> Iterator[HTTPServer]:
    server = HTTPServer(str(tmp_path))
    yield server
    server.close()


@pytest.fixture
def plugin_host() -> Iterator[Any]:
    """Call it with plugin modules/objects; the process-wide host is restored afterwards."""
    from .plugins import PluginHost, set_host
    old = set_host(None)

    def make(*plugins: Any, entry_points: bool = False, **kw: Any) -> PluginHost:
        host = PluginHost(plugins, entry_points=entry_points, **kw)
        set_host(host)
        return host
    yield make
    set_host(old)


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in %.0fs" % timeout)


# -- the job coordinator and the scheduler, driven without a master -----------------------

class RecordingActions:
    """Stands in for the master's side of a job coordinator (:class:`~disco_core.master.
    coordinator.Actions`): the network that would run, stop and retry tasks. A fake is
    right here because the coordinator is a pure state machine and this is its only
    window on the world; every call is recorded in order in :attr:`calls`.

    With a ``scheduler`` (:class:`~disco_core.master.scheduler.Scheduler`), queued tasks
    are handed to it and finished jobs removed from it, as the master does."""

    def __init__(self, hosts: Any = (), scheduler: Any = None) -> None:
        self.hosts = set(hosts)
        self.scheduler = scheduler
        self.calls: list[tuple] = []

    def queue(self, task: Any) -> None:
        self.calls.append(("queue", task))
        if self.scheduler is not None:
            self.scheduler.queue(task)

    def stop(self, task: Any) -> None:
        self.calls.append(("stop", task))
        if self.scheduler is not None:
            self.scheduler.task_ended(task)

    def retry_later(self, task: Any, delay: float) -> None:
        self.calls.append(("retry_later", task, delay))

    def finished(self, job: Any) -> None:
        self.calls.append(("finished", job))
        if self.scheduler is not None:
            self.scheduler.remove_job(job)

    def cluster_hosts(self) -> set[str]:
        return set(self.hosts)

    def of(self, kind: str) -> list[tuple]:
        """The recorded calls of one kind, e.g. ``of("queue")``."""
        return [c for c in self.calls if c[0] == kind]

    def tasks(self, kind: str) -> list[Any]:
        return [c[1] for c in self.of(kind)]


def make_job(actions: Any, pipeline: Any = (("map", "split", False),), inputs: Any = ("raw://a",),
             name: str = "Test@0:0:0", max_failures: int = 3, max_cores: int | None = None,
             retry: tuple[float, float, float] = (1.0, 60.0, 0.0), events_dir: str | None = None,
             started: float | None = None) -> Any:
    """A job coordinator (:class:`~disco_core.master.coordinator.Job`) with a real event log
    in ``events_dir`` (a new temporary directory if not given). ``inputs`` are URLs, lists of
    replica URLs, or :class:`~disco_core.master.pipeline.Output` objects."""
    from .master.coordinator import Job
    from .master.events import EventLog
    from .master.pipeline import Output
    outputs = []
    for inp in inputs:
        if isinstance(inp, Output):
            outputs.append(inp)
        else:
            outputs.append(Output.data(0, 0, [inp] if isinstance(inp, str) else list(inp)))
    jobdict = {"owner": "tests@localhost", "worker": "worker", "scheduler": {}}
    if max_cores is not None:
        jobdict["scheduler"]["max_cores"] = max_cores
    events = EventLog(os.path.join(events_dir or tempfile.mkdtemp(prefix="disco-events-"),
                                   name.replace(":", "_"), "events"))
    job = Job(name, jobdict, [tuple(s) for s in pipeline], outputs, events, actions,
              max_failures, retry)
    weakref.finalize(job, events.close)  # the master closes event logs; here, the job's end
    if started is not None:
        job.started = started
    return job


def event_messages(job: Any) -> list[str]:
    """The messages of a job's event log, oldest first."""
    return [message for _ts, _host, message in job.events.recent]


class SchedulerSim:
    """A :class:`~disco_core.master.scheduler.Scheduler` with real policies, real nodes'
    slot bookkeeping and real job coordinators, without a master: what the master's
    dispatch would send to a node is recorded in :attr:`dispatched` as
    ``(job name, task id, host)``; tests finish or fail tasks as nodes would report.

    ``policy`` and ``placement`` are driver names (loaded through the plugin host, as the
    master loads them) or policy objects. ``nodes`` maps host names to worker slots."""

    def __init__(self, nodes: dict[str, int], policy: Any = "fair", placement: Any = "locality",
                 events_dir: str | None = None, host: Any = None) -> None:
        from .master.scheduler import NodeSlots, Scheduler
        from .plugins import PluginHost
        from .settings import DiscoSettings
        plugins = host or PluginHost()
        settings = DiscoSettings()

        def cores() -> int:
            return sum(n.max_workers for n in self.sched.nodes.values())

        def load(obj: Any) -> Any:
            if isinstance(obj, str):
                return plugins.driver("scheduler", obj)(settings, cores)
            return obj
        self.policy = load(policy)
        self.placement = load(placement)
        self.sched = Scheduler(self.policy, self.placement, self._dispatch)
        for name, slots in nodes.items():
            node = NodeSlots(name, slots)
            node.connected = True
            self.sched.nodes[name] = node
        self.actions = RecordingActions(hosts=nodes, scheduler=self.sched)
        self.events_dir = events_dir or tempfile.mkdtemp(prefix="disco-events-")
        self.dispatched: list[tuple[str, int, str]] = []
        self.count = 0

    def _dispatch(self, task: Any, node: Any) -> None:
        self.dispatched.append((task.job.name, task.id, node.host))
        task.job.task_started(task, node.host)

    def job(self, inputs: Any, pipeline: Any = (("map", "split", False),), **kw: Any) -> Any:
        """Submit a job (see :func:`make_job`); its first stage is queued at once."""
        self.count += 1
        kw.setdefault("name", "J%d@0:0:%d" % (self.count, self.count))
        job = make_job(self.actions, pipeline=pipeline, inputs=inputs,
                       events_dir=self.events_dir, **kw)
        self.sched.add_job(job)
        job.start()
        return job

    def schedule(self) -> list[tuple[str, int, str]]:
        """Fill free slots; the dispatches this made."""
        before = len(self.dispatched)
        self.sched.schedule()
        return self.dispatched[before:]

    def finish(self, job: Any, task_id: int, outputs: Any = ()) -> None:
        task = job.tasks[task_id]
        self.sched.task_ended(task)
        job.task_done(task, task.runid, task.host, list(outputs))

    def fail(self, job: Any, task_id: int, requeue: bool = True) -> None:
        """The task failed with an error; with ``requeue`` its retry delay passes at once."""
        task = job.tasks[task_id]
        self.sched.task_ended(task)
        job.task_failed(task, task.runid, task.host, "error", "boom")
        if requeue:
            job.requeue(task)

    def running(self) -> list[Any]:
        return [t for n in self.sched.nodes.values() for t in n.running]

    def run_all(self, jobs: Any, limit: int = 10000) -> None:
        """Schedule and finish tasks until every job is done, checking on the way that no
        slot idles while a queued task could use it and that no node takes too many."""
        for _ in range(limit):
            self.schedule()
            for node in self.sched.nodes.values():
                assert len(node.running) <= node.max_workers, "node %s overfull" % node.host
            for job in jobs:
                assert job.running <= job.max_cores, "job %s over max_cores" % job.name
            if all(job.status != "active" for job in jobs):
                return
            running = self.running()
            assert running, "tasks are queued but nothing was scheduled"
            task = min(running, key=lambda t: (t.started, t.job.name, t.id))
            self.finish(task.job, task.id)
        raise AssertionError("jobs did not finish in %d steps" % limit)


# -- servers ---------------------------------------------------------------------------

class TornadoServer:
    """A Tornado application served from its own thread on a loopback address (a real
    server, as the master and the nodes run them)."""

    def __init__(self, rules: list, host: str = "127.0.0.1") -> None:
        import tornado.netutil
        self.host = host
        self.sockets = tornado.netutil.bind_sockets(0, address=host)
        self.port = self.sockets[0].getsockname()[1]
        self.rules = rules
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the test server did not start")

    def _run(self) -> None:
        import asyncio

        import tornado.httpserver
        import tornado.web
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        self.server = tornado.httpserver.HTTPServer(tornado.web.Application(self.rules))
        self.server.add_sockets(self.sockets)
        loop.call_soon(self._started.set)
        loop.run_forever()
        loop.close()

    def url(self, path: str = "") -> str:
        return "http://%s:%d/%s" % (self.host, self.port, path.lstrip("/"))

    def close(self) -> None:
        def stop() -> None:
            self.server.stop()
            self.loop.stop()
        self.loop.call_soon_threadsafe(stop)
        self.thread.join(10)


class DataServer(TornadoServer):
    """A node's data server (:func:`disco_core.dataserver.data_routes`) over two temporary
    directories, ``disco_data`` and ``ddfs_data``, on ``host`` (default 127.0.0.2, a
    loopback address that is not one of this machine's names, so ``disco://`` URLs naming
    it are read over HTTP)."""

    def __init__(self, root: str, host: str = "127.0.0.2") -> None:
        from .dataserver import data_routes
        self.disco_data = os.path.join(root, "disco-data")
        self.ddfs_data = os.path.join(root, "ddfs-data")
        os.makedirs(self.disco_data, exist_ok=True)
        os.makedirs(self.ddfs_data, exist_ok=True)
        super().__init__(data_routes(self.disco_data, self.ddfs_data), host)

    def add(self, relpath: str, data: bytes | str, ddfs: bool = False) -> str:
        """Store a file under the data directory; its ``disco://`` URL."""
        base = self.ddfs_data if ddfs else self.disco_data
        path = os.path.join(base, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        return "disco://%s/%s/%s" % (self.host, "ddfs" if ddfs else "disco", relpath)


@pytest.fixture
def data_server(tmp_path: Any, monkeypatch: Any) -> Iterator[DataServer]:
    """A real data server on 127.0.0.2; ``DISCO_PORT`` points at it for ``disco://``."""
    server = DataServer(str(tmp_path / "remote"))
    monkeypatch.setenv("DISCO_PORT", str(server.port))
    yield server
    server.close()


# -- contract suites for plugins -------------------------------------------------------------
#
# A plugin's tests subclass the suite of its kind (the class name must start with ``Test``)
# and fill in what the suite asks for. Every suite checks the plugin is installed under its
# name and loads through the plugin host the way the master, node and worker load it.

class _CountingStream(io.RawIOBase):
    """A read-only stream over bytes that records how far it was read (no seek, no size)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), len(self.data) - self.pos)
        b[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


class _ReadOnly:
    """An object with nothing but ``read(n)`` (what some HTTP libraries hand out)."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self.stream.read(n)


class SchemeContract:
    """What every input scheme does. Set ``scheme`` and override the ``url_for`` fixture
    (a function ``bytes -> URL`` whose data this scheme reads); override ``missing_url``
    to return a URL naming nothing, when the scheme has such URLs."""

    scheme = ""
    binary = True           # carries any bytes (raw:// carries UTF-8 text only)
    large = 3 << 20         # bytes in the large-input test

    @pytest.fixture
    def url_for(self) -> Any:
        raise NotImplementedError("a SchemeContract subclass provides the url_for fixture")

    @pytest.fixture
    def missing_url(self) -> str | None:
        return None

    @pytest.fixture
    def driver(self) -> Any:
        from .plugins import PluginHost
        return PluginHost().driver("scheme", self.scheme)

    def payloads(self) -> list[bytes]:
        text = "hello world\nsecond line \u00e9\u2603\n".encode("utf-8")
        if not self.binary:
            return [text, b"", b"x" * 5000]
        return [text, b"", bytes(range(256)) * 4, b"\n\n\r\n\x00"]

    def test_installed_under_its_name(self, driver: Any) -> None:
        from .plugins import PluginHost
        assert self.scheme in PluginHost().names("scheme")
        assert callable(getattr(driver, "open", None))

    def test_open_reads_the_data(self, driver: Any, url_for: Any) -> None:
        for data in self.payloads():
            stream = driver.open(url_for(data))
            try:
                assert stream.read() == data
            finally:
                stream.close()

    def test_reads_in_chunks(self, driver: Any, url_for: Any) -> None:
        data = self.payloads()[0] * 500
        stream = driver.open(url_for(data))
        parts = []
        while True:
            part = stream.read(777)
            assert len(part) <= 777
            if not part:
                break
            parts.append(part)
        stream.close()
        assert b"".join(parts) == data

    def test_large_input(self, driver: Any, url_for: Any) -> None:
        unit = bytes(range(256)) if self.binary else b"0123456789abcdef\n"
        data = unit * (self.large // len(unit))
        stream = driver.open(url_for(data))
        try:
            got = hashlib.md5()
            total = 0
            while chunk := stream.read(1 << 16):
                got.update(chunk)
                total += len(chunk)
        finally:
            stream.close()
        assert total == len(data) and got.digest() == hashlib.md5(data).digest()

    def test_size_is_right_or_unknown(self, driver: Any, url_for: Any) -> None:
        data = self.payloads()[0]
        stream = driver.open(url_for(data))
        try:
            assert getattr(stream, "size", None) in (None, len(data))
        finally:
            stream.close()

    def test_opened_by_the_worker_through_the_plugin_host(self, url_for: Any) -> None:
        from .worker import dataio
        data = self.payloads()[0]
        stream = dataio.open_url(url_for(data))
        try:
            assert stream.read() == data
        finally:
            stream.close()

    def test_missing_data_is_a_data_error_naming_it(self, driver: Any,
                                                    missing_url: str | None) -> None:
        from .errors import DataError
        if missing_url is None:
            pytest.skip("every %s:// URL names data" % self.scheme)
        with pytest.raises(DataError) as err:
            driver.open(missing_url).read()
        # a DataError makes the worker try the next replica, then the task retry elsewhere
        name = missing_url.rstrip("/").rsplit("/", 1)[-1]
        assert name in str(err.value)


class ReaderContract:
    """What every reader does: ``reader(fd, size, url, params) -> iterable of records``.
    Set ``reader`` (its name in ``disco.readers``) and ``records`` (a sample), override the
    ``encode`` fixture (a function ``records -> bytes`` in this reader's format), and set
    ``bad_input``/``bad_error`` when some input must be refused."""

    reader = ""
    records: list = []
    bad_input: bytes | None = None
    bad_error: type = Exception
    bad_error_names_url = False

    @pytest.fixture
    def encode(self) -> Any:
        raise NotImplementedError("a ReaderContract subclass provides the encode fixture")

    @pytest.fixture
    def read(self) -> Any:
        from .plugins import PluginHost
        return PluginHost().driver("reader", self.reader)

    def test_installed_under_its_name(self, read: Any) -> None:
        from .plugins import PluginHost
        assert self.reader in PluginHost().names("reader")
        assert callable(read)

    def test_reads_records(self, read: Any, encode: Any) -> None:
        data = encode(self.records)
        got = list(read(io.BytesIO(data), len(data), "test://in", None))
        assert got == list(self.records)

    def test_size_and_params_are_optional(self, read: Any, encode: Any) -> None:
        data = encode(self.records)
        assert list(read(io.BytesIO(data), None, "test://in", {"any": "params"})) == \
            list(self.records)
        assert list(read(io.BytesIO(data))) == list(self.records)

    def test_empty_input_has_no_records(self, read: Any, encode: Any) -> None:
        data = encode([])
        assert list(read(io.BytesIO(data), len(data), "test://empty", None)) == []

    def test_reads_a_stream_with_only_read(self, read: Any, encode: Any) -> None:
        data = encode(self.records)
        assert list(read(_ReadOnly(data), None, "test://in", None)) == list(self.records)

    def test_streams_without_reading_everything_first(self, read: Any, encode: Any) -> None:
        many = list(self.records) * (200000 // max(1, len(self.records)))
        data = encode(many)
        stream = _CountingStream(data)
        records = iter(read(stream, len(data), "test://big", None))
        assert next(records) == many[0]
        assert stream.pos < len(data) // 2, "the reader read the whole input up front"
        rest = list(records)
        assert len(rest) == len(many) - 1 and rest[-1] == many[-1]

    def test_bad_input_is_refused(self, read: Any) -> None:
        if self.bad_input is None:
            pytest.skip("this reader accepts any input")
        url = "test://bad-input"
        with pytest.raises(self.bad_error) as err:
            list(read(io.BytesIO(self.bad_input), len(self.bad_input), url, None))
        if self.bad_error_names_url:
            assert url in str(err.value)


class SchedulerContract:
    """What every scheduler policy does, driven through the real scheduler core. Set
    ``policy`` (its name in ``disco.schedulers``) and ``kind``: ``"job"`` for a job policy
    (``order(jobs, host)``, like fair and fifo) or ``"placement"`` (``pick(queue, host,
    cluster, ok)``, like locality). The other half comes from ``partner``."""

    policy = ""
    kind = "job"

    @property
    def partner(self) -> str:
        return "locality" if self.kind == "job" else "fifo"

    @pytest.fixture
    def sim(self, tmp_path: Any) -> Any:
        from .plugins import PluginHost
        host = PluginHost()
        if self.partner not in host.names("scheduler"):
            pytest.skip("the %s policy is not installed" % self.partner)

        def make(nodes: dict[str, int]) -> SchedulerSim:
            job, place = ((self.policy, self.partner) if self.kind == "job"
                          else (self.partner, self.policy))
            return SchedulerSim(nodes, job, place, events_dir=str(tmp_path), host=host)
        return make

    def test_installed_under_its_name(self) -> None:
        from .plugins import PluginHost
        from .settings import DiscoSettings
        host = PluginHost()
        assert self.policy in host.names("scheduler")
        cls = host.driver("scheduler", self.policy)
        obj = cls(DiscoSettings(), lambda: 4)
        assert callable(getattr(obj, "order" if self.kind == "job" else "pick"))
        cls()  # settings and cores are optional

    def test_every_task_of_every_job_runs(self, sim: Any) -> None:
        s = sim({"n1": 2, "n2": 1, "n3": 3})
        hosts = ["n1", "n2", "n3", "elsewhere"]
        jobs = [s.job(["disco://%s/disco/j%d-%d" % (hosts[(j + i) % 4], j, i)
                       for i in range(7 + j)], started=float(j)) for j in range(3)]
        s.run_all(jobs)
        assert all(job.status == "ready" for job in jobs)
        ran = sorted((name, tid) for name, tid, _ in s.dispatched)
        assert ran == sorted((job.name, t) for job in jobs for t in job.tasks)

    def test_no_slot_idles_while_work_waits(self, sim: Any) -> None:
        s = sim({"n1": 2, "n2": 2})
        s.job(["disco://n1/disco/%d" % i for i in range(6)], started=1.0)
        s.job(["raw://%d" % i for i in range(6)], started=2.0)
        assert len(s.schedule()) == 4

    def test_max_cores_is_respected(self, sim: Any) -> None:
        s = sim({"n1": 4, "n2": 4})
        capped = s.job(["raw://%d" % i for i in range(20)], max_cores=3, started=1.0)
        s.schedule()
        assert capped.running == 3
        s.run_all([capped])

    def test_failed_hosts_are_avoided(self, sim: Any) -> None:
        s = sim({"n1": 1, "n2": 1})
        job = s.job(["disco://n1/disco/x"])
        ((_, tid, host),) = s.schedule()
        s.fail(job, tid)
        ((_, tid2, host2),) = s.schedule()
        assert tid2 == tid and host2 != host

    def test_nothing_to_do(self, sim: Any) -> None:
        s = sim({"n1": 2})
        assert s.schedule() == []
        job = s.job([], pipeline=[("map", "split", False)])
        assert job.status == "ready" and s.schedule() == []
