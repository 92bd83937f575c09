"""Cutting records into chunks of at most a given size (``ddfs chunk``, and
:class:`disco.fileutils.Chunker` of the original), each chunk a file of the internal record
format; a record is never split between two chunks."""
from __future__ import annotations

import io
import os
import pickle
from typing import Any, Callable, Iterable, Iterator

from .errors import DiscoError

MB = 1024 ** 2
MAX_RECORD_SIZE = 1 * MB
HUNK_SIZE = 1 * MB
CHUNK_SIZE = 64 * MB


def _size(name: str, value: Any) -> int:
    """A positive byte count from an int or float (``ddfs chunk -S 0.5`` gives MB floats)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
        raise DiscoError("%s must be a positive number of bytes, got %r" % (name, value))
    return int(value)


#: More than the bytes pickle adds to a bytes or str record (opcodes, length, framing).
_PICKLE_OVERHEAD = 32


def _pickled_size(record: Any, limit: int | None = None) -> int:
    """The record's size pickled; with ``limit``, a bytes or str record that is surely
    within it counts as its length plus :data:`_PICKLE_OVERHEAD` (no pickling: a chunked
    text file is millions of lines)."""
    if limit is not None:
        kind = type(record)
        if kind is bytes and len(record) + _PICKLE_OVERHEAD <= limit:
            return len(record) + _PICKLE_OVERHEAD
        if kind is str and 4 * len(record) + _PICKLE_OVERHEAD <= limit:
            return len(record) + _PICKLE_OVERHEAD
    from .records import PROTOCOL
    return len(pickle.dumps(record, PROTOCOL))


def _too_large(n: int, size: int, limit: int) -> ValueError:
    return ValueError("record %d is %d bytes pickled, more than max_record_size (%d bytes): "
                      "split it, or raise max_record_size (ddfs chunk -Z MB)" % (n, size, limit))


# -- chunks and output streams ------------------------------------------------------------------
class Chunker:
    """Cuts a stream of records into chunks of the internal record format, each at most
    ``chunk_size`` bytes and each readable on its own (``chain_reader``). Records are never
    split; one whose pickle is larger than ``max_record_size`` raises ValueError."""

    def __init__(self, chunk_size: float = CHUNK_SIZE, max_record_size: float = MAX_RECORD_SIZE,
                 hunk_size: float = HUNK_SIZE) -> None:
        self.chunk_size = _size("chunk_size", chunk_size)
        self.max_record_size = _size("max_record_size", max_record_size)
        self.hunk_size = min(_size("hunk_size", hunk_size), self.chunk_size)

    def chunks(self, records: Iterable) -> Iterator[bytes]:
        """Yield the bytes of each chunk in turn."""
        return self._chunks(self._groups(records))

    def chunks_of_lists(self, lists: Iterable[list]) -> Iterator[bytes]:
        """As :meth:`chunks`, for records that come in lists (the lines of a block of a
        text file): when every record of a list is ``str`` or every one ``bytes`` and the
        longest is surely within ``max_record_size``, their sizes are counted a list at a
        time, else one by one. The same records in the same order (hunks cut elsewhere)."""
        return self._chunks(self._list_groups(lists))

    def chunks_of_lines(self, blocks: Iterable[bytes], as_text: bool = True,
                        joined: bool = True) -> Iterator[Any]:
        """As :meth:`chunks` for the lines of a text file, given as blocks of bytes, each
        of whole lines (the file's last line may have no ``"\\n"``): the records are the
        lines, split at ``"\\n"`` only and each with its ``"\\n"``, decoded (``as_text``:
        the caller has checked the blocks are UTF-8) or the bytes. A hunk holds its blocks
        whole (:func:`~.records.pickle_line_block`: no Python work per line), compressed
        with the parameters for text (:data:`~.records.TEXT_PARAMS`), a compressor per
        encoding thread. Not ``joined``: each chunk is the list of its hunks, whose bytes
        in turn are the chunk's (a sender can send them as they are, with no copy)."""
        import threading

        from .records import compressed_hunk, pickle_line_block, text_compressor
        local = threading.local()

        def encode(batch: list[bytes]) -> bytes:
            compressor = getattr(local, "compressor", None)
            if compressor is None:
                compressor = local.compressor = text_compressor()
            return compressed_hunk(b"".join([pickle_line_block(block, as_text)
                                             for block in batch]), compressor)
        return self._chunks(self._block_groups(blocks, as_text), encode, _block_halves,
                            joined)

    def _groups(self, records: Iterable) -> Iterator[tuple[list, int]]:
        """The records in groups of about ``hunk_size`` bytes, each with the number of its
        first record."""
        pending: list = []
        pending_size = 0
        first = 0
        for n, record in enumerate(records):
            size = _pickled_size(record, self.max_record_size)
            if size > self.max_record_size:
                raise _too_large(n, size, self.max_record_size)
            pending.append(record)
            pending_size += size
            if pending_size >= self.hunk_size:
                yield pending, first
                pending, pending_size, first = [], 0, n + 1
        if pending:
            yield pending, first

    def _list_groups(self, lists: Iterable[list]) -> Iterator[tuple[list, int]]:
        pending: list = []
        pending_size = 0
        first = n = 0
        limit = self.max_record_size
        for records in lists:
            if not records:
                continue
            kinds = set(map(type, records))
            factor = 4 if kinds == {str} else 1 if kinds == {bytes} else 0
            if factor and factor * max(map(len, records)) + _PICKLE_OVERHEAD <= limit:
                size = sum(map(len, records)) + _PICKLE_OVERHEAD * len(records)
            else:
                size = 0
                for i, record in enumerate(records):
                    one = _pickled_size(record, limit)
                    if one > limit:
                        raise _too_large(n + i, one, limit)
                    size += one
            pending.extend(records)
            pending_size += size
            n += len(records)
            if pending_size >= self.hunk_size:
                yield pending, first
                pending, pending_size, first = [], 0, n
        if pending:
            yield pending, first

    def _block_groups(self, blocks: Iterable[bytes], as_text: bool
                      ) -> Iterator[tuple[list[bytes], int]]:
        """The blocks in groups of at most ``hunk_size`` bytes (a bigger block alone), each
        with the number of its first line; a line whose record is over ``max_record_size``
        raises as :meth:`chunks` would."""
        pending: list[bytes] = []
        pending_size = 0
        first = n = 0
        limit = self.max_record_size
        for block in blocks:
            if not block:
                continue
            if len(block) + _PICKLE_OVERHEAD > limit:
                _check_lines(block, n, limit, as_text)
            if pending and pending_size + len(block) > self.hunk_size:
                yield pending, first
                pending, pending_size, first = [], 0, n
            pending.append(block)
            pending_size += len(block)
            n += _line_count(block)
        if pending:
            yield pending, first

    def _chunks(self, groups: Iterable[tuple[list, int]],
                encode: Callable[[list], bytes] | None = None,
                halves: Callable[[list, int], Any] | None = None, joined: bool = True
                ) -> Iterator[Any]:
        encode = encode or self._hunk
        halves = halves or _list_halves
        chunk: list[bytes] = []
        used = 0

        def place(batch: list, n: int, hunk: bytes | None = None) -> Iterator[bytes]:
            # Add the records as one hunk to the chunk; split them when they do not fit
            # and the chunk has room worth filling, else start the next chunk.
            nonlocal chunk, used
            hunk = hunk or encode(batch)
            room = self.chunk_size - used
            if len(hunk) <= room:
                chunk.append(hunk)
                used += len(hunk)
                return
            split = halves(batch, n) if not chunk or room >= self.chunk_size // 8 else None
            if split is not None:
                (one, n_one), (two, n_two) = split
                yield from place(one, n_one)
                yield from place(two, n_two)
                return
            if not chunk:
                raise ValueError("record %d takes %d bytes even compressed, more than "
                                 "chunk_size (%d bytes): raise chunk_size"
                                 % (n, len(hunk), self.chunk_size))
            yield b"".join(chunk) if joined else chunk
            chunk, used = [], 0
            yield from place(batch, n, hunk)

        for (batch, first), hunk in _encoded_ahead(encode, groups):
            yield from place(batch, first, hunk)
        if chunk:
            yield b"".join(chunk) if joined else chunk

    @staticmethod
    def _hunk(batch: list) -> bytes:
        """The records as one hunk of the record format."""
        from .records import MAX_HUNK, RecordWriter
        buf = io.BytesIO()
        writer = RecordWriter(buf, hunk_size=MAX_HUNK)
        writer.extend(batch)
        writer.close()
        return buf.getvalue()


def _list_halves(batch: list, n: int) -> tuple | None:
    """The records of ``batch`` (the first numbered ``n``) in two halves, each with the
    number of its first record; None for one record."""
    if len(batch) < 2:
        return None
    half = len(batch) // 2
    return (batch[:half], n), (batch[half:], n + half)


def _line_count(block: bytes) -> int:
    return block.count(b"\n") + (not block.endswith(b"\n"))


def _block_halves(batch: list[bytes], n: int) -> tuple | None:
    """As :func:`_list_halves` for blocks of lines: the blocks in two halves, or one block
    cut at a line's end near its middle; None for one line."""
    if len(batch) > 1:
        half = len(batch) // 2
        return (batch[:half], n), (batch[half:], n + sum(map(_line_count, batch[:half])))
    block = batch[0]
    middle = len(block) // 2
    cut = block.find(b"\n", middle) + 1
    if not 0 < cut < len(block):
        cut = block.rfind(b"\n", 0, middle) + 1
    if not 0 < cut < len(block):
        return None
    return ([block[:cut]], n), ([block[cut:]], n + _line_count(block[:cut]))


def _check_lines(block: bytes, n: int, limit: int, as_text: bool) -> None:
    """Raise as :meth:`Chunker.chunks` does for the first line of ``block`` (its first
    numbered ``n``) whose record is over ``limit`` bytes pickled. Only lines longer than
    ``limit`` less the pickle's overhead can be, and such a line holds a whole aligned
    stretch of half that length with no ``"\\n"`` at one of the multiples of it from the
    block's start (or from the last such line's end): a few searches per block, in C, find
    every one."""
    longest = limit - _PICKLE_OVERHEAD
    stride = max(1, longest // 2)
    start = 0
    while start < len(block):
        if block.find(b"\n", start, start + stride) >= 0:
            start += stride
            continue
        begin = block.rfind(b"\n", 0, start) + 1
        end = block.find(b"\n", start + stride)
        end = len(block) if end < 0 else end + 1
        line = block[begin:end]
        if len(line) > longest:
            size = _pickled_size(line.decode("utf-8") if as_text else line)
            if size > limit:
                raise _too_large(n + block.count(b"\n", 0, begin), size, limit)
        start = end


#: Hunks encoded at once by :func:`_encoded_ahead` (zstd lets go of the GIL).
ENCODERS = min(4, os.cpu_count() or 1)


def _encoded_ahead(encode: Callable[[list], bytes], groups: Iterable[tuple[list, int]]
                   ) -> Iterator[tuple[tuple[list, int], bytes]]:
    """``(group, encode(group's records))`` in order, the next groups encoded in threads
    while the caller places this one (at most twice :data:`ENCODERS` waiting)."""
    if ENCODERS < 2:
        for group in groups:
            yield group, encode(group[0])
        return
    import collections
    import concurrent.futures
    pool = concurrent.futures.ThreadPoolExecutor(ENCODERS, "chunk-hunks")
    waiting: collections.deque = collections.deque()
    try:
        for group in groups:
            waiting.append((group, pool.submit(encode, group[0])))
            if len(waiting) >= 2 * ENCODERS:
                done, future = waiting.popleft()
                yield done, future.result()
        while waiting:
            done, future = waiting.popleft()
            yield done, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
