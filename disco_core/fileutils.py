"""Writing record files and chunks, zipping sources, and sorting files with the system
``sort`` (``disco.fileutils``, and the sort helpers of ``disco.util``).

Record files here are the internal format of :mod:`disco_core.records` (zstd hunks of
pickled batches), written through the ``chain`` writer plugin; version 0 is the original's
text format (``<len> <key> <len> <value>\\n``), written through the ``netstring`` plugin.
"""
from __future__ import annotations

import inspect
import io
import os
import pickle
import re
import select
import subprocess
import time
import zipfile
from types import ModuleType
from typing import Any, BinaryIO, Iterable, Iterator

from .errors import DataError, DiscoError
from .util import iskv, localize, schemesplit
from .worker.dataio import AtomicFile
from .chunker import (CHUNK_SIZE, HUNK_SIZE, MAX_RECORD_SIZE, MB, Chunker,  # noqa: F401
                      _pickled_size, _size, _too_large)

MIN_DISK_SPACE = 1 * MB

__all__ = ["MB", "MIN_DISK_SPACE", "MAX_RECORD_SIZE", "HUNK_SIZE", "CHUNK_SIZE", "Chunker",
           "DiscoOutputStream", "DiscoOutputStream_v0", "DiscoOutputStream_v1", "DiscoOutput",
           "DiscoZipFile", "NonBlockingInput", "AtomicFile", "Wait", "ensure_path",
           "ensure_free_space", "files", "get_valid_path", "encode", "decode", "unix_sort",
           "sort_reader", "disk_sort"]


class DiscoOutputStream_v0:  # noqa: N801 (the original's name)
    """Records in the original's text format (version 0), through the ``netstring``
    writer plugin: ``add(key, value)`` writes ``<len> <key> <len> <value>\\n``."""

    version = 0

    def __init__(self, stream: BinaryIO) -> None:
        from . import plugins
        self.stream = stream
        self.writer = plugins.driver("writer", "netstring")(stream, None, "", None)

    def add(self, k: Any, v: Any) -> None:
        self.writer.add(k, v)

    def append(self, record: Any) -> None:
        if not iskv(record):
            raise TypeError("version 0 output holds (key, value) pairs, got %r: use the "
                            "default version for other records" % (record,))
        self.writer.add(*record)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        """Flush what is buffered; the stream under it stays open."""
        self.writer.close()


class DiscoOutputStream_v1:  # noqa: N801 (the original's name)
    """Records in the internal format (version 1), through the ``chain`` writer plugin.

    ``compression_level`` is the zstd level of the hunks, ``min_hunk_size`` the raw bytes
    gathered before a hunk is written, ``max_record_size`` (bytes, pickled) a limit checked
    for every record when given. ``size`` is the number of bytes written so far."""

    def __init__(self, stream: BinaryIO, version: int = -1, compression_level: int = 2,
                 min_hunk_size: float = HUNK_SIZE, max_record_size: float | None = None) -> None:
        from . import plugins
        from .records import VERSION, RecordWriter
        self.stream = stream
        self.version = VERSION if version == -1 else version
        self.max_record_size = (None if max_record_size is None
                                else _size("max_record_size", max_record_size))
        self.count = 0
        self.writer = plugins.driver("writer", "chain")(stream, None, "", None)
        if isinstance(self.writer, RecordWriter):
            import zstandard
            self.writer.hunk_size = _size("min_hunk_size", min_hunk_size)
            self.writer.compressor = zstandard.ZstdCompressor(level=int(compression_level))

    @property
    def size(self) -> int:
        return getattr(self.writer, "size", 0)

    def add(self, k: Any, v: Any) -> None:
        self.append((k, v))

    def append(self, record: Any) -> None:
        if self.max_record_size is not None:
            size = _pickled_size(record, self.max_record_size)
            if size > self.max_record_size:
                raise _too_large(self.count, size, self.max_record_size)
        self.writer.append(record)
        self.count += 1

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        """Write what is buffered; the stream under it stays open."""
        self.writer.close()


def DiscoOutputStream(stream: BinaryIO, version: int = -1, **kwargs: Any) -> Any:  # noqa: N802
    """An output stream of records on ``stream``: version 0 is the original's text format,
    1 (or -1, the latest) the internal format (keywords of :class:`DiscoOutputStream_v1`)."""
    if version == 0:
        if kwargs:
            raise DiscoError("version 0 output streams take no options, got %s"
                             % ", ".join(sorted(kwargs)))
        return DiscoOutputStream_v0(stream)
    if version in (1, -1):
        return DiscoOutputStream_v1(stream, version, **kwargs)
    raise DiscoError("unknown record format version %r: use 0 (text) or 1 (internal)"
                     % (version,))


def _local_path(url: str) -> str:
    scheme, rest = schemesplit(url)
    if not scheme:
        return url
    if scheme == "file":
        return rest
    if scheme == "disco":
        return localize(url)
    raise DiscoError("cannot write %s: output files are local (a path, file:// or disco://)"
                     % url)


class DiscoOutput:
    """A record file written atomically at ``url`` (a path, ``file://`` or ``disco://``
    URL): it appears under its name, complete, only when closed without error.
    Use as a context manager, or call :meth:`close` (:meth:`abort` discards it)."""

    def __init__(self, url: str, version: int = -1, **kwargs: Any) -> None:
        self.url = url
        self.path = _local_path(url)
        self.fd = AtomicFile(self.path)
        try:
            self.stream = DiscoOutputStream(self.fd, version, **kwargs)
        except BaseException:
            self.fd.abort()
            raise

    def add(self, k: Any, v: Any) -> None:
        self.stream.add(k, v)

    def append(self, record: Any) -> None:
        self.stream.append(record)

    def close(self) -> None:
        if not self.fd.closed:
            self.stream.close()
            self.fd.close()

    def abort(self) -> None:
        self.fd.abort()

    def __enter__(self) -> "DiscoOutput":
        return self

    def __exit__(self, exc_type: Any, *_exc: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# -- zip files of sources -----------------------------------------------------------------------
class DiscoZipFile(zipfile.ZipFile):
    """A zip archive built in memory (a job home): add files, then :meth:`dumps` it."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        super().__init__(self.buffer, "w", zipfile.ZIP_DEFLATED)

    def writepath(self, pathname: str, exclude: Iterable[str] = ()) -> None:
        """Add a file, or every file under a directory, under its own path; files whose
        extension is in ``exclude`` (e.g. ``(".pyc",)``) are left out."""
        if not os.path.exists(pathname):
            raise DiscoError("cannot add %s to the zip file: no such file or directory"
                             % pathname)
        exclude = tuple(exclude)
        for path in files(pathname):
            if os.path.splitext(path)[1] not in exclude:
                self.write(path, path)

    def writemodule(self, module: ModuleType | str, arcname: str | None = None) -> None:
        """Add a module's source (a module or its dotted name), by default under the path
        it is imported from (``pkg/mod.py``, ``pkg/__init__.py``)."""
        if isinstance(module, str):
            import importlib
            module = importlib.import_module(module)
        source = getattr(module, "__file__", None)
        if not source:
            raise DiscoError("module %s has no source file to add (a built-in module?)"
                             % module.__name__)
        source = get_valid_path(source)
        if arcname is None:
            arcname = module.__name__.replace(".", "/")
            arcname += "/__init__.py" if hasattr(module, "__path__") else ".py"
        self.write(source, arcname)

    def writesource(self, obj: Any) -> None:
        """Add the source of the module that defines ``obj`` (a function or class)."""
        module = inspect.getmodule(obj)
        if module is None:
            raise DiscoError("cannot find the module that defines %r" % (obj,))
        self.writemodule(module)

    def dump(self, handle: BinaryIO) -> None:
        handle.write(self.dumps())

    def dumps(self) -> bytes:
        """The archive's bytes; finishes the archive (nothing can be added after)."""
        if self.fp is not None:
            self.close()
        return self.buffer.getvalue()


# -- input with a timeout -----------------------------------------------------------------------
class NonBlockingInput:
    """Reads from a file descriptor (or an object with ``fileno()``) waiting at most
    ``timeout`` seconds per call: ``TimeoutError`` when the data does not come in time,
    ``EOFError`` when the input ends first."""

    def __init__(self, file: Any, timeout: float = 600) -> None:
        self.file = file
        self.fd = file if isinstance(file, int) else file.fileno()
        self.timeout = timeout
        self.buffer = b""

    def _fill(self, deadline: float, need: str) -> None:
        left = deadline - time.monotonic()
        ready = select.select([self.fd], [], [], max(0.0, left))[0] if left > 0 else []
        if not ready:
            raise TimeoutError("no input for %s seconds while waiting for %s"
                               % (self.timeout, need))
        data = os.read(self.fd, 1 << 16)
        if not data:
            raise EOFError("the input ended while waiting for %s (%d bytes were left)"
                           % (need, len(self.buffer)))
        self.buffer += data

    def t_read(self, nbytes: int, spent: float = 0) -> bytes:
        """Exactly ``nbytes`` bytes; ``spent`` seconds of the timeout are already used."""
        deadline = time.monotonic() + self.timeout - spent
        while len(self.buffer) < nbytes:
            self._fill(deadline, "%d bytes" % nbytes)
        data, self.buffer = self.buffer[:nbytes], self.buffer[nbytes:]
        return data

    def t_read_until(self, delim: bytes, spent: float = 0) -> bytes:
        """The bytes up to and including ``delim``."""
        deadline = time.monotonic() + self.timeout - spent
        while delim not in self.buffer:
            self._fill(deadline, repr(delim))
        end = self.buffer.index(delim) + len(delim)
        data, self.buffer = self.buffer[:end], self.buffer[end:]
        return data


class Wait(Exception):
    """Not ready yet: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float = 1) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return "not ready: retry after %s seconds" % self.retry_after


# -- paths ----------------------------------------------------------------------------------
def ensure_path(path: str) -> None:
    """Create the directory ``path`` and its parents if missing."""
    os.makedirs(path, exist_ok=True)


def ensure_free_space(fname: str) -> None:
    """Raise :class:`DataError` when the file system of ``fname`` (or of its nearest
    existing parent) has less than MIN_DISK_SPACE bytes free."""
    path = os.path.abspath(fname)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    st = os.statvfs(path)
    free = st.f_bsize * st.f_bavail
    if free < MIN_DISK_SPACE:
        raise DataError("only %d KB of disk space left (at least %d KB needed): free some "
                        "space on its disk" % (free // 1024, MIN_DISK_SPACE // 1024), fname)


def files(path: str) -> Iterator[str]:
    """Every file under ``path`` (``path`` itself when it is a file), in sorted order."""
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            yield from files(os.path.join(path, name))
    else:
        yield path


def get_valid_path(path: str) -> str:
    """The source file behind a module path: ``x.pyc`` (also ``__pycache__/x.*.pyc``) is
    ``x.py`` when that exists; raises :class:`DiscoError` when no file is there."""
    if path.endswith((".pyc", ".pyo")):
        head, name = os.path.split(path)
        if os.path.basename(head) == "__pycache__":
            candidate = os.path.join(os.path.dirname(head), name.split(".", 1)[0] + ".py")
        else:
            candidate = path[:-1]
        if os.path.isfile(candidate):
            return candidate
    if not os.path.isfile(path):
        raise DiscoError("no file at %s" % path)
    return path


# -- sorting files with the system sort ------------------------------------------------------
# Escaping that keeps byte order: the encoded bytes hold no \x00, \n or \xff (the record,
# line and field separators of the sort file), and a < b exactly when encode(a) < encode(b).
_ESCAPES = {0x00: b"\x01\x01", 0x01: b"\x01\x02", 0x0A: b"\x0b\x01", 0x0B: b"\x0b\x02",
            0xFE: b"\xfe\x01", 0xFF: b"\xfe\x02"}
_ESCAPED = re.compile(b"[\x00\x01\n\x0b\xfe\xff]")
_UNESCAPED = re.compile(b"[\x01\x0b\xfe](.)?", re.S)
_DECODE = {(0x01, 0x01): b"\x00", (0x01, 0x02): b"\x01", (0x0B, 0x01): b"\n",
           (0x0B, 0x02): b"\x0b", (0xFE, 0x01): b"\xfe", (0xFE, 0x02): b"\xff"}


def encode(data: bytes | str) -> bytes:
    """``data`` (str as UTF-8) escaped for a sort file: no ``\\x00``, newline or ``\\xff``
    remain, and encoded strings sort in the same order as the originals."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group()[0]], bytes(data))


def decode(data: bytes) -> bytes:
    """The bytes :func:`encode` was given."""
    def unescape(m: re.Match) -> bytes:
        pair = m.group()
        out = _DECODE.get((pair[0], pair[1])) if len(pair) == 2 else None
        if out is None:
            raise DataError("not sort-encoded data: bad escape %r at byte %d"
                            % (pair, m.start()), "<sort data>")
        return out
    return _UNESCAPED.sub(unescape, bytes(data))


_SORT_BUFFER = re.compile(r"^\d+(\.\d+)?[%bKMGTPEZY]?$")


def unix_sort(filename: str, sort_buffer_size: Any = "10%") -> None:
    """Sort a file of ``key \\xff value \\x00`` records in place by key, bytewise, with the
    system ``sort`` (``LC_ALL=C``; equal keys keep their order). ``sort_buffer_size`` is
    sort's ``-S``: bytes, ``"512M"`` or a share of memory like ``"10%"``."""
    if not os.path.isfile(filename):
        raise DataError("no file to sort", filename)
    size = str(sort_buffer_size)
    if not _SORT_BUFFER.match(size):
        raise DiscoError("sort_buffer_size %r is not a size: give bytes, \"512M\" or \"10%%\""
                         % (sort_buffer_size,))
    env = dict(os.environ, LC_ALL="C")
    tmpdir = os.path.dirname(os.path.abspath(filename))
    cmd = [b"sort", b"-z", b"-s", b"-t\xff", b"-k", b"1,1", b"-T", os.fsencode(tmpdir),
           b"-S", size.encode(), b"-o", os.fsencode(filename), os.fsencode(filename)]
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise DiscoError("sorting %s needs the system 'sort' command (GNU coreutils): "
                         "install it" % filename) from None
    if proc.returncode != 0:
        raise DataError("sort failed (exit %d): %s" % (
            proc.returncode, proc.stderr.decode("utf-8", "replace").strip()), filename)


def sort_reader(fd: BinaryIO, fname: str, read_buffer_size: int = 8192
                ) -> Iterator[tuple[bytes, bytes]]:
    """The ``(key, value)`` fields, still encoded, of each record of a sort file."""
    buf = b""
    while True:
        data = fd.read(read_buffer_size)
        if not data:
            break
        buf += data
        records = buf.split(b"\x00")
        buf = records.pop()
        for record in records:
            k, sep, v = record.partition(b"\xff")
            if not sep:
                raise DataError("malformed sort file: a record without a key separator",
                                fname)
            yield k, v
    if buf:
        raise DataError("malformed sort file: it ends inside a record", fname)


def _key_bytes(key: Any) -> tuple[bytes, bytes]:
    if isinstance(key, bytes):
        return key, b"b"
    if isinstance(key, str):
        return key.encode("utf-8"), b"s"
    raise DiscoError("disk_sort sorts keys by their bytes: keys must be bytes or str, got "
                     "%s %r (convert the keys, or sort in memory)" % (type(key).__name__, key))


def disk_sort(worker: Any, input: Iterable, filename: str,  # noqa: A002
              sort_buffer_size: Any = "10%") -> Iterator[tuple[Any, Any]]:
    """The ``(key, value)`` pairs of ``input`` sorted by key with the system sort: they are
    written to ``filename`` (atomically), sorted there (:func:`unix_sort`), and read back.
    Keys are bytes or str and come back as they went in; values are any picklable object.
    ``worker`` (may be None) gets progress messages."""
    def say(text: str) -> None:
        send = getattr(worker, "send", None)
        if send is not None:
            send("MSG", text)

    say("Writing %s for sorting" % filename)
    out = AtomicFile(filename)
    try:
        buf = []
        for k, v in input:
            kb, kind = _key_bytes(k)
            buf.append(b"%b\xff%b%b\x00" % (encode(kb), kind, encode(pickle.dumps(v, 4))))
            if len(buf) >= 4096:
                out.write(b"".join(buf))
                buf = []
        out.write(b"".join(buf))
    except BaseException:
        out.abort()
        raise
    out.close()
    say("Sorting %s (%d bytes)" % (filename, os.path.getsize(filename)))
    unix_sort(filename, sort_buffer_size)
    say("Finished sorting")
    with open(filename, "rb") as fd:
        for k, v in sort_reader(fd, filename, 1 << 16):
            key = decode(k)
            yield (key.decode("utf-8") if v[:1] == b"s" else key), pickle.loads(decode(v[1:]))

