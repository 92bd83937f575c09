"""The ``netstring`` reader and writer: the original Disco's length-prefixed key/value
format (``netstr_reader``, later ``old_netstr_reader``; the "v0" record format).

Each record is a key and a value, each preceded by its length in bytes as ASCII decimal
and a space, the key followed by a space and the value by a newline::

    <len(key)> <key> <len(value)> <value>\\n

e.g. ``b"3 cat 1 1\\n"``. Keys and values are arbitrary bytes (they may hold spaces and
newlines: the lengths delimit them).

``netstring_reader(fd, size, url, params)`` yields ``(key, value)`` tuples of ``bytes``,
reading as it goes, until the end of the input (``size`` is not needed); input that does not
follow the format, or ends inside a record, raises :class:`~disco_core.errors.DataError`
naming the URL and the byte offset where the bad element starts.

``netstring_writer(fd, label, url, params)`` returns a writer whose ``add(key, value)``
writes one record (``bytes`` as they are, ``str`` as UTF-8, anything else as
``str(x)``, as the original did) and whose ``close()`` flushes; the output stream under it
is closed by whoever opened it.
"""
from __future__ import annotations

from typing import Any, Iterator

from disco_core.errors import DataError
from disco_core.worker.dataio import raw_bytes

CHUNK = 1 << 16
MAX_DIGITS = 20      # lengths up to 10**20 - 1 bytes
_DIGITS = frozenset(b"0123456789")


class _Parser:
    """A buffer over a binary stream that hands out the elements of the format."""

    def __init__(self, fd: Any, url: str) -> None:
        self.fd = fd
        self.url = url
        self.buf = b""
        self.pos = 0          # position in buf
        self.offset = 0       # input offset of buf[0]
        self.eof = False

    def _fill(self, need: int) -> bool:
        """Have at least ``need`` bytes after ``pos``; False if the input ends first."""
        have = len(self.buf) - self.pos
        if have >= need:
            return True
        parts = [self.buf[self.pos:]]
        self.offset += self.pos
        self.pos = 0
        while have < need and not self.eof:
            # read at most a chunk (or a MiB for a long element) at a time, so a corrupt
            # length never makes us ask the stream for a huge buffer
            data = self.fd.read(max(CHUNK, min(need - have, 1 << 20)))
            if not data:
                self.eof = True
                break
            parts.append(data)
            have += len(data)
        self.buf = b"".join(parts)
        return have >= need

    def at_end(self) -> bool:
        return not self._fill(1)

    def error(self, what: str, start: int) -> DataError:
        return DataError("malformed netstring data at byte %d: %s" % (start, what), self.url)

    def element(self, sep: int, name: str) -> bytes:
        """One ``<len> <bytes><sep>`` element."""
        start = self.offset + self.pos
        self._fill(MAX_DIGITS + 1)
        buf, pos = self.buf, self.pos
        space = buf.find(b" ", pos, pos + MAX_DIGITS + 1)
        if space == -1:
            if pos == len(buf):
                raise self.error("the input ends before the %s" % name, start)
            if len(buf) - pos <= MAX_DIGITS and all(c in _DIGITS for c in buf[pos:]):
                raise self.error("the input ends inside the length of a %s" % name, start)
            raise self.error("expected the length of a %s (digits and a space), found %r"
                             % (name, buf[pos:pos + 24]), start)
        digits = buf[pos:space]
        if not digits or not all(c in _DIGITS for c in digits):
            raise self.error("expected the length of a %s (digits and a space), found %r"
                             % (name, buf[pos:space + 1]), start)
        n = int(digits)
        self.pos = space + 1
        if not self._fill(n + 1):
            raise self.error("the input ends inside a %s of %d bytes" % (name, n), start)
        buf, pos = self.buf, self.pos
        if buf[pos + n] != sep:
            raise self.error("a %s of %d bytes is followed by %r, not %r"
                             % (name, n, bytes([buf[pos + n]]), bytes([sep])), start)
        self.pos = pos + n + 1
        return buf[pos:pos + n]


def netstring_reader(fd: Any, size: Any = None, url: str = "",
                     params: Any = None) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` bytes pairs of a netstring-format input."""
    parser = _Parser(raw_bytes(fd), url)
    try:
        while not parser.at_end():
            key = parser.element(0x20, "key")
            value = parser.element(0x0A, "value")
            yield key, value
    finally:
        close = getattr(fd, "close", None)
        if close is not None:
            close()


def _bytes(x: Any) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    return (x if isinstance(x, str) else str(x)).encode("utf-8")


class NetstringWriter:
    """Writes ``(key, value)`` records in the netstring format to a binary stream,
    buffered; call :meth:`close` (or :meth:`flush`) at the end."""

    def __init__(self, fd: Any, buffer_size: int = CHUNK) -> None:
        self.fd = raw_bytes(fd)
        self.buffer_size = buffer_size
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.count = 0

    def add(self, key: Any, value: Any) -> None:
        k, v = _bytes(key), _bytes(value)
        record = b"%d %b %d %b\n" % (len(k), k, len(v), v)
        self.pending.append(record)
        self.pending_size += len(record)
        self.count += 1
        if self.pending_size >= self.buffer_size:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.fd.write(b"".join(self.pending))
            self.pending = []
            self.pending_size = 0
        flush = getattr(self.fd, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        self.flush()


def netstring_writer(fd: Any, label: Any = None, url: str = "",
                     params: Any = None) -> NetstringWriter:
    return NetstringWriter(fd)
