"""Sending a blob's bytes to the nodes that store its replicas: one PUT per replica, all at
once, each with a ``Content-Length`` and, for a file, ``sendfile`` (the kernel copies the
page cache to the socket; the client neither reads nor chunks the bytes).

The bytes a source gives are sent from memory (``BytesIO``) or from a regular file's
descriptor at explicit offsets, so every replica's PUT reads the same bytes without
sharing a file position. Any other source (a pipe, a caller's file object) goes replica by
replica through :func:`disco_core.comm.open_remote`, reopened for each.
"""
from __future__ import annotations

import concurrent.futures
import io
import json
import os
import stat
from typing import Any, BinaryIO, Callable
from urllib.parse import urlsplit

from disco_core.comm import TIMEOUT, _message, open_remote
from disco_core.errors import CommError
from disco_core.httpclient import Connection


class Pieces(io.RawIOBase):
    """The bytes of a list of ``bytes`` in turn, as a file: what a blob made of pieces
    (a chunk's hunks) is uploaded from, sent piece by piece with no copy of the whole."""

    def __init__(self, parts: list[bytes]) -> None:
        super().__init__()
        self.parts = parts
        self.size = sum(map(len, parts))
        self._at = (0, 0)  # (part, offset in it)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        part, offset = self._at
        while part < len(self.parts) and not len(self.parts[part]):
            part += 1  # an empty piece is not the end
        if part >= len(self.parts):
            return 0
        data = self.parts[part]
        n = min(len(buf), len(data) - offset)
        buf[:n] = data[offset:offset + n]
        self._at = (part, offset + n) if offset + n < len(data) else (part + 1, 0)
        return n


class Body:
    """What one blob's PUTs send: a range of a regular file, a memory view, or pieces."""

    def __init__(self, size: int, file: Any = None, start: int = 0,
                 view: memoryview | None = None, parts: list | None = None) -> None:
        self.size, self.file, self.start, self.view = size, file, start, view
        self.parts = parts

    def send(self, sock: Any) -> None:
        if self.view is not None:
            sock.sendall(self.view)
            return
        if self.parts is not None:
            _send_parts(sock, self.parts)
            return
        # os.sendfile at explicit offsets: every replica's thread reads the same file
        sent = sock.sendfile(self.file, self.start, self.size)
        if sent < self.size:
            raise CommError("the file shrank while it was sent (%d bytes short)"
                            % (self.size - sent), getattr(self.file, "name", ""))


#: Buffers given to one sendmsg at most (the kernel takes up to IOV_MAX, 1024 on Linux).
SEND_PARTS = 64


def _send_parts(sock: Any, parts: list) -> None:
    """Every byte of ``parts`` in turn, a few at a time in one call (no copy of them)."""
    views = [memoryview(p) for p in parts if len(p)]
    while views:
        sent = sock.sendmsg(views[:SEND_PARTS])
        while sent and views:
            if sent >= len(views[0]):
                sent -= len(views[0])
                views.pop(0)
            else:
                views[0] = views[0][sent:]
                sent = 0


def body_of(f: Any) -> Body | None:
    """How to send the bytes of ``f`` from its current position to its end, or None when
    they can only be read in turn."""
    if isinstance(f, Pieces) and f._at == (0, 0):
        return Body(f.size, parts=f.parts)
    if isinstance(f, io.BytesIO):
        view = memoryview(f.getvalue())[f.tell():]  # no copy of a BytesIO of bytes
        return Body(len(view), view=view)
    try:
        fd = f.fileno()
        st = os.fstat(fd)
        start = f.tell()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return Body(max(0, st.st_size - start), file=f, start=start)


def put_one(url: str, body: Body, timeout: float = TIMEOUT, retries: int = 1) -> Any:
    """PUT ``body`` to ``url``; the node's JSON reply. A refused connection or one that
    drops is tried again ``retries`` times; a node silent for ``timeout`` seconds (taking
    no bytes, giving no answer) is not; an error status is a :class:`CommError` with the
    node's message."""
    parts = urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    last: Exception | None = None
    for _attempt in range(retries + 1):
        conn = Connection(parts.hostname or "localhost", parts.port, timeout=timeout)
        try:
            conn.send_head("PUT", path, {"Content-Length": str(body.size),
                                         "Content-Type": "application/octet-stream"})
            try:
                body.send(conn.sock)
            except TimeoutError:
                raise
            except OSError:
                # the node may have answered and stopped reading (409, 507): read its word
                conn.sock.settimeout(min(5.0, timeout))
            resp = conn.response("PUT")
            try:
                raw = resp.read()
            finally:
                resp.close()
        except TimeoutError:  # a hung node: trying it again would only wait again
            raise hung(url, timeout) from None
        except OSError as exc:
            last = exc
            continue
        finally:
            conn.close()
        if not 200 <= resp.status < 300:
            raise CommError(_message(raw) or resp.reason, url, resp.status)
        return json.loads(raw)
    raise CommError("%s: %s" % (type(last).__name__, last), url)


def hung(url: str, timeout: float) -> CommError:
    return CommError("the node took no bytes and gave no answer for %gs (DDFS_PUT_TIMEOUT)"
                     % timeout, url)


def put_replicas(urls: list[str], source: Callable[[], BinaryIO],
                 timeout: float = TIMEOUT) -> tuple[list[Any], list[tuple[str, Exception]]]:
    """PUT the bytes of ``source()`` to every URL, all at once; the replies of those that
    stored them, in order, and ``(url, error)`` of those that did not."""
    with source() as f:
        body = body_of(f)
        if body is None:
            return _one_by_one(urls, source, timeout)
        if len(urls) == 1:
            try:
                return [put_one(urls[0], body, timeout)], []
            except CommError as exc:
                return [], [(urls[0], exc)]
        with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
            futures = [pool.submit(put_one, url, body, timeout) for url in urls]
        stored, failed = [], []
        for url, future in zip(urls, futures):
            exc = future.exception()
            if exc is None:
                stored.append(future.result())
            else:
                failed.append((url, exc))
        return stored, failed


def _one_by_one(urls: list[str], source: Callable[[], BinaryIO],
                timeout: float) -> tuple[list[Any], list[tuple[str, Exception]]]:
    stored: list[Any] = []
    for url in urls:
        try:
            with source() as data:
                resp = open_remote(url, "PUT", data, retries=0, timeout=timeout)
                try:
                    stored.append(json.loads(resp.read()))
                finally:
                    resp.close()
        except CommError as exc:
            if exc.code is None and "timed out" in str(exc):
                exc = hung(url, timeout)
            return stored, [(url, exc)]
    return stored, []
