"""The ``chain`` reader and writer: the internal record format of job results.

``chain_reader(fd, size, url, params)`` reads the bytes under ``fd`` (``fd.buffer`` for
text streams) and yields records; ``chain_writer(fd, label, url, params)`` returns a
writer with ``add(key, value)`` and ``close()``.
"""
from __future__ import annotations

from typing import Any, Iterator

from disco_core.records import RecordWriter, read_records
from disco_core.worker.dataio import raw_bytes


def chain_reader(fd: Any, size: Any = None, url: str = "", params: Any = None) -> Iterator[Any]:
    # The generator keeps ``fd`` alive while the records are read.
    try:
        yield from read_records(raw_bytes(fd), url)
    finally:
        close = getattr(fd, "close", None)
        if close is not None:
            close()


def chain_writer(fd: Any, label: Any = None, url: str = "", params: Any = None) -> RecordWriter:
    return RecordWriter(fd)
