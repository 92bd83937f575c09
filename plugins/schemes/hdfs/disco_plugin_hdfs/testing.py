"""A WebHDFS server for tests: a namenode and a datanode speaking the published WebHDFS
REST protocol over a local directory, each a real Tornado server on its own port.

It is not HDFS: files are plain files under ``root``, there are no blocks, replicas or
security. What it keeps of the protocol is what a client sees:

* the namenode answers ``GETFILESTATUS``, ``LISTSTATUS`` and ``MKDIRS`` (``DELETE`` too)
  with the JSON of the protocol, and ``OPEN`` and ``CREATE`` with ``307 Temporary
  Redirect`` to the datanode (a ``CREATE`` sent with a body to the namenode is refused, as
  the protocol says the body goes to the datanode only);
* the datanode sends a file from ``offset=`` (``length=`` bytes at most) and stores the
  body of a ``PUT ...?op=CREATE`` (``201 Created``, ``Location: hdfs://...``);
* errors are the protocol's status codes and ``{"RemoteException": {"exception",
  "javaClassName", "message"}}``: ``FileNotFoundException`` (404),
  ``FileAlreadyExistsException`` and ``AccessControlException`` (403),
  ``IllegalArgumentException`` (400, an unknown ``op``).

Tests steer it: :attr:`WebHDFSServer.read_only` (paths nobody may write under),
:attr:`WebHDFSServer.cut_reads` (the next datanode reads send only so many bytes and drop
the connection), and read :attr:`WebHDFSServer.requests` (what each server was asked).
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Any
from urllib.parse import quote

import tornado.web

from disco_core.testing import TornadoServer

PREFIX = "/webhdfs/v1"
_CLASSES = {"FileNotFoundException": "java.io.FileNotFoundException",
            "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
            "AccessControlException": "org.apache.hadoop.security.AccessControlException",
            "IllegalArgumentException": "java.lang.IllegalArgumentException",
            "IOException": "java.io.IOException"}


class RemoteException(Exception):
    def __init__(self, status: int, exception: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.exception = exception
        self.message = message


class _Handler(tornado.web.RequestHandler):
    def initialize(self, server: "WebHDFSServer", role: str) -> None:
        self.server = server
        self.role = role

    def check_xsrf_cookie(self) -> None:
        pass

    def hdfs_path(self, rest: str | None) -> str:
        path = "/" + (rest or "").strip("/")
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise RemoteException(400, "IllegalArgumentException",
                                  "Invalid path name %s" % path)
        return "/" + "/".join(parts)

    def fail(self, exc: RemoteException) -> None:
        self.set_status(exc.status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"RemoteException": {
            "exception": exc.exception, "javaClassName": _CLASSES[exc.exception],
            "message": exc.message}}))

    async def _serve(self, method: str, rest: str | None) -> None:
        op = (self.get_query_argument("op", "") or "").upper()
        self.server.requests.append({"server": self.role, "method": method, "op": op,
                                     "path": "/" + (rest or "").strip("/"),
                                     "user": self.get_query_argument("user.name", None),
                                     "query": dict((k, v[0].decode()) for k, v in
                                                   self.request.query_arguments.items()),
                                     "body": len(self.request.body or b"")})
        try:
            path = self.hdfs_path(rest)
            action = getattr(self, "%s_%s_%s" % (self.role, method.lower(), op.lower()), None)
            if action is None:
                raise RemoteException(400, "IllegalArgumentException",
                                      "Invalid value for webhdfs parameter \"op\": No enum "
                                      "constant for %s: %s" % (method, op or "(none)"))
            await action(path)
        except RemoteException as exc:
            self.fail(exc)

    async def get(self, rest: str | None = None) -> None:
        await self._serve("GET", rest)

    async def put(self, rest: str | None = None) -> None:
        await self._serve("PUT", rest)

    async def delete(self, rest: str | None = None) -> None:
        await self._serve("DELETE", rest)

    # -- the namenode ------------------------------------------------------------------
    def reply(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    async def namenode_get_getfilestatus(self, path: str) -> None:
        self.reply({"FileStatus": self.server.status(path, "")})

    async def namenode_get_liststatus(self, path: str) -> None:
        local = self.server.existing(path)
        if os.path.isdir(local):
            found = [self.server.status(path.rstrip("/") + "/" + name, name)
                     for name in sorted(os.listdir(local))]
        else:
            found = [self.server.status(path, "")]
        self.reply({"FileStatuses": {"FileStatus": found}})

    async def namenode_put_mkdirs(self, path: str) -> None:
        self.server.writable(path, self.get_query_argument("user.name", "dr.who"))
        os.makedirs(self.server.local(path), exist_ok=True)
        self.reply({"boolean": True})

    async def namenode_delete_delete(self, path: str) -> None:
        local = self.server.local(path)
        if not os.path.lexists(local):
            self.reply({"boolean": False})
            return
        if os.path.isdir(local):
            shutil.rmtree(local)
        else:
            os.unlink(local)
        self.reply({"boolean": True})

    def redirect_to_datanode(self, path: str) -> None:
        query = "&".join("%s=%s" % (k, quote(v[0].decode(), safe=""))
                         for k, v in self.request.query_arguments.items())
        self.set_status(307)
        self.set_header("Location", "%s%s%s?%s&namenoderpcaddress=%s:%d" % (
            self.server.datanode.url().rstrip("/"), PREFIX, quote(path), query,
            self.server.namenode.host, self.server.namenode.port))
        self.set_header("Content-Length", "0")
        self.finish()

    async def namenode_get_open(self, path: str) -> None:
        local = self.server.existing(path)
        if os.path.isdir(local):
            raise RemoteException(404, "FileNotFoundException", "Path is not a file: %s" % path)
        self.redirect_to_datanode(path)

    async def namenode_put_create(self, path: str) -> None:
        if self.request.body:
            raise RemoteException(400, "IllegalArgumentException",
                                  "the namenode takes no data: send the file's bytes to the "
                                  "datanode the 307 of the CREATE names")
        self.server.creatable(path, self.get_query_argument("user.name", "dr.who"),
                              self.get_query_argument("overwrite", "false") == "true")
        self.redirect_to_datanode(path)

    # -- the datanode ------------------------------------------------------------------
    async def datanode_get_open(self, path: str) -> None:
        local = self.server.existing(path)
        offset = int(self.get_query_argument("offset", "0") or 0)
        size = os.path.getsize(local)
        if offset < 0 or offset > size:
            raise RemoteException(403, "IOException",
                                  "Offset=%d out of the range [0, %d)" % (offset, size))
        length = self.get_query_argument("length", None)
        end = size if length is None else min(size, offset + int(length))
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(end - offset))
        cut = self.server.take_cut()
        if cut == 0:
            await self.flush()  # the headers, then nothing: as a datanode that died
            self.request.connection.stream.close()
            return
        with open(local, "rb") as f:
            f.seek(offset)
            left = end - offset
            while left:
                chunk = f.read(min(left, 1 << 16, cut if cut is not None else left))
                if not chunk:
                    break
                self.write(chunk)
                await self.flush()
                left -= len(chunk)
                if cut is not None:
                    cut -= len(chunk)
                    if cut <= 0:
                        self.request.connection.stream.close()  # as a datanode that died
                        return
        self.finish()

    async def datanode_put_create(self, path: str) -> None:
        user = self.get_query_argument("user.name", "dr.who")
        self.server.creatable(path, user, self.get_query_argument("overwrite", "false") ==
                              "true")
        local = self.server.local(path)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local + ".part", "wb") as f:
            f.write(self.request.body or b"")
        os.replace(local + ".part", local)
        self.server.owners[path] = user
        self.set_status(201)
        self.set_header("Location", "hdfs://%s:%d%s" % (self.server.namenode.host,
                                                        self.server.namenode.port, path))
        self.set_header("Content-Length", "0")
        self.finish()


class WebHDFSServer:
    """A namenode and a datanode (both on 127.0.0.1) over the directory ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.requests: list[dict] = []
        self.read_only: set[str] = set()
        self.cut_reads: list[int] = []
        self.owners: dict[str, str] = {}
        rule = r"%s(/.*)?" % PREFIX
        self.datanode = TornadoServer([(rule, _Handler, {"server": self, "role": "datanode"})])
        self.namenode = TornadoServer([(rule, _Handler, {"server": self, "role": "namenode"})])

    @property
    def address(self) -> str:
        """The namenode's ``HOST:PORT`` (its WebHDFS port)."""
        return "%s:%d" % (self.namenode.host, self.namenode.port)

    def url(self, path: str) -> str:
        return "hdfs://%s/%s" % (self.address, path.lstrip("/"))

    def local(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def put(self, path: str, data: bytes | str) -> str:
        """Store a file (as a test's setup); its ``hdfs://`` URL."""
        local = self.local(path)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        return self.url(path)

    def read(self, path: str) -> bytes:
        with open(self.local(path), "rb") as f:
            return f.read()

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(self.local(path)))

    # -- what the handlers use ---------------------------------------------------------
    def existing(self, path: str) -> str:
        local = self.local(path)
        if not os.path.exists(local):
            raise RemoteException(404, "FileNotFoundException", "File does not exist: %s" % path)
        return local

    def status(self, path: str, suffix: str) -> dict:
        local = self.existing(path)
        st = os.stat(local)
        directory = os.path.isdir(local)
        return {"accessTime": int(st.st_atime * 1000), "blockSize": 0 if directory else 134217728,
                "childrenNum": len(os.listdir(local)) if directory else 0, "fileId": st.st_ino,
                "group": "supergroup", "length": 0 if directory else st.st_size,
                "modificationTime": int(st.st_mtime * 1000),
                "owner": self.owners.get(path, "hdfs"), "pathSuffix": suffix,
                "permission": "755" if directory else "644",
                "replication": 0 if directory else 3,
                "storagePolicy": 0, "type": "DIRECTORY" if directory else "FILE"}

    def writable(self, path: str, user: str) -> None:
        for locked in self.read_only:
            if path == locked or path.startswith(locked.rstrip("/") + "/"):
                raise RemoteException(403, "AccessControlException",
                                      "Permission denied: user=%s, access=WRITE, "
                                      "inode=\"%s\":hdfs:supergroup:drwxr-xr-x" % (user, locked))

    def creatable(self, path: str, user: str, overwrite: bool) -> None:
        self.writable(path, user)
        local = self.local(path)
        if os.path.isdir(local):
            raise RemoteException(403, "FileAlreadyExistsException",
                                  "%s already exists as a directory" % path)
        if os.path.exists(local) and not overwrite:
            raise RemoteException(403, "FileAlreadyExistsException",
                                  "%s for client 127.0.0.1 already exists" % path)

    def take_cut(self) -> int | None:
        return self.cut_reads.pop(0) if self.cut_reads else None

    def of(self, server: str, op: str) -> list[dict]:
        """The requests ``server`` ("namenode", "datanode") got for ``op``."""
        return [r for r in self.requests if r["server"] == server and r["op"] == op]

    def close(self) -> None:
        self.namenode.close()
        self.datanode.close()
