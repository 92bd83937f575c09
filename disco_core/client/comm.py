"""HTTP for clients, workers and plugins: REST requests with retries, and data streams.

Connection errors and HTTP 503 are retried with short random sleeps; other non-2xx replies
raise :class:`CommError` carrying the body (the master's JSON error message) and status.
"""
from __future__ import annotations

import http.client
import json
import random
import socket
import time
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from ..errors import CommError

RETRIES = 6
TIMEOUT = 600.0


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise CommError("not an http(s) URL", url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "localhost", parts.port, timeout=timeout)
    conn.response_class = _Response
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return conn, path


class _Response(http.client.HTTPResponse):
    """A response that owns its connection's socket: closing it (or dropping it) closes
    the socket, whether or not the server kept the connection alive."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self._owned_sock = sock

    def close(self) -> None:
        super().close()
        sock, self._owned_sock = self._owned_sock, None
        if sock is not None:
            sock.close()


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
                retries: int = RETRIES, offset: int = 0) -> http.client.HTTPResponse:
    """An open response whose body streams with ``read(n)``; raises CommError on non-2xx."""
    hdrs = dict(headers or {})
    if offset:
        hdrs["Range"] = "bytes=%d-" % offset
    last: Exception | None = None
    for attempt in range(retries + 1):
        conn, path = _connection(url, timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            last = exc
            if attempt < retries:
                time.sleep(min(2.0, 0.05 * 2 ** attempt) * random.random())
                continue
            raise CommError("%s: %s" % (type(exc).__name__, exc), url) from None
        if resp.status == 503 and attempt < retries:
            resp.read()
            conn.close()
            time.sleep(min(2.0, 0.05 * 2 ** attempt) * random.random())
            continue
        if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
            resp.read()
            conn.close()
            url = resp.getheader("Location")
            continue
        if not 200 <= resp.status < 300:
            body = resp.read()
            conn.close()
            raise CommError(_message(body) or resp.reason, url, resp.status)
        resp.size = _int(resp.getheader("Content-Length"))  # type: ignore[attr-defined]
        return resp
    raise CommError("giving up after %d attempts: %s" % (retries + 1, last), url)


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
