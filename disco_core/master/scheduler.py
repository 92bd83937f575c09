"""Matching free worker slots with queued tasks.

Two plugin policies decide (group ``disco.schedulers``, chosen by settings):

* the **job policy** (``DISCO_SCHEDULER``, e.g. ``fair`` or ``fifo``) orders the jobs that
  have work, for a node with a free slot: ``order(jobs, host) -> [job, ...]``;
* the **placement** (``DISCO_PLACEMENT``, e.g. ``locality``) picks one of that job's
  queued tasks for the node: ``pick(queue, host, cluster) -> task or None``.

The core owns the bookkeeping both use: per-node slots (:class:`NodeSlots`) and per-job
queues indexed by host (:class:`TaskQueue`), so a pick costs O(1) however many tasks wait.

A policy is plugin code: when ``order`` or ``pick`` raises, that round goes on with the
default (jobs in the order they were submitted; this node's own tasks first, then any) and
the scheduler's ``on_error`` is told, instead of the exception stopping all scheduling.
"""
from __future__ import annotations

from collections import deque
import logging
from typing import Any, Callable, Iterable

from .coordinator import Job, Task
from .plugincheck import PluginCheck

log = logging.getLogger("disco.master.scheduler")

#: ``on_error(role, exc, jobs)``: the policy in ``role`` (``"policy"`` or ``"placement"``)
#: raised while scheduling ``jobs``.
PolicyError = Callable[[str, BaseException, list], None]


def default_order(jobs: list[Job], host: str) -> list[Job]:
    """The order when the job policy fails: the jobs as they were submitted."""
    return list(jobs)


def default_pick(queue: TaskQueue, host: str, cluster: Any,
                 ok: Callable[[Task], bool]) -> Task | None:
    """The pick when the placement fails: a task for this node, else any task."""
    return queue.pop_host(host, ok) or queue.pop_any(ok)


def placement_allows(task: Task, host: str, available: set[str]) -> bool:
    """The job's ``force_local`` / ``force_remote`` (:attr:`Task.only_on`,
    :attr:`Task.avoid`) and its own blacklist (nodes that failed too many of its tasks)
    allow ``task`` on ``host``, given the hosts that take tasks now: a task stays with its
    data while one of its hosts is there, and away from it or from a node blacklisted for
    its job while another host is."""
    if task.only_on and host not in task.only_on and available & task.only_on:
        return False
    shunned = task.job.blacklisted_hosts  # failed too many of the job's tasks
    if host in shunned and not available <= shunned:
        return False
    if task.avoid and host in task.avoid and not available <= task.avoid:
        return False
    return True


class TaskQueue:
    """A job's queued tasks: by preferred host, and all of them in order."""

    def __init__(self) -> None:
        self.by_host: dict[str, deque[Task]] = {}
        self.all: deque[Task] = deque()
        self.count = 0

    def push(self, task: Task) -> None:
        self.count += 1
        hosts = [task.bound_host] if task.bound_host else task.preferred
        for host in hosts:
            self.by_host.setdefault(host, deque()).append(task)
        if not task.bound_host:
            self.all.append(task)

    def __len__(self) -> int:
        return self.count

    def _take(self, dq: deque[Task], ok: Callable[[Task], bool]) -> Task | None:
        skipped = []
        found = None
        while dq:
            task = dq.popleft()
            if task.state != "queued":
                continue  # taken through another index, or no longer wanted
            if ok(task):
                found = task
                break
            skipped.append(task)
        dq.extendleft(reversed(skipped))
        if found is not None:
            self.count -= 1
            found.state = "assigned"
        return found

    def pop_host(self, host: str, ok: Callable[[Task], bool]) -> Task | None:
        dq = self.by_host.get(host)
        return self._take(dq, ok) if dq else None

    def pop_any(self, ok: Callable[[Task], bool]) -> Task | None:
        return self._take(self.all, ok) if self.all else None

    def pop_bound_elsewhere(self, host: str, may_steal: Callable[[str], bool],
                            ok: Callable[[Task], bool]) -> Task | None:
        for other, dq in self.by_host.items():
            if other != host and dq and may_steal(other):
                task = self._take(dq, lambda t: t.bound_host == other and ok(t))
                if task is not None:
                    return task
        return None

    def discard_all(self) -> None:
        self.by_host.clear()
        self.all.clear()
        self.count = 0


class NodeSlots:
    """A node as the scheduler sees it."""

    def __init__(self, host: str, max_workers: int) -> None:
        self.host = host
        self.max_workers = max_workers
        self.running: set[Task] = set()
        self.connected = False
        self.blacklisted = False
        #: what the node's hello said it has installed (:mod:`.plugincheck`); None: unsaid
        self.plugins: dict[str, Any] | None = None
        self.stats = {"job_ok": 0, "data_error": 0, "error": 0}

    @property
    def free(self) -> int:
        if not self.connected or self.blacklisted:
            return 0
        return max(0, self.max_workers - len(self.running))

    @property
    def available(self) -> bool:
        return self.connected and not self.blacklisted


class Cluster:
    """What a placement policy may ask about the cluster."""

    def __init__(self, nodes: dict[str, NodeSlots]) -> None:
        self.nodes = nodes

    def available(self, host: str) -> bool:
        node = self.nodes.get(host)
        return node is not None and node.available

    def free(self, host: str) -> int:
        node = self.nodes.get(host)
        return node.free if node is not None else 0

    def available_hosts(self) -> set[str]:
        return {h for h, n in self.nodes.items() if n.available}


class Scheduler:
    """Matches free worker slots with queued tasks (see the module's docstring).

    It owns ``nodes`` (each node's :class:`NodeSlots`: its slots, running tasks, whether it
    is connected or blacklisted, its counts), ``queues`` (a :class:`TaskQueue` per job) and
    ``jobs`` (the jobs with queues). The master adds and removes jobs, queues tasks and says
    when a task ended (:meth:`add_job`, :meth:`remove_job`, :meth:`queue`,
    :meth:`task_ended`) and runs :meth:`schedule`; the master's
    :class:`~.nodes.NodeManager` adds, removes and updates ``nodes`` as the node table and
    the connections change. Its policies only order and pick: they get what to choose from
    and change nothing (a pick takes the task off the queue it was given).
    """

    def __init__(self, policy: Any, placement: Any,
                 dispatch: Callable[[Task, NodeSlots], None],
                 on_error: PolicyError | None = None) -> None:
        self.policy = policy
        self.placement = placement
        self.dispatch = dispatch
        self.on_error = on_error
        self.nodes: dict[str, NodeSlots] = {}
        self.queues: dict[str, TaskQueue] = {}
        self.jobs: dict[str, Job] = {}
        self.cluster = Cluster(self.nodes)
        #: keeps a job's tasks off the nodes that lack a plugin it needs
        self.plugin_check = PluginCheck()

    def add_job(self, job: Job) -> None:
        self.jobs[job.name] = job
        self.queues[job.name] = TaskQueue()

    def remove_job(self, job: Job) -> None:
        self.jobs.pop(job.name, None)
        self.plugin_check.forget(job)
        queue = self.queues.pop(job.name, None)
        if queue is not None:
            queue.discard_all()

    def queue(self, task: Task) -> None:
        queue = self.queues.get(task.job.name)
        if queue is not None:
            queue.push(task)

    def task_ended(self, task: Task) -> None:
        node = self.nodes.get(task.host)
        if node is not None:
            node.running.discard(task)

    def _ok_for(self, host: str) -> Callable[[Task], bool]:
        available = None

        def ok(task: Task) -> bool:
            nonlocal available
            if not task.job.may_start(task):
                return False
            if available is None and (task.only_on or task.avoid or task.failed_hosts
                                      or task.job.blacklisted_hosts):
                available = self.cluster.available_hosts()
            if not placement_allows(task, host, available or set()):
                return False
            if host not in task.failed_hosts:
                return True
            return available <= task.failed_hosts  # failed everywhere: start over
        return ok

    def candidates(self) -> list[Job]:
        return [job for name, job in self.jobs.items()
                if job.status == "active" and len(self.queues[name]) > 0
                and job.running < job.max_cores]

    def schedule(self) -> int:
        """Fill free slots; returns how many tasks were dispatched."""
        dispatched = 0
        progress = True
        while progress:
            progress = False
            for node in list(self.nodes.values()):
                if node.free <= 0:
                    continue
                jobs = self.candidates()
                if not jobs:
                    return dispatched
                for job in self._order(jobs, node.host):
                    if not self.plugin_check.allows(job, node):
                        continue
                    task = self._pick(job, node.host)
                    if task is not None:
                        node.running.add(task)
                        self.dispatch(task, node)
                        dispatched += 1
                        progress = True
                        break
        return dispatched

    def _order(self, jobs: list[Job], host: str) -> list[Job]:
        try:
            order = list(self.policy.order(jobs, host))
        except Exception as exc:
            self._failed("policy", exc, jobs)
            return default_order(jobs, host)
        # a policy may not invent jobs: only candidates are scheduled
        return [job for job in order if job.name in self.queues]

    def _pick(self, job: Job, host: str) -> Task | None:
        queue, ok = self.queues[job.name], self._ok_for(host)
        try:
            return self.placement.pick(queue, host, self.cluster, ok)
        except Exception as exc:
            self._failed("placement", exc, [job])
            return default_pick(queue, host, self.cluster, ok)

    def _failed(self, role: str, exc: BaseException, jobs: list[Job]) -> None:
        if self.on_error is None:
            log.error("the scheduler's %s failed; default order this round", role,
                      exc_info=exc)
            return
        self.on_error(role, exc, jobs)

    def running_tasks(self, host: str) -> Iterable[Task]:
        node = self.nodes.get(host)
        return list(node.running) if node is not None else []
