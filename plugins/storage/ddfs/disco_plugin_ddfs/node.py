"""A node's side of DDFS: blobs stored with PUT on ``DDFS_PUT_PORT``, read with GET.

* ``PUT http://HOST:DDFS_PUT_PORT/ddfs/<prefix>$<ts>`` streams the body into
  ``!partial-<ts>.<name>`` beside its final place while hashing it, fsyncs it (with
  ``DDFS_BLOB_SYNC``: :func:`.defaults.blob_sync`), makes it read-only, records its
  checksum, and only then links it under its name: a blob that can be
  seen is whole, and a name is never stored twice (the link fails if the name exists; the
  reply is 409). 201 with the blob's ``disco://`` URL as a JSON string.
* ``GET|HEAD http://HOST:DISCO_PORT/ddfs/<path>`` serves files of ``DDFS_DATA`` (byte ranges
  too); a blob whose bytes no longer match its recorded checksum is refused with a 500 (so
  a reader goes on to another replica) and left in place for an operator to look at.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import logging
import os
import re
import socket
from typing import Any

import tornado.iostream
import tornado.web
from tornado.httputil import responses

from disco_core.dataserver import DataHandler
from disco_core.errors import DataError

from .defaults import blob_sync
from .names import BLOB
from .receiving import BODY_TIMEOUT, WRITEBACK, ClientGone, receive_body, send_all, start_writeback
from .volumes import CHECKSUM, LocalVolumes, mark_verified, new_hash, verify

log = logging.getLogger("disco.ddfs.node")
MAX_BLOB = 1 << 40
#: Bytes the PUT server reads from a connection at a time (Tornado's default is 64 KiB).
READ_CHUNK = 1 << 16
#: Pieces of a chunked upload read ahead of the one being written and hashed.
WRITES_AHEAD = 4
BLOB_PATH = re.compile(r"[^/]+/(vol\d+)/blob/[0-9a-f]{2}/([^/]+)")


def node_root(settings: Any, host: str) -> str:
    """Where a node keeps its volumes: ``DDFS_DATA/<host>``."""
    return os.path.join(settings["DDFS_DATA"], host)


def volumes_of(settings: Any, host: str) -> Any:
    """The node's volumes through the ``disco.volumes`` driver ``DDFS_VOLUMES``."""
    from disco_core.plugins import get_host
    driver = get_host().driver("volume", settings["DDFS_VOLUMES"])
    volumes = driver(node_root(settings, host))
    capacity = volume_capacity(settings.get("DDFS_VOLUME_CAPACITY"))
    if capacity and hasattr(volumes, "capacity"):
        volumes.capacity = capacity
    return volumes


def volume_capacity(value: Any) -> int:
    """``DDFS_VOLUME_CAPACITY`` in bytes (0 when unset); a value that is not a number of
    bytes is logged, naming the fix, and left out (the file systems' use counts)."""
    if value in (None, "", 0, "0"):
        return 0
    try:
        capacity = int(float(value))
        if capacity > 0:
            return capacity
    except (TypeError, ValueError, OverflowError):
        pass
    log.error("DDFS_VOLUME_CAPACITY=%r is not a number of bytes above 0: the volumes' file "
              "systems give the disk use; set it to bytes (e.g. 1e12) or unset it", value)
    return 0


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


def _write_small(path: str, text: str, sync: bool = True) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".partial"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
        f.flush()
        if sync:
            os.fsync(f.fileno())
    os.replace(tmp, path)


def _finish_upload(partial: str, final: str, sum_path: str, checksum: str,
                   fileobj: Any, sync: bool = True) -> None:
    """fsync (with ``sync``: ``DDFS_BLOB_SYNC``), read-only, checksum, then the name: the
    blob appears whole or not at all."""
    fileobj.flush()
    if sync:
        os.fsync(fileobj.fileno())
    fileobj.close()
    try:
        os.chmod(partial, 0o400)
        if os.path.exists(final):
            raise FileExistsError(final)
        _write_small(sum_path, checksum, sync)
        os.link(partial, final)
    finally:
        os.unlink(partial)
    if sync:
        _fsync_dir(os.path.dirname(final))


class BlobWriter:
    """Writes and hashes an upload's pieces in a thread of its own, in order, while the
    node's loop reads the next ones: the hash (which lets go of the GIL) runs beside the
    reading. At most :data:`WRITES_AHEAD` pieces wait; then :meth:`add` returns what to
    wait for, so Tornado reads no more until the writer catches up. With ``writeback`` (a
    blob fsynced at its end), every :data:`WRITEBACK` bytes the disk is asked to start
    writing what came so far."""

    def __init__(self, file: Any, hash: Any, writeback: bool = True) -> None:
        self.file, self.hash, self.writeback = file, hash, writeback
        self.error: OSError | None = None
        self.pool = concurrent.futures.ThreadPoolExecutor(1, "ddfs-put")
        self.waiting: collections.deque = collections.deque()
        self.written = self.synced = 0

    def _write(self, chunk: bytes) -> None:
        if self.error is not None:
            return
        try:
            self.file.write(chunk)
            self.written += len(chunk)
            if self.writeback and self.written - self.synced >= WRITEBACK:
                self.file.flush()
                start_writeback(self.file.fileno(), self.synced, self.written - self.synced)
                self.synced = self.written
        except OSError as exc:
            self.error = exc
            return
        except ValueError:  # the upload was dropped meanwhile (its file closed)
            return
        self.hash.update(chunk)

    def submit(self, chunk: Any) -> "asyncio.Future[None]":
        """Write and hash ``chunk`` after those before it; done when it is."""
        future = asyncio.wrap_future(self.pool.submit(self._write, chunk))
        waiting = self.waiting
        waiting.append(future)
        while waiting and waiting[0].done():
            waiting.popleft()
        return future

    def add(self, chunk: bytes) -> Any:
        self.submit(chunk)
        return self.waiting[0] if len(self.waiting) > WRITES_AHEAD else None

    async def drain(self) -> None:
        if self.waiting:
            await self.waiting[-1]  # one thread, in order: the last done is all done
        self.waiting.clear()

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _take_buffered(stream: Any, length: int) -> Any:
    """Stop the loop from watching ``stream``'s socket (an idle Tornado stream reads a piece
    off it whenever it can: those bytes would be missing from the body read in a thread),
    and take the bytes of the body Tornado read past the headers (a piece or two of
    :data:`READ_CHUNK` bytes): at once, there is no await between the two."""
    stream.io_loop.remove_handler(stream.fileno())
    held = min(stream._read_buffer_size, length)  # Tornado's count of the bytes it holds
    if not held:
        return b""
    view = memoryview(bytearray(held))
    future = stream.read_into(view)  # done at once: the bytes are in its buffer
    if not future.done():
        raise RuntimeError("Tornado did not hand over the %d bytes it held" % held)
    return view


def fixed_length(headers: Any) -> int | None:
    """The body's length when the request gives one (and is not chunked)."""
    if "Transfer-Encoding" in headers:
        return None
    text = headers.get("Content-Length", "")
    return int(text) if text.strip().isdigit() else None


@tornado.web.stream_request_body
class BlobPutHandler(tornado.web.RequestHandler):
    """``PUT /ddfs/<prefix>$<ts>``: store one blob (see the module docstring)."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

    def initialize(self, volumes: Any, host: str, sync: bool = True) -> None:
        self.volumes = volumes
        self.host = host
        self.sync = sync           # DDFS_BLOB_SYNC
        self.file: Any = None
        self.writer: BlobWriter | None = None
        self.partial = ""
        self.raw: Any = None       # the connection, once taken from Tornado
        self.replied: Any = None   # the write of the reply on it

    async def prepare(self) -> None:
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
        length = fixed_length(self.request.headers)
        if length is not None and length > MAX_BLOB:
            self._discard()
            _json_error(self, 413, "Blob too large: a blob is at most %d bytes" % MAX_BLOB)
        elif length is not None:
            await self._receive_detached(length)

    async def _receive_detached(self, length: int) -> None:
        """Take a body of known length from Tornado: the socket out of the loop's hands at
        once, what Tornado read past the headers, then the rest off the socket in a thread
        (:func:`.receiving.receive_body`); store the blob, answer on the socket, close it.
        Tornado does nothing more with the request."""
        expect = self.request.headers.get("Expect", "").lower() == "100-continue"
        stream = self.raw = self.request.connection.detach()
        self._finished = True  # Tornado's request handling ends with this method
        loop = asyncio.get_running_loop()
        try:
            first = _take_buffered(stream, length)
            if expect:
                await loop.run_in_executor(None, send_all, stream.socket.fileno(),
                                           b"HTTP/1.1 100 (Continue)\r\n\r\n")
            error = await loop.run_in_executor(
                None, receive_body, stream.socket.fileno(), self.file.fileno(), self.hash,
                length, first, BODY_TIMEOUT, self.sync)
            if error is not None:
                self._write_failed(error)
            else:
                await self.put("")
            if self.replied is not None:
                await self.replied
        except (OSError, ClientGone) as exc:
            log.info("upload of blob %s dropped: %s", self.objname, exc)
            self._discard()  # the client went away: a half-written blob never gets its name
        except Exception as exc:
            log.error("storing blob %s failed: %s", self.objname, exc)
            self._discard()
        finally:
            stream.close()

    def data_received(self, chunk: bytes) -> Any:
        if self.file is None or self._finished:
            return None
        if self.writer is None:
            self.writer = BlobWriter(self.file, self.hash, self.sync)
        if self.writer.error is not None:
            self._write_failed(self.writer.error)
            return None
        return self.writer.add(chunk)  # awaitable when the writer is behind: wait for it

    def _write_failed(self, exc: OSError) -> None:
        # a full disk, say: the upload fails, the node goes on
        self._discard()
        self._volume_failed(exc)

    def _reply(self, status: int, value: Any) -> None:
        """The JSON reply, through Tornado, or on the connection taken from it."""
        if self.raw is None:
            _json_error(self, status, value)
            return
        body = json.dumps(value).encode("utf-8")
        head = ("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                "Connection: close\r\n\r\n" % (status, responses.get(status, "Unknown"),
                                                 len(body)))
        self.replied = asyncio.get_running_loop().run_in_executor(
            None, send_all, self.raw.socket.fileno(), head.encode("ascii") + body)

    def _volume_failed(self, exc: OSError) -> None:
        """A write to the chosen volume failed: it is bad for a while (the next upload
        goes to another volume) and this one fails with a 507 the client retries."""
        log.error("storing blob %s in %s failed: %s", self.objname, self.volume, exc)
        if hasattr(self.volumes, "write_failed"):
            self.volumes.write_failed(self.volume, exc)
        self._reply(507, "Cannot store blob %s on %s (volume %s): %s"
                    % (self.objname, self.host, self.volume, exc.strerror or exc))

    def _discard(self) -> None:
        if self.writer is not None:
            self.writer.stop()
            self.writer = None
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
        if self.file is None or (self._finished and self.raw is None):
            return
        if self.writer is not None:
            await self.writer.drain()
            error = self.writer.error
            self.writer.stop()
            self.writer = None
            if error is not None:
                self._write_failed(error)
                return
        final = self.volumes.path(self.volume, self.objname)
        sums = self.volumes.path(self.volume, self.objname, "sums")
        checksum = "%s:%s" % (CHECKSUM, self.hash.hexdigest())
        fileobj, self.file = self.file, None
        partial, self.partial = self.partial, ""
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, _finish_upload, partial, final, sums, checksum, fileobj, self.sync)
        except FileExistsError:
            self._reply(409, "Blob %s exists on %s: a blob is never written twice"
                        % (self.objname, self.host))
            return
        except OSError as exc:
            self._volume_failed(exc)
            return
        mark_verified(final)  # its bytes are the ones just hashed: a read now needs no check
        url = "disco://%s/ddfs/%s/%s" % (self.host, self.host,
                                         self.volumes.relpath(self.volume, self.objname))
        self._reply(201, url)

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
            if include_body and "Range" not in self.request.headers \
                    and os.path.isfile(blob):
                await self._send_whole(blob)
                return
        await super().get(path, include_body)

    async def _send_whole(self, path: str) -> None:
        """A whole blob with ``sendfile`` in a thread: the kernel copies it from the page
        cache to the socket (Tornado would read and write it 64 KiB at a time). The
        connection is taken from Tornado and closed after the blob."""
        size = os.path.getsize(path)
        stream = self.detach()
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                "Content-Length: %d\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n"
                % size)
        try:
            await stream.write(head.encode("ascii"))
            await asyncio.get_running_loop().run_in_executor(
                None, send_file, stream.socket.fileno(), path, size)
        except (tornado.iostream.StreamClosedError, OSError) as exc:
            log.debug("sending %s stopped: %s", path, exc)
        finally:
            stream.close()


def send_file(fd: int, path: str, size: int, timeout: float = 600.0) -> None:
    """``size`` bytes of ``path`` to the socket ``fd`` (a loop's non-blocking socket: its
    own socket object waits for room with a timeout)."""
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.settimeout(timeout)
        with open(path, "rb") as f:
            sock.sendfile(f, 0, size)
    finally:
        sock.close()


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
    sync = blob_sync(s)  # a bad value stops the node here, naming the setting
    volumes = volumes_of(s, node.host)
    for path in volumes.drop_partials():
        log.info("deleted %s, an upload the node's last run did not finish", path)
    from .nodetags import tag_routes
    from .upkeep import upkeep_routes
    secret = getattr(node, "secret", "") or os.environ.get("DISCO_CLUSTER_SECRET", "")
    app = tornado.web.Application([(r"/ddfs/space", SpaceHandler, {"volumes": volumes}),
                                   *upkeep_routes(volumes, node),
                                   *tag_routes(volumes, secret),
                                   (r"/ddfs/([^/]+)", BlobPutHandler,
                                    {"volumes": volumes, "host": node.host,
                                     "sync": sync})])
    address = "127.0.0.1" if node.host == "localhost" else node.host
    server = app.listen(int(s["DDFS_PUT_PORT"]), address=address, max_body_size=MAX_BLOB,
                        chunk_size=READ_CHUNK)
    log.info("DDFS blobs of %s in %s, PUT on %s:%s", node.host, volumes.root, address,
             s["DDFS_PUT_PORT"])
    return server


__all__ = ["node_routes", "start_put_server", "LocalVolumes"]
