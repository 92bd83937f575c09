"""DDFS's upkeep on the master: garbage collection, re-replication and scrubbing
(``reference/ddfs.md`` section 8), one run at a time.

A run (its phase in ``GET /ddfs/ctrl/gc_status``, the reference's texts):

* ``start``: with a scrub, every answering node checks its blobs against their checksums
  and deletes the bad ones (``/ddfs/upkeep/scrub``, :mod:`.upkeep`).
* ``build_map`` / ``map_wait``: every connected node lists its blobs; the tags (on the
  master) say which blobs are referenced (:class:`~.replicate.BlobMap`).
* ``gc``: the nodes' tag copies no longer needed are deleted
  (:meth:`.tagreplicas.TagReplicas.collect`); each node deletes the blobs no tag
  references that are older than
  ``DDFS_ORPHAN_PURGE_TIMEOUT`` seconds, except those ``new_blob`` named in that time (a
  blob being written and not tagged yet); deleted tags older than
  ``DDFS_DELETED_TAG_EXPIRES`` seconds are forgotten. The counts are ``gc_stats``.
* ``rr_blobs`` / ``rr_blobs_wait``: blobs short of ``DDFS_BLOB_REPLICAS`` counted replicas
  are copied: the target node pulls the bytes from a node that has them and keeps them
  only if they hash to the source's recorded checksum (:func:`.replicate.plan_copies`).
* ``rr_balance``: blobs of the most over-used node's disk are copied to under-used ones
  (``DDFS_GC_BALANCE_THRESHOLD``, :mod:`.balance`); their old replicas become extra ones.
* ``rr_tags``: the tags' replica sets gain the new copies and lose dead locations once the
  blob has its replica count (:func:`.replicate.fix_urls`); replicas beyond the count are
  taken out of the tags, then deleted (:mod:`.extras`; the report's ``removed``, and
  ``moved`` for the moves; ``gc_balance`` gives the disks' use the run found and its
  moves).

Runs start ``DDFS_GC_INITIAL_WAIT`` minutes after the master (status until then: "GC is
waiting for the cluster to stabilize after startup."), then every ``DDFS_GC_INTERVAL``
hours, on ``gc_start``, and as soon as a node is lost (disconnected for more than
``DDFS_NODE_LOST_TIMEOUT`` seconds), leaves the node table or is gc-blacklisted.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from .balance import plan_moves
from .extras import delete_extras, forget, plan_extras
from .replicate import BlobMap, Copy, Replica, blob_of, fix_urls, plan_copies, url_host

log = logging.getLogger("disco.ddfs.gc")

PHASES = {"start": "GC is initializing (phase start).",
          "build_map": "GC is scanning DDFS (phase build_map).",
          "map_wait": "GC is scanning DDFS (phase map_wait).",
          "gc": "GC is performing garbage collection (phase gc).",
          "rr_blobs": "GC is re-replicating blobs (phase rr_blobs).",
          "rr_blobs_wait": "GC is re-replicating blobs (phase rr_blobs_wait).",
          "rr_balance": "GC is rebalancing blobs (phase rr_balance).",
          "rr_tags": "GC is re-replicating tags (phase rr_tags)."}
WAITING = "GC is waiting for the cluster to stabilize after startup."
#: Blob copies in flight at once, over the whole cluster.
PARALLEL_COPIES = 3
#: Seconds a node may take to list, delete or scrub its blobs.
NODE_TIMEOUT = 600.0
COPY_TIMEOUT = 3 * 3600.0


def settings_defaults() -> dict[str, Any]:
    return {"DDFS_GC_INITIAL_WAIT": 5.0, "DDFS_GC_INTERVAL": 24.0,
            "DDFS_ORPHAN_PURGE_TIMEOUT": 5 * 86400.0,
            "DDFS_DELETED_TAG_EXPIRES": 30 * 86400.0,
            "DDFS_NODE_LOST_TIMEOUT": 3600.0, "DDFS_PARANOID_DELETE": "",
            "DDFS_GC_BALANCE_THRESHOLD": 0.1, "DDFS_VOLUME_CAPACITY": ""}


class Upkeep:
    """The GC of one master's DDFS (:class:`~.master.DDFSMaster` ``.upkeep``)."""

    def __init__(self, ddfs: Any) -> None:
        self.ddfs = ddfs
        self.master = ddfs.master
        self.settings = ddfs.settings
        self.phase: str | None = None
        self.stats: dict | str = ""
        self.balance: dict | str = ""  # gc_balance: the disks' use the last run found
        self.report: dict = {}
        self.waiting = True
        self.again = False
        self.runs = 0
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.down_since: dict[str, float] = {}
        self.lost: set[str] = set()
        self.seen_hosts: set[str] = set()
        self.seen_gc_black: set[str] = set()
        self.complained: set[str] = set()

    def number(self, name: str) -> float:
        """A number setting; a bad value is logged (naming the setting and the fix) and its
        default used, so that GC keeps running."""
        value: Any = "?"
        try:
            value = self.settings[name]
            number = float(value)
            if number >= 0:
                return number
        except Exception:  # (the settings say what is wrong: logged below)
            pass
        default = settings_defaults()[name]
        if name not in self.complained:
            self.complained.add(name)
            log.error("setting %s=%r is not a non-negative number: using %g; set it to a "
                      "number or unset it", name, value, default)
        return default

    # -- the schedule --------------------------------------------------------------------
    def status(self) -> str:
        if self.phase is not None:
            return PHASES[self.phase]
        return WAITING if self.waiting else ""

    def start(self) -> str:
        """``gc_start``: a run now, or, when one is under way, another one after it."""
        self.wake.set()
        if self.lock.locked():
            self.again = True
            return "GC is waiting"
        return "GC has started"

    async def run_forever(self) -> None:
        try:
            await asyncio.wait_for(self.wake.wait(), self.number("DDFS_GC_INITIAL_WAIT") * 60)
        except asyncio.TimeoutError:
            pass
        self.waiting = False
        while True:
            self.wake.clear()
            self.again = False
            await self.run()
            if self.again:
                continue
            try:
                await asyncio.wait_for(self.wake.wait(),
                                       self.number("DDFS_GC_INTERVAL") * 3600)
            except asyncio.TimeoutError:
                pass

    async def watch_nodes(self) -> None:
        """Every second: note nodes going down, lost, removed or gc-blacklisted; a run
        re-replicates what they held."""
        while True:
            await asyncio.sleep(1.0)
            try:
                if self.check_nodes() and not self.waiting:
                    self.start()
            except Exception:
                log.exception("watching the nodes for DDFS failed")

    def check_nodes(self) -> bool:
        nodes = self.master.scheduler.nodes
        now = time.time()
        timeout = self.number("DDFS_NODE_LOST_TIMEOUT")
        changed = bool(self.seen_hosts - set(nodes))
        self.seen_hosts = set(nodes)
        for host in list(self.down_since):
            if host not in nodes:
                del self.down_since[host]
        for host, node in nodes.items():
            if node.connected:
                self.down_since.pop(host, None)
            elif now - self.down_since.setdefault(host, now) > timeout \
                    and host not in self.lost:
                log.warning("node %s has been down for more than %gs: its DDFS replicas are "
                            "lost", host, timeout)
                self.lost.add(host)
                changed = True
        self.lost &= set(self.down_since)
        gc_black = set(self.master.nodes.gc_blacklist)
        changed = changed or bool(gc_black - self.seen_gc_black)
        self.seen_gc_black = gc_black
        return changed

    def disk_use(self, host: str) -> float:
        """The share of its disk ``host`` said it uses (0 before it said)."""
        free, used = self.ddfs.space.get(host, (1, 0))
        return used / max(1, free + used)

    # -- talking to the nodes ------------------------------------------------------------
    async def call(self, host: str, method: str, op: str, body: Any = None,
                   timeout: float = NODE_TIMEOUT) -> Any:
        import tornado.httpclient
        address = "127.0.0.1" if host == "localhost" else host
        url = "http://%s:%s/ddfs/upkeep/%s" % (address, self.settings["DDFS_PUT_PORT"], op)
        from disco_core.access import SECRET_HEADER
        try:
            resp = await tornado.httpclient.AsyncHTTPClient().fetch(
                url, method=method, headers={SECRET_HEADER: self.master.secret},
                body=None if method == "GET" else json.dumps(body), connect_timeout=10,
                request_timeout=timeout)
        except tornado.httpclient.HTTPClientError as exc:
            detail = exc.response.body.decode("utf-8", "replace") if exc.response else exc
            raise RuntimeError("%s: %s" % (host, detail)) from None
        return json.loads(resp.body)

    def data_url(self, host: str, path: str) -> str:
        address = "127.0.0.1" if host == "localhost" else host
        return "http://%s:%s/ddfs/%s" % (address, self.settings["DISCO_PORT"], path)

    # -- a run ---------------------------------------------------------------------------
    async def run(self, scrub: bool = False) -> dict:
        """One run (the module's docstring); what it found and did."""
        async with self.lock:
            self.runs += 1
            started = time.time()
            try:
                report = await self._run(scrub)
            except Exception as exc:
                log.exception("DDFS GC failed")
                report = {"error": "GC failed: %s" % exc}
            finally:
                self.phase = None
            report["seconds"] = round(time.time() - started, 3)
            self.report = report
            return report

    async def _run(self, scrub: bool) -> dict:
        report: dict[str, Any] = {"checked": 0, "corrupt": [], "missing": [], "copied": [],
                                  "failed": [], "lost": [], "unreachable": [], "removed": [],
                                  "moved": []}
        nodes = self.master.scheduler.nodes
        hosts = sorted(h for h, n in nodes.items() if n.connected)
        self.phase = "start"
        if scrub:
            for host, got in zip(hosts, await self._each(hosts, "POST", "scrub")):
                if isinstance(got, dict):
                    report["checked"] += got["checked"]
                    report["corrupt"] += [[host, name, why] for name, why in got["bad"]]
        self.phase = "build_map"
        bmap = BlobMap()
        listed = self._each(hosts, "GET", "blobs")
        self.phase = "map_wait"
        for host, got in zip(hosts, await listed):
            if isinstance(got, dict):
                bmap.add_node(host, got["blobs"])
            else:
                report["unreachable"].append([host, str(got)])
        docs = dict(self.ddfs.tags.docs)
        bmap.add_tags(docs)
        rotten = {(host, name) for host, name, _why in report["corrupt"]}
        for name, urls in sorted(bmap.refs.items()):
            have = bmap.where.get(name, {})
            report["missing"] += [[h, name] for h in sorted({url_host(u) for u in urls})
                                  if h in bmap.reachable and h not in have
                                  and (h, name) not in rotten]
        self.phase = "gc"
        copies = await self.ddfs.tag_replicas.collect()
        report["tag_copies_removed"] = copies["removed"]
        # a node not heard may keep a copy of any deleted tag: none is forgotten then
        keep = set(copies["left"]) | (set(self.ddfs.tags.deleted) if copies["unlisted"]
                                      else set())
        await self._collect(bmap, docs, keep)
        self.phase = "rr_blobs"
        k = int(self.settings["DDFS_BLOB_REPLICAS"])
        gc_black = set(self.master.nodes.gc_blacklist)
        usable = [h for h in self.ddfs.candidates() if h in bmap.reachable]
        copies, missing = plan_copies(bmap, k, usable, gc_black, self.ddfs.roomy)
        table = set(nodes)
        for name in missing:
            if not any(url_host(u) in table and url_host(u) not in bmap.reachable
                       and url_host(u) not in self.lost for u in bmap.refs[name]):
                report["lost"].append(name)  # no node that may still have it
        self.phase = "rr_blobs_wait"
        await self._copy(copies, bmap, report)

        def present(name: str, host: str) -> bool:
            return self.ddfs.replica_present(bmap.url(name, host))
        self.phase = "rr_balance"
        await self.ddfs.ask_space(usable)
        plan = plan_moves(bmap, k, usable, gc_black, dict(self.ddfs.space),
                          self.number("DDFS_GC_BALANCE_THRESHOLD"), present,
                          busy={c.name for c in copies})
        moved = await self._copy(plan.moves, bmap, report, done=None)
        extras = plan_extras(bmap, k, gc_black, present, self.disk_use,
                             first={c.name: c.source for c in moved})
        forget(bmap, extras)
        self.phase = "rr_tags"
        lost = self.lost | {url_host(u) for urls in bmap.refs.values() for u in urls
                            if url_host(u) not in table}
        for tag in sorted(docs):
            await self.ddfs.tags.update_urls(
                tag, lambda urls: fix_urls(urls, bmap, k, gc_black, table, lost))
        await delete_extras(self, extras, report)
        self._note_moves(plan, moved, bmap, report)
        if report["corrupt"] or report["lost"] or report["failed"]:
            log.warning("DDFS GC: %d corrupt replicas, %d lost blobs, %d failed copies",
                        len(report["corrupt"]), len(report["lost"]), len(report["failed"]))
        return report

    async def _each(self, hosts: list[str], method: str, op: str) -> list:
        return await asyncio.gather(*(self.call(h, method, op) for h in hosts),
                                    return_exceptions=True)

    async def _collect(self, bmap: BlobMap, docs: dict, keep: set[str]) -> None:
        """The ``gc`` phase: orphaned blobs deleted, old deleted tags forgotten, stats."""
        now = time.time()
        expires = self.number("DDFS_ORPHAN_PURGE_TIMEOUT")
        recent = self.ddfs.recent_blobs(now - expires)
        kept = [0, 0]
        deleted = [0, 0]
        for host in sorted(bmap.reachable):
            doomed = []
            for name, there in bmap.where.items():
                replica = there.get(host)
                if replica is None:
                    continue
                if name in bmap.refs or name in recent or now - replica.mtime <= expires:
                    kept[0] += 1
                    kept[1] += replica.size
                else:
                    doomed.append(name)
            if doomed:  # confirmed against the tags as they are now (one may be new)
                now_refs = BlobMap()
                now_refs.add_tags(dict(self.ddfs.tags.docs))
                doomed = [n for n in doomed if n not in now_refs.refs]
            for i in range(0, len(doomed), 1000):
                try:
                    got = await self.call(host, "POST", "delete", doomed[i:i + 1000])
                except Exception as exc:
                    log.error("GC could not delete blobs on %s: %s", host, exc)
                    continue
                deleted[0] += len(got["deleted"])
                deleted[1] += got["bytes"]
                for name in got["deleted"]:
                    bmap.where.get(name, {}).pop(host, None)
        forgotten = await self.ddfs.tags.forget_deleted(
            now - self.number("DDFS_DELETED_TAG_EXPIRES"), keep)
        self.stats = {"timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
                      "stats": {"Tags kept": [len(docs),
                                              sum(len(json.dumps(d)) for d in docs.values())],
                                "Tags deleted": [forgotten, 0],
                                "Blobs kept": kept, "Blobs deleted": deleted}}

    def _note_moves(self, plan: Any, moved: list[Copy], bmap: BlobMap, report: dict) -> None:
        """A move is done once its old replica is deleted (after the tags lost it)."""
        removed = {(host, name) for host, name in report["removed"]}
        size = 0
        for c in moved:
            copy = bmap.where.get(c.name, {}).get(c.target)
            if (c.source, c.name) in removed and copy is not None:
                report["moved"].append([c.name, c.source, bmap.url(c.name, c.target)])
                size += copy.size
        if report["moved"]:
            log.info("DDFS GC: %d blobs (%d bytes) moved from %s to even out the disks",
                     len(report["moved"]), size, plan.over[0])
        self.balance = {"timestamp": time.strftime("%Y-%m-%d %H:%M:%S"), **plan.summary(),
                        "moved": report["moved"], "bytes": size}

    async def _copy(self, copies: list[Copy], bmap: BlobMap, report: dict,
                    done: str | None = "copied") -> list[Copy]:
        """Make the copies (``report[done]`` gets ``[name, url]`` of each made); those
        made."""
        limit = asyncio.Semaphore(PARALLEL_COPIES)
        made: list[Copy] = []

        async def one(c: Copy) -> None:
            async with limit:
                body = {"name": c.name, "source": self.data_url(c.source, c.path),
                        "sums": self.data_url(c.source, c.path.replace("/blob/", "/sums/", 1))}
                try:
                    url = await self.call(c.target, "POST", "fetch", body, COPY_TIMEOUT)
                except Exception as exc:
                    report["failed"].append([c.name, c.target, str(exc)])
                    log.error("copying blob %s to %s failed: %s", c.name, c.target, exc)
                    return
                size = bmap.where[c.name][c.source].size
                path = url.split("/ddfs/", 1)[1]
                bmap.where[c.name][c.target] = Replica(path, size, time.time())
                made.append(c)
                if done:
                    report[done].append([c.name, url])
        await asyncio.gather(*(one(c) for c in copies))
        return made

    # -- what the control operations ask -------------------------------------------------
    def hosts_in_tags(self) -> dict[str, set[str]]:
        """``host -> blob names`` the tags reference on it."""
        out: dict[str, set[str]] = {}
        for doc in list(self.ddfs.tags.docs.values()):
            for replicas in doc.get("urls", []):
                for url in replicas:
                    name = blob_of(url)
                    if name is not None:
                        out.setdefault(url_host(url), set()).add(name)
        return out

    def safe_gc_blacklist(self) -> list[str]:
        """The gc-blacklisted hosts no tag references any more: emptied, safe to remove."""
        used = self.hosts_in_tags()
        return sorted(h for h in self.master.nodes.gc_blacklist if not used.get(h))
