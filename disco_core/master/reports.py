"""What the master does with what its nodes report: task results, events and counters,
a node that (re)connects with the tasks it still runs, a node lost or removed.

:class:`NodeReports` is part of :class:`~.app.Master`; the node manager (:mod:`.nodes`) calls
these methods on the IOLoop, with each message already checked by :func:`.messages.parse`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from .messages import current_attempt

if TYPE_CHECKING:
    from .coordinator import Job
    from .nodes import NodeManager
    from .scheduler import Scheduler

log = logging.getLogger("disco.master")


class NodeReports:
    """The node-facing half of the master (see :class:`~.app.Master` for its state)."""

    jobs: dict[str, Job]
    nodes: NodeManager
    scheduler: Scheduler

    kick: Callable[[], None]                    # run the scheduler soon
    gc_jobs: Callable[[], dict[str, Any]]       # what a node's data GC must know

    def on_node_message(self, host: str, msg: dict) -> None:
        """A node's message, already checked by :func:`.messages.parse` (see there)."""
        op = msg["op"]
        node = self.scheduler.nodes.get(host)
        if node is None:
            return  # no longer in the node table: what it says changes nothing
        if op == "gc_query":
            self.nodes.send(host, {"op": "gc_jobs", **self.gc_jobs()})
        elif op == "events":
            for jobname, ev_host, text in msg["events"]:
                job = self.jobs.get(jobname)
                if job is not None:
                    job.events.add(ev_host, text)
        elif op == "error":
            log.warning("node %s could not handle a message: %s", host, msg["message"])
            self.nodes.problems[host] = msg["message"]
        elif op == "counters":
            task = current_attempt(self.jobs, host, msg["job"], msg["taskid"], msg["runid"])
            if task is not None:
                task.job.attempt_counted(task, msg["counts"])
        elif op in ("done", "failed"):
            task = current_attempt(self.jobs, host, msg["job"], msg["taskid"], msg["runid"])
            if task is None:
                log.info("ignored a stale %s report from %s about %s:%s run %s", op, host,
                         msg["job"], msg["taskid"], msg["runid"])
                return
            self.scheduler.task_ended(task)
            if op == "done":
                node.stats["job_ok"] += 1
                task.job.task_done(task, msg["runid"], host, msg["outputs"], msg["counters"])
            else:
                node.stats["error" if msg["kind"] == "fatal" else "data_error"] += 1
                task.job.task_failed(task, msg["runid"], host, msg["kind"], msg["message"],
                                     msg["lost"])
            self.kick()

    def node_hello(self, host: str, running: list[tuple[str, int, int]]) -> None:
        """A node (re)connected and runs ``running`` (``(job, taskid, runid)``): every other
        attempt the master has on it is over (retried, not counted against the task), and
        every attempt it runs that the master no longer wants is killed."""
        reported = set(running)
        for task in self.scheduler.running_tasks(host):
            if (task.job.name, task.id, task.runid) not in reported:
                self.scheduler.task_ended(task)
                task.job.attempt_abandoned(task, host, "node %s reconnected without the task"
                                           % host)
        for job, taskid, runid in reported:
            if current_attempt(self.jobs, host, job, taskid, runid) is None:
                self.nodes.send(host, {"op": "kill", "job": job, "taskid": taskid,
                                       "runid": runid})
        self.kick()

    def node_gone(self, host: str, why: str) -> None:
        for task in self.scheduler.running_tasks(host):
            self.scheduler.task_ended(task)
            task.job.node_lost(task, host)
        self.kick()

    def node_removed(self, host: str) -> None:
        """``host`` left the node table: its tasks are stopped there and run elsewhere."""
        for task in self.scheduler.running_tasks(host):
            self.scheduler.task_ended(task)
            self.nodes.send(host, {"op": "kill", "job": task.job.name, "taskid": task.id,
                                   "runid": task.runid})
            task.job.attempt_abandoned(task, host, "node %s was removed from the node table"
                                       % host)
        self.kick()
