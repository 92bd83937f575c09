"""The master: jobs, the scheduler, the nodes, and the Tornado application serving them.

Run it with ``python -m disco_core.master`` (``disco start`` does, as a daemon). One
:class:`Master` owns every piece of state; handlers get it through ``initialize`` and
call its methods. Job coordinators are pure state machines (:mod:`.coordinator`); the
master is the shell that gives them a network and a clock.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import shutil
import signal
import time
import urllib.parse
from typing import Any

import tornado.web

from .. import __version__, jobpack as jp
from ..errors import PluginError
from ..access import load_token
from ..loopwatch import LoopWatch
from ..plugins import PluginHost, get_host
from ..settings import DiscoSettings
from . import jobrecord, purgedlist, restore, saving
from .coordinator import Job, Task
from .jobrecord import JobRecord
from .journal import JournalWriter
from .ctrl import core_ops
from .nodes import NodeManager
from .oob import OobStore
from .intake import JobIntake
from .reports import NodeReports
from .scheduler import NodeSlots, Scheduler
from .stalled import StalledJobs
from .submissions import Submissions, Upload, clear_incoming

log = logging.getLogger("disco.master")
#: The largest body Tornado buffers for a handler that does not stream it. The master's own
#: handlers stream every body and enforce a limit per route (:mod:`.handlers`); a plugin's
#: handler that takes more streams it and raises the limit in ``prepare``, as they do.
MAX_REQUEST = 1 << 20
# Seconds a submitted job may take to set up (check its pack, read its inputs' indexes).
SETUP_TIMEOUT = 60.0
#: The most bytes of inputs a task message carries itself; a task with more gets a reference
#: the node fetches them from (a WebSocket message is at most 10 MiB on either side).
INLINE_INPUTS = 1 << 20
#: How long the master remembers a purged job for the nodes' data GC (seconds).
PURGED_MEMORY = 24 * 3600.0


def load_secret(path: str) -> str:
    """The cluster secret shared by master and nodes, created (mode 0600) on first use."""
    if os.path.exists(path):
        with open(path) as f:
            return f.read().strip()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    secret = secrets.token_hex(24)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    os.replace(path + ".tmp", path)
    return secret


class Master(NodeReports, JobIntake):
    """The master's state and what changes it.

    It owns every job's and node's state in the cluster. The REST handlers (:mod:`.handlers`,
    :mod:`.ctrl`) and the nodes' sockets change it only by calling its methods, on the IOLoop,
    after checking what they were sent (:mod:`.messages` for nodes); plugins, which its hooks
    hand the master, are to change it through the same methods and no other way.

    What it holds, and who changes it:

    * ``jobs``: every active job and the newest ``keep_finished``
      (``DISCO_KEEP_FINISHED_JOBS``) finished ones, in the order they were made. :meth:`submit`
      adds them; each :class:`~.coordinator.Job` then changes its own stages and tasks, told
      by the master's methods. A job that finishes writes its record (:mod:`.jobrecord`) and
      closes its event file (:meth:`finished`), and the oldest finished job beyond the bound
      leaves ``jobs`` for ``archived`` (its name, start time and status: what ``joblist``
      needs), after which :meth:`get_job` reads its record from disk. ``purged`` names the
      jobs :meth:`purge` removed, for the nodes' data GC. Each job journals what it needs to
      be resumed (``journal``, :mod:`.journal`); a master that starts lists the recorded
      jobs and resumes the journaled ones it finds on disk (:mod:`.restore`).
    * ``scheduler``: the queues and the nodes' slots (:class:`~.scheduler.Scheduler`); the
      master queues and ends tasks in it and runs it (:meth:`kick`), the node manager keeps
      its view of the nodes in step with the node table.
    * ``nodes``: the node table, node processes and connections
      (:class:`~.nodes.NodeManager`), changed by ``save_config_table`` and the
      black/whitelist operations through it.
    * ``submissions``, ``waiters``, ``max_failure_rate`` and ``accept_new_jobs`` (the last two
      set by ``save_settings``), the cluster ``secret`` (set once by :meth:`start`), and
      ``ctrl_ops``, the ``/disco/ctrl/`` operations (:class:`~.ctrl.CtrlOps`), which may
      grow only before the master serves.
    """

    def __init__(self, settings: DiscoSettings | None = None,
                 plugins: PluginHost | None = None) -> None:
        self.settings = settings or DiscoSettings()
        self.plugins = plugins or get_host()
        s = self.settings
        self.url = s["DISCO_MASTER"]
        self.root = s["DISCO_MASTER_ROOT"]
        self.version = __version__
        self.jobs: dict[str, Job] = {}
        self.keep_finished = int(s["DISCO_KEEP_FINISHED_JOBS"])
        self.finished_jobs: dict[str, None] = {}            # in memory, oldest first
        self.recording: dict[str, asyncio.Future] = {}      # finished, record being written
        self.archived: dict[str, tuple[float, str]] = {}   # name -> (started, status)
        self.purged: dict[str, float] = {}  # (on disk too: .purgedlist)
        self._purges_saving = asyncio.Lock()
        self.waiters: list[asyncio.Future] = []
        self.max_failure_rate = int(s["DISCO_MAX_FAILURE_RATE"])
        self.accept_new_jobs = 1
        self.max_jobpack = int(s["DISCO_MAX_JOBPACK_SIZE"])
        self.submissions = Submissions()
        self.oob = OobStore(self.job_dir, self.get_job)  # the jobs' out-of-band values
        self.journal = JournalWriter()  # the jobs' journals, to resume them (:mod:`.restore`)
        self.setup_timeout = SETUP_TIMEOUT
        self.retry = (float(s["DISCO_RETRY_BASE"]), float(s["DISCO_RETRY_MAX"]),
                      float(s["DISCO_RETRY_JITTER"]))
        cores = lambda: sum(n.max_workers for n in self.scheduler.nodes.values())  # noqa: E731
        self.missing: list[str] = []
        policy = self._policy("DISCO_SCHEDULER", cores)
        placement = self._policy("DISCO_PLACEMENT", cores)
        self._policy_told: dict[str, set[str]] = {}
        self.scheduler = Scheduler(policy, placement, self.dispatch, self._policy_failed)
        self.stalled = StalledJobs(self.scheduler)  # jobs told why no node takes their tasks
        self.nodes = NodeManager(self)
        self.ctrl_ops = core_ops()  # /disco/ctrl/<op>: more join with ctrl_ops.register
        self.secret = ""
        #: The token every request must carry (:mod:`disco_core.access`), made at start.
        self.token_required = self.settings.flag("DISCO_TOKEN_REQUIRED")
        self.token = ""
        self._kicked = False
        #: the run messages of the scheduling round under way, by host (:meth:`_schedule`)
        self._runs: dict[str, list[tuple[Task, dict]]] | None = None
        self.server: Any = None
        self.started = time.time()

    def _policy(self, setting: str, cores: Any) -> Any:
        """The scheduler plugin a setting names. Without it the master still starts (to
        report and serve), and every submitted job is refused naming what to install."""
        name = self.settings[setting]
        try:
            cls = self.plugins.driver("scheduler", name)
        except PluginError as exc:
            self.missing.append("%s=%s: %s" % (setting, name, exc))
            log.error("%s", self.missing[-1])
            return None
        return cls(self.settings, cores)

    def _policy_failed(self, role: str, exc: BaseException, jobs: list[Job]) -> None:
        """A scheduler policy raised: recorded under its plugin (``disco plugins``), and
        each job it was scheduling says so once in its events."""
        setting = "DISCO_SCHEDULER" if role == "policy" else "DISCO_PLACEMENT"
        name = self.settings[setting]
        owner = self.plugins.driver_owner("scheduler", name)
        what = "scheduler policy %s (%s)" % (name, "order" if role == "policy" else "pick")
        self.plugins.failed(owner, what, exc)
        for job in jobs:
            told = self._policy_told.setdefault(job.name, set())
            if role not in told:
                told.add(role)
                job.events.add("master", "WARNING: plugin %s failed in %s: %s: %s (scheduled "
                               "in the default order instead)"
                               % (owner, what, type(exc).__name__, exc))

    # -- lifecycle ----------------------------------------------------------------------
    def application(self) -> tornado.web.Application:
        from .handlers import routes
        from .nodeproxy import NodeRouteProxy
        from .guard import GuardedApplication
        from .webui import routes as webui_routes
        rules = webui_routes(self) + routes(self) \
            + self.plugins.routes("disco_master_routes", master=self)
        return GuardedApplication(self, rules,
                                  websocket_ping_interval=self.nodes.ping_interval,
                                  websocket_ping_timeout=min(self.nodes.ping_timeout,
                                                             self.nodes.ping_interval),
                                       default_handler_class=NodeRouteProxy,
                                       default_handler_args={"master": self})

    async def start(self) -> None:
        s = self.settings
        s.ensuredirs()
        self.secret = os.environ.get("DISCO_CLUSTER_SECRET") or load_secret(s["DISCO_SECRET_FILE"])
        if self.token_required:
            self.token = load_token(s["DISCO_TOKEN_FILE"], create=True)
        self.nodes.load()
        clear_incoming(self.incoming())
        await restore.restore(self)  # the jobs of the master that ran here before
        self.purged.update(purgedlist.load(self.root, PURGED_MEMORY))
        app = self.application()
        from .remote import bind_address
        self.nodes.listen_address = bind_address(s, self.nodes.remote_hosts())
        self.server = app.listen(int(s["DISCO_PORT"]), address=self.nodes.listen_address,
                                 max_body_size=MAX_REQUEST, xheaders=False)
        await self.nodes.start_all()
        loop = asyncio.get_running_loop()
        self._watch = loop.create_task(self.nodes.watch())
        self._flusher = loop.create_task(self._flush_events())
        self.loopwatch = LoopWatch(log, "the master")
        self.loopwatch.start()
        await self.plugins.acall("disco_master_started", master=self)
        log.info("master %s started", self.url)

    async def _flush_events(self) -> None:
        while True:
            await asyncio.sleep(2.0)
            self.stalled.check()
            for job in list(self.jobs.values()):
                job.events.flush()

    def shutdown(self) -> None:
        """Stop serving and stop the nodes; an active job stays as its journal has it, and
        goes on when a master starts here again (:mod:`.restore`)."""
        for job in self.jobs.values():
            if job.status == "active":
                job.events.add("master", "WARN: the master is shutting down: the job goes on "
                               "when it starts again")
            job.events.close()
        self.nodes.stop_all()
        if self.server is not None:
            self.server.stop()
        self.journal.close()

    # -- scheduling ---------------------------------------------------------------------
    def kick(self) -> None:
        """Run the scheduler soon (once, however many events ask for it)."""
        if self._kicked:
            return
        self._kicked = True
        asyncio.get_event_loop().call_soon(self._schedule)

    def _schedule(self) -> None:
        """One scheduling round: each node gets the tasks it was given in one message."""
        self._kicked = False
        self._runs = {}
        try:
            self.scheduler.schedule()
        finally:
            runs, self._runs = self._runs, None
            for host, sent in runs.items():
                if not self.nodes.send_all(host, [message for _task, message in sent]):
                    for task, _message in sent:
                        self.scheduler.task_ended(task)
                        task.job.node_lost(task, host)
        if runs:  # tasks started: the check is for rounds that start none (and every 2 s)
            self.stalled.progressed()
        else:
            self.stalled.check()

    def dispatch(self, task: Task, node: NodeSlots) -> None:
        job = task.job
        job.task_started(task, node.host)
        message = {"op": "run", "job": job.name, "taskid": task.id, "runid": task.runid,
                   "stage": task.stage, "grouping": task.grouping,
                   "group": [task.group[0], task.group[1]],
                   "inputs": task_inputs(task),
                   "inputs_done": task.inputs_done,
                   "jobpack": "%s/disco/ctrl/parameters?name=%s" % (self.url, job.name)}
        if job.storage is not None and task.stage_no == len(job.pipeline) - 1:
            # the node has a plugin save the last stage's outputs (disco_save_outputs)
            message["save_info"] = saving.save_info_of(job.jobdict)
        if input_bytes(message["inputs"]) > INLINE_INPUTS:
            # too large for one WebSocket message: the node fetches them (TaskInputsHandler)
            del message["inputs"]
            message["inputs_ref"] = self.inputs_ref(task)
        if self._runs is not None and node.host in self.nodes.connections:
            self._runs.setdefault(node.host, []).append((task, message))  # sent as it ends
        elif not self.nodes.send(node.host, message):
            self.scheduler.task_ended(task)
            job.node_lost(task, node.host)

    # Actions the coordinators call ------------------------------------------------------
    def queue(self, task: Task) -> None:
        self.scheduler.queue(task)
        self.kick()

    def stop(self, task: Task) -> None:
        self.scheduler.task_ended(task)
        self.nodes.send(task.host, {"op": "kill", "job": task.job.name, "taskid": task.id,
                                    "runid": task.runid})
        self.kick()

    def inputs(self, task: Task, inputs: list, done: bool) -> None:
        """More inputs (or the end of them) for a running task of a concurrent stage: the
        last ``inputs`` of ``task.inputs``, by reference when too many for a message."""
        message = {"op": "inputs", "job": task.job.name, "taskid": task.id,
                   "runid": task.runid, "done": done,
                   "inputs": [[inp.label, inp.urls] for inp in inputs]}
        if input_bytes(message["inputs"]) > INLINE_INPUTS:
            del message["inputs"]
            end = len(task.inputs)
            message["inputs_ref"] = self.inputs_ref(task, end - len(inputs), end)
        self.nodes.send(task.host, message)

    def inputs_ref(self, task: Task, start: int = 0, end: int | None = None) -> str:
        """Where the node running ``task`` fetches its inputs (``start:end`` of them)."""
        ref = "%s/disco/node/inputs?job=%s&taskid=%d&runid=%d" % (
            self.url, urllib.parse.quote(task.job.name), task.id, task.runid)
        return ref if end is None else ref + "&start=%d&end=%d" % (start, end)

    def retry_later(self, task: Task, delay: float) -> None:
        asyncio.get_event_loop().call_later(delay, task.job.requeue, task)

    def finished(self, job: Job) -> None:
        if (job.status == "ready" and job.storage is not None
                and self.plugins.hook.disco_save_results.get_hookimpls()):
            job.status = "active"  # until its results are saved, no client sees them
            asyncio.ensure_future(self._save_results(job))
            return
        self._finished(job)

    async def _save_results(self, job: Job) -> None:
        """The job is ready once its storage plugin recorded its results, or fails."""
        failure = await saving.save_results(self.plugins, job)
        if job.status != "active":  # killed meanwhile: already finished
            return
        if failure:
            job.kill("Job failed: %s" % failure)
            return
        job.status = "ready"
        self._finished(job)

    def _finished(self, job: Job) -> None:
        self.scheduler.remove_job(job)
        self._policy_told.pop(job.name, None)
        waiters, self.waiters = self.waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(job.name)
        self.plugins.call("disco_job_finished", on_error=self._plugin_failed_in(job),
                          jobname=job.name, status=job.status, results=job.results)
        self._retire(job)  # after the hooks, whose failures the job's events still tell
        self.kick()

    def _retire(self, job: Job) -> None:
        """Release a finished job's event file and record the job on disk, in a thread (a
        job of 50,000 tasks takes a second or more); once it is recorded, the oldest
        finished jobs past ``keep_finished`` leave memory. A finished job no longer
        changes, so the thread may read it."""
        job.events.close()
        writing = asyncio.get_running_loop().run_in_executor(None, jobrecord.write, job,
                                                             self.job_dir(job.name))
        self.recording[job.name] = writing
        writing.add_done_callback(functools.partial(self._recorded, job))

    def _recorded(self, job: Job, writing: asyncio.Future) -> None:
        if self.recording.get(job.name) is writing:
            del self.recording[job.name]
        exc = None if writing.cancelled() else writing.exception()
        if exc is not None:
            log.error("cannot write the record of job %s (it stays in memory): %s",
                      job.name, exc)
        if exc is not None or writing.cancelled() or self.jobs.get(job.name) is not job:
            return  # not recorded, the master is stopping, or the job was cleaned meanwhile
        self.finished_jobs[job.name] = None
        while len(self.finished_jobs) > self.keep_finished:
            name = next(iter(self.finished_jobs))
            del self.finished_jobs[name]
            old = self.jobs.pop(name, None)
            if old is not None:
                self.archived[name] = (old.started, old.status)

    def cluster_hosts(self) -> set[str]:
        return set(self.scheduler.nodes)

    # -- jobs ---------------------------------------------------------------------------
    def job_dir(self, name: str) -> str:
        return os.path.join(self.root, jp.hexhash(name), name)

    def _event_hook(self, name: str) -> Any:
        if not self.plugins.hook.disco_job_event.get_hookimpls():
            return None
        call = self.plugins.call
        on_error = self._plugin_failed_in(name)
        return lambda host, message, ts: call("disco_job_event", on_error=on_error,
                                              jobname=name, host=host, message=message,
                                              timestamp=ts)

    def _plugin_failed_in(self, job: Job | str) -> Any:
        """An ``on_error`` for a job's hooks: the job's events say which plugin failed,
        once per plugin and hook (an event hook failing on every event says it once)."""
        name = job if isinstance(job, str) else job.name
        told: set[tuple[str, str]] = set()

        def on_error(plugin: str, what: str, exc: BaseException) -> None:
            if (plugin, what) in told:
                return
            told.add((plugin, what))
            job = self.jobs.get(name)
            if job is not None:  # a finished job's events are still written
                job.events.add("master", "WARNING: plugin %s failed in %s: %s: %s (the job "
                               "goes on without it)" % (plugin, what, type(exc).__name__, exc),
                               notify=False)
        return on_error

    def get_job(self, name: str) -> Job | JobRecord:
        """The job, in memory, or a finished one's record read from disk."""
        job = self.jobs.get(name)
        if job is not None:
            return job
        if name in self.archived and jobrecord.exists(self.job_dir(name)):
            return JobRecord(self.job_dir(name))
        raise KeyError(name)

    def kill(self, name: str) -> None:
        self.get_job(name).kill()

    async def clean(self, name: str) -> None:
        """Forget a job: kill it if active, delete its master-side directory (in a thread:
        a job's directory can hold many files). Its data stays on the nodes until their GC
        deletes it (after ``DISCO_GC_AFTER``)."""
        job = self.jobs.get(name)
        if job is not None:
            job.kill()
            job.events.close()
            self.jobs.pop(name, None)
        writing = self.recording.get(name)
        if writing is not None:  # let it end before the directory goes
            await asyncio.wait([writing])
        self.finished_jobs.pop(name, None)
        self.archived.pop(name, None)
        await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(shutil.rmtree, self.job_dir(name), ignore_errors=True))

    async def purge(self, name: str) -> None:
        """:meth:`clean`, and delete the job's data on every node: now on the connected ones,
        on their next GC pass (at the latest when they reconnect) on the others."""
        await self.clean(name)
        self.purged[name] = time.time()
        self.nodes.broadcast({"op": "purge", "job": name})
        # kept on disk for the nodes' GC past a restart
        await purgedlist.keep(self._purges_saving, self.root, self.purged, PURGED_MEMORY)
        self.plugins.call("disco_job_purged", jobname=name)

    def gc_jobs(self) -> dict[str, list[str]]:
        """What a node's data GC must know: the active jobs (never touched) and the jobs
        purged in the last :data:`PURGED_MEMORY` seconds (deleted)."""
        cutoff = time.time() - PURGED_MEMORY
        for name in [n for n, when in self.purged.items() if when < cutoff]:
            del self.purged[name]
        return {"active": sorted(n for n, job in self.jobs.items() if job.status == "active"),
                "purged": sorted(self.purged)}

    async def wait_any(self, names: list[str], timeout: float) -> None:
        if not any(self.jobs.get(n) is not None and self.jobs[n].status == "active"
                   for n in names):
            return
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        try:
            while True:
                try:
                    done = await asyncio.wait_for(asyncio.shield(fut), timeout)
                except asyncio.TimeoutError:
                    return
                if done in names:
                    return
                fut = asyncio.get_running_loop().create_future()
                self.waiters.append(fut)
        finally:
            if fut in self.waiters:
                self.waiters.remove(fut)

    def results(self, name: str) -> list:
        try:
            job = self.get_job(name)
        except KeyError:
            return ["unknown job", []]
        return [job.status, job.results if job.status == "ready" else []]

    def joblist(self) -> list:
        """Every job the master knows, newest first."""
        jobs = [(started, status, name) for name, (started, status) in self.archived.items()]
        jobs.extend((job.started, job.status, job.name) for job in self.jobs.values())
        jobs.sort(key=lambda j: j[0], reverse=True)
        out = []
        for started, status, name in jobs:
            mega, secs = divmod(int(started), 1000000)
            out.append([mega * 1000000 + secs, status, name])
        return out

    # -- out-of-band values (:mod:`.oob`) -------------------------------------------------
    def oob_put(self, name: str, key: str, value: bytes | Upload) -> None:
        """Store an OOB value: bytes, or an upload the master takes (renamed into place);
        plugins may keep a copy (``disco_oob_stored``)."""
        self.oob.put(name, key, value)
        self.plugins.call("disco_oob_stored", on_error=self._plugin_failed_in(name),
                          jobname=name, key=key, path=self.oob.path(name, key))

    def oob_list(self, name: str) -> list[str]:
        return self.oob.keys(name)

    def oob_path(self, name: str, key: str) -> str:
        """The file of an OOB value (a :class:`KeyError` if there is none)."""
        return self.oob.path(name, key)


def task_inputs(task: Task) -> list[list]:
    """A task's inputs as the node takes them: ``[[label, [url, ...]], ...]``."""
    return [[inp.label, inp.urls] for inp in task.inputs]


def input_bytes(inputs: list[list]) -> int:
    """About how many bytes ``inputs`` take as JSON (without encoding them)."""
    return sum(8 + len(str(label)) + sum(len(u) + 4 for u in urls) for label, urls in inputs)


def main(argv: list[str] | None = None) -> None:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m disco_core.master",
                                     description="Run the Disco master in the foreground.")
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    settings = DiscoSettings()
    # DISCO_PROXY is a client's way in: the cluster's own processes (and tasks) reach each
    # other directly, whatever a shared settings file says
    os.environ["DISCO_PROXY"] = ""

    async def run() -> None:
        master = Master(settings)
        await master.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        master.shutdown()

    asyncio.run(run())
