"""A finished job's record on disk: what the master's replies about a job need once the
job is no longer in memory.

The master keeps only the newest ``DISCO_KEEP_FINISHED_JOBS`` finished jobs in memory.
When a job finishes, :func:`write` puts three files beside its ``jobfile`` and ``events``:
``record.json`` (its status, results, stage results, ``jobinfo`` reply, attempts and counters),
``tasks.json`` (each task's ``taskinfo``) and ``summary.json`` (its name, start and status,
for the job list of a master that restarts). :class:`JobRecord` reads them back on demand and
answers the way a finished :class:`~.coordinator.Job` does, so ``jobinfo``, ``results``,
``get_stageresults``, ``jobevents``, ``rawevents`` and ``taskinfo`` reply the same before
and after the job leaves memory. A record is never changed once written.
"""
from __future__ import annotations

import json
import os
from typing import Any

from .coordinator import Job, find_task
from .events import EventLog

RECORD = "record.json"
TASKS = "tasks.json"
#: The job's name, start time and status alone: what the job list needs of the record, read
#: for every recorded job when the master starts (:mod:`.restore`).
SUMMARY = "summary.json"


def write(job: Job, jobdir: str) -> None:
    """Record the finished ``job`` in ``jobdir`` (each file written whole, then renamed)."""
    failed = job.failed_task.key if job.failed_task is not None else ""
    _write_json(os.path.join(jobdir, TASKS),
                [t.info() for t in sorted(job.tasks.values(), key=lambda t: t.id)])
    _write_json(os.path.join(jobdir, RECORD),
                {"name": job.name, "started": job.started, "status": job.status,
                 "results": job.results, "stage_results": job.stage_results,
                 "info": job.info(), "failed_task": failed, "attempts": job.attempts,
                 "counters": job.counters})
    _write_json(os.path.join(jobdir, SUMMARY),
                {"name": job.name, "started": job.started, "status": job.status})


def exists(jobdir: str) -> bool:
    return os.path.isfile(os.path.join(jobdir, RECORD))


def _write_json(path: str, value: Any) -> None:
    with open(path + ".partial", "w", encoding="utf-8") as f:
        json.dump(value, f)
    os.replace(path + ".partial", path)


class StoredTask:
    """A finished job's task as ``taskinfo`` told it."""

    def __init__(self, info: dict[str, Any]) -> None:
        self._info = info
        self.id: int = info["taskid"]
        self.key: str = info["task"]
        self.stage: str = info["stage"]
        error = info.get("error") or {}
        self.error = (error.get("kind", ""), error.get("host", ""), error.get("message", ""))

    def info(self) -> dict[str, Any]:
        return dict(self._info)


class JobRecord:
    """A finished job read back from its directory: the read-only face of a finished Job."""

    def __init__(self, jobdir: str) -> None:
        self.jobdir = jobdir
        with open(os.path.join(jobdir, RECORD), encoding="utf-8") as f:
            record = json.load(f)
        self.name: str = record["name"]
        self.started: float = record["started"]
        self.status: str = record["status"]
        self.results: list[list[str]] = record["results"]
        self.stage_results: dict[str, list[list[str]]] = record["stage_results"]
        self._info: dict[str, Any] = record["info"]
        self._failed: str = record["failed_task"]
        self.attempts: list[list] = record.get("attempts", [])
        self.counters: dict = record.get("counters", {})
        self.events = EventLog(os.path.join(jobdir, "events"), readonly=True)

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def counter_view(self) -> dict[str, dict]:
        return {"counters": dict(self.counters), "running": {}}

    def kill(self, reason: str = "") -> None:
        """A finished job has nothing left to kill (as :meth:`Job.kill`)."""

    def find_task(self, key: str = "") -> StoredTask:
        with open(os.path.join(self.jobdir, TASKS), encoding="utf-8") as f:
            tasks = {t["taskid"]: StoredTask(t) for t in json.load(f)}
        failed = next((t for t in tasks.values() if t.key == self._failed), None)
        return find_task(self.name, tasks, failed, key)
