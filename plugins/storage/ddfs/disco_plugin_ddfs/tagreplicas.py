"""Copies of the master's tags on the nodes (``DDFS_TAG_REPLICAS``, ``DDFS_TAG_MIN_REPLICAS``).

The master's own store (:mod:`.tags`) is where tags are read from; every version it stores
is first written to ``DDFS_TAG_REPLICAS`` connected nodes too (:mod:`.nodetags`, with the
cluster secret), the nodes that hold the tag already first, in two steps: each node writes
the version aside, and once at least ``DDFS_TAG_MIN_REPLICAS`` have it (at most as many as
the node table has nodes) they are told to make it their copy. With fewer the update fails
with a 503, no node takes the version, and the master's store keeps the one before.

The master reads the tag lists of the nodes when they connect (:meth:`TagReplicas.sync`):
a version newer than its own, which a master whose store was lost or restored from an old
backup lacks, is taken back (the newest wins; ``+deleted`` first, so a deleted tag stays
deleted). It also keeps the count: a tag with fewer live holders than
``DDFS_TAG_REPLICAS`` (a node lost, or out of the table) is copied to other nodes.

A read of a tag the master's store lacks is a 503, not "not found", while at least
``DDFS_TAG_MIN_REPLICAS`` nodes of the table have not had their copies read since the
master started (:meth:`TagReplicas.check_missing`): the tag may be on them alone.

GC runs :meth:`TagReplicas.collect`: the nodes' copies of deleted tags, of versions older
than the current one (once the current one has its ``DDFS_TAG_MIN_REPLICAS`` holders), and
of the current one beyond ``DDFS_TAG_REPLICAS`` are deleted; a deleted tag's name stays on
``+deleted`` while a node may still have a copy of it (so that copy can never bring the tag
back).
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import urllib.parse
from typing import Any

from disco_core import access

from .names import DELETED
from .tags import TagError, ts_seconds

log = logging.getLogger("disco.ddfs.tagreplicas")
#: Seconds between the counts of :meth:`TagReplicas.watch` (nodes are read every second).
SYNC_INTERVAL = 10.0


class TagReplicas:
    def __init__(self, ddfs: Any) -> None:
        self.ddfs = ddfs
        self.holders: dict[str, set[str]] = {}  # tag -> nodes with its current version
        self.synced: set[str] = set()  # connected nodes whose tag lists were read
        self.ever_synced: set[str] = set()  # nodes whose tag lists were read since start

    # -- settings and nodes ---------------------------------------------------------------
    def wanted(self) -> int:
        return max(0, int(self.ddfs.settings.get("DDFS_TAG_REPLICAS") or 0))

    def needed(self) -> int:
        table = len(self.ddfs.master.scheduler.nodes)
        return min(max(0, int(self.ddfs.settings.get("DDFS_TAG_MIN_REPLICAS") or 0)), table,
                   self.wanted())

    def timeout(self) -> float:
        """Seconds a node has to take or give a tag copy: ``DDFS_PUT_TIMEOUT`` (a node that
        hangs must not hold up a tag update for longer)."""
        try:
            value = float(self.ddfs.settings.get("DDFS_PUT_TIMEOUT") or 30.0)
        except (TypeError, ValueError):
            value = 30.0
        return value if value > 0 else 30.0

    def live(self) -> list[str]:
        return sorted(h for h, node in self.ddfs.master.scheduler.nodes.items()
                      if getattr(node, "connected", False))

    # -- HTTP to the nodes -----------------------------------------------------------------
    def _url(self, host: str, path: str) -> str:
        address = "127.0.0.1" if host == "localhost" else host
        return "http://%s:%s%s" % (address, self.ddfs.settings["DDFS_PUT_PORT"], path)

    async def _fetch(self, host: str, path: str, body: bytes | None = None,
                     method: str | None = None) -> Any:
        import tornado.httpclient
        client = tornado.httpclient.AsyncHTTPClient()
        resp = await client.fetch(
            self._url(host, path), method=method or ("GET" if body is None else "PUT"),
            body=body,
            headers={access.SECRET_HEADER: getattr(self.ddfs.master, "secret", ""),
                     "Content-Type": "application/json"},
            connect_timeout=5, request_timeout=self.timeout())
        return json.loads(resp.body)

    async def _put(self, host: str, name: str, body: bytes, query: str = "") -> str | None:
        """None when the node took the version, else why not."""
        try:
            await self._fetch(host, "/ddfs/tag/%s%s" % (name, query), body)
            return None
        except Exception as exc:
            return "%s: %s" % (host, exc)

    # -- writing ---------------------------------------------------------------------------
    async def write(self, name: str, doc: dict) -> None:
        """Copy a version of a tag to the nodes before the master stores it (see the
        module docstring); a :class:`TagError` (503) when too few take it."""
        k = self.wanted()
        if not k:
            return
        live = self.live()
        had = [h for h in live if h in self.holders.get(name, ())]
        others = [h for h in live if h not in had]
        random.shuffle(others)
        order = had + others
        body = json.dumps(doc).encode("utf-8")
        done: set[str] = set()
        errors: list[str] = []
        while order and len(done) < k:
            batch, order = order[:k - len(done)], order[k - len(done):]
            results = await asyncio.gather(*(self._put(h, name, body, "?phase=prepare")
                                             for h in batch))
            for host, error in zip(batch, results):
                if error is None:
                    done.add(host)
                else:
                    errors.append(error)
        need = self.needed()
        if len(done) < need:
            raise TagError(503, "Tag update failed: a tag is kept on %d node(s) "
                           "(DDFS_TAG_MIN_REPLICAS), %d took it (%d connected%s); "
                           "try again when the nodes are back"
                           % (need, len(done), len(live),
                              "; " + "; ".join(errors[-3:]) if errors else ""))
        if not done:
            return
        hosts = sorted(done)
        query = "?phase=commit&id=%s" % urllib.parse.quote(doc["id"])
        results = await asyncio.gather(*(self._put(h, name, b"", query) for h in hosts))
        committed = {h for h, error in zip(hosts, results) if error is None}
        if not committed:
            raise TagError(503, "Tag update failed: no node committed the new version (%s)"
                           % "; ".join(e for e in results if e))
        self.holders[name] = committed

    # -- reading a tag the master lacks ----------------------------------------------------
    def unread(self) -> list[str]:
        """The nodes of the table whose tag copies were not read since the master started
        (down, or not answering): they may hold tags the master's store lacks."""
        return sorted(set(self.ddfs.master.scheduler.nodes) - self.ever_synced)

    def check_missing(self, name: str) -> None:
        """A read of tag ``name``, which the master's store lacks: a :class:`TagError`
        (503) when its copies may all be on nodes not read yet, that is when at least
        ``DDFS_TAG_MIN_REPLICAS`` such nodes (the fewest copies a tag has) are unread.
        A node read once and down since cannot hold a tag the master lacks: every newer
        write went through the master."""
        if not self.wanted():
            return
        unread = self.unread()
        if unread and len(unread) >= max(1, self.needed()):
            raise TagError(503, "Tag %s cannot be read now: the master has no copy of it, "
                           "and %d node(s) that may have one have not answered since the "
                           "master started (%s; a tag is kept on at least %d node(s), "
                           "DDFS_TAG_MIN_REPLICAS). Try again when they are back."
                           % (name, len(unread), ", ".join(unread), max(1, self.needed())))

    # -- reading back and keeping the count ------------------------------------------------
    async def watch(self) -> None:
        """Every second, read the nodes that connected (a node connects soon after the
        master starts: until it is read, a tag the master lacks may be on it); keep the
        count every :data:`SYNC_INTERVAL` seconds, and after a node was read."""
        last = 0.0
        while True:
            try:
                now = asyncio.get_running_loop().time()
                if await self.sync(keep=now - last >= SYNC_INTERVAL):
                    last = now
            except Exception:  # one bad round must not end the watch
                log.exception("the round of tag copies failed")
            await asyncio.sleep(1.0)

    async def sync(self, keep: bool = True) -> bool:
        """Read the tag lists of newly connected nodes (taking back newer versions), then
        (with ``keep``, or after a node was read) copy tags held by too few live nodes to
        others; whether it did."""
        live = self.live()
        self.synced &= set(live)
        hosts = [h for h in live if h not in self.synced]
        # all at once, each taken as it answers: a node that hangs holds up no other
        done = await asyncio.gather(*(self._read_node(h) for h in hosts))
        read = any(done)
        if keep or read:
            await self.keep_count(live)
        return keep or read

    async def _read_node(self, host: str) -> bool:
        """Read one node's tag list, taking back newer versions; whether it was read."""
        try:
            listing = await self._fetch(host, "/ddfs/tags")
        except Exception as exc:
            log.warning("cannot read the tag copies of %s: %s", host, exc)
            return False
        if not isinstance(listing, dict):
            return False
        for name in sorted(listing, key=lambda n: n != DELETED):  # +deleted first
            await self._take(host, name, str(listing[name]))
        self.synced.add(host)
        self.ever_synced.add(host)
        return True

    async def _take(self, host: str, name: str, tag_id: str) -> None:
        store = self.ddfs.tags
        current = store.current(name)
        mine = ts_seconds(current["id"]) if current is not None else None
        theirs = ts_seconds(tag_id)
        if mine is not None and theirs < mine:
            return  # an old copy: not a holder of the current version
        if mine is None or theirs > mine:
            try:
                doc = await self._fetch(host, "/ddfs/tag/%s" % name)
            except Exception as exc:
                log.warning("cannot read tag %s from %s: %s", name, host, exc)
                return
            if not isinstance(doc, dict) or not await store.restore(name, doc):
                return
            log.info("tag %s taken back from node %s (version %s)", name, host, doc["id"])
            self.holders[name] = set()
        self.holders.setdefault(name, set()).add(host)

    async def keep_count(self, live: list[str]) -> None:
        k = self.wanted()
        if not k:
            return
        alive = set(live)
        for name in list(self.ddfs.tags.docs) + [DELETED]:
            doc = self.ddfs.tags.current(name)
            if doc is None:
                continue
            holders = self.holders.get(name, set()) & alive
            spare = [h for h in live if h not in holders]
            if len(holders) >= k or not spare:
                continue
            random.shuffle(spare)
            body = json.dumps(doc).encode("utf-8")
            for host in spare[:k - len(holders)]:
                error = await self._put(host, name, body)
                if error is None:
                    holders.add(host)
                    log.info("tag %s copied to node %s (it had %d live copies)",
                             name, host, len(holders) - 1)
            self.holders[name] = holders

    # -- GC: copies no longer needed --------------------------------------------------------
    async def collect(self) -> dict[str, Any]:
        """Delete the copies the module docstring says; ``{"removed": [[host, tag, id]],
        "unlisted": hosts whose copies could not be listed, "left": deleted tags that may
        still have a copy}``."""
        store = self.ddfs.tags
        listings: dict[str, dict] = {}
        unlisted = set(self.ddfs.master.scheduler.nodes)
        for host in self.live():
            try:
                listing = await self._fetch(host, "/ddfs/tags")
            except Exception as exc:
                log.warning("GC cannot list the tag copies of %s: %s", host, exc)
                continue
            if isinstance(listing, dict):
                listings[host] = listing
                unlisted.discard(host)
        doomed: list[tuple[str, str, str]] = []
        left: set[str] = set()
        k, need = self.wanted(), self.needed()
        for name in sorted({n for listing in listings.values() for n in listing}):
            copies = {h: str(listing[name]) for h, listing in listings.items()
                      if name in listing}
            current = store.current(name)
            if current is None:
                when = store.deleted.get(name)
                for host, tag_id in copies.items():
                    if when is not None and ts_seconds(tag_id) <= when:
                        doomed.append((host, name, tag_id))
                    elif when is not None:
                        left.add(name)
                continue
            now = ts_seconds(current["id"])
            holders = sorted(h for h, i in copies.items() if ts_seconds(i) == now)
            if len(holders) >= max(1, need):
                doomed += [(h, name, i) for h, i in copies.items() if ts_seconds(i) < now]
            if k and len(holders) > k:
                known = self.holders.get(name, set())
                holders.sort(key=lambda h: (h not in known, h))  # the known ones stay
                doomed += [(h, name, current["id"]) for h in holders[k:]]
        removed = []
        for host, name, tag_id in doomed:
            query = "/ddfs/tag/%s?id=%s" % (name, urllib.parse.quote(tag_id))
            try:
                await self._fetch(host, query, method="DELETE")
            except Exception as exc:
                log.warning("GC cannot delete the copy %s of tag %s on %s: %s", tag_id, name,
                            host, exc)
                if store.current(name) is None:
                    left.add(name)
                continue
            removed.append([host, name, tag_id])
            self.holders.get(name, set()).discard(host)
        if removed:
            log.info("DDFS GC: %d tag copies on the nodes deleted", len(removed))
        return {"removed": removed, "unlisted": sorted(unlisted), "left": sorted(left)}
