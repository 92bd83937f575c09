"""A node's side of DDFS: blobs stored with PUT on ``DDFS_PUT_PORT``, read with GET.

* ``PUT http://HOST:DDFS_PUT_PORT/ddfs/<prefix>$<ts>`` streams the body into
  ``!partial-<ts>.<name>`` beside its final place while hashing it, fsyncs it, makes it
  read-only, records its checksum, and only then links it under its name: a blob that can be
  seen is whole, and a name is never stored twice (the link fails if the name exists; the
  reply is 409). 201 with the blob's ``disco://`` URL as a JSON string.
* ``GET|HEAD http://HOST:DISCO_PORT/ddfs/<path>`` serves files of ``DDFS_DATA`` (byte ranges
  too); a blob whose bytes no longer match its recorded checksum is refused with a 500 (so
  a reader goes on to another replica) and left in place for an operator to look at.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from typing import Any

import tornado.web

from disco_core.dataserver import DataHandler
from disco_core.errors import DataError

from .names import BLOB
from .volumes import CHECKSUM, LocalVolumes, new_hash, verify

log = logging.getLogger("disco.ddfs.node")
MAX_BLOB = 1 << 40
BLOB_PATH = re.compile(r"[^/]+/(vol\d+)/blob/[0-9a-f]{2}/([^/]+)")


def node_root(settings: Any, host: str) -> str:
    """Where a node keeps its volumes: ``DDFS_DATA/<host>``."""
    return os.path.join(settings["DDFS_DATA"], host)


def volumes_of(settings: Any, host: str) -> Any:
    """The node's volumes through the ``disco.volumes`` driver ``DDFS_VOLUMES``."""
    from disco_core.plugins import get_host
    driver = get_host().driver("volume", settings["DDFS_VOLUMES"])
    return driver(node_root(settings, host))


def _json_error(handler: tornado.web.RequestHandler, status: int, message: str) -> None:
    handler.set_status(status)
    handler.set_header("Content-Type", "application/json")
    handler.finish(json.dumps(message))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_small(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".partial"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _finish_upload(partial: str, final: str, sum_path: str, checksum: str,
                   fileobj: Any) -> None:
    """fsync, read-only, checksum, then the name: the blob appears whole or not at all."""
    fileobj.flush()
    os.fsync(fileobj.fileno())
    fileobj.close()
    try:
        os.chmod(partial, 0o400)
        if os.path.exists(final):
            raise FileExistsError(final)
        _write_small(sum_path, checksum)
        os.link(partial, final)
    finally:
        os.unlink(partial)
    _fsync_dir(os.path.dirname(final))


@tornado.web.stream_request_body
class BlobPutHandler(tornado.web.RequestHandler):
    """``PUT /ddfs/<prefix>$<ts>``: store one blob (see the module docstring)."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

    def initialize(self, volumes: Any, host: str) -> None:
        self.volumes = volumes
        self.host = host
        self.file: Any = None
        self.partial = ""

    def prepare(self) -> None:
        if self.request.method != "PUT":
            _json_error(self, 501, "Method not supported: blobs are stored with PUT")
            return
        self.request.connection.set_max_body_size(MAX_BLOB)
        objname = self.path_args[0] if self.path_args else ""
        if not BLOB.fullmatch(objname):
            _json_error(self, 403, "Invalid blob name %r: ask the master for one "
                        "(GET /ddfs/new_blob/<prefix>)" % objname[:600])
            return
        self.objname = objname
        existing = self.volumes.find(objname)
        if existing is not None:
            _json_error(self, 409, "Blob %s exists on %s (in %s): a blob is never written "
                        "twice; ask the master for a new name" % (objname, self.host,
                                                                  existing))
            return
        try:
            self.volume = self.volumes.choose()
        except OSError as exc:
            log.error("cannot store blob %s: %s", objname, exc)
            _json_error(self, 507, "Cannot store blob %s on %s: %s" % (objname, self.host, exc))
            return
        final = self.volumes.path(self.volume, objname)
        ts = objname.rsplit("$", 1)[1]
        partial = os.path.join(os.path.dirname(final), "!partial-%s.%s" % (ts, objname))
        try:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            _json_error(self, 409, "Blob %s is being uploaded to %s already"
                        % (objname, self.host))
            return
        except OSError as exc:
            self._volume_failed(exc)
            return
        self.partial = partial
        self.file = os.fdopen(fd, "wb")
        self.hash = new_hash()

    def data_received(self, chunk: bytes) -> None:
        if self.file is None or self._finished:
            return
        try:
            self.file.write(chunk)
        except OSError as exc:  # a full disk, say: the upload fails, the node goes on
            self._discard()
            self._volume_failed(exc)
            return
        self.hash.update(chunk)

    def _volume_failed(self, exc: OSError) -> None:
        """A write to the chosen volume failed: it is bad for a while (the next upload
        goes to another volume) and this one fails with a 507 the client retries."""
        log.error("storing blob %s in %s failed: %s", self.objname, self.volume, exc)
        if hasattr(self.volumes, "write_failed"):
            self.volumes.write_failed(self.volume, exc)
        _json_error(self, 507, "Cannot store blob %s on %s (volume %s): %s"
                    % (self.objname, self.host, self.volume, exc.strerror or exc))

    def _discard(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.partial:
            try:
                os.unlink(self.partial)
            except FileNotFoundError:
                pass
            self.partial = ""

    def on_connection_close(self) -> None:
        self._discard()  # a half-written blob never gets its name
        super().on_connection_close()

    async def put(self, _name: str) -> None:
        if self._finished or self.file is None:
            return
        final = self.volumes.path(self.volume, self.objname)
        sums = self.volumes.path(self.volume, self.objname, "sums")
        checksum = "%s:%s" % (CHECKSUM, self.hash.hexdigest())
        fileobj, self.file = self.file, None
        partial, self.partial = self.partial, ""
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, _finish_upload, partial, final, sums, checksum, fileobj)
        except FileExistsError:
            _json_error(self, 409, "Blob %s exists on %s: a blob is never written twice"
                        % (self.objname, self.host))
            return
        except OSError as exc:
            self._volume_failed(exc)
            return
        url = "disco://%s/ddfs/%s/%s" % (self.host, self.host,
                                         self.volumes.relpath(self.volume, self.objname))
        self.set_status(201)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(url))

    get = head = post = delete = patch = options = put  # type: ignore[assignment]


class BlobGetHandler(DataHandler):
    """Files of ``DDFS_DATA``; blobs are checked against their checksum first (again after
    :data:`VERIFIED_FOR` seconds, or at once when the file changed)."""

    async def get(self, path: str, include_body: bool = True) -> None:
        m = BLOB_PATH.fullmatch(path)
        if m is not None:
            blob = os.path.join(self.root, path)
            if os.path.isfile(blob):
                try:
                    await asyncio.get_running_loop().run_in_executor(None, verify, blob)
                except DataError as exc:
                    self.set_status(500)
                    self.set_header("Content-Type", "text/plain; charset=utf-8")
                    self.finish(exc.msg)
                    return
        await super().get(path, include_body)


class SpaceHandler(tornado.web.RequestHandler):
    """``GET /ddfs/space`` on the PUT port: ``{"free": bytes, "used": bytes, "bad":
    {volume: why}}`` of the node's volumes, which the master asks for to place blobs (and
    shows in nodeinfo)."""

    def initialize(self, volumes: Any) -> None:
        self.volumes = volumes

    def get(self) -> None:
        free, used = self.volumes.space()
        bad = self.volumes.bad() if hasattr(self.volumes, "bad") else {}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"free": free, "used": used, "bad": bad}))


def node_routes(node: Any) -> list[tuple]:
    return [(r"/ddfs/(.+)", BlobGetHandler, {"path": node.settings["DDFS_DATA"]})]


def start_put_server(node: Any) -> Any:
    """Serve PUTs of blobs on ``HOST:DDFS_PUT_PORT``."""
    s = node.settings
    volumes = volumes_of(s, node.host)
    for path in volumes.drop_partials():
        log.info("deleted %s, an upload the node's last run did not finish", path)
    from .nodetags import tag_routes
    secret = getattr(node, "secret", "") or os.environ.get("DISCO_CLUSTER_SECRET", "")
    app = tornado.web.Application([(r"/ddfs/space", SpaceHandler, {"volumes": volumes}),
                                   *tag_routes(volumes, secret),
                                   (r"/ddfs/([^/]+)", BlobPutHandler,
                                    {"volumes": volumes, "host": node.host})])
    address = "127.0.0.1" if node.host == "localhost" else node.host
    server = app.listen(int(s["DDFS_PUT_PORT"]), address=address, max_body_size=MAX_BLOB)
    log.info("DDFS blobs of %s in %s, PUT on %s:%s", node.host, volumes.root, address,
             s["DDFS_PUT_PORT"])
    return server


__all__ = ["node_routes", "start_put_server", "LocalVolumes"]
