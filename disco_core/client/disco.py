"""``Disco``: the client of one master's REST API (``disco.core.Disco``)."""
from __future__ import annotations

import json
import re
import sys
import time
from typing import Any, Iterator

from ..errors import CommError, DiscoError, JobError
from ..settings import DiscoSettings
from . import comm


#: What an out-of-band key may hold (the original's DDFS-safe names).
OOB_KEY = re.compile(r"[A-Za-z0-9_\-@:]+")


def _name(job: Any) -> str:
    return getattr(job, "name", job)


class Disco:
    def __init__(self, master: str | None = None, settings: DiscoSettings | None = None,
                 proxy: str | None = None) -> None:
        self.settings = settings or DiscoSettings()
        self.proxy = proxy or self.settings["DISCO_PROXY"]
        from ..util import master_url
        self.master = master_url(master, self.settings)

    def __repr__(self) -> str:
        return "Disco master at %s" % self.master

    # -- plumbing -----------------------------------------------------------------------
    def request(self, url: str, data: Any = None, offset: int = 0, as_bytes: bool = False,
                method: str | None = None) -> Any:
        base = self.proxy.rstrip("/") if self.proxy else self.master
        headers = {"Range": "bytes=%d-" % offset} if offset else None
        try:
            body = comm.request(method or ("POST" if data is not None else "GET"), base + url,
                                data, headers)
        except CommError as exc:
            if exc.code is None and not self.proxy:
                raise CommError(self.unreachable(exc.msg), self.master) from None
            raise
        return body if as_bytes else body.decode("utf-8")

    def unreachable(self, reason: str) -> str:
        """What to say when nothing answers at the master's address."""
        return ("cannot reach the Disco master (%s): is it running? Start it with `disco start` "
                "on its host, or point DISCO_MASTER (disco -M) at a running master"
                % reason)

    def _json(self, url: str, data: Any = None) -> Any:
        payload = json.dumps(data) if data is not None else None
        return json.loads(self.request(url, payload))

    # -- jobs ---------------------------------------------------------------------------
    def submit(self, jobpack: bytes) -> str:
        try:
            status, body = json.loads(self.request("/disco/job/new", jobpack))
        except CommError as exc:
            raise DiscoError("Failed to submit jobpack: %s" % exc.msg) from None
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
                raise JobError(name, self.failure_reason(name, status))
            if timeout is not None and time.time() - start > timeout:
                raise JobError(name, "Timeout")

    def failure_reason(self, name: str, status: str) -> str:
        try:
            reason = self.jobinfo(name).get("reason", "")
        except CommError:
            reason = ""
        return "Status %s%s" % (status, ": %s" % reason if reason else "")

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

    # -- out-of-band values and profiles -------------------------------------------------
    def oob_list(self, jobname: Any) -> list[str]:
        return self._json("/disco/ctrl/oob_list?name=%s" % _name(jobname))

    def oob_put(self, jobname: Any, key: str, value: bytes | str) -> None:
        """Store the out-of-band value ``key`` of a job (what a task's ``put`` does)."""
        from urllib.parse import quote
        if not isinstance(key, str) or not OOB_KEY.fullmatch(key):
            raise DiscoError("OOB key %r is not a safe name: use only letters, digits and "
                             "_-@:" % (key,))
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise DiscoError("OOB value for key %r must be bytes or str, got %s: pickle it "
                             "first" % (key, type(value).__name__))
        self.request("/disco/ctrl/oob_put?name=%s&key=%s" % (quote(_name(jobname)), quote(key)),
                     bytes(value))

    def oob_get(self, jobname: Any, key: str) -> bytes:
        try:
            return self.request("/disco/ctrl/oob_get?name=%s&key=%s" % (_name(jobname), key),
                                as_bytes=True)
        except CommError as exc:
            if exc.code == 404:
                raise DiscoError("Unknown key or jobname") from None
            raise

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

    def set_config(self, config: list) -> None:
        try:
            reply = self._json("/disco/ctrl/save_config_table", config)
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
