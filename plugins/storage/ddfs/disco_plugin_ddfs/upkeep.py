"""A node's side of DDFS maintenance: what the master's GC, re-replication and scrub ask
of it, on the node's ``DDFS_PUT_PORT`` under ``/ddfs/upkeep/``. Every request carries the
cluster secret (``X-Disco-Secret``): these delete and copy blobs.

* ``GET /ddfs/upkeep/blobs``: ``{"blobs": {name: [path, size, mtime]}}``, every blob of the
  node (``path`` under ``DDFS_DATA``: ``HOST/volN/blob/hh/name``). Uploads left unfinished
  for more than :data:`PARTIAL_EXPIRES` seconds are deleted on the way.
* ``POST /ddfs/upkeep/delete`` ``["name", ...]``: deletes those blobs and their checksums
  (renamed ``!trash.<name>`` with ``DDFS_PARANOID_DELETE``); ``{"deleted": [...], "bytes": n}``.
* ``POST /ddfs/upkeep/fetch`` ``{"name": ..., "source": URL, "sums": URL}``: copies a blob
  from another node's replica (``source``, read over HTTP from that node's data server,
  which checks it first) and keeps it only if its bytes hash to the checksum ``sums``
  names; the new replica's ``disco://`` URL.
* ``POST /ddfs/upkeep/scrub``: checks every blob against its checksum; a corrupt one (or
  one without a readable checksum) is deleted; ``{"checked": n, "bad": [[name, why]]}``.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from typing import Any

import tornado.httpclient
import tornado.web

from disco_core.access import SECRET_HEADER, same

from .defaults import blob_sync
from .names import BLOB
from .node import _finish_upload
from .volumes import CHECKSUMS, checksum_like, file_checksum, new_hash, read_checksum

log = logging.getLogger("disco.ddfs.upkeep")
#: Seconds an unfinished upload may sit before maintenance deletes it (the original: 1 day).
PARTIAL_EXPIRES = 86400.0
#: Seconds a copy from another node may take (the original: 180 minutes).
FETCH_TIMEOUT = 3 * 3600.0


def _blob_files(volumes: Any) -> dict[str, tuple[str, str]]:
    """``name -> (volume, path)`` of every blob; expired partial uploads deleted."""
    out: dict[str, tuple[str, str]] = {}
    now = time.time()
    for volume in volumes.volumes():
        blobs = os.path.join(volumes.root, volume, "blob")
        if not os.path.isdir(blobs):
            continue
        for sub in sorted(os.listdir(blobs)):
            subdir = os.path.join(blobs, sub)
            for name in os.listdir(subdir) if os.path.isdir(subdir) else ():
                path = os.path.join(subdir, name)
                if name.startswith("!partial-"):
                    try:
                        if now - os.stat(path).st_mtime > PARTIAL_EXPIRES:
                            os.unlink(path)
                            log.info("deleted %s, an upload unfinished for a day", path)
                    except OSError:
                        pass
                elif not name.startswith("!"):
                    out.setdefault(name, (volume, path))
    return out


def inventory(volumes: Any, host: str) -> dict[str, list]:
    out = {}
    for name, (volume, path) in _blob_files(volumes).items():
        try:
            st = os.stat(path)
        except OSError:
            continue
        out[name] = ["%s/%s" % (host, volumes.relpath(volume, name)), st.st_size,
                     st.st_mtime]
    return out


def delete_blobs(volumes: Any, names: list[str], paranoid: bool) -> tuple[list[str], int]:
    """Delete (or trash) every replica of ``names`` on this node and their checksums."""
    deleted, size = [], 0
    for name in names:
        for volume in volumes.volumes():
            path = volumes.path(volume, name)
            try:
                size += os.stat(path).st_size
                if paranoid:
                    os.replace(path, os.path.join(os.path.dirname(path), "!trash." + name))
                else:
                    os.unlink(path)
            except OSError:
                continue
            try:
                os.unlink(volumes.path(volume, name, "sums"))
            except OSError:
                pass
            deleted.append(name)
    return deleted, size


def scrub(volumes: Any) -> tuple[int, list[list[str]]]:
    """Check every blob against its checksum; delete the bad ones."""
    bad = []
    files = _blob_files(volumes)
    for name, (volume, path) in sorted(files.items()):
        expected = read_checksum(volumes.path(volume, name, "sums"))
        try:
            actual = checksum_like(path, expected) if expected else file_checksum(path)
        except OSError as exc:
            actual, why = None, "cannot be read: %s" % exc
        if expected is None:
            why = "has no readable checksum"
        elif actual is not None and not hmac.compare_digest(actual, expected):
            why = "checksum mismatch (%s, %s recorded)" % (actual, expected)
        elif actual is not None:
            continue
        log.error("scrub: blob %s in %s %s: deleted", name, volume, why)
        delete_blobs(volumes, [name], paranoid=False)
        bad.append([name, why])
    return len(files), bad


class UpkeepHandler(tornado.web.RequestHandler):
    def initialize(self, volumes: Any, node: Any) -> None:
        self.volumes = volumes
        self.node = node

    def prepare(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not (self.node.secret and same(given, self.node.secret)):
            raise tornado.web.HTTPError(403, "DDFS maintenance needs the cluster secret")

    def reply(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = self._reason
        if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        self.reply(message, status_code)

    def body(self) -> Any:
        try:
            return json.loads(self.request.body or b"null")
        except ValueError:
            raise tornado.web.HTTPError(400, "the request body is not JSON") from None

    async def in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def get(self, op: str) -> None:
        if op != "blobs":
            raise tornado.web.HTTPError(404, "unknown maintenance operation %r" % op)
        self.reply({"blobs": await self.in_thread(inventory, self.volumes, self.node.host)})

    async def post(self, op: str) -> None:
        body = self.body()
        if op == "delete":
            if not (isinstance(body, list) and all(isinstance(n, str) for n in body)):
                raise tornado.web.HTTPError(400, "expected a JSON list of blob names")
            paranoid = self.node.settings.flag("DDFS_PARANOID_DELETE")
            deleted, size = await self.in_thread(delete_blobs, self.volumes, body, paranoid)
            self.reply({"deleted": deleted, "bytes": size})
        elif op == "scrub":
            checked, bad = await self.in_thread(scrub, self.volumes)
            self.reply({"checked": checked, "bad": bad})
        elif op == "fetch":
            if not (isinstance(body, dict) and all(isinstance(body.get(k), str)
                                                   for k in ("name", "source", "sums"))):
                raise tornado.web.HTTPError(400, 'expected {"name": ..., "source": URL, '
                                            '"sums": URL}')
            self.reply(await self.fetch(body["name"], body["source"], body["sums"]))
        else:
            raise tornado.web.HTTPError(404, "unknown maintenance operation %r" % op)

    def url(self, volume: str, name: str) -> str:
        return "disco://%s/ddfs/%s/%s" % (self.node.host, self.node.host,
                                          self.volumes.relpath(volume, name))

    async def fetch(self, name: str, source: str, sums: str) -> str:
        """Copy blob ``name`` from ``source``; its URL here (see the module docstring)."""
        if not BLOB.fullmatch(name):
            raise tornado.web.HTTPError(400, "invalid blob name %r" % name[:600])
        existing = self.volumes.find(name)
        if existing is not None:
            return self.url(existing, name)
        client = tornado.httpclient.AsyncHTTPClient(force_instance=True,
                                                    max_body_size=1 << 40)
        try:
            expected = (await client.fetch(sums, request_timeout=60)).body.decode().strip()
        except Exception as exc:
            raise tornado.web.HTTPError(502, "cannot read the checksum of %s from %s: %s"
                                        % (name, sums, exc)) from None
        kind = expected.partition(":")[0]
        if kind not in CHECKSUMS:
            raise tornado.web.HTTPError(502, "%s is no checksum: %r" % (sums, expected[:80]))
        volume = self.volumes.choose()
        final = self.volumes.path(volume, name)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        partial = os.path.join(os.path.dirname(final), "!partial-%s.%s"
                               % (name.rsplit("$", 1)[1], name))
        try:
            fileobj = open(partial, "xb")
        except FileExistsError:
            raise tornado.web.HTTPError(409, "blob %s is being copied to %s already"
                                        % (name, self.node.host)) from None
        digest = new_hash(kind)

        def chunk(data: bytes) -> None:
            fileobj.write(data)
            digest.update(data)
        try:
            await client.fetch(source, streaming_callback=chunk, request_timeout=FETCH_TIMEOUT,
                               headers={SECRET_HEADER: self.node.secret})
            actual = "%s:%s" % (kind, digest.hexdigest())
            if not hmac.compare_digest(actual, expected):
                raise tornado.web.HTTPError(502, "the copy of %s from %s is corrupt (checksum "
                                            "%s, %s recorded): not kept" % (name, source,
                                                                            actual, expected))
            await self.in_thread(_finish_upload, partial, final,
                                 self.volumes.path(volume, name, "sums"), expected, fileobj,
                                 blob_sync(self.node.settings))
        except tornado.web.HTTPError:
            raise
        except FileExistsError:
            pass  # copied meanwhile by another request: the same bytes
        except Exception as exc:
            raise tornado.web.HTTPError(502, "cannot copy %s from %s: %s"
                                        % (name, source, exc)) from None
        finally:
            client.close()
            if not fileobj.closed:
                fileobj.close()
            if os.path.exists(partial):
                os.unlink(partial)
        log.info("copied blob %s from %s", name, source)
        return self.url(volume, name)


def upkeep_routes(volumes: Any, node: Any) -> list[tuple]:
    return [(r"/ddfs/upkeep/(\w+)", UpkeepHandler, {"volumes": volumes, "node": node})]
