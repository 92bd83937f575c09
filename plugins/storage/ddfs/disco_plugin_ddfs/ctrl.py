"""``/ddfs/ctrl/<op>``: DDFS's maintenance operations on the master, and its GC page.

* ``GET gc_status``, ``gc_start``, ``gc_stats``, ``safe_gc_blacklist``: the reference's
  (``reference/rest-api.md`` section 2; the runs are :mod:`.gc`'s). ``gc_start`` during a
  run answers ``"GC is waiting"`` and another run follows it.
* ``GET gc_balance``: what the last run found of the disks (:mod:`.balance`):
  ``{"timestamp", "threshold", "average", "use" {host: share of its disk used}, "over",
  "under" (hosts), "moved" [blob, from host, new url], "bytes" (moved)}`` (``""`` before
  the first run).
* ``POST drain`` ``"host"``: empty a node before removing it: it is gc-blacklisted (no new
  blobs, its replicas stop counting) and a GC run copies its blobs to other nodes and takes
  it out of the tags. Refused (409), changing nothing, when too few other nodes can hold
  ``DDFS_BLOB_REPLICAS`` replicas. ``GET drain_status?host=H``: ``{"host", "blobs_left"
  (blobs the tags still reference on it), "gc_blacklisted", "safe", "gc" (the status),
  "runs" (GC runs so far), "report" (the last run's counts, and its first failed
  copies)}``. ``ddfs drain`` removes the node from the table once it is safe.
* ``POST hosted_tags`` ``"host"``: the reference's: the tags (sorted) whose URLs name data
  on that node (a blob replica, a job's result); 404 ``Unknown host.`` for a host not in
  the node table.
* ``POST scrub``: a GC run in which every node first checks its replicas' checksums and
  deletes the bad ones, which the run then copies again from good replicas; the run's
  report (``checked``, ``corrupt`` [host, blob, why], ``missing`` [host, blob] (a tag names
  it there, the node has none), ``copied`` [blob, url], ``failed``, ``lost``).
* ``GET /ddfs/gc``: the web UI's panel of the last run, the status and a Start GC button.
"""
from __future__ import annotations

import os
from typing import Any

import tornado.web

from .master import DDFSHandler
from .tags import TagError

STATIC = os.path.join(os.path.dirname(__file__), "static")


class CtrlHandler(DDFSHandler):
    async def get(self, op: str) -> None:
        upkeep = self.ddfs.upkeep
        if op == "gc_status":
            self.reply(upkeep.status())
        elif op == "gc_start":
            self.reply(upkeep.start())
        elif op == "gc_stats":
            self.reply(upkeep.stats)
        elif op == "gc_balance":
            self.reply(upkeep.balance)
        elif op == "safe_gc_blacklist":
            self.reply(upkeep.safe_gc_blacklist())
        elif op == "drain_status":
            self.reply(drain_status(self.ddfs, self.host_argument()))
        else:
            raise TagError(404, "Unknown operation %r: GET /ddfs/ctrl/ has gc_status, "
                           "gc_start, gc_stats, gc_balance, safe_gc_blacklist, drain_status" % op)

    async def post(self, op: str) -> None:
        if op == "drain":
            host = self.json_body()
            if not isinstance(host, str):
                raise TagError(400, 'Invalid request body: give the host, e.g. "node07"')
            self.reply(await drain(self.ddfs, host))
        elif op == "scrub":
            self.reply(await self.ddfs.upkeep.run(scrub=True))
        elif op == "hosted_tags":
            host = self.json_body()
            if not isinstance(host, str):
                raise TagError(400, 'Invalid request body: give the host, e.g. "node07"')
            self.reply(hosted_tags(self.ddfs, host))
        else:
            raise TagError(404, "Unknown operation %r: POST /ddfs/ctrl/ has drain, scrub, "
                           "hosted_tags" % op)

    def host_argument(self) -> str:
        host = self.get_query_argument("host", "")
        if host not in self.ddfs.master.scheduler.nodes:
            raise TagError(404, "Unknown host. %r is not in the node table" % host)
        return host


def hosted_tags(ddfs: Any, host: str) -> list[str]:
    """The tags with a URL on ``host`` (the module's docstring)."""
    from .replicate import url_host
    if host not in ddfs.master.scheduler.nodes:
        raise TagError(404, "Unknown host. %r is not in the node table" % host)
    return sorted(name for name, doc in list(ddfs.tags.docs.items())
                  if any(url_host(url) == host for replicas in doc.get("urls", [])
                         for url in replicas))


def drain_status(ddfs: Any, host: str) -> dict[str, Any]:
    upkeep = ddfs.upkeep
    gc_black = host in ddfs.master.nodes.gc_blacklist
    left = len(upkeep.hosts_in_tags().get(host, ()))
    report = {key: len(value) if isinstance(value, list) else value
              for key, value in upkeep.report.items()}
    report["failed"] = upkeep.report.get("failed", [])[:10]
    return {"host": host, "blobs_left": left, "gc_blacklisted": gc_black,
            "safe": gc_black and not left, "gc": upkeep.status(), "runs": upkeep.runs,
            "report": report}


async def drain(ddfs: Any, host: str) -> dict[str, Any]:
    """Start emptying ``host`` (the module's docstring)."""
    if host not in ddfs.master.scheduler.nodes:
        raise TagError(404, "Unknown host. %r is not in the node table" % host)
    k = int(ddfs.settings["DDFS_BLOB_REPLICAS"])
    others = [h for h in ddfs.candidates() if h != host]
    left = len(ddfs.upkeep.hosts_in_tags().get(host, ()))
    if left and len(others) < k:
        raise TagError(409, "Cannot drain %s: its %d blob(s) need %d replicas "
                       "(DDFS_BLOB_REPLICAS) on other nodes and only %d other node(s) can "
                       "take them (%s); add nodes or lower DDFS_BLOB_REPLICAS. Nothing was "
                       "changed." % (host, left, k, len(others),
                                     ", ".join(others) or "none connected and usable"))
    await ddfs.master.nodes.set_blacklisted(host, True, gc=True)
    ddfs.upkeep.check_nodes()  # seen now: the watcher does not start a second run for it
    ddfs.upkeep.start()
    return drain_status(ddfs, host)


class GCPageHandler(tornado.web.RequestHandler):
    """``/ddfs/gc`` and its script: the web UI's GC panel (static; it reads the REST API)."""

    FILES = {"": ("gc.html", "text/html; charset=utf-8"),
             "gc.js": ("gc.js", "application/javascript; charset=utf-8")}

    def get(self, name: str = "") -> None:
        entry = self.FILES.get(name)
        if entry is None:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", entry[1])
        self.set_header("Cache-Control", "no-cache")
        with open(os.path.join(STATIC, entry[0]), "rb") as f:
            self.finish(f.read())


def ctrl_routes(ddfs: Any) -> list[tuple]:
    return [(r"/ddfs/ctrl/(\w+)", CtrlHandler, {"ddfs": ddfs}),
            (r"/ddfs/gc/?", GCPageHandler),
            (r"/ddfs/gc/(gc\.js)", GCPageHandler)]
