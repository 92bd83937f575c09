"""The ``gzip`` and ``gzip_bytes`` readers: lines of a gzip-compressed input.

``gzip`` yields ``str`` lines (UTF-8, newlines kept, lines end at ``"\\n"`` only so a
``"\\r"`` stays part of the line, as with the ``lines`` reader); ``gzip_bytes`` yields
``bytes`` lines. Both decompress as they go (nothing is read up front), read every member
of a multi-member file (``cat a.gz b.gz``), and raise :class:`~disco_core.errors.DataError`
naming the URL when the data is truncated or not gzip at all.
"""
from __future__ import annotations

import gzip
import io
import zlib
from typing import Any, Iterator

from disco_core.errors import DataError
from disco_core.worker.dataio import raw_bytes

# What the gzip module raises for bad data: a bad header or CRC (BadGzipFile), a stream that
# ends inside a member (EOFError), a bad deflate stream (zlib.error).
_CORRUPT = (gzip.BadGzipFile, EOFError, zlib.error)


def _read(fd: Any, url: str, text: bool) -> Iterator[Any]:
    compressed = gzip.GzipFile(fileobj=raw_bytes(fd), mode="rb")
    stream: Any = compressed
    if text:
        stream = io.TextIOWrapper(compressed, encoding="utf-8", errors="strict", newline="\n")
    try:
        yield from stream
    except _CORRUPT as exc:
        raise DataError("corrupt or truncated gzip data (%s)" % (exc,), url) from exc
    finally:
        try:
            stream.close()
        except _CORRUPT:
            pass
        close = getattr(fd, "close", None)
        if close is not None:
            close()


def gzip_lines(fd: Any, size: Any = None, url: str = "", params: Any = None) -> Iterator[str]:
    """Lines (``str``, newline kept) of a gzip-compressed UTF-8 text input."""
    return _read(fd, url, text=True)


def gzip_bytes(fd: Any, size: Any = None, url: str = "", params: Any = None) -> Iterator[bytes]:
    """Lines (``bytes``, newline kept) of a gzip-compressed input."""
    return _read(fd, url, text=False)
