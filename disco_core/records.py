"""The internal record format: batches of pickled records, zstd-compressed in hunks.

A file is a sequence of hunks, and nothing else, so concatenating record files gives a
record file (the shuffle stage relies on it). A hunk is a 16-byte header::

    magic b"\\xd5R" | version (1) | codec (1) | compressed length (u32) |
    raw length (u32) | crc32 of the compressed bytes (u32)          (big-endian)

followed by the compressed bytes. Uncompressed, a hunk holds one or more pickles, each a
list of records. Readers hold one hunk at a time, so any file size streams in constant
memory; a short header, a short body, a bad magic or a checksum mismatch raises
:class:`~disco_core.errors.CorruptRecords` naming the file and the byte offset.
"""
from __future__ import annotations

import io
import pickle
import struct
import zlib
from itertools import chain, islice
from typing import Any, BinaryIO, Iterable, Iterator

import zstandard

from .errors import CorruptRecords

MAGIC = b"\xd5R"
VERSION = 1
CODEC_NONE = 0
CODEC_ZSTD = 1
HEADER = struct.Struct("!2sBBIII")
HUNK_SIZE = 1 << 20          # raw bytes per hunk, about
BATCH = 2048                 # records per pickle
MAX_HUNK = 1 << 30
PROTOCOL = pickle.HIGHEST_PROTOCOL

_dumps = pickle.dumps
_crc32 = zlib.crc32


class RecordWriter:
    """Writes records to a binary file object. ``add(k, v)`` stores the pair ``(k, v)``;
    :meth:`append` stores any picklable record. Call :meth:`close` (or :meth:`flush`)."""

    def __init__(self, fd: BinaryIO, hunk_size: int = HUNK_SIZE, level: int = 1,
                 close_fd: bool = False) -> None:
        self.fd = fd
        self.hunk_size = hunk_size
        self.compressor = zstandard.ZstdCompressor(level=level)
        self.batch: list[Any] = []
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.close_fd = close_fd
        self.count = 0
        self.size = 0      # bytes written to fd

    def add(self, key: Any, value: Any) -> None:
        batch = self.batch
        batch.append((key, value))
        if len(batch) >= BATCH:
            self._pickle_batch()

    def append(self, record: Any) -> None:
        self.batch.append(record)
        if len(self.batch) >= BATCH:
            self._pickle_batch()

    def extend(self, records: Iterable[Any], distinct: bool = False) -> None:
        """Store every record of ``records``. ``distinct``: they share no objects worth
        storing once (a join's pairs, each key once), so their batches are pickled without
        the pickler's memo, four times faster (what they do share comes back as copies)."""
        it = iter(records)
        while True:
            batch = self.batch
            room = BATCH - len(batch)
            batch.extend(islice(it, room))
            if len(batch) < BATCH:
                return
            self._pickle_batch(distinct)

    def _pickle_batch(self, distinct: bool = False) -> None:
        data = _dumps_distinct(self.batch) if distinct else _dumps(self.batch, PROTOCOL)
        self.count += len(self.batch)
        self.batch = []
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size >= self.hunk_size:
            self._write_hunk()

    def _write_hunk(self) -> None:
        if not self.pending:
            return
        raw = b"".join(self.pending)
        self.pending = []
        self.pending_size = 0
        body = self.compressor.compress(raw)
        self.fd.write(HEADER.pack(MAGIC, VERSION, CODEC_ZSTD, len(body), len(raw), _crc32(body)))
        self.fd.write(body)
        self.size += HEADER.size + len(body)

    def flush(self) -> None:
        if self.batch:
            self._pickle_batch()
        self._write_hunk()

    def close(self) -> None:
        self.flush()
        if self.close_fd:
            self.fd.close()


def _dumps_distinct(batch: list) -> bytes:
    """The pickle of ``batch`` without memo entries: objects met twice are written twice,
    and read back as two (a cycle, which that cannot write, takes the memo)."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, PROTOCOL)
    pickler.fast = True
    try:
        pickler.dump(batch)
    except ValueError:  # "fast mode: can't pickle cyclic objects"
        return _dumps(batch, PROTOCOL)
    return buf.getvalue()


def compressed_hunk(raw: bytes, compressor: Any = None) -> bytes:
    """One zstd hunk (header and body) holding ``raw``, the pickles of one or more lists
    of records; a new level 1 compressor when none is given (one is not shared by two
    threads at once)."""
    body = (compressor or zstandard.ZstdCompressor(level=1)).compress(raw)
    return HEADER.pack(MAGIC, VERSION, CODEC_ZSTD, len(body), len(raw), _crc32(body)) + body


#: zstd's parameters for hunks of text lines (``ddfs chunk`` of a text file): its fast
#: strategy with a 512-entry hash table, a 128 KiB window and matches of 7 bytes or more.
#: On English text in 1 MB hunks they compress 2.5-2.9x as fast as level 1 (405-475 MB/s
#: against 156-184 MB/s a core on the benchmarks' corpus) for 7% more bytes (ratio 1.76
#: against 1.89), and decompress as fast; on pickled pairs and rows they gain nothing, so
#: other records keep level 1. Any zstd decoder reads either.
TEXT_PARAMS = zstandard.ZstdCompressionParameters(
    window_log=17, hash_log=9, chain_log=9, min_match=7, search_log=1,
    strategy=zstandard.STRATEGY_FAST, target_length=0)


def text_compressor() -> Any:
    """A new compressor with :data:`TEXT_PARAMS` (one thread at a time uses it)."""
    return zstandard.ZstdCompressor(compression_params=TEXT_PARAMS)


def lines_of(block: bytes | str) -> list:
    """The lines of ``block``, each with its ``"\\n"``, split at ``"\\n"`` only (as a text
    input splits them; the last may have none): what the pickle of a block of lines
    (:func:`pickle_line_block`) gives back. Part of the record format: chunks name it."""
    if isinstance(block, str):
        return io.StringIO(block, newline="\n").readlines()
    return io.BytesIO(block).readlines()


#: PROTO 4, then ``lines_of`` by name (SHORT_BINUNICODE module and name, STACK_GLOBAL).
_LINES_OF = (b"\x80\x04" + b"".join(b"\x8c" + bytes((len(part),)) + part for part in
                                    (lines_of.__module__.encode(), b"lines_of")) + b"\x93")


def pickle_line_block(block: bytes, as_text: bool = True) -> bytes:
    """A pickle that ``pickle.loads`` reads back as the list of the lines of ``block``
    (bytes of whole lines, split at ``"\\n"`` only): a list of ``str`` with ``as_text``
    (the block must be valid UTF-8: the caller checks), else of the bytes. The pickle is
    the call ``lines_of(block)``: the block whole (BINUNICODE8 or BINBYTES8), no opcode
    per line, so making it is one copy of the bytes and reading it back splits them in C."""
    return b"".join((_LINES_OF, b"\x8d" if as_text else b"\x8e",
                     struct.pack("<Q", len(block)), block, b"\x85R."))  # TUPLE1 REDUCE STOP


def _read_exact(fd: BinaryIO, n: int) -> bytes:
    data = fd.read(n)
    if data is None:
        data = b""
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = fd.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def read_hunks(fd: BinaryIO, url: str = "<stream>", ignore_corrupt: bool = False
               ) -> Iterator[bytes]:
    """Yield the uncompressed body of each hunk in turn."""
    for _offset, raw in _read_hunks(fd, url, ignore_corrupt):
        yield raw


def _read_hunks(fd: BinaryIO, url: str, ignore_corrupt: bool = False
                ) -> Iterator[tuple[int, bytes]]:
    """``(byte offset of the hunk in the file, uncompressed body)`` of each hunk.

    With ``ignore_corrupt`` a damaged hunk is skipped instead of raising: one whose body
    fails its checksum or does not decompress is passed over by its length, and after a
    damaged header the reader looks for the next hunk whose header and checksum hold."""
    if ignore_corrupt:
        yield from _Resync(fd, url).hunks()
        return
    decompressor = zstandard.ZstdDecompressor()
    offset = 0
    while True:
        header = _read_exact(fd, HEADER.size)
        if not header:
            return
        clen, rlen, codec, crc = _parse_header(header, offset, url)
        body = _read_exact(fd, clen)
        if len(body) < clen:
            raise CorruptRecords("truncated record file: hunk at byte %d has %d of %d bytes"
                                 % (offset, len(body), clen), url)
        yield offset, _hunk_body(decompressor, body, codec, rlen, crc, offset, url)
        offset += HEADER.size + clen


def _parse_header(header: bytes, offset: int, url: str) -> tuple[int, int, int, int]:
    if len(header) < HEADER.size:
        raise CorruptRecords("truncated record file: %d bytes of a hunk header at byte %d"
                             % (len(header), offset), url)
    magic, version, codec, clen, rlen, crc = HEADER.unpack(header)
    if magic != MAGIC:
        raise CorruptRecords("not a Disco record file (bad magic %r at byte %d); is it text? "
                             "read it with a text reader instead of chain_reader"
                             % (header[:4], offset), url)
    if version != VERSION:
        raise CorruptRecords("unsupported record file version %d in hunk at byte %d "
                             "(this Disco reads version %d)" % (version, offset, VERSION), url)
    if clen > MAX_HUNK or rlen > MAX_HUNK:
        raise CorruptRecords("corrupt hunk header at byte %d (length %d)" % (offset, clen), url)
    return clen, rlen, codec, crc


def _hunk_body(decompressor: Any, body: bytes, codec: int, rlen: int, crc: int, offset: int,
               url: str) -> bytes:
    if _crc32(body) != crc:
        raise CorruptRecords("corrupt record file: checksum mismatch in hunk at byte %d"
                             % offset, url)
    if codec == CODEC_ZSTD:
        try:
            return decompressor.decompress(body, max_output_size=rlen)
        except zstandard.ZstdError as exc:
            raise CorruptRecords("corrupt hunk at byte %d: %s" % (offset, exc), url) from None
    if codec == CODEC_NONE:
        return body
    raise CorruptRecords("unknown codec %d in hunk at byte %d" % (codec, offset), url)


class _Resync:
    """Hunks of a possibly damaged record file: what can be read of it, in order."""

    def __init__(self, fd: BinaryIO, url: str) -> None:
        self.fd = fd
        self.url = url
        self.buf = b""
        self.start = 0        # file offset of buf[0]
        self.eof = False

    def fill(self, upto: int) -> bool:
        """Hold the file's bytes up to offset ``upto``; False if the file is shorter."""
        parts = [self.buf]
        have = self.start + len(self.buf)
        while have < upto and not self.eof:
            data = self.fd.read(max(1 << 16, min(upto - have, 1 << 24)))
            if not data:
                self.eof = True
                break
            parts.append(data)
            have += len(data)
        self.buf = b"".join(parts)
        return have >= upto

    def drop(self, upto: int) -> None:
        if upto > self.start:
            self.buf = self.buf[upto - self.start:]
            self.start = upto

    def hunks(self) -> Iterator[tuple[int, bytes]]:
        decompressor = zstandard.ZstdDecompressor()
        pos = 0
        while True:
            self.drop(pos)
            if not self.fill(pos + HEADER.size):
                return  # the end, or a tail too short to be a hunk
            header = self.buf[:HEADER.size]
            try:
                clen, rlen, codec, crc = _parse_header(header, pos, self.url)
            except CorruptRecords:
                pos = self.next_magic(pos + 1)
                continue
            if not self.fill(pos + HEADER.size + clen):
                pos = self.next_magic(pos + 1)  # a length past the end: a damaged header
                continue
            body = self.buf[HEADER.size:HEADER.size + clen]
            try:
                raw = _hunk_body(decompressor, body, codec, rlen, crc, pos, self.url)
            except CorruptRecords:
                # a damaged body under a sound header skips the hunk; a damaged length
                # would land inside the next hunk, so look for it from here
                pos = self.next_magic(pos + 1)
                continue
            yield pos, raw
            pos += HEADER.size + clen

    def next_magic(self, pos: int) -> int:
        """The offset of the next hunk magic at or after ``pos`` (the end when none)."""
        while True:
            self.fill(pos + (1 << 16))
            i = self.buf.find(MAGIC, pos - self.start)
            if i != -1:
                return self.start + i
            end = self.start + len(self.buf)
            if self.eof:
                return end
            pos = max(pos, end - len(MAGIC) + 1)
            self.drop(pos)


def read_records(fd: BinaryIO, url: str = "<stream>", ignore_corrupt: bool = False
                 ) -> Iterator[Any]:
    """Every record of a record file, one hunk in memory at a time (the batches chained,
    so nothing of ours runs between two records of a batch). With ``ignore_corrupt`` the
    records of damaged hunks are left out instead of raising."""
    return chain.from_iterable(_batches(fd, url, ignore_corrupt))


def _batches(fd: BinaryIO, url: str, ignore_corrupt: bool) -> Iterator[list]:
    for offset, raw in _read_hunks(fd, url, ignore_corrupt):
        buf = io.BytesIO(raw)
        end = len(raw)
        while buf.tell() < end:
            pos = buf.tell()
            try:
                batch = pickle.Unpickler(buf).load()
            except Exception as exc:
                if ignore_corrupt:
                    break
                raise CorruptRecords("undecodable records in hunk at byte %d (%d bytes into "
                                     "its data): %s" % (offset, pos, exc), url) from None
            yield batch


def write_records(fd: BinaryIO, records: Iterable[Any]) -> int:
    w = RecordWriter(fd)
    w.extend(records)
    w.close()
    return w.size
