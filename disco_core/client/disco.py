"""``Disco``: the client of one master's REST API (``disco.core.Disco``)."""
from __future__ import annotations

import json
import re
import secrets
import sys
import time
from typing import Any, Iterator

from ..errors import CommError, DiscoError, JobError
from ..rest import OOB_KEY, MasterClient, _name  # noqa: F401  (OOB_KEY: its former home)
from ..util import master_url


class Disco(MasterClient):
    """The client of one master's whole REST API: jobs, their events, results and tasks, OOB
    values and profiles, the node table."""

    # -- jobs ---------------------------------------------------------------------------
    def submit(self, jobpack: Any) -> str:
        """Send a job pack (bytes, a :class:`~disco_core.jobpack.JobPack` or a binary file
        open at its start) to the master; the new job's name.

        The pack goes with a token of this call's own (the ``X-Disco-Submission`` header)
        that every retry of the POST repeats, so a retry after a lost reply gets the job the
        first attempt made instead of a second one."""
        from ..jobpack import SUBMISSION_HEADER, JobPack
        headers = {SUBMISSION_HEADER: secrets.token_urlsafe(18)}
        if isinstance(jobpack, JobPack):
            jobpack = jobpack.parts()  # sent piece by piece: no joined copy of the job data
            headers["Content-Length"] = str(sum(len(part) for part in jobpack))
        elif hasattr(jobpack, "read"):
            start = jobpack.tell()
            headers["Content-Length"] = str(jobpack.seek(0, 2) - start)
            jobpack.seek(start)
        try:
            status, body = json.loads(self.request("/disco/job/new", jobpack, headers=headers))
        except CommError as exc:
            raise DiscoError("Failed to submit jobpack: %s" % exc.msg) from None
        except (ValueError, TypeError):
            raise DiscoError("Failed to submit jobpack: the master's reply is not "
                             "[status, message]") from None
        if status != "ok":
            raise DiscoError("Failed to submit jobpack: %s" % body)
        return body

    def new_job(self, name: str, **jobargs: Any) -> Any:
        from .job import Job
        return Job(name=name, master=self).run(**jobargs)

    def joblist(self) -> list:
        return self._json("/disco/ctrl/joblist")

    def jobinfo(self, jobname: Any) -> dict:
        return self._json("/disco/ctrl/jobinfo?name=%s" % _name(jobname))

    def counters(self, jobname: Any, running: bool = False) -> dict:
        """The job's counters (``counters.add`` in its functions): the totals of the task
        attempts whose outputs were accepted, which is the final count once the job is
        ready. With ``running=True``, ``{"counters": those, "running": the totals of the
        attempts running now}`` (which a retry may still throw away)."""
        view = self._json("/disco/ctrl/counters?name=%s" % _name(jobname))
        return view if running else view["counters"]

    def jobpack(self, jobname: Any) -> Any:
        from ..jobpack import JobPack
        return JobPack.loads(self.request("/disco/ctrl/parameters?name=%s" % _name(jobname),
                                          as_bytes=True))

    def rawevents(self, jobname: Any, offset: int = 0) -> bytes:
        return self.request("/disco/ctrl/rawevents?name=%s&offset=%d" % (_name(jobname), offset),
                            as_bytes=True)

    def events(self, jobname: Any, offset: int = 0) -> Iterator[tuple[int, tuple]]:
        """``(offset after the event, (timestamp, host, message))`` from byte ``offset``."""
        data = self.rawevents(jobname, offset)
        pos = offset
        for line in data.splitlines(keepends=True):
            pos += len(line)
            if not line.endswith(b"\n"):
                break
            try:
                event = json.loads(line)
            except ValueError:
                continue
            yield pos, tuple(event)

    def jobevents(self, jobname: Any, num: int = 10, filter: str = "") -> list:
        from urllib.parse import quote
        return json.loads(self.request("/disco/ctrl/jobevents?name=%s&num=%d&filter=%s"
                                       % (_name(jobname), num, quote(filter))))

    def stageresults(self, jobname: Any, stagename: str) -> list:
        return self._json("/disco/ctrl/get_stageresults?name=%s&stage=%s"
                          % (_name(jobname), stagename))

    def results(self, jobspec: Any, timeout: int = 2000) -> Any:
        """One job -> ``(status, results)``; a list -> ``(others, active)`` lists."""
        single = not isinstance(jobspec, (list, tuple))
        names = [_name(jobspec)] if single else [_name(j) for j in jobspec]
        replies = self._json("/disco/ctrl/get_results", [int(timeout), names])
        if single:
            status, results = replies[0][1]
            return status, results
        others, active = [], []
        for name, (status, results) in replies:
            (active if status == "active" else others).append((name, (status, results)))
        return others, active

    def wait(self, jobname: Any, poll_interval: float = 2, timeout: float | None = None,
             clean: bool = False, show: Any = None) -> list:
        name = _name(jobname)
        if show is None:
            show = self.settings["DISCO_EVENTS"]
        monitor = None
        if show:
            from .events import EventMonitor
            monitor = EventMonitor(self, name, show)
        try:
            return self._wait(name, poll_interval, timeout, clean, monitor)
        finally:
            if monitor is not None:
                monitor.close()

    def _wait(self, name: str, poll_interval: float, timeout: float | None, clean: bool,
              monitor: Any) -> list:
        start = time.time()
        while True:
            wait_ms = poll_interval * 1000
            if timeout is not None:
                wait_ms = max(0, min(wait_ms, (timeout - (time.time() - start)) * 1000))
            status, results = self.results(name, timeout=int(wait_ms))
            if monitor is not None:
                monitor.refresh()
            if status == "ready":
                if clean:
                    self.purge(name)
                return results
            if status != "active":
                raise self.job_error(name, status)
            if timeout is not None and time.time() - start > timeout:
                raise JobError(name, "Timeout")

    def failure_reason(self, name: str, status: str, verbose: bool | None = None) -> str:
        """``Status <status>: <why>``, tracebacks reduced to the job's own frames unless
        ``verbose`` (None: ``DISCO_DEBUG=trace``), with source lines from this machine's
        files where the node had none (:mod:`disco_core.tracebacks`)."""
        from ..tracebacks import debug_setting, user_traceback
        if verbose is None:
            verbose = debug_setting(self.settings)
        return user_traceback(self._status_text(name, status), verbose=verbose)

    def _status_text(self, name: str, status: str) -> str:
        try:
            reason = self.jobinfo(name).get("reason", "")
        except CommError:
            reason = ""
        return "Status %s%s" % (status, ": %s" % reason if reason else "")

    def job_error(self, name: str, status: str) -> JobError:
        """The :class:`JobError` of a job that ended with ``status``: the reason, and the
        failed task (its name, host, inputs and error) when one ended the job."""
        from ..tracebacks import debug_setting, user_traceback
        verbose = debug_setting(self.settings)
        text = self._status_text(name, status)
        message = user_traceback(text, verbose=verbose)
        details = user_traceback(text, verbose=True)
        if status != "dead":
            return JobError(name, message, details)
        try:
            info = self.taskinfo(name)
        except (DiscoError, ValueError):  # no task failed: killed, or a master without it
            return JobError(name, message, details)
        error = info.get("error") or {}
        text = error.get("message", "")
        inputs = [urls[0] for _label, urls in info.get("inputs", []) if urls]
        reading = re.search(r"\(while reading input (\S+)\)\s*$", text)
        return JobError(name, message, details, task=info.get("task"),
                        host=error.get("host") or info.get("host"),
                        input=reading.group(1) if reading else (inputs[0] if inputs else None),
                        inputs=inputs, traceback=user_traceback(text, verbose=verbose))

    def taskinfo(self, jobname: Any, task: str | None = None) -> dict:
        """What the master knows about one task of a job (``task`` as ``stage:id``; None:
        the task whose failure ended the job, else the first that failed): its stage,
        grouping, group, inputs, the hosts it ran on, its state and its last error."""
        from urllib.parse import quote
        url = "/disco/ctrl/taskinfo?name=%s" % quote(_name(jobname))
        if task:
            url += "&task=%s" % quote(task)
        try:
            return self._json(url)
        except CommError as exc:
            if exc.code == 404:
                raise DiscoError(exc.msg) from None
            raise

    def debug(self, jobname: Any, task: str | None = None, pdb: bool = False,
              workdir: str | None = None, stdin: Any = None, stdout: Any = None) -> Any:
        """Run one task of a finished or failed job again in this process, on its inputs,
        with the job's functions and params (``disco debug``); a
        :class:`~disco_core.client.debug.Replay` says what it produced or raised. ``task``
        is ``stage:id`` (None: the first failed task); with ``pdb`` the task runs under
        pdb, stopping where the job's own function starts and where it raises."""
        from .debug import replay
        return replay(self, _name(jobname), task, pdb=pdb, workdir=workdir, stdin=stdin,
                      stdout=stdout)

    def kill(self, jobname: Any) -> None:
        self.request("/disco/ctrl/kill_job", json.dumps(_name(jobname)))

    def purge(self, jobname: Any) -> None:
        self.request("/disco/ctrl/purge_job", json.dumps(_name(jobname)))

    def clean(self, jobname: Any) -> None:
        self.request("/disco/ctrl/clean_job", json.dumps(_name(jobname)))

    def result_iterator(self, *args: Any, **kwargs: Any) -> Iterator:
        from .results import result_iterator
        kwargs.setdefault("ddfs", self.master)
        return result_iterator(*args, **kwargs)

    # -- profiles (the out-of-band values themselves: MasterClient) -------------------
    def profile_stats(self, jobname: Any, mode: str = "", stream: Any = None) -> Any:
        import pstats
        name = _name(jobname)
        prefix = "profile-%s" % mode
        keys = [k for k in self.oob_list(name) if k.startswith(prefix)]
        if not keys:
            raise JobError(name, "No profile data")
        stats = pstats.Stats(Stats(self.oob_get(name, keys[0])),
                             stream=stream or sys.stdout)
        for key in keys[1:]:
            stats.add(Stats(self.oob_get(name, key)))
        return stats.strip_dirs().sort_stats("cumulative")

    # -- the cluster ----------------------------------------------------------------------
    def nodeinfo(self) -> dict:
        return self._json("/disco/ctrl/nodeinfo")

    def master_version(self) -> str:
        return self._json("/disco/version")

    def get_config(self) -> list:
        return self._json("/disco/ctrl/load_config_table")

    def set_config(self, config: list, empty: bool = False) -> None:
        """Replace the node table with ``config``; one with no rows only with ``empty``."""
        path = "/disco/ctrl/save_config_table" + ("?empty=1" if empty else "")
        try:
            reply = self._json(path, config)
        except CommError as exc:
            if exc.code == 400:  # the master refused the table and says why
                raise DiscoError("the master refused the node table: %s" % exc.msg) from None
            raise
        if reply != "table saved!":
            raise DiscoError(reply)

    config = property(get_config, set_config)

    def blacklist(self, node: str) -> None:
        self.request("/disco/ctrl/blacklist", json.dumps(node))

    def whitelist(self, node: str) -> None:
        self.request("/disco/ctrl/whitelist", json.dumps(node))

    def plugins(self) -> list:
        return self._json("/disco/ctrl/plugins")


class Stats:
    """Lets ``pstats.Stats`` load profile data that crossed the network: give it the
    marshalled bytes (as stored by a profiled task) or the stats dict."""

    def __init__(self, prof_data: bytes | dict) -> None:
        import marshal
        self.stats = marshal.loads(prof_data) if isinstance(prof_data, bytes) else prof_data

    def create_stats(self) -> None:
        pass


# -- the original's disco.util.save_oob / load_oob (they need this client) ---------------
def save_oob(host: str | None, name: str, key: str, value: bytes | str,
             ddfs_token: str | None = None) -> None:
    """Store an out-of-band value ``key`` of job ``name`` with the master at ``host``
    (``Disco.oob_get``, ``disco oob`` and :func:`load_oob` read it). The master keeps OOB
    values itself, without DDFS, so ``ddfs_token`` has nothing to authorize: it is accepted
    for compatibility and not used."""
    Disco(master_url(host)).oob_put(name, key, value)


def load_oob(host: str | None, name: str, key: str) -> bytes:
    """The out-of-band value ``key`` of job ``name`` from the master at ``host``."""
    return Disco(master_url(host)).oob_get(name, key)
