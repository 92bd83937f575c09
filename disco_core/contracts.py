"""Contract suites every plugin of a kind must pass, and drivers for the master's pure parts.

* :class:`SchemeContract`, :class:`ReaderContract`, :class:`WriterContract`,
  :class:`SchedulerContract`: a plugin's tests subclass the suite of its kind (see each
  plugin's ``tests/``; the suites of hook plugins are in :mod:`disco_core.hook_contracts`).
* :class:`RecordingActions`, :func:`make_job`, :class:`SchedulerSim`: drive the job
  coordinator and the scheduler event by event, without a master.

Re-exported by :mod:`disco_core.testing`.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import weakref
from typing import Any

import pytest


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

    def inputs(self, task: Any, inputs: list, done: bool) -> None:
        self.calls.append(("inputs", task, list(inputs), done))

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
             started: float | None = None, scheduler: dict | None = None) -> Any:
    """A job coordinator (:class:`~disco_core.master.coordinator.Job`) with a real event log
    in ``events_dir`` (a new temporary directory if not given). ``inputs`` are URLs, lists of
    replica URLs, or :class:`~disco_core.master.pipeline.Output` objects; ``scheduler`` is
    the job's ``scheduler`` dict (``force_local``, ...)."""
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
    jobdict["scheduler"].update(scheduler or {})
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

    def _current(self, job: Any, task_id: int, runid: Any, host: Any) -> Any:
        """The task a report is about if it names the attempt running now (as the master
        checks, before any bookkeeping: :func:`disco_core.master.messages.current_attempt`)."""
        from .master.messages import current_attempt
        task = job.tasks[task_id]
        runid = task.runid if runid is None else runid
        host = task.host if host is None else host
        return current_attempt({job.name: job}, host, job.name, task_id, runid)

    def finish(self, job: Any, task_id: int, outputs: Any = (), runid: Any = None,
               host: Any = None) -> bool:
        """The node reports the task done (by default its current attempt); False when the
        report is stale and changed nothing."""
        task = self._current(job, task_id, runid, host)
        if task is None:
            return False
        self.sched.task_ended(task)
        job.task_done(task, task.runid, task.host, list(outputs))
        return True

    def fail(self, job: Any, task_id: int, requeue: bool = True, runid: Any = None,
             host: Any = None) -> bool:
        """The task failed with an error; with ``requeue`` its retry delay passes at once.
        False when the report is stale and changed nothing."""
        task = self._current(job, task_id, runid, host)
        if task is None:
            return False
        self.sched.task_ended(task)
        job.task_failed(task, task.runid, task.host, "error", "boom")
        if requeue:
            job.requeue(task)
        return True

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
    to return a URL naming nothing, when the scheme has such URLs.

    A scheme whose inputs are records rather than bytes (its plugin sets ``records =
    True``; ``redis://`` is one) sets ``records = True`` here too: ``url_for`` then takes a
    list of ``(key, value)`` records of ``str``, and the same tests check that iterating
    what ``open`` gives yields those records (in any order across keys; a record scheme
    keeps the order of the records of one key)."""

    scheme = ""
    binary = True           # carries any bytes (raw:// carries UTF-8 text only)
    records = False         # open() gives (key, value) records, not bytes
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

    def payloads(self) -> list[Any]:
        text = "hello world\nsecond line \u00e9\u2603\n".encode("utf-8")
        if self.records:
            return [[("hello", "world"), ("hello", "again"), ("second", "line \u00e9\u2603")],
                    [], [("k%d" % (i % 7), "v%d" % i) for i in range(500)],
                    [("", "empty key"), ("empty value", ""), ("x y\n", "\x00\r\n")]]
        if not self.binary:
            return [text, b"", b"x" * 5000]
        return [text, b"", bytes(range(256)) * 4, b"\n\n\r\n\x00"]

    def read_all(self, stream: Any) -> Any:
        """All the data of an opened input: its bytes, or its records."""
        if self.records:
            return list(stream)
        return stream.read()

    def same(self, got: Any, data: Any) -> bool:
        """Whether ``got`` (from :meth:`read_all`) is ``data``: the same bytes, or the same
        records with the order of each key's records kept."""
        if not self.records:
            return got == data

        def by_key(records: Any) -> dict:
            out: dict = {}
            for key, value in records:
                out.setdefault(key, []).append(value)
            return out
        return by_key(got) == by_key(data) and len(got) == len(data)

    def test_installed_under_its_name(self, driver: Any) -> None:
        from .plugins import PluginHost
        assert self.scheme in PluginHost().names("scheme")
        assert callable(getattr(driver, "open", None))
        assert bool(getattr(driver, "records", False)) == self.records

    def test_open_reads_the_data(self, driver: Any, url_for: Any) -> None:
        for data in self.payloads():
            stream = driver.open(url_for(data))
            try:
                assert self.same(self.read_all(stream), data)
            finally:
                stream.close()

    def test_reads_in_chunks(self, driver: Any, url_for: Any) -> None:
        if self.records:
            data = [("key%d" % i, "value %d" % i) for i in range(5000)]
            stream = driver.open(url_for(data))
            records = iter(stream)
            first = next(records)
            rest = list(records)
            stream.close()
            assert self.same([first] + rest, data)
            return
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
        if self.records:
            unit = "0123456789abcdef" * 4
            data = [("k%d" % (i % 1000), unit + str(i)) for i in range(self.large // 64)]
            stream = driver.open(url_for(data))
            try:
                got = list(stream)
            finally:
                stream.close()
            assert self.same(got, data)
            return
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
            size = getattr(stream, "size", None)
            assert size is None if self.records else size in (None, len(data))
        finally:
            stream.close()

    def test_opened_by_the_worker_through_the_plugin_host(self, url_for: Any) -> None:
        from .worker import dataio, task_io
        data = self.payloads()[0]
        url = url_for(data)
        stream = dataio.open_url(url)
        try:
            assert self.same(self.read_all(stream), data)
        finally:
            stream.close()
        if self.records:  # the default input chain hands the records to the job as they are
            stream, _size, _url = task_io.task_input_stream(None, None, url)
            assert self.same(list(stream), data)
            stream.close()

    def test_missing_data_is_a_data_error_naming_it(self, driver: Any,
                                                    missing_url: str | None) -> None:
        from .errors import DataError
        if missing_url is None:
            pytest.skip("every %s:// URL names data" % self.scheme)
        with pytest.raises(DataError) as err:
            self.read_all(driver.open(missing_url))
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


class WriterContract:
    """What every writer does: ``writer(fd, label, url, params)`` gives an object with
    ``add(key, value)`` and ``close()`` that writes records to the binary stream ``fd``.
    Set ``writer`` (its name in ``disco.writers``) and ``records`` (a sample, as the format
    gives them back), and override the ``decode`` fixture (a function ``bytes -> records``
    of this writer's format, its reader's say)."""

    writer = ""
    records: list = []

    @pytest.fixture
    def decode(self) -> Any:
        raise NotImplementedError("a WriterContract subclass provides the decode fixture")

    @pytest.fixture
    def write(self) -> Any:
        from .plugins import PluginHost
        return PluginHost().driver("writer", self.writer)

    @staticmethod
    def written(write: Any, records: list, out: Any = None) -> Any:
        out = io.BytesIO() if out is None else out
        w = write(out, 0, "test://out", None)
        for key, value in records:
            w.add(key, value)
        w.close()
        return out

    def test_installed_under_its_name(self, write: Any) -> None:
        from .plugins import PluginHost
        assert self.writer in PluginHost().names("writer")
        assert callable(write)

    def test_writes_records_that_read_back(self, write: Any, decode: Any) -> None:
        assert list(decode(self.written(write, self.records).getvalue())) == list(self.records)

    def test_no_records(self, write: Any, decode: Any) -> None:
        assert list(decode(self.written(write, []).getvalue())) == []

    def test_many_records(self, write: Any, decode: Any) -> None:
        many = list(self.records) * (20000 // max(1, len(self.records)))
        assert list(decode(self.written(write, many).getvalue())) == many

    def test_leaves_the_stream_open(self, write: Any) -> None:
        # the output chain closes the task's file after the writer
        assert not self.written(write, self.records).closed


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
