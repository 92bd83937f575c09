"""The ``chain`` reader and writer: the internal record format of job results.

``chain_reader(fd, size, url, params, ignore_corrupt=False)`` reads the bytes under ``fd``
(``fd.buffer`` for text streams) and yields records; with ``ignore_corrupt`` damaged hunks
are skipped rather than raising. A stream whose first byte is below 128 is in the
original's legacy text format (version 0, ``<len> <key> <len> <value>\\n``), as the
original's reader decided: it yields ``(key, value)`` pairs of ``str`` (``bytes`` where a
field is not UTF-8). ``chain_writer(fd, label, url, params)`` returns a writer with
``add(key, value)`` and ``close()``.
"""
from __future__ import annotations

from typing import Any, Iterator

from disco_core.records import RecordWriter, read_records
from disco_core.worker.dataio import raw_bytes


class _Prefixed:
    """``head`` (bytes already read) followed by the rest of ``fd``."""

    def __init__(self, head: bytes, fd: Any) -> None:
        self.head = head
        self.fd = fd

    def read(self, n: int = -1) -> bytes:
        head = self.head
        if not head:
            return self.fd.read(n)
        if n is None or n < 0:
            self.head = b""
            return head + self.fd.read()
        if n <= len(head):
            self.head = head[n:]
            return head[:n]
        self.head = b""
        return head + self.fd.read(n - len(head))


def _text(field: bytes) -> Any:
    try:
        return field.decode("utf-8")
    except UnicodeDecodeError:
        return field


def _legacy(stream: Any, size: Any, url: str) -> Iterator[Any]:
    from disco_core.errors import CorruptRecords, DataError
    from disco_core.worker.task_io import old_netstr_reader
    records = old_netstr_reader(stream, size, url)
    try:
        first = next(records)
    except StopIteration:
        return
    except DataError as exc:
        raise CorruptRecords("neither a Disco record file nor the original's text record "
                             "format (%s); is it text? read it with a text reader instead of "
                             "chain_reader" % exc.msg, url) from None
    yield _text(first[0]), _text(first[1])
    for key, value in records:
        yield _text(key), _text(value)


def chain_reader(fd: Any, size: Any = None, url: str = "", params: Any = None,
                 ignore_corrupt: bool = False) -> Iterator[Any]:
    # The generator keeps ``fd`` alive while the records are read.
    try:
        raw = raw_bytes(fd)
        head = raw.read(1)
        if isinstance(head, str):
            head = head.encode("utf-8")
        if not head:
            return
        stream = _Prefixed(head, raw)
        if head[0] < 128:
            yield from _legacy(stream, size, url)
            return
        yield from read_records(stream, url, ignore_corrupt)  # type: ignore[arg-type]
    finally:
        close = getattr(fd, "close", None)
        if close is not None:
            close()


def chain_writer(fd: Any, label: Any = None, url: str = "", params: Any = None) -> RecordWriter:
    return RecordWriter(fd)
