"""What a master that starts finds of its predecessor's jobs on disk, and takes up again.

Every job has a directory under ``DISCO_MASTER_ROOT`` (``<hh>/<name>/``). At start:

* a job with a record (:mod:`.jobrecord`) finished: it joins the job list as the jobs that
  left memory do (``Master.archived``: its start time and status, read from the record's
  small summary), so ``jobs``, ``jobinfo``, ``results``, ``wait`` and ``events`` answer as
  they did before the restart;
* a job with a journal (:mod:`.journal`) and no record was running: it is made again from
  its pack and the journal replayed into it (:func:`replay`), and then resumed
  (:func:`resume`). Its accepted tasks stay done; the attempts the journal has as running
  stay running on their nodes, awaiting the nodes' reconnection: a node's report of an
  attempt that ended while the master was down is accepted then (the node holds its
  outputs), and its ``hello`` ends the attempts it no longer runs, to be run again; the
  other tasks are queued again. A job whose journal ends with its end (the master died
  before recording it) finishes at once, and is recorded.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from .. import jobpack as jp
from .coordinator import Task
from .events import EventLog, timestamp
from .journal import JOURNAL, JournaledJob, ended_at, read
from .jobrecord import RECORD, SUMMARY
from .pipeline import Output

log = logging.getLogger("disco.master.restore")
#: How far past its newest journaled attempt a task's run id moves when it is queued again
#: after a restart: past an attempt sent just before the master died and not journaled yet,
#: whose node may report it (a report of another run id is not taken for the new attempt's).
RUNID_GAP = 2


class Silent:
    """The events of a job being replayed: they are in its event file already."""

    def add(self, host: str, message: str, notify: bool = True) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class Replaying:
    """The actions of a job being replayed: what they did was done before the restart
    (the queueing that is still to do, :func:`resume` does)."""

    def __init__(self, hosts: set[str]) -> None:
        self.hosts = hosts

    def queue(self, task: Task) -> None:
        pass

    def stop(self, task: Task) -> None:
        pass

    def retry_later(self, task: Task, delay: float) -> None:
        pass

    def inputs(self, task: Task, inputs: list, done: bool) -> None:
        pass

    def finished(self, job: Any) -> None:
        pass

    def cluster_hosts(self) -> set[str]:
        return self.hosts


def job_dirs(root: str) -> list[tuple[str, str]]:
    """``(name, path)`` of the job directories under the master's root."""
    found = []
    try:
        fanouts = os.listdir(root)
    except FileNotFoundError:
        return found
    for hh in fanouts:
        top = os.path.join(root, hh)
        if len(hh) != 2 or not os.path.isdir(top):
            continue
        for name in os.listdir(top):
            path = os.path.join(top, name)
            if jp.hexhash(name) == hh and os.path.isdir(path):
                found.append((name, path))
    return found


def scan(root: str) -> tuple[list[tuple[float, str, str]], list[tuple[str, str]]]:
    """The finished jobs on disk (``(started, status, name)``, oldest first) and the
    unfinished ones (``(name, path)``); blocks (call it in a thread)."""
    finished, unfinished = [], []
    for name, path in job_dirs(root):
        if os.path.isfile(os.path.join(path, RECORD)):
            summary = _summary(path)
            if summary is not None:
                finished.append((summary["started"], summary["status"], name))
        elif os.path.isfile(os.path.join(path, JOURNAL)):
            unfinished.append((name, path))
    finished.sort()
    return finished, unfinished


def _summary(path: str) -> dict | None:
    for fname in (SUMMARY, RECORD):  # a record written before summaries were has none
        try:
            with open(os.path.join(path, fname), encoding="utf-8") as f:
                value = json.load(f)
            return {"started": float(value["started"]), "status": str(value["status"])}
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("job record %s cannot be read (the job is left out of the list): %s",
                      path, exc)
            return None
    return None


def replay(name: str, jobdir: str, master: Any) -> JournaledJob | None:
    """The job in ``jobdir`` as its journal left it, or None if there is nothing to
    resume (no pack, or a journal without its first entry); blocks (call it in a thread)."""
    entries = read(os.path.join(jobdir, JOURNAL))
    if not entries or entries[0][0] != "job" or not os.path.isfile(os.path.join(jobdir,
                                                                               "jobfile")):
        return None  # a job given up before it started, or cleaned while it was journaled
    _kind, started, inputs = entries[0]
    with open(os.path.join(jobdir, "jobfile"), "rb") as f:
        pack = jp.check_file(f)
    job = JournaledJob(name, pack.jobdict, jp.pipeline_of(pack),
                       [Output.from_json(o) for o in inputs], Silent(),
                       Replaying(master.cluster_hosts()), master.max_failure_rate,
                       master.retry)
    job.started, job.timestamp = started, timestamp(started)
    job.node_failure_limit = int(master.settings["DISCO_JOB_NODE_FAILURES"])
    play(job, entries[1:])
    return job


def play(job: JournaledJob, entries: list[list]) -> None:
    """Start ``job`` (made with :class:`Replaying` actions, from the journal's first entry)
    and replay the journal's other ``entries`` into it."""
    job.start()
    for entry in entries:
        if job.status != "active":
            break
        _apply(job, entry)


def _apply(job: JournaledJob, entry: list) -> None:
    kind = entry[0]
    if kind == "kill":
        job.kill(entry[1])
        return
    task = job.tasks.get(entry[1])
    if task is None:
        log.warning("job %s: journal entry %r names no task; left out", job.name, entry[:3])
        return
    if kind == "run":
        _taskid, runid, host, started = entry[1:5]
        if task.state == "running":  # that attempt was abandoned (not journaled)
            job.attempt_abandoned(task, task.host, "")
        if task.state in ("queued", "waiting"):
            task.runid = runid
            job.task_started(task, host)
            task.started = started
            if task.attempt is not None:
                task.attempt[4] = started
    elif kind in ("done", "failed"):
        runid, host = entry[2], entry[3]
        attempt = task.attempt
        if kind == "done":
            outputs = [Output.from_json(o) for o in entry[4]]
            job.task_done(task, runid, host, outputs, entry[5])
        else:
            lost = entry[6] if len(entry) > 7 else ()
            job.task_failed(task, runid, host, entry[4], entry[5], lost)
        ended_at(attempt, entry[-1])


async def restore(master: Any) -> None:
    """Take up the jobs found on disk (see the module's docstring)."""
    loop = asyncio.get_running_loop()
    finished, unfinished = await loop.run_in_executor(None, scan, master.root)
    for started, status, name in finished:
        master.archived[name] = (started, status)
    for name, jobdir in sorted(unfinished):
        try:
            job = await loop.run_in_executor(None, replay, name, jobdir, master)
        except Exception as exc:
            log.exception("job %s cannot be resumed", name)
            _record_failure(master, name, jobdir, exc)
            continue
        if job is not None:
            resume(master, job, jobdir)


def resume(master: Any, job: JournaledJob, jobdir: str) -> None:
    """Put the replayed ``job`` to work (or finish it, if its journal says it ended)."""
    from . import saving
    job.events = EventLog(os.path.join(jobdir, "events"), master._event_hook(job.name))
    job.actions = master
    job.begin(master.journal, jobdir, first=False)
    job.storage = saving.storage_for(master.plugins, job.jobdict, job.events)
    master.jobs[job.name] = job
    if job.status != "active":
        job.events.add("master", "The master restarted after the job ended: recording it")
        master.finished(job)
        return
    master.scheduler.add_job(job)
    nodes = master.scheduler.nodes
    done = sum(1 for t in job.tasks.values() if t.state == "done")
    kept, queued = [], 0
    for task in sorted(job.tasks.values(), key=lambda t: t.id):
        if task.state == "running":
            node = nodes.get(task.host)
            if node is not None and not job.opened[task.stage_no]:
                node.running.add(task)  # the node's report or hello settles it
                kept.append(task)
                continue
            job.attempt_abandoned(task, task.host, "the master restarted")  # queued soon
            queued += 1
        elif task.state == "queued":
            task.runid += RUNID_GAP
            master.queue(task)
            queued += 1
        elif task.state == "waiting":
            task.runid += RUNID_GAP - 1  # and one more as it is queued again
            job.requeue(task)
            queued += 1
    job.events.add("master", "Resumed after the master restarted: %d tasks done, %d still "
                   "running on their nodes, %d to run" % (done, len(kept), queued))
    if kept:
        wait = 2 * master.nodes.ping_timeout
        asyncio.get_running_loop().call_later(wait, _not_back, master, kept, wait)
    master.kick()


def _not_back(master: Any, kept: list[Task], wait: float) -> None:
    """The attempts a resumed job kept whose nodes have not come back: run them again."""
    for task in kept:
        node = master.scheduler.nodes.get(task.host)
        if task.state != "running" or task.job.status != "active" or task.attempt is None:
            continue
        if node is not None and node.connected:
            continue  # its hello settled it (it still runs there)
        master.scheduler.task_ended(task)
        task.job.attempt_abandoned(task, task.host, "node %s did not come back in %gs after "
                                   "the master restarted" % (task.host, wait))


def _record_failure(master: Any, name: str, jobdir: str, exc: BaseException) -> None:
    """A job that cannot be resumed says why in its events (it has no record: it is not
    listed, and ``disco purge`` deletes it)."""
    events = EventLog(os.path.join(jobdir, "events"))
    events.add("master", "ERROR: the master restarted and cannot resume the job: %s: %s"
               % (type(exc).__name__, exc))
    events.close()
