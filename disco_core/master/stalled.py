"""Jobs that wait for a node none of which can run a task are told why in their events.

With no node in the node table, or every node down or blacklisted, a job's queued tasks
wait until a node comes back. Rather than wait with no word, each such job gets an event
naming why and what to do at once, and again every :data:`REPEAT` seconds while it waits
(``job.wait(show=True)``, ``disco wait`` and the web UI show it).
"""
from __future__ import annotations

import time
from typing import Any

#: Seconds between two reminders to one job.
REPEAT = 30.0
#: Seconds nodes may all be down before jobs are told (a node restarting, or the nodes of a
#: master just started or of a table just saved, connecting), so that a blink is no news.
GRACE = 5.0


def why_no_node(nodes: dict[str, Any]) -> str | None:
    """Why no node of the scheduler's ``nodes`` can take a task, or None when one can (the
    reasons about nodes being down start with ``every node is down``)."""
    if not nodes:
        return ("no node in the node table: add nodes (disco config set, or the web UI's "
                "configuration page) and the job goes on")
    if any(node.available for node in nodes.values()):
        return None
    if all(node.blacklisted for node in nodes.values()):
        return ("every node is blacklisted: take one off the blacklist (disco whitelist "
                "HOST) and the job goes on")
    if not any(node.blacklisted for node in nodes.values()):
        return ("every node is down (disco nodeinfo says why): the job goes on when one "
                "connects again")
    return ("every node is down or blacklisted (disco nodeinfo says which): the job goes on "
            "when one is back and not blacklisted")


class StalledJobs:
    """Tells each waiting job of the scheduler ``scheduler`` why nothing runs: call
    :meth:`check` after each scheduling round that started no task (:meth:`progressed`
    after the others) and every few seconds."""

    def __init__(self, scheduler: Any, repeat: float = REPEAT, grace: float = GRACE) -> None:
        self.scheduler = scheduler
        self.repeat = repeat
        self.grace = grace
        self.told: dict[str, float] = {}  # job name -> when it was last told
        self.since: float | None = None   # when no node could take a task, this time

    def progressed(self) -> None:
        """A round started tasks: some node can take them (what :meth:`check` finds first,
        at less cost than asking every job after every round)."""
        self.since = None

    def check(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        reason = why_no_node(self.scheduler.nodes)
        if reason is None:
            self.since = None
            self._check_needs(now)
            return
        if self.since is None:
            self.since = now
        if reason.startswith("every node is down") and now - self.since < self.grace:
            return
        queues = self.scheduler.queues
        waiting = {name: job for name, job in self.scheduler.jobs.items()
                   if job.status == "active" and len(queues.get(name, ())) > 0}
        for name in list(self.told):
            if name not in waiting:
                del self.told[name]
        for name, job in waiting.items():
            last = self.told.get(name)
            if last is None or now - last >= self.repeat:
                self.told[name] = now
                job.events.add("master", "WARNING: no task of this job can start: %s"
                               % reason)

    def _check_needs(self, now: float) -> None:
        """Nodes take tasks: tell each waiting job that none of them has what it needs
        (:mod:`.plugincheck`), once a job has waited :attr:`grace` (nodes connecting)."""
        check = getattr(self.scheduler, "plugin_check", None)
        if check is None:
            return
        nodes = list(self.scheduler.nodes.values())
        told = {}
        for name, job in self.scheduler.jobs.items():
            if job.status != "active" or not len(self.scheduler.queues.get(name, ())):
                continue
            if time.time() - job.started < self.grace:
                continue
            reason = check.why_none_fits(job, nodes)
            if reason is None:
                continue
            last = self.told.get(name)
            told[name] = last if last is not None else now
            if last is None or now - last >= self.repeat:
                told[name] = now
                job.events.add("master", "WARNING: no task of this job can start: %s"
                               % reason)
        self.told = told
