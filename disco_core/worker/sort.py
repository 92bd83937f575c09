"""External sort of ``(key, value)`` records by key: in memory up to a bound, then sorted runs
spilled to disk in the record format and merged. Keys must compare with each other; the sort
is stable, so equal keys keep their input order. :func:`dsorted` (the original's
``disco.util.dsorted``) sorts whole items the same way, its bound counted in items."""
from __future__ import annotations

import heapq
import itertools
import os
import sys
import tempfile
from operator import itemgetter
from typing import Any, Iterable, Iterator

from ..errors import DiscoError
from ..records import RecordWriter, read_records

_key = itemgetter(0)
_SAMPLE = 1000


def parse_buffer_size(value: Any) -> int:
    """Bytes from an int, ``"512M"``-style text, or ``"10%"`` of physical memory."""
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip().upper()
    if text.endswith("%"):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return int(total * float(text[:-1]) / 100)
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _record_size(record: Any) -> int:
    k, v = record
    return 64 + sys.getsizeof(k) + sys.getsizeof(v)


def external_sort(records: Iterable, tmpdir: str, buffer_size: int) -> Iterator:
    """Yield ``records`` sorted by key, holding at most about ``buffer_size`` bytes."""
    runs: list[str] = []
    chunk: list = []
    per_record = 0
    limit = None
    for record in records:
        chunk.append(record)
        if limit is None:
            if len(chunk) == _SAMPLE:
                per_record = max(1, sum(map(_record_size, chunk)) // _SAMPLE)
                limit = max(_SAMPLE, buffer_size // per_record)
        elif len(chunk) >= limit:
            runs.append(_spill(chunk, tmpdir, len(runs)))
            chunk = []
    _sort(chunk)
    if not runs:
        yield from chunk
        return
    files = [open(path, "rb") for path in runs]
    try:
        streams = [read_records(f, path) for f, path in zip(files, runs)]
        yield from heapq.merge(*streams, chunk, key=_key)
    finally:
        for f, path in zip(files, runs):
            f.close()
            os.unlink(path)


def _sort(chunk: list) -> None:
    try:
        chunk.sort(key=_key)
    except TypeError as exc:
        raise DiscoError("sort=True needs keys that compare with each other: %s" % exc) from None


def _spill(chunk: list, tmpdir: str, n: int) -> str:
    _sort(chunk)
    os.makedirs(tmpdir, exist_ok=True)
    path = os.path.join(tmpdir, "sort-run-%d" % n)
    with open(path, "wb") as f:
        writer = RecordWriter(f)
        writer.extend(chunk)
        writer.close()
    return path


def dsorted(iterable: Iterable, buffer_size: float = 1e6, tempdir: str = ".") -> Iterator:
    """The items of ``iterable`` in sorted order (stable), holding at most ``buffer_size``
    items in memory: each full buffer is sorted and spilled to an anonymous temporary file
    in ``tempdir`` (in the record format), and the runs are merged as they are read."""
    size = int(buffer_size)
    if size < 1:
        raise DiscoError("dsorted: buffer_size must be at least 1 item, got %r" % buffer_size)
    it = iter(iterable)
    buffer = sorted(itertools.islice(it, size))
    if len(buffer) < size:
        yield from buffer
        return
    runs = []
    try:
        while buffer:
            run = tempfile.TemporaryFile(dir=tempdir, prefix="dsorted-")
            runs.append(run)
            writer = RecordWriter(run)
            writer.extend(buffer)
            writer.close()
            run.seek(0)
            buffer = sorted(itertools.islice(it, size))
        yield from heapq.merge(*(read_records(run, "dsorted run in %s" % tempdir)
                                 for run in runs))
    finally:
        for run in runs:
            run.close()
