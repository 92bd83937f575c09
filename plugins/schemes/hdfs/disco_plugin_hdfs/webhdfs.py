"""A small WebHDFS client: the REST protocol of HDFS's namenode, as Hadoop publishes it.

``hdfs://NAMENODE:PORT/PATH`` names ``PATH`` on the namenode whose WebHDFS (HTTP) service
listens on ``NAMENODE:PORT`` (50070 when left out, Hadoop 2's default; Hadoop 3 uses 9870).
Requests go to ``http://NAMENODE:PORT/webhdfs/v1/PATH?op=...``:

* ``GETFILESTATUS`` and ``LISTSTATUS`` answer JSON (``{"FileStatus": {...}}``,
  ``{"FileStatuses": {"FileStatus": [...]}}``);
* ``OPEN`` answers ``307 Temporary Redirect`` to a datanode, which sends the bytes;
  ``offset=N`` starts the file at byte N (how a read cut off part-way goes on);
* ``CREATE`` is two requests: a ``PUT`` without a body to the namenode, answered with a
  ``307`` naming a datanode, and the ``PUT`` of the data to that datanode (``201``);
* errors are a status and ``{"RemoteException": {"exception": ..., "javaClassName": ...,
  "message": ...}}``.

``user.name=USER`` is sent with every request when a user is given (simple
authentication, an insecure cluster's). Network failures and the namenode's refusals are
:class:`~disco_core.errors.DataError` naming the ``hdfs://`` URL, so a task is retried.
"""
from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from disco_core.comm import ResumingStream, open_remote
from disco_core.errors import CommError, DataError, DiscoError

DEFAULT_PORT = 50070
FORM = "hdfs://NAMENODE:PORT/PATH (PORT 50070 when left out)"
RETRIES = 3
TIMEOUT = 600.0


class HDFSError(DataError):
    """The namenode or a datanode refused a request; ``exception`` is the Java exception's
    short name (``FileNotFoundException``, ``AccessControlException``, ...)."""

    def __init__(self, message: str, url: str, exception: str = "",
                 status: int | None = None) -> None:
        super().__init__(message, url, status)
        self.exception = exception


def parse_url(url: str) -> tuple[str, int, str]:
    """``(namenode, port, path)`` of ``hdfs://NAMENODE:PORT/PATH`` (``%20`` in the URL is a
    space of the path)."""
    if not isinstance(url, str) or not url.startswith("hdfs://"):
        raise DiscoError("not an hdfs:// URL: %r; the form is %s" % (url, FORM))
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise DiscoError("bad hdfs URL %r: PORT is a number 1-65535; the form is %s"
                         % (url, FORM)) from None
    if not parts.hostname:
        raise DiscoError("bad hdfs URL %r: no namenode; the form is %s" % (url, FORM))
    if not parts.path or parts.path == "/":
        raise DiscoError("bad hdfs URL %r: no path; the form is %s" % (url, FORM))
    return parts.hostname, port, unquote(parts.path)


class WebHDFS:
    """Requests to one namenode, as one user (``None``: no ``user.name``)."""

    def __init__(self, host: str, port: int, user: str | None = None,
                 timeout: float = TIMEOUT) -> None:
        self.host = host
        self.port = port
        self.user = user or None
        self.timeout = timeout

    @classmethod
    def of(cls, url: str, user: str | None = None) -> tuple["WebHDFS", str]:
        host, port, path = parse_url(url)
        return cls(host, port, user), path

    def hdfs_url(self, path: str) -> str:
        """The ``hdfs://`` URL of ``path`` (its characters quoted as a URL's path)."""
        return "hdfs://%s:%d/%s" % (self.host, self.port, quote(path.lstrip("/")))

    def http_url(self, path: str, op: str, **params: Any) -> str:
        query = {"op": op}
        if self.user:
            query["user.name"] = self.user
        query.update({k: str(v).lower() if isinstance(v, bool) else str(v)
                      for k, v in params.items() if v is not None})
        return "http://%s:%d/webhdfs/v1/%s?%s" % (
            self.host, self.port, quote(path.lstrip("/")), urlencode(query))

    # -- requests -------------------------------------------------------------------------
    def request(self, path: str, op: str, method: str = "GET", data: Any = None,
                headers: dict | None = None, redirects: bool = True,
                url: str | None = None, **params: Any) -> Any:
        """The open response of one request; its errors as :class:`HDFSError`."""
        target = url or self.http_url(path, op, **params)
        try:
            return open_remote(target, method, data, headers=headers, timeout=self.timeout,
                               retries=RETRIES, redirects=redirects)
        except CommError as exc:
            raise self.error(exc, path, op) from None

    def error(self, exc: CommError, path: str, op: str) -> HDFSError:
        """A CommError of a WebHDFS request as an HDFSError naming the hdfs:// URL."""
        text, status = exc.msg, exc.code
        exception, message = "", text
        try:
            remote = json.loads(text)["RemoteException"]
            exception = str(remote.get("exception", ""))
            message = str(remote.get("message", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        url = self.hdfs_url(path)
        if exception:
            what = "WebHDFS %s refused: %s: %s" % (op, exception, message)
        elif status is None:
            what = "WebHDFS %s failed: the namenode %s:%d or its datanode cannot be " \
                   "reached (%s)" % (op, self.host, self.port, message)
        else:
            what = "WebHDFS %s failed: %s" % (op, message)
        return HDFSError(what, url, exception, status)

    def json(self, path: str, op: str, method: str = "GET", **params: Any) -> Any:
        resp = self.request(path, op, method, **params)
        try:
            body = resp.read()
        finally:
            resp.close()
        try:
            return json.loads(body)
        except ValueError:
            raise HDFSError("WebHDFS %s answered something that is not JSON: %r"
                            % (op, body[:200]), self.hdfs_url(path)) from None

    def status(self, path: str) -> dict:
        """``GETFILESTATUS``: the ``FileStatus`` of ``path`` (``type``, ``length``, ...)."""
        return self.json(path, "GETFILESTATUS")["FileStatus"]

    def list(self, path: str) -> list[dict]:
        """``LISTSTATUS``: the ``FileStatus`` of each entry of a directory, by name."""
        found = self.json(path, "LISTSTATUS")["FileStatuses"]["FileStatus"]
        return sorted(found, key=lambda s: s.get("pathSuffix", ""))

    def mkdirs(self, path: str) -> bool:
        return bool(self.json(path, "MKDIRS", "PUT").get("boolean"))

    def open(self, path: str, size: int | None = None) -> "HDFSStream":
        """``OPEN`` (through the datanode the namenode redirects to), streamed, and read on
        from where it stopped (``offset=``) if the connection drops."""
        return HDFSStream(self, path, size)

    def create(self, path: str, source: str, overwrite: bool = True) -> str:
        """``CREATE`` ``path`` with the bytes of the local file ``source``: the namenode
        names a datanode (``307``), which takes the data. The file's ``hdfs://`` URL."""
        resp = self.request(path, "CREATE", "PUT", redirects=False, overwrite=overwrite)
        try:
            location = resp.getheader("Location")
            resp.read()
        finally:
            resp.close()
        if resp.status not in (307, 302, 303) or not location:
            raise HDFSError("WebHDFS CREATE: the namenode answered %d without naming a "
                            "datanode to send the data to (a 307 with a Location)"
                            % resp.status, self.hdfs_url(path))
        try:
            with open(source, "rb") as data:
                headers = {"Content-Type": "application/octet-stream",
                           "Content-Length": str(os.fstat(data.fileno()).st_size)}
                resp = self.request(path, "CREATE", "PUT", data=data, headers=headers,
                                    url=location)
        except OSError as exc:
            raise DataError("cannot read %s to save it to HDFS: %s" % (source, exc.strerror),
                            source) from None
        try:
            resp.read()
        finally:
            resp.close()
        return self.hdfs_url(path)


class HDFSStream(ResumingStream):
    """The bytes of one HDFS file (``OPEN``); ``size`` from its ``FileStatus`` when given."""

    def __init__(self, client: WebHDFS, path: str, size: int | None = None) -> None:
        self.client = client
        self.path = path
        super().__init__(client.hdfs_url(path), timeout=client.timeout, retries=RETRIES,
                         size=size)

    def open_at(self, offset: int) -> Any:
        return self.client.request(self.path, "OPEN", offset=offset or None)
