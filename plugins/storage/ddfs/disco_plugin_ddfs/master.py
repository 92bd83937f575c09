"""The master's side of DDFS: the ``/ddfs/`` REST API (``reference/rest-api.md`` section 2).

* ``GET /ddfs/new_blob/<prefix>?replicas=N&exclude=h1,h2&include=h3``: where to PUT a new
  blob, ``N`` URLs ``http://<node>:<DDFS_PUT_PORT>/ddfs/<prefix>$<ts>`` on distinct nodes
  chosen at random among the connected nodes that are neither blacklisted nor
  gc-blacklisted and have more than 1 GiB free (the nodes with the most free space when
  there are too few of those), ``include`` hosts first, ``exclude`` hosts left out. The
  master asks every node for its free space every :data:`SPACE_INTERVAL` seconds; a node
  not heard from yet counts as having room. With ``DDFS_SPACE_AWARE`` the nodes are drawn
  at random weighted by their free share of space (``DDFS_ABSOLUTE_SPACE``: by their free
  bytes), so the emptier nodes fill first. The nodes' answers also name their bad
  volumes (:meth:`DDFSMaster.bad_volumes`).
* ``GET /ddfs/tags[/<prefix>]``: the tag names, sorted.
* ``GET|POST|PUT|DELETE /ddfs/tag/<tag>[/<attr>]``: the tags (:mod:`.tags`).

Tokens come in ``Authorization: Basic base64("token:<T>")``. Errors are JSON strings with
the reference's statuses: 403 for a bad name or body, 401 for a wrong token, 404 for a
missing tag or attribute.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import random
import time
from typing import Any

import tornado.web

from .names import blob_prefix, timestamp, valid_name
from .tags import TagError, TagStore

log = logging.getLogger("disco.ddfs.master")
#: The largest tag body the master takes (the original: 512 MiB).
MAX_TAG_BODY = 64 << 20
#: Seconds between the master's questions to the nodes about their free space.
SPACE_INTERVAL = 10.0
#: Nodes with at least this much free space are chosen first for new blobs.
MIN_FREE = 1 << 30


class DDFSMaster:
    """What the master keeps for DDFS: the tags, and the nodes to place blobs on."""

    def __init__(self, master: Any) -> None:
        self.master = master
        self.settings = master.settings
        root = os.path.join(self.settings["DISCO_MASTER_ROOT"], "ddfs", "tags")
        self.tags = TagStore(root, lambda name: "%s/ddfs/tag/%s" % (master.url, name))
        self.tags.load()
        from .tagreplicas import TagReplicas
        self.tag_replicas = TagReplicas(self)
        self.tags.replicate = self.tag_replicas.write
        self.tags.unsure = self.tag_replicas.check_missing
        self.space: dict[str, tuple[int, int]] = {}  # host -> (free, used) bytes
        self.handed_out: dict[str, float] = {}  # blob name -> when new_blob named it
        from .gc import Upkeep
        self.upkeep = Upkeep(self)
        self.bad: dict[str, dict[str, str]] = {}  # host -> {bad volume: why}

    async def watch_space(self) -> None:
        """Ask every connected node for its free space, again and again."""
        while True:
            await self.ask_space(self.candidates())
            unheard = any(h not in self.space for h in self.master.scheduler.nodes)
            await asyncio.sleep(1.0 if unheard else SPACE_INTERVAL)

    async def ask_space(self, hosts: list[str]) -> None:
        """Ask ``hosts`` for their space now (a GC run weighing the disks does too)."""
        import tornado.httpclient
        client = tornado.httpclient.AsyncHTTPClient()
        port = self.settings["DDFS_PUT_PORT"]
        for host in hosts:
            try:
                resp = await client.fetch("http://%s:%s/ddfs/space" % (
                    "127.0.0.1" if host == "localhost" else host, port),
                    connect_timeout=2, request_timeout=5)
                got = json.loads(resp.body)
                self.space[host] = (int(got["free"]), int(got["used"]))
                self.note_bad_volumes(host, got.get("bad") or {})
            except Exception as exc:  # a node that does not answer keeps its last word
                log.debug("no free space from %s: %s", host, exc)

    def note_bad_volumes(self, host: str, bad: dict[str, str]) -> None:
        """What a node said of its bad volumes (in its ``/ddfs/space`` answer)."""
        if bad != self.bad.get(host, {}):
            for volume, why in sorted(bad.items()):
                log.warning("node %s: volume %s is bad (%s)", host, volume, why)
        if bad:
            self.bad[host] = dict(bad)
        else:
            self.bad.pop(host, None)

    def bad_volumes(self, host: str) -> list[str]:
        """The volumes of ``host`` that are bad (its replicas there count as missing)."""
        return sorted(self.bad.get(host, {}))

    def replica_present(self, url: str) -> bool:
        """Whether a blob replica ``disco://HOST/ddfs/HOST/volN/...`` is on a volume that
        is not bad (a URL of another form counts as present)."""
        from .reading import replica_host
        parts = url.split("/")
        if len(parts) < 6 or parts[3] != "ddfs":
            return True
        return parts[5] not in self.bad.get(replica_host(url), {})

    def replica_count(self, replicas: list[str]) -> int:
        """The replicas of a blob that count: distinct hosts, none on a bad volume."""
        from .reading import replica_host
        return len({replica_host(u) for u in replicas if self.replica_present(u)})

    def roomy(self, hosts: list[str]) -> list[str]:
        """The hosts with room for new blobs (unknown counts as room)."""
        return [h for h in hosts if self.space.get(h, (MIN_FREE, 0))[0] >= MIN_FREE]

    def candidates(self) -> list[str]:
        gc_black = set(getattr(self.master.nodes, "gc_blacklist", []))
        return sorted(host for host, node in self.master.scheduler.nodes.items()
                      if node.available and host not in gc_black)

    def new_blob(self, prefix: str, replicas: int | None = None,
                 exclude: list[str] = (), include: list[str] = ()) -> list[str]:
        """PUT URLs for a new version of blob ``prefix`` on ``replicas`` nodes."""
        if not valid_name(prefix):
            raise TagError(403, "Invalid prefix. A blob prefix is characters A-Z a-z 0-9 _ - "
                           "@ :, got %r" % prefix[:600])
        k = int(self.settings["DDFS_BLOB_REPLICAS"]) if replicas is None else replicas
        if k < 1:
            raise TagError(403, "Invalid replicas: ask for at least 1, got %d" % k)
        known = set(self.master.scheduler.nodes)
        if k > len(known):
            raise TagError(403, "Not enough nodes for replicas. %d asked, the cluster has %d "
                           "node(s)" % (k, len(known)))
        usable = self.candidates()
        unknown = [h for h in include if h not in known]
        if unknown:
            raise TagError(403, "Requested Replica not found. %s not in the node table"
                           % ", ".join(unknown))
        chosen = [h for h in dict.fromkeys(include) if h in usable][:k]
        others = [h for h in usable if h not in chosen and h not in exclude]
        if len(chosen) + len(others) < k:
            raise TagError(403, "Not enough nodes for replicas. %d asked, %d node(s) usable "
                           "(connected, not blacklisted%s)"
                           % (k, len(chosen) + len(others),
                              ", not excluded" if exclude else ""))
        roomy = self.roomy(others)
        weighted = self.space_aware(others, k - len(chosen))
        if weighted is not None:
            chosen += weighted
        elif len(roomy) >= k - len(chosen):
            chosen += random.sample(roomy, k - len(chosen))
        else:  # too few with room: those with the most
            others.sort(key=lambda h: self.space.get(h, (0, 0))[0], reverse=True)
            chosen += others[:k - len(chosen)]
        name = "%s$%s" % (blob_prefix(prefix), timestamp())
        self.handed_out[name] = time.time()
        port = self.settings["DDFS_PUT_PORT"]
        return ["http://%s:%s/ddfs/%s" % (host, port, name) for host in chosen]


    def recent_blobs(self, since: float) -> set[str]:
        """The blobs ``new_blob`` named after ``since`` (being written, maybe not tagged
        yet: GC keeps them); older ones are forgotten."""
        for name, when in list(self.handed_out.items()):
            if when < since:
                del self.handed_out[name]
        return set(self.handed_out)

    def space_aware(self, hosts: list[str], k: int) -> list[str] | None:
        """With ``DDFS_SPACE_AWARE``: ``k`` of ``hosts`` drawn at random without
        replacement, each weighted by its share of free space (its free bytes with
        ``DDFS_ABSOLUTE_SPACE``); None without the setting, when a host has not said its
        space yet, or when too few have room (the default choice then)."""
        if not k or not _on(self.settings.get("DDFS_SPACE_AWARE")):
            return None
        absolute = _on(self.settings.get("DDFS_ABSOLUTE_SPACE"))
        weights = {}
        for host in hosts:
            if host not in self.space:  # not heard from yet: no weights to go by
                return None
            free, used = self.space[host]
            weight = free if absolute else free / max(1, free + used)
            if weight > 0:
                weights[host] = float(weight)
        if len(weights) < k:
            return None
        chosen = []
        for _ in range(k):
            total = sum(weights.values())
            point = random.uniform(0, total)
            for host, weight in weights.items():
                point -= weight
                if point <= 0:
                    break
            chosen.append(host)
            del weights[host]
        return chosen


def _on(value: Any) -> bool:
    """A flag setting: set and not ``0``/``false``/``no``/``off``."""
    return bool(value) and str(value).strip().lower() not in ("0", "false", "no", "off")


def request_token(request: Any) -> str | None:
    """The token of ``Authorization: Basic base64("token:<T>")``; None without one."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, token = base64.b64decode(value.strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return token if sep and user == "token" else None


def flag(handler: tornado.web.RequestHandler, name: str) -> bool:
    """A query flag counts when present and non-empty (``update=1``, not ``update=``)."""
    return bool(handler.get_query_argument(name, ""))


@tornado.web.stream_request_body
class DDFSHandler(tornado.web.RequestHandler):
    """JSON replies and errors; the body streams in up to :data:`MAX_TAG_BODY` bytes."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")

    def initialize(self, ddfs: DDFSMaster) -> None:
        self.ddfs = ddfs
        self.chunks: list[bytes] = []
        self.size = 0

    def prepare(self) -> None:
        # the limit is ours to enforce, with a 413 the client can read (not Tornado's 400)
        self.request.connection.set_max_body_size(1 << 62)
        length = self.request.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > MAX_TAG_BODY:
            self.reply("Request body too large: a tag body is at most %d bytes"
                       % MAX_TAG_BODY, 413)

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_TAG_BODY:
            if not self._finished:
                self.reply("Request body too large: a tag body is at most %d bytes"
                           % MAX_TAG_BODY, 413)
            return
        self.chunks.append(chunk)

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")

    def reply(self, value: Any, status: int = 200) -> None:
        if self._finished:  # refused while the body came (too large): said already
            return
        self.set_status(status)
        self.finish(json.dumps(value))

    def json_body(self) -> Any:
        try:
            return json.loads(b"".join(self.chunks) or b"null")
        except ValueError:
            raise TagError(403, "Invalid request body. Send JSON.") from None

    @property
    def token(self) -> str | None:
        return request_token(self.request)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif status_code >= 500:
            message = "Internal server error: %s" % (exc or self._reason)
        else:
            message = self._reason
        self.finish(json.dumps(message))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, TagError):
            if not self._finished:
                self.reply(e.message, e.status)
            return
        super()._handle_request_exception(e)  # type: ignore[misc]


class NewBlobHandler(DDFSHandler):
    def get(self, prefix: str) -> None:
        replicas = self.get_query_argument("replicas", "")
        try:
            k = int(replicas) if replicas else None
        except ValueError:
            raise TagError(403, "Invalid replicas %r: give a number" % replicas) from None

        def hosts(arg: str) -> list[str]:
            return [h for h in self.get_query_argument(arg, "").split(",") if h]
        self.reply(self.ddfs.new_blob(prefix, k, hosts("exclude"), hosts("include")))


class TagsHandler(DDFSHandler):
    def get(self, prefix: str = "") -> None:
        self.reply(self.ddfs.tags.names(prefix.strip("/")))


class TagHandler(DDFSHandler):
    """``/ddfs/tag/<tag>`` and ``/ddfs/tag/<tag>/<attr>``."""

    async def get(self, name: str, attr: str | None = None) -> None:
        self.reply(await self.ddfs.tags.get(name, attr, self.token))

    async def post(self, name: str, attr: str | None = None) -> None:
        if attr is not None:
            raise TagError(405, "Attributes are set with PUT, not POST")
        urls = self.json_body()
        self.reply(await self.ddfs.tags.append(name, urls, self.token, flag(self, "update"),
                                               flag(self, "delayed")))

    async def put(self, name: str, attr: str | None = None) -> None:
        if attr is None or attr == "ddfs:urls":
            self.reply(await self.ddfs.tags.replace(name, self.json_body(), self.token))
            return
        if self.size > 4096:
            raise TagError(403, "Attribute value too big. An attribute value is at most "
                           "4096 bytes of JSON")
        self.reply(await self.ddfs.tags.set_attr(name, attr, self.json_body(), self.token))

    async def delete(self, name: str, attr: str | None = None) -> None:
        if attr is None:
            self.reply(await self.ddfs.tags.delete(name, self.token))
        else:
            self.reply(await self.ddfs.tags.del_attr(name, attr, self.token))


def master_routes(master: Any) -> list[tuple]:
    from .ctrl import ctrl_routes
    ddfs = DDFSMaster(master)
    master.ddfs = ddfs
    kw = {"ddfs": ddfs}
    return [(r"/ddfs/new_blob/([^/]+)", NewBlobHandler, kw),
            (r"/ddfs/tags/?(.*)", TagsHandler, kw),
            *ctrl_routes(ddfs),
            (r"/ddfs/tag/([^/]+)/([^/]+)", TagHandler, kw),
            (r"/ddfs/tag/([^/]+)/?", TagHandler, kw)]
