"""The ``csv`` and ``csv_dict`` readers: a UTF-8 CSV input, parsed by the :mod:`csv` module.

``csv`` yields each row as a ``list`` of ``str``; ``csv_dict`` yields each row after the
first as a ``dict`` keyed by the first (header) row, as :class:`csv.DictReader` does
(blank rows are skipped, missing fields are ``None``, extra fields are a list under the
key ``None``). Rows are parsed as they are read.

The job's ``params`` choose the format when they carry (as attributes, or as keys of a
dict) ``csv_dialect`` (a dialect name such as ``"excel-tab"``, or a :class:`csv.Dialect`)
and ``csv_delimiter`` (a one-character string, applied on top of the dialect). Bad ones
raise the csv module's own error (``csv.Error``/``TypeError``) when reading starts.

A byte order mark at the start of the input is dropped. Bytes that are not UTF-8 raise
:class:`UnicodeDecodeError`; rows the csv module refuses (e.g. a field over
``csv.field_size_limit()``, or bad quoting with a strict dialect) raise
:class:`~disco_core.errors.DataError` naming the URL and the line.
"""
from __future__ import annotations

import csv
from itertools import chain
from typing import Any, Iterator

from disco_core.errors import DataError
from disco_core.worker.dataio import text_stream


def _param(params: Any, name: str) -> Any:
    if isinstance(params, dict):
        return params.get(name)
    return getattr(params, name, None)


def _format(params: Any) -> dict:
    fmt: dict[str, Any] = {}
    dialect = _param(params, "csv_dialect")
    if dialect is not None:
        fmt["dialect"] = dialect
    delimiter = _param(params, "csv_delimiter")
    if delimiter is not None:
        fmt["delimiter"] = delimiter
    return fmt


def _lines(fd: Any) -> Iterator[str]:
    """The lines of ``fd``, a byte order mark at the start dropped; after the first, the
    lines come straight from ``fd``'s own iterator."""
    lines = iter(fd)
    for first in lines:
        if first.startswith("\ufeff"):
            first = first[1:]
        return chain((first,), lines)
    return lines


def _read(fd: Any, url: str, params: Any, make: Any) -> Iterator[Any]:
    if not hasattr(fd, "encoding"):
        fd = text_stream(fd)
    try:
        rows = make(_lines(fd), **_format(params))
        try:
            yield from rows
        except csv.Error as exc:
            line = getattr(rows, "line_num", "?")
            raise DataError("malformed CSV at line %s (%s)" % (line, exc), url) from exc
    finally:
        close = getattr(fd, "close", None)
        if close is not None:
            close()


def csv_rows(fd: Any, size: Any = None, url: str = "", params: Any = None) -> Iterator[list]:
    """Each row of a CSV input as a list of ``str``."""
    return _read(fd, url, params, csv.reader)


def csv_dicts(fd: Any, size: Any = None, url: str = "", params: Any = None) -> Iterator[dict]:
    """Each row after the header of a CSV input as a dict keyed by the header's fields."""
    return _read(fd, url, params, csv.DictReader)
