"""HTTP for clients, workers, nodes and plugins: REST requests with retries, and data streams.

It sits below all of them (it needs only :mod:`.errors`, :mod:`.access` and :mod:`.util`), so
the node and the worker use it without importing the client; ``disco_core.client.comm``
re-exports it. Requests to this process's master carry its token (:mod:`.access`).

Connection errors and HTTP 503 are retried with short random sleeps; other non-2xx replies
raise :class:`CommError` carrying the body (the master's JSON error message) and status.

With ``DISCO_PROXY`` set (a client that can reach only the master, through that address),
a request for a host of the cluster's node table goes through the master instead:
``<proxy>/proxy/<host>[:<port>]/<METHOD>/<path>`` (:func:`through_proxy`).
"""
from __future__ import annotations

import io
import json
import os
import socket
import time
from typing import Any, BinaryIO, Iterable
from urllib.parse import urljoin, urlsplit

from . import access, httpclient
from .errors import CommError, DataError, DiscoError
from .settings import DiscoSettings
from .util import schemesplit, urlresolve

RETRIES = 6
TIMEOUT = 600.0
#: Seconds a client takes the cluster's hosts, asked of its proxy, to stay the same.
PROXY_HOSTS_FOR = 30.0
_proxy_hosts: dict[str, tuple[float, frozenset[str]]] = {}


def proxy_hosts(proxy: str) -> frozenset[str]:
    """The hosts of the node table of the master at ``proxy`` (asked at most every
    :data:`PROXY_HOSTS_FOR` seconds; none when it does not answer)."""
    now = time.monotonic()
    cached = _proxy_hosts.get(proxy)
    if cached is not None and now - cached[0] < PROXY_HOSTS_FOR:
        return cached[1]
    try:
        resp = open_remote(proxy.rstrip("/") + "/disco/ctrl/nodeinfo", retries=1,
                           timeout=30, proxied=False)
        try:
            hosts = frozenset(json.loads(resp.read()))
        finally:
            resp.close()
    except (CommError, ValueError, TypeError):
        hosts = frozenset()
    _proxy_hosts[proxy] = (now, hosts)
    return hosts


def through_proxy(url: str, method: str = "GET", proxy: str | None = None) -> str:
    """``url`` as this process reaches it: through ``proxy`` (default DISCO_PROXY), as
    ``<proxy>/proxy/<host>[:<port>]/<method>/<path>``, when that is set and ``url`` is an
    http URL of a host of the cluster's node table; else as it is."""
    if proxy is None:
        proxy = DiscoSettings()["DISCO_PROXY"]
    if not proxy:
        return url
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or \
            access.same_server(url, proxy) or parts.hostname not in proxy_hosts(proxy):
        return url
    where = parts.hostname + (":%d" % parts.port if parts.port else "")
    path = parts.path.lstrip("/") + ("?" + parts.query if parts.query else "")
    return "%s/proxy/%s/%s/%s" % (proxy.rstrip("/"), where, method, path)


def _connection(url: str, timeout: float) -> tuple[httpclient.Connection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise CommError("not an http(s) URL", url)
    try:
        port = parts.port
    except ValueError:
        raise CommError("the port of the URL is not a number", url) from None
    conn = httpclient.Connection(parts.hostname or "localhost", port, parts.scheme, timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return conn, path


def _message(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    if text.lstrip().lower().startswith(("<html", "<!doctype")):
        return ""  # an error page: the status and reason say it better
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict) and "message" in value:
        return str(value["message"])
    if isinstance(value, list) and len(value) == 2 and value[0] == "error":
        return str(value[1])
    return value if isinstance(value, str) else text


def open_remote(url: str, method: str = "GET", data: bytes | None = None,
                headers: dict | None = None, timeout: float = TIMEOUT,
                retries: int = RETRIES, offset: int | tuple = 0,
                token: str | None = None, redirects: bool = True,
                proxied: bool = True,
                connect_timeout: float | None = None) -> httpclient.Response:
    """An open response whose body streams with ``read(n)``; raises CommError on non-2xx.
    A node's URL goes through ``DISCO_PROXY`` when that is set (:func:`through_proxy`;
    ``proxied=False``: never).

    ``connect_timeout`` bounds the wait for the reply's headers (a server that accepts
    and never answers, a stopped process, fails fast); the body then reads with
    ``timeout``.

    ``offset`` asks for a byte range (:func:`range_header`); ``token`` is sent as the
    ``Authorization`` header (:func:`auth_header`). Redirects are followed with the same
    method and body; with ``redirects=False`` a redirect is returned as it is (its
    ``Location`` header says where to go), for protocols that send the body only to the
    place the redirect names (WebHDFS's ``CREATE``)."""
    hdrs = dict(headers or {})
    hdrs.update(auth_header(token))
    if offset:
        hdrs["Range"] = range_header(offset)
    last: Exception | None = None
    rewind = data.tell() if hasattr(data, "read") and hasattr(data, "seek") else None
    if proxied:
        url = through_proxy(url, method)
    for attempt in range(retries + 1):
        conn, path = _connection(url, connect_timeout or timeout)
        if rewind is not None:
            data.seek(rewind)  # type: ignore[union-attr]
        # the master's token goes to the master only (a redirect elsewhere never sees it)
        sent = dict(hdrs) if access.HEADER in hdrs else {
            **access.data_headers_for(url), **hdrs, **access.headers_for(url)}
        try:
            try:
                conn.request(method, path, body=data, headers=sent)
            except OSError:
                # the server may have answered and stopped reading (a 413 for a huge body)
                resp = _early_reply(conn, method)
                if resp is None:
                    raise
            else:
                resp = conn.response(method)
            if connect_timeout:
                resp.settimeout(timeout)
        except OSError as exc:
            conn.close()
            last = exc
            if attempt < retries:
                _pause(attempt)
                continue
            raise CommError("%s: %s" % (type(exc).__name__, exc), url) from None
        if resp.status == 503 and attempt < retries:
            resp.read()
            resp.close()
            _pause(attempt)
            continue
        if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
            if not redirects:
                resp.size = _int(resp.getheader("Content-Length"))  # type: ignore[attr-defined]
                return resp
            resp.read()
            resp.close()
            url = urljoin(url, resp.getheader("Location"))
            if proxied:
                url = through_proxy(url, method)
            continue
        if not 200 <= resp.status < 300:
            body = resp.read()
            resp.close()
            raise CommError(_message(body) or resp.reason, url, resp.status)
        resp.size = _int(resp.getheader("Content-Length"))  # type: ignore[attr-defined]
        return resp
    raise CommError("giving up after %d attempts: %s" % (retries + 1, last), url)


def _pause(attempt: int) -> None:
    """A short random sleep before attempt ``attempt + 1`` (random is loaded only then)."""
    import random
    time.sleep(min(2.0, 0.05 * 2 ** attempt) * random.random())


def _early_reply(conn: httpclient.Connection, method: str) -> httpclient.Response | None:
    """The reply a server sent before it stopped reading a request, if there is one."""
    if conn.sock is None:
        return None
    try:
        conn.sock.settimeout(5.0)
        resp = conn.response(method)
    except OSError:
        return None
    if resp.status < 400:
        resp.close()
        return None
    return resp


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def request(method: str, url: str, data: bytes | str | None = None,
            headers: dict | None = None, timeout: float = TIMEOUT) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8")
    resp = open_remote(url, method, data, headers, timeout)
    try:
        return resp.read()
    finally:
        resp.close()


def download(url: str, method: str = "GET", data: Any = None, offset: int = 0,
             timeout: float = TIMEOUT) -> bytes:
    resp = open_remote(url, method, data, offset=offset, timeout=timeout)
    try:
        return resp.read()
    finally:
        resp.close()


def open_url(url: str) -> BinaryIO:
    return open_remote(url)


def host_is_up(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# -- the original's disco.comm: tokens, ranges, downloads, uploads, connections ---------------
CHUNK = 1 << 20


def auth_header(token: str | None) -> dict[str, str]:
    """The ``Authorization`` header carrying a DDFS token: ``Basic base64("token:<T>")``.
    ``None`` is no token (no header); the empty string is a token."""
    if token is None:
        return {}
    import base64  # here: most requests carry no DDFS token
    creds = base64.b64encode(("token:%s" % token).encode("utf-8")).decode("ascii")
    return {"Authorization": "Basic " + creds}


def range_header(offset: int | tuple) -> str:
    """``Range`` for an offset: ``start`` or ``(start,)`` reads from ``start`` to the end,
    ``(start, end)`` the bytes ``start`` to ``end``, both included (as HTTP counts)."""
    if isinstance(offset, int):
        start, end = offset, None
    elif isinstance(offset, (tuple, list)) and len(offset) in (1, 2):
        start, end = offset[0], (offset[1] if len(offset) == 2 else None)
    else:
        raise DiscoError("offset %r is not a byte range: give start or (start, end)"
                         % (offset,))
    if start < 0 or (end is not None and end < start):
        raise DiscoError("offset %r is not a byte range: need 0 <= start <= end" % (offset,))
    return "bytes=%d-%s" % (start, "" if end is None else end)


def _http_url(url: str) -> str:
    scheme, _ = schemesplit(url)
    if scheme in ("http", "https"):
        return url
    if scheme in ("disco", "dir", "tag"):
        return urlresolve(url)
    raise CommError("not a URL of a remote server (http, https, disco, dir or tag)", url)


def fetch(url: str, method: str = "GET", data: Any = None, offset: int | tuple = (),
          token: str | None = None, sleep: int = 0) -> bytes:
    """The body of a request (the original's ``disco.comm.download``): ``disco://``,
    ``dir://`` and ``tag://`` URLs are resolved to http first; ``offset`` asks for a byte
    range (:func:`range_header`); ``sleep`` counts the retries already used (of RETRIES)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    resp = open_remote(_http_url(url), method, data, offset=offset or 0, token=token,
                       retries=max(0, RETRIES - int(sleep)))
    try:
        return resp.read()
    finally:
        resp.close()


def _source_bytes(source: Any) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if hasattr(source, "getvalue"):
        data = source.getvalue()
    elif hasattr(source, "read"):
        data = source.read()
    elif isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as f:
                return f.read()
        except OSError as exc:
            raise DataError("cannot read the file to upload: %s" % exc.strerror,
                            os.fspath(source)) from None
    else:
        raise DiscoError("cannot upload %r: give bytes, a file name or a file object"
                         % (source,))
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def upload(urls: Iterable[str] | str, source: Any, token: str | None = None, *,
           method: str = "PUT", timeout: float = TIMEOUT) -> list:
    """Send ``source`` (bytes, a file name or a file object) to each URL with PUT; the
    replies in order, JSON-decoded when they are JSON, else the bytes."""
    data = _source_bytes(source)
    replies = []
    for url in [urls] if isinstance(urls, str) else urls:
        resp = open_remote(_http_url(url), method, data, timeout=timeout, token=token)
        try:
            body = resp.read()
        finally:
            resp.close()
        try:
            replies.append(json.loads(body))
        except ValueError:
            replies.append(body)
    return replies


class ResumingStream(io.RawIOBase):
    """The body of a GET, read on from where it stopped (``Range``) when the connection
    drops before the end, up to ``retries`` times in a row.

    A protocol that asks for the rest of a resource otherwise (WebHDFS's ``offset=``
    parameter) subclasses it and overrides :meth:`open_at`; ``size`` is the length the
    first response announced, unless ``size`` is given."""

    def __init__(self, url: str, token: str | None = None, timeout: float = TIMEOUT,
                 retries: int = RETRIES, size: int | None = None,
                 connect_timeout: float | None = None) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.offset = 0
        self.resp: Any = self.open_at(0)
        self.size: int | None = self.resp.size if size is None else size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        failures = 0
        while True:
            error: Exception | None = None
            try:
                n = self.resp.readinto(b)
            except OSError as exc:
                n, error = 0, exc
            if n:
                self.offset += n
                return n
            if error is None and (self.size is None or self.offset >= self.size):
                return 0
            failures += 1
            if failures > self.retries:
                raise CommError("the connection dropped at byte %d of %s and resuming "
                                "failed %d times (%s)" % (self.offset, self.size or "?",
                                                          failures - 1, error or "no data"),
                                self.url)
            self.resp.close()
            self.resp = self.open_at(self.offset)

    def open_at(self, offset: int) -> Any:
        """A response whose body is the resource from byte ``offset`` on."""
        resp = open_remote(self.url, timeout=self.timeout, retries=self.retries,
                           offset=offset, token=self.token,
                           connect_timeout=self.connect_timeout)
        if not offset:
            return resp
        if resp.status == 206:
            start = (resp.getheader("Content-Range") or "").partition(" ")[2].partition("-")[0]
            if start != str(offset):
                resp.close()
                raise CommError("asked to resume at byte %d, the server sent the range %r"
                                % (offset, resp.getheader("Content-Range")), self.url)
        else:  # the server ignored the range: skip what was read
            left = offset
            while left:
                skipped = resp.read(min(left, CHUNK))
                if not skipped:
                    break
                left -= len(skipped)
        return resp

    def close(self) -> None:
        if self.resp is not None:
            self.resp.close()
        super().close()


class Connection(io.BufferedReader):
    """A file-like view of data at a URL (a local file or an http(s) resource): ``read(n)``,
    iteration by lines, ``close()``, ``with``; ``len()`` is the size and ``.url`` the URL.
    Remote data is streamed, and read on with a byte range if the connection drops."""

    def __init__(self, raw: io.RawIOBase, url: str, size: int | None) -> None:
        super().__init__(raw, CHUNK)
        self.url = url
        self.size = size

    def __len__(self) -> int:
        if self.size is None:
            raise DataError("the size is unknown: the server sent no Content-Length", self.url)
        return self.size


def open_local(path: str) -> Connection:
    """A :class:`Connection` to a local file (``file://`` URLs name one too)."""
    if path.startswith("file://"):
        path = path[len("file://"):]
    try:
        raw = io.FileIO(path, "r")
    except OSError as exc:
        raise DataError("cannot open the file: %s" % exc.strerror, path) from None
    return Connection(raw, "file://" + os.path.abspath(path), os.fstat(raw.fileno()).st_size)


def open_http(url: str, token: str | None = None, timeout: float = TIMEOUT,
              retries: int = RETRIES, connect_timeout: float | None = None) -> Connection:
    """A :class:`Connection` to a remote resource (``disco://``, ``dir://`` and ``tag://``
    URLs are resolved to http first; ``connect_timeout`` as for :func:`open_remote`)."""
    url = _http_url(url)
    raw = ResumingStream(url, token, timeout, retries, connect_timeout=connect_timeout)
    return Connection(raw, url, raw.size)


def open_data(url: str, token: str | None = None) -> Connection:
    """A :class:`Connection` to a local path, a ``file://`` URL or a remote URL."""
    scheme, _ = schemesplit(url)
    if scheme in ("", "file"):
        return open_local(url)
    return open_http(url, token)
