"""External sort of ``(key, value)`` records by key: in memory up to a bound, then sorted runs
spilled to disk in the record format and merged. Keys must compare with each other; the sort
is stable, so equal keys keep their input order."""
from __future__ import annotations

import heapq
import os
import sys
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
