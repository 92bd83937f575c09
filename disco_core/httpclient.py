"""A small HTTP/1.1 client on sockets, what :mod:`disco_core.comm` sends every request with.

It does what Disco's processes need and no more: one request per connection (the response
owns the socket and closing it closes the connection, as comm has always done), bodies of
bytes, of a file object or of an iterable (the last two chunked), replies framed by
``Content-Length``, by chunks or by the end of the connection, interim ``1xx`` replies
skipped. ``https://`` URLs go through :mod:`ssl`, imported only for them; the standard
library's ``http.client`` is not imported at all (with ``email`` and ``ssl`` it was a third of
the start of a short ``ddfs`` command).

A reply that breaks the protocol (a bad status line, a body that ends before its length) is
a :class:`ProtocolError`, an :class:`OSError` like a dropped connection, so whoever reads a
body on after a drop (:class:`disco_core.comm.ResumingStream`) does so after either.
"""
from __future__ import annotations

import io
import socket
from typing import Any

#: Bytes read from a socket (or a file body) at a time.
BLOCK = 1 << 16
#: The most bytes a reply's status line and headers may take.
MAX_HEAD = 1 << 16
_NO_BODY = (204, 304)


class ProtocolError(ConnectionError):
    """A reply that is not HTTP/1.x, or that ends where it cannot."""


class IncompleteRead(ProtocolError):
    """The connection ended before the body did."""

    def __init__(self, got: int, expected: int | None) -> None:
        more = "" if expected is None else ", %d more expected" % expected
        super().__init__("the connection ended after %d bytes of the body%s" % (got, more))
        self.got, self.expected = got, expected


def _latin1(value: Any, what: str) -> bytes:
    try:
        return str(value).encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("the request's %s %r is not latin-1: encode it first"
                         % (what, value)) from None


class Connection:
    """One connection to ``host:port`` (TLS when ``scheme`` is https), for one request."""

    def __init__(self, host: str, port: int | None = None, scheme: str = "http",
                 timeout: float | None = None) -> None:
        if scheme not in ("http", "https"):
            raise ValueError("not an http(s) scheme: %r" % scheme)
        self.scheme = scheme
        self.host = host or "localhost"
        self.port = port or (443 if scheme == "https" else 80)
        self.timeout = timeout
        self.sock: Any = None

    def connect(self) -> None:
        # an ASCII name as bytes: a str would load the idna codec (unicodedata, stringprep)
        host = self.host.encode("ascii") if self.host.isascii() else self.host
        sock = socket.create_connection((host, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.scheme == "https":
            import ssl  # only here: most processes never speak TLS
            try:
                sock = ssl.create_default_context().wrap_socket(sock,
                                                                server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock

    def _host_header(self) -> str:
        host = "[%s]" % self.host if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else "%s:%d" % (host, self.port)

    def send_head(self, method: str, path: str, headers: dict | None = None,
                  more: bytes = b"") -> None:
        """The request line and headers (``Host`` added unless given), then ``more``."""
        if self.sock is None:
            self.connect()
        lines = [b"%s %s HTTP/1.1" % (_latin1(method, "method"), _latin1(path, "path"))]
        given = {k.lower() for k in headers or ()}
        if "host" not in given:
            lines.append(b"Host: " + _latin1(self._host_header(), "host"))
        for name, value in (headers or {}).items():
            lines.append(b"%s: %s" % (_latin1(name, "header name"),
                                      _latin1(value, "header %s" % name)))
        self.sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + more)

    def request(self, method: str, path: str, body: Any = None,
                headers: dict | None = None) -> None:
        """Send a whole request. ``body``: None, bytes (or a str, latin-1), a file object
        (read to its end, sent chunked) or an iterable of bytes (chunked). Without a body,
        POST, PUT and PATCH say ``Content-Length: 0``."""
        hdrs = dict(headers or {})
        given = {k.lower() for k in hdrs}
        framed = "content-length" in given or "transfer-encoding" in given
        if isinstance(body, str):
            body = _latin1(body, "body")
        if body is None:
            if not framed and method.upper() in ("POST", "PUT", "PATCH"):
                hdrs["Content-Length"] = "0"
            self.send_head(method, path, hdrs)
            return
        if isinstance(body, (bytes, bytearray, memoryview)):
            view = memoryview(body).cast("B")
            if not framed:
                hdrs["Content-Length"] = str(view.nbytes)
            small = view.nbytes <= BLOCK
            self.send_head(method, path, hdrs, bytes(view) if small else b"")
            if not small:
                self.sock.sendall(view)
            return
        chunked = "transfer-encoding" not in given and "content-length" not in given
        if chunked:
            hdrs["Transfer-Encoding"] = "chunked"
        self.send_head(method, path, hdrs)
        blocks = iter(lambda: body.read(BLOCK), b"") if hasattr(body, "read") else body
        for block in blocks:
            if isinstance(block, str):
                block = _latin1(block, "body")
            if not block:
                continue
            if chunked:
                self.sock.sendall(b"%x\r\n" % len(block) + bytes(block) + b"\r\n")
            else:
                self.sock.sendall(block)
        if chunked:
            self.sock.sendall(b"0\r\n\r\n")

    def response(self, method: str = "GET") -> "Response":
        """The reply (after any interim ``1xx``); it owns the socket from then on."""
        if self.sock is None:
            raise ProtocolError("no request was sent")
        resp = Response(self.sock, method)
        self.sock = None
        return resp

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()


class Response(io.BufferedIOBase):
    """A reply: ``status``, ``reason``, ``headers`` (lower-case names), :meth:`getheader`,
    and its body as a binary stream (``read``, ``read1``, ``readinto``, ``readline``,
    iteration by lines, ``peek``). ``fileno()`` is the socket's, for a reader that moves
    the body's bytes itself after what :meth:`read1` gave (``splice``)."""

    def __init__(self, sock: Any, method: str = "GET") -> None:
        self._sock = sock
        self._raw = bytearray()  # bytes read from the socket, not yet consumed
        self._pend = bytearray()  # body bytes peeked at, not yet read
        self._got = 0
        self._error: OSError | None = None
        while True:
            self._read_head()
            if not 100 <= self.status < 200:
                break
        self.length: int | None = None
        self._chunked = "chunked" in self.getheader("Transfer-Encoding", "").lower()
        self._chunk_left = 0
        if method.upper() == "HEAD" or self.status in _NO_BODY:
            self._left: int | None = 0
        elif self._chunked:
            self._left = None
        else:
            length = self.getheader("Content-Length")
            try:
                self._left = self.length = int(length) if length is not None else None
            except ValueError:
                raise ProtocolError("the reply's Content-Length %r is not a number"
                                    % length) from None
        self._eof = self._left == 0

    # -- the head ---------------------------------------------------------------------------
    def _recv(self) -> int:
        data = self._sock.recv(BLOCK)
        self._raw += data
        return len(data)

    def _line(self, limit: int = MAX_HEAD) -> bytes:
        while True:
            end = self._raw.find(b"\n")
            if end >= 0:
                line = bytes(self._raw[:end + 1])
                del self._raw[:end + 1]
                return line
            if len(self._raw) > limit:
                raise ProtocolError("a line of the reply is longer than %d bytes" % limit)
            if not self._recv():
                raise ProtocolError("the connection ended in the reply's head"
                                    if self._raw or getattr(self, "status", None)
                                    else "the server closed the connection without a reply")

    def _read_head(self) -> None:
        line = self._line().decode("latin-1").rstrip("\r\n")
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not (code.isdigit() and len(code) == 3):
            raise ProtocolError("not an HTTP/1.x status line: %r" % line[:100])
        self.version, self.status, self.reason = version, int(code), reason.strip()
        self.headers: dict[str, str] = {}
        size = 0
        while True:
            raw = self._line()
            size += len(raw)
            if size > MAX_HEAD:
                raise ProtocolError("the reply's headers are longer than %d bytes" % MAX_HEAD)
            text = raw.decode("latin-1").rstrip("\r\n")
            if not text:
                return
            name, colon, value = text.partition(":")
            if not colon:
                continue  # not a header: skipped, as the standard library's client does
            key, value = name.strip().lower(), value.strip()
            self.headers[key] = self.headers[key] + ", " + value if key in self.headers \
                else value

    def getheader(self, name: str, default: Any = None) -> Any:
        return self.headers.get(name.lower(), default)

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    # -- the body ---------------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        if self._sock is None:
            raise ValueError("the response is closed")
        return self._sock.fileno()

    def _from_wire(self, view: memoryview) -> int:
        """Up to ``len(view)`` bytes after the head: what was read ahead, else one recv."""
        if self._raw:
            n = min(len(view), len(self._raw))
            view[:n] = self._raw[:n]
            del self._raw[:n]
            return n
        return self._sock.recv_into(view)

    def _body_into(self, view: memoryview) -> int:
        """Some bytes of the body (0 only at its end), by the reply's framing."""
        if self._eof or not len(view):
            return 0
        if self._chunked:
            if self._chunk_left == 0:
                line = self._line(1024).split(b";")[0].strip()
                try:
                    self._chunk_left = int(line, 16)
                except ValueError:
                    raise ProtocolError("not a chunk's size: %r" % line[:40]) from None
                if self._chunk_left == 0:
                    while self._line().strip():  # trailers, up to the blank line
                        pass
                    self._eof = True
                    return 0
            n = self._from_wire(view[:self._chunk_left])
            if not n:
                raise IncompleteRead(self._got, None)
            self._chunk_left -= n
            if self._chunk_left == 0:
                self._line(2)  # the CRLF after a chunk's bytes
        elif self._left is None:
            n = self._from_wire(view)
            if not n:
                self._eof = True
                return 0
        else:
            n = self._from_wire(view[:self._left])
            if not n:
                raise IncompleteRead(self._got, self._left)
            self._left -= n
            self._eof = self._left == 0
        self._got += n
        return n

    def _some(self, view: memoryview) -> int:
        if self._pend:
            n = min(len(view), len(self._pend))
            view[:n] = self._pend[:n]
            del self._pend[:n]
            return n
        if self._sock is None:
            return 0
        return self._body_into(view)

    def readinto1(self, b: Any) -> int:
        return self._some(memoryview(b).cast("B"))

    def readinto(self, b: Any) -> int:
        """Fills ``b`` up to the end of the body; bytes read before the connection failed
        are given first, and the failure raised by the next call."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        view = memoryview(b).cast("B")
        done = 0
        while done < len(view):
            try:
                n = self._some(view[done:])
            except OSError as exc:
                if not done:
                    raise
                self._error = exc.with_traceback(None)  # it holds no view of ``b``
                break
            if not n:
                break
            done += n
        return done

    def read1(self, size: int = -1) -> bytes:
        buf = bytearray(size if size is not None and size >= 0 else BLOCK)
        n = self._some(memoryview(buf))
        del buf[n:]
        return bytes(buf)

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            buf = bytearray(size)
            del buf[self.readinto(buf):]
            return bytes(buf)
        out = bytearray(self._pend)
        self._pend.clear()
        if self._left:
            rest = bytearray(self._left)
            del rest[self.readinto(rest):]
            out += rest
        block = bytearray(BLOCK)
        while True:
            n = self._some(memoryview(block))
            if not n:
                return bytes(out)
            out += block[:n]

    def peek(self, size: int = 0) -> bytes:
        if not self._pend and self._sock is not None:
            buf = bytearray(max(size, BLOCK))
            n = self._body_into(memoryview(buf))
            self._pend += buf[:n]
        return bytes(self._pend)

    def settimeout(self, timeout: float | None) -> None:
        """The seconds each read of the body may wait from now on."""
        if self._sock is not None:
            self._sock.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return None if self._sock is None else self._sock.gettimeout()

    def isclosed(self) -> bool:
        return self._sock is None

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        super().close()
