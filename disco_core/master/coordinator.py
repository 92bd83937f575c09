"""The job coordinator: a job's stages, tasks, retries and results, as a state machine.

It holds no sockets. The master feeds it stimuli (:meth:`Job.start`,
:meth:`Job.task_done`, :meth:`Job.task_failed`, :meth:`Job.kill`) and it answers
through a small :class:`Actions` interface: queue a task, stop a running task, retry a
task after a delay, the job has finished. Tests drive it event by event.

Retry policy: a failed task is queued again after ``min(K * DISCO_RETRY_BASE,
DISCO_RETRY_MAX) + uniform(0, DISCO_RETRY_JITTER)`` seconds (K = its failure count),
avoiding the hosts where it failed while other hosts are available. Past
``max_failure_rate`` failures of one task the job dies and says which task, how often,
and the last error.
"""
from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from typing import AbstractSet, Any, Protocol

from ..util import format_duration
from .events import EventLog, timestamp
from . import recovery
from .pipeline import Output, TaskInput, group_outputs


#: How many failed attempts of a job's tasks blacklist a node for the job, by default.
NODE_FAILURES = 3


class Actions(Protocol):
    def queue(self, task: "Task") -> None: ...
    def stop(self, task: "Task") -> None: ...
    def retry_later(self, task: "Task", delay: float) -> None: ...
    def inputs(self, task: "Task", inputs: list[TaskInput], done: bool) -> None: ...
    def finished(self, job: "Job") -> None: ...
    def cluster_hosts(self) -> set[str]: ...


#: The hosts, URLs or ids of a task that has none: one shared empty set rather than five of
#: its own in each of 50,000 queued tasks (code that adds to one makes the task a new set).
NONE: frozenset = frozenset()


class TaskRare:
    """The fields of a :class:`Task` that few tasks set, held apart (read through the
    task's attributes of the same names, which give the defaults while none is set).

    ``lost``: attempts lost with their node (not counted as failures). Recomputing outputs
    the next stage could not read: ``old_outputs``, the outputs it had before;
    ``former_urls``, every URL it ever gave (``recovery``); ``awaiting``, for a task
    waiting for its inputs to be made again, the ids of the tasks making them; ``remade``,
    times its outputs were lost and made again. The job's ``force_local``: ``only_on``, the
    hosts of its inputs, the only ones it may run on (while one of them can take tasks);
    ``force_remote``: ``avoid``, those it may not run on (unless no other host can)."""

    __slots__ = ("lost", "old_outputs", "former_urls", "awaiting", "remade", "only_on",
                 "avoid")
    DEFAULTS: dict[str, Any] = {"lost": 0, "old_outputs": None, "former_urls": NONE,
                                "awaiting": NONE, "remade": 0, "only_on": NONE, "avoid": NONE}

    def __init__(self) -> None:
        for name, value in self.DEFAULTS.items():
            setattr(self, name, value)


def _rare_field(name: str) -> property:
    default = TaskRare.DEFAULTS[name]

    def get(task: "Task") -> Any:
        rare = task.rare
        return default if rare is None else getattr(rare, name)

    def set_(task: "Task", value: Any) -> None:
        rare = task.rare
        if rare is None:
            if value is default:
                return
            rare = task.rare = TaskRare()
        setattr(rare, name, value)
    return property(get, set_, doc="see :class:`TaskRare`")


@dataclass(eq=False, slots=True)
class Task:
    """One task of a job's stage: its inputs, and its attempts so far.

    Its :class:`Job` owns it and changes its state (``waiting`` -> ``queued`` -> ``running``
    -> ``done``, or ``dead`` with the job; back to ``waiting``/``queued`` to run again),
    ``runid`` (one more per attempt, so a stale node report is told from the current one),
    ``host``, ``hosts``, ``failures``, ``failed_hosts``, ``error`` and ``outputs``. The
    scheduler may only take a queued task off its queue (marking it ``assigned``) for the
    master to dispatch; handlers and nodes read it, and nodes' reports reach it only through
    the job's stimuli, after :func:`.messages.current_attempt` matched them to this attempt.
    """

    job: "Job"
    id: int
    stage: str
    grouping: str
    group: tuple[int, str]
    inputs: list[TaskInput]
    state: str = "waiting"        # waiting, queued, running, done, dead
    runid: int = 0
    host: str = ""
    failures: int = 0
    failed_hosts: AbstractSet[str] = NONE
    bound_host: str = ""
    preferred: list[str] | tuple = ()  # a list of its own when it has any
    started: float = 0.0
    outputs: list[Output] | tuple = ()  # a list of its own once it is done
    stage_no: int = 0
    inputs_done: bool = True      # False while a concurrent stage's inputs may still grow
    hosts: tuple[str, ...] = ()   # where it ran, in order
    attempt: list | None = None   # the running attempt's entry in ``Job.attempts``
    error: tuple[str, str, str] = ("", "", "")        # last failure: kind, host, message
    #: What few tasks have (see :class:`TaskRare`), None until one of it is set: seven
    #: fields fewer in each of 50,000 queued tasks.
    rare: "TaskRare | None" = None

    @property
    def key(self) -> str:
        return "%s:%d" % (self.stage, self.id)

    def input_urls(self) -> list[str]:
        return [u for inp in self.inputs for u in inp.urls[:1]]

    def describe_inputs(self, most: int = 3, width: int = 200) -> str:
        """``input: URL`` / ``inputs: A, B, C and N more``: what the task was reading."""
        urls = [u if len(u) <= width else u[:width] + "..." for u in self.input_urls()]
        if not urls:
            return "no inputs"
        text = ", ".join(urls[:most])
        if len(urls) > most:
            text += " and %d more" % (len(urls) - most)
        return "%s: %s" % ("input" if len(urls) == 1 else "inputs", text)

    def info(self) -> dict[str, Any]:
        """What ``taskinfo`` tells about the task: enough to run it again elsewhere."""
        kind, host, message = self.error
        return {"job": self.job.name, "task": self.key, "taskid": self.id,
                "stage": self.stage, "grouping": self.grouping,
                "group": [self.group[0], self.group[1]],
                "inputs": [[inp.label, list(inp.urls)] for inp in self.inputs],
                "inputs_done": self.inputs_done, "state": self.state, "runid": self.runid,
                "host": self.host, "hosts": list(self.hosts), "failures": self.failures,
                "error": {"kind": kind, "host": host, "message": message} if kind else None,
                "outputs": [o.to_json() for o in self.outputs]}


for _name in TaskRare.__slots__:
    setattr(Task, _name, _rare_field(_name))
del _name


@dataclass
class StageStats:
    name: str
    grouping: str
    tasks: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    started: float = 0.0
    finished: bool = False


class Job:
    """One job's pipeline run as a state machine: its stages (``stages``, ``stage_index``,
    ``opened``), its tasks (``tasks``, ``stage_tasks``, ``groups``), ``status`` (``active``,
    then ``ready`` or ``dead``), ``results`` and ``stage_results``, ``reason`` and
    ``failed_task``, its event log, and ``storage``, the plugin storage saving its results
    (set by the master when the job is submitted, :mod:`.saving`).

    Only its own stimuli change them (:meth:`start`, :meth:`task_started`,
    :meth:`task_done`, :meth:`task_failed`, :meth:`requeue`, :meth:`node_lost`,
    :meth:`attempt_abandoned`, :meth:`kill`), which the master calls on the IOLoop; the job
    answers through its :class:`Actions` (the master), never by reaching into the master or
    the scheduler. Everything else reads it.
    """

    def __init__(self, name: str, jobdict: dict, pipeline: list[tuple[str, str, bool]],
                 inputs: list[Output], events: EventLog, actions: Actions,
                 max_failures: int, retry: tuple[float, float, float] = (1.0, 60.0, 1.0)) -> None:
        self.name = name
        self.jobdict = jobdict
        self.pipeline = pipeline
        self.inputs = inputs  # until start(): its tasks hold them from then on
        #: The URLs of each input, for ``jobinfo`` (lists shared with the first stage's tasks)
        self.input_url_lists: list[list[str]] = [o.urls for o in inputs]
        self.events = events
        self.actions = actions
        self.max_failures = max_failures
        self.retry = retry
        self.owner = jobdict.get("owner", "")
        self.worker = jobdict.get("worker", "")
        scheduler = jobdict.get("scheduler", {})
        self.max_cores = int(scheduler.get("max_cores", 2 ** 31))
        # locality hints of the classic jobs: local wins when both are given
        self.force_local = bool(scheduler.get("force_local", False))
        self.force_remote = bool(scheduler.get("force_remote", False)) and not self.force_local
        #: A node that failed this many attempts of the job's tasks gets no more of them
        #: (``DISCO_JOB_NODE_FAILURES``, set by the master; 0: never), unless it is the
        #: last one left: ``host_failures`` counts them, ``blacklisted_hosts`` are those.
        self.node_failure_limit = NODE_FAILURES
        self.host_failures: dict[str, int] = {}
        self.blacklisted_hosts: set[str] = set()
        self.started = time.time()
        self.timestamp = timestamp(self.started)
        self.status = "active"
        self.results: list[list[str]] = []
        self.storage: str | None = None  # the plugin storage saving its results
        self.stage_results: dict[str, list[list[str]]] = {}
        self.stages = [StageStats(name, grouping) for name, grouping, _ in pipeline]
        self.stage_index = -1
        self.tasks: dict[int, Task] = {}
        self.stage_tasks: list[list[Task]] = [[] for _ in pipeline]
        self.groups: list[dict] = [{} for _ in pipeline]   # concurrent stages: key -> task
        self.opened = [False] * len(pipeline)                # started before its inputs were
        self.next_id = 0
        self.running = 0
        self.rng = random.Random()
        self.reason = ""
        self.failed_task: Task | None = None  # the task whose failure ended the job
        #: Every attempt, in the order they started: ``[task key, stage, host, runid,
        #: started, ended (None while running), outcome]`` with outcome ``running``,
        #: ``done``, ``failed`` (to be retried), ``fatal``, ``abandoned`` (not the task's
        #: doing: retried without counting) or ``killed`` (the job ended first).
        self.attempts: list[list] = []
        #: Counters of the attempts whose outputs were accepted (one per task), and the
        #: latest counts of the attempts running now (task id -> counts): only an accepted
        #: attempt's counts ever reach ``counters``.
        self.counters: dict[str, int | float] = {}
        self.live_counts: dict[int, dict[str, int | float]] = {}

    # -- stimuli ------------------------------------------------------------------------
    def start(self) -> None:
        self.events.add("master", "New job initialized!")
        # The Outputs go with this call (their URL lists stay, in the tasks' inputs and in
        # input_url_lists): 50,000 of them would otherwise outlive the tasks made of them.
        inputs, self.inputs = self.inputs, []
        self._start_stage(0, inputs)

    def task_started(self, task: Task, host: str) -> None:
        task.state = "running"
        task.host = host = sys.intern(host)  # one string per node, not one per attempt
        task.hosts = (*task.hosts, host)
        task.started = time.time()
        task.attempt = [task.key, task.stage, host, task.runid, task.started, None, "running"]
        self.attempts.append(task.attempt)
        self.running += 1
        self.stages[self._stage_no(task)].running += 1
        self.events.add("master", "%s assigned to %s" % (task.key, host))

    def task_done(self, task: Task, runid: int, host: str, outputs: list[Output],
                  counts: dict | None = None) -> None:
        if task.state != "running" or runid != task.runid or self.status != "active":
            return
        self._leave_running(task)
        if task.old_outputs is not None:
            self._end_attempt(task, "done")
            self.events.add(host, "SYS: [%s] Received results from %s" % (task.key, host))
            recovery.recomputed(self, task, outputs)
            return
        for name, n in (counts or {}).items():
            self.counters[name] = self.counters.get(name, 0) + n
        self._end_attempt(task, "done")
        task.state = "done"
        task.outputs = outputs
        index = self._stage_no(task)
        stats = self.stages[index]
        stats.done += 1
        self.events.add(host, "SYS: [%s] Received results from %s" % (task.key, host))
        if index + 1 < len(self.pipeline) and self.opened[index + 1]:
            self._feed(index + 1, outputs)
            if self.status != "active":
                return
        self._maybe_finish(index)

    def task_failed(self, task: Task, runid: int, host: str, kind: str, message: str,
                    lost: list[str] | tuple = ()) -> None:
        """An attempt failed. With ``lost`` (URLs of inputs no replica of which could be
        read) naming outputs of the previous stage, the tasks that made them run again and
        this one after them, without counting a failure (:mod:`.recovery`)."""
        if task.state != "running" or runid != task.runid or self.status != "active":
            return
        if kind == "error" and lost and recovery.recompute_inputs(self, task, host, lost):
            return
        self._leave_running(task)
        self._end_attempt(task, "fatal" if kind == "fatal" else "failed")
        task.state = "waiting"  # no longer running, so _die does not stop it a second time
        stats = self.stages[self._stage_no(task)]
        stats.failed += 1
        task.error = (kind, host, message)
        if kind == "fatal":
            self.events.add(host, "FATAL: [%s] %s" % (task.key, message))
            self.failed_task = task
            self._die("Task %s failed on %s (%s): %s" % (task.key, host, task.describe_inputs(),
                                                          message))
            return
        self.events.add(host, "WARNING: [%s] %s" % (task.key, message))
        task.failures += 1
        task.failed_hosts = task.failed_hosts | {host}
        self._count_host_failure(host)
        if task.failures > self.max_failures:
            self.failed_task = task
            inputs = task.describe_inputs()
            self._die("Task %s failed %d times. At most %d failures are allowed. %s%s. Last "
                      "error (on %s): %s" % (task.key, task.failures, self.max_failures,
                                             inputs[:1].upper(), inputs[1:], host, message))
            return
        base, cap, jitter = self.retry
        delay = min(task.failures * base, cap) + self.rng.uniform(0, jitter)
        self.events.add("master", 'Task %s failed on "%s", %s failures so far. Sleeping %.3f '
                        "seconds before retrying." % (task.key, host, _nth(task.failures), delay))
        task.bound_host = ""
        self.actions.retry_later(task, delay)

    def attempt_counted(self, task: Task, counts: dict) -> None:
        """The running attempt of ``task`` has counted ``counts`` so far (its totals)."""
        if task.state == "running" and self.status == "active":
            self.live_counts[task.id] = counts

    def counter_view(self) -> dict[str, dict]:
        """``{"counters": accepted attempts' totals, "running": running attempts' totals}``
        (the second only while the job runs: those counts may still be thrown away)."""
        running: dict[str, int | float] = {}
        for counts in self.live_counts.values():
            for name, n in counts.items():
                running[name] = running.get(name, 0) + n
        return {"counters": dict(self.counters), "running": running}

    def may_start(self, task: Task) -> bool:
        """A task of a concurrent stage waits for inputs while it runs, so such tasks may
        hold at most half as many slots as the unfinished stages feeding them (otherwise
        they could take every slot and starve their own producers)."""
        index = task.stage_no
        if not self.opened[index] or self.stages[index - 1].finished:
            return True
        feeding = sum(s.running for s in self.stages[:index] if not s.finished)
        return 2 * self.stages[index].running < feeding

    def requeue(self, task: Task) -> None:
        """Queue a task again (after its retry delay, or after its node went away)."""
        if self.status != "active" or task.state != "waiting":
            return
        task.runid += 1
        task.state = "queued"
        self.actions.queue(task)

    def node_lost(self, task: Task, host: str) -> None:
        """The node running ``task`` died or stopped answering: the attempt is retried
        elsewhere without counting as the task's failure, unless the task lost more than
        ``max_failures`` nodes (a task that kills its node is not retried for ever)."""
        if task.state != "running" or self.status != "active":
            return
        task.lost += 1
        why = "node %s went away while running the task" % host
        if task.lost > self.max_failures:
            self._leave_running(task)
            self._end_attempt(task, "failed")
            task.state = "waiting"
            task.error = ("error", host, why)
            self.failed_task = task
            self._die("Task %s lost %d nodes while it ran. At most %d are allowed. Last "
                      "error (on %s): %s" % (task.key, task.lost, self.max_failures, host, why))
            return
        task.failed_hosts = task.failed_hosts | {host}
        self.attempt_abandoned(task, host, why)

    def attempt_abandoned(self, task: Task, host: str, why: str) -> None:
        """The running attempt on ``host`` is over for a reason that is not the task's own
        doing (its node reconnected without it, or left the node table): queue the task
        again at once, on any node, without counting a failure."""
        if task.state != "running" or self.status != "active":
            return
        self._leave_running(task)
        self._end_attempt(task, "abandoned")
        task.state = "waiting"
        self.events.add("master", "WARNING: [%s] %s; retrying it" % (task.key, why))
        task.bound_host = ""
        self.actions.retry_later(task, 0.0)

    def kill(self, reason: str = "Job killed") -> None:
        if self.status != "active":
            return
        self.events.add("master", "WARN: %s" % reason)
        self._die(reason, announce=False)

    # -- internals ----------------------------------------------------------------------
    def _count_host_failure(self, host: str) -> None:
        failures = self.host_failures[host] = self.host_failures.get(host, 0) + 1
        limit = self.node_failure_limit
        others = self.actions.cluster_hosts() - self.blacklisted_hosts - {host}
        if limit and failures >= limit and host not in self.blacklisted_hosts and others:
            self.blacklisted_hosts.add(host)
            self.events.add("master", "WARNING: node %s failed %d task attempts of this job: "
                            "it is blacklisted for this job (gets no more of its tasks while "
                            "other nodes can take them)" % (host, failures))

    def _stage_no(self, task: Task) -> int:
        return task.stage_no

    def _leave_running(self, task: Task) -> None:
        self.running -= 1
        self.stages[task.stage_no].running -= 1

    def _end_attempt(self, task: Task, outcome: str) -> None:
        self.live_counts.pop(task.id, None)
        if task.attempt is not None:
            task.attempt[5] = time.time()
            task.attempt[6] = outcome
            task.attempt = None

    def _new_task(self, index: int, key: tuple[int, str], inputs: list[TaskInput],
                  cluster: set[str], inputs_done: bool = True) -> Task:
        name, grouping, _concurrent = self.pipeline[index]
        # ``inputs`` is the task's own (made for it by group_outputs): not copied
        task = Task(self, self.next_id, name, grouping, key, inputs, stage_no=index,
                    inputs_done=inputs_done)
        self.next_id += 1
        host = key[1]
        if host and host in cluster:
            task.bound_host = host
        # the tasks of raw inputs have none: one shared empty tuple, no list of their own
        task.preferred = sorted({h for inp in inputs for h in inp.hosts() if h in cluster}) \
            or ()
        if self.force_local:
            task.only_on = set(task.preferred) | ({task.bound_host} - {""})
        elif self.force_remote:
            task.avoid = set(task.preferred) | ({task.bound_host} - {""})
            task.bound_host, task.preferred = "", ()
        self.tasks[task.id] = task
        self.stage_tasks[index].append(task)
        return task

    def _open_stage(self, index: int) -> None:
        """Start a concurrent stage before its inputs exist: tasks appear as outputs do."""
        self.opened[index] = True
        self.stages[index].started = time.time()
        self.events.add("master", "Stage %s started concurrently with stage %s"
                        % (self.pipeline[index][0], self.pipeline[index - 1][0]))

    def _feed(self, index: int, outputs: list[Output]) -> None:
        """New outputs of stage ``index - 1`` for the concurrent stage ``index``."""
        _name, grouping, _concurrent = self.pipeline[index]
        cluster = self.actions.cluster_hosts()
        groups = self.groups[index]
        for key, inputs in group_outputs(grouping, outputs, self.rng):
            task = groups.get(key) if grouping != "split" else None
            if task is not None:
                task.inputs.extend(inputs)
                if task.state == "running":
                    self.actions.inputs(task, inputs, False)
                continue
            task = self._new_task(index, key, inputs, cluster,
                                  inputs_done=grouping == "split")
            groups[key] = task
            self.stages[index].tasks += 1
            task.state = "queued"
            self.actions.queue(task)

    def _close_inputs(self, index: int) -> None:
        """Stage ``index - 1`` finished: the concurrent stage ``index`` has all its inputs."""
        for task in self.stage_tasks[index]:
            if not task.inputs_done:
                task.inputs_done = True
                if task.state == "running":
                    self.actions.inputs(task, [], True)
        self.events.add("master", "Stage %s has all its inputs: %d tasks"
                        % (self.pipeline[index][0], len(self.stage_tasks[index])))
        self._maybe_finish(index)

    def _maybe_finish(self, index: int) -> None:
        stats = self.stages[index]
        if stats.finished or stats.done < len(self.stage_tasks[index]):
            return
        if index > 0 and not self.stages[index - 1].finished:
            return  # a concurrent stage ends only after the stage that feeds it
        if self.opened[index] and any(not t.inputs_done for t in self.stage_tasks[index]):
            return
        self._finish_stage(index)

    def _start_stage(self, index: int, inputs: list[Output]) -> None:
        if index >= len(self.pipeline):
            self._ready(inputs)
            return
        self.stage_index = max(self.stage_index, index)
        name, grouping, _concurrent = self.pipeline[index]
        stats = self.stages[index]
        stats.started = time.time()
        cluster = self.actions.cluster_hosts()
        tasks = [self._new_task(index, key, task_inputs, cluster)
                 for key, task_inputs in group_outputs(grouping, inputs, self.rng)]
        stats.tasks = len(tasks)
        self.events.add("master", "Stage %s scheduled with %d tasks" % (name, len(tasks)))
        if index + 1 < len(self.pipeline) and self.pipeline[index + 1][2]:
            self._open_stage(index + 1)
        if not tasks:
            self._finish_stage(index)
            return
        for task in tasks:
            task.state = "queued"
            self.actions.queue(task)

    def _finish_stage(self, index: int) -> None:
        stats = self.stages[index]
        stats.finished = True
        outputs = [o for t in self.stage_tasks[index] for o in t.outputs]
        self.stage_results[stats.name] = [o.result_urls() for o in outputs]
        self.events.add("master", "Stage %s finished in %s"
                        % (stats.name, format_duration(time.time() - stats.started)))
        following = index + 1
        if following < len(self.pipeline) and self.opened[following]:
            self.stage_index = max(self.stage_index, following)
            self._close_inputs(following)
        else:
            self._start_stage(following, outputs)

    def _ready(self, outputs: list[Output]) -> None:
        self.results = [o.result_urls() for o in outputs]
        self.status = "ready"
        self.events.add("master", "READY: Job done in %s"
                        % format_duration(time.time() - self.started))
        self.events.flush()
        self.actions.finished(self)

    def _die(self, reason: str, announce: bool = True) -> None:
        self.reason = reason
        self.status = "dead"
        if announce:
            self.events.add("master", "ERROR: %s" % reason)
        for task in self.tasks.values():
            if task.state == "running":
                self.actions.stop(task)
                self._leave_running(task)
                self._end_attempt(task, "killed")
            if task.state not in ("done",):
                task.state = "dead"
        self.events.flush()
        self.actions.finished(self)

    # -- views --------------------------------------------------------------------------
    def find_task(self, key: str = "") -> Task:
        """The task named ``key`` (see :func:`find_task`)."""
        return find_task(self.name, self.tasks, self.failed_task, key)

    def info(self) -> dict[str, Any]:
        pipeline = []
        for i, s in enumerate(self.stages):
            tasks = self.stage_tasks[i]
            pending = sum(1 for t in tasks if t.state == "queued")
            waiting = sum(1 for t in tasks if t.state == "waiting")
            pipeline.append([s.name, pending, waiting, s.running, s.done, s.failed])
        return {"timestamp": self.timestamp, "active": self.status,
                "pipeline": pipeline,
                "results": [u for urls in self.results for u in urls],
                "inputs": [u for urls in self.input_url_lists for u in urls],
                "worker": self.worker, "owner": self.owner,
                "hosts": [t.host for t in self.tasks.values() if t.state == "running"],
                # the nodes that failed too many of its tasks, and each node's failures
                "blacklisted": sorted(self.blacklisted_hosts),
                "node_failures": dict(sorted(self.host_failures.items())),
                "reason": self.reason}


def find_task(jobname: str, tasks: dict[int, Any], failed_task: Any, key: str = "") -> Any:
    """The task named ``key`` (``stage:id``) of ``tasks`` (by id; anything with ``id``,
    ``key``, ``stage`` and ``error`` attributes), or with no key the first failed one: the one
    whose failure ended the job, else the first that failed at all. KeyError says what is
    there instead."""
    if not key:
        failed = [t for t in tasks.values() if t.error[0]]
        task = failed_task or (min(failed, key=lambda t: t.id) if failed else None)
        if task is None:
            raise KeyError("no task of job %s has failed: name one (%s)"
                           % (jobname, _task_names(tasks)))
        return task
    stage, _, number = key.rpartition(":")
    task = tasks.get(int(number)) if number.isdigit() else None
    if task is None or task.stage != stage:
        raise KeyError("job %s has no task %r: tasks are named stage:id (%s)"
                       % (jobname, key, _task_names(tasks)))
    return task


def _task_names(tasks: dict[int, Any], most: int = 5) -> str:
    keys = [t.key for t in sorted(tasks.values(), key=lambda t: t.id)]
    if not keys:
        return "it has no tasks yet"
    text = ", ".join(keys[:most])
    return text + (" and %d more" % (len(keys) - most) if len(keys) > most else "")


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return "%d%s" % (n, suffix)
