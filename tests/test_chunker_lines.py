"""Chunks of a text file's lines given as blocks of bytes of whole lines
(``Chunker.chunks_of_lines``, what ``ddfs chunk`` of a local text file uses): the records
read back are the lines a text input gives (decoded, or the bytes), the same as
``Chunker.chunks`` of those records gives, within the chunk size (blocks cut at a line's
end when a chunk needs it), with the same error for a line over the record limit;
``pickle_line_block`` is what ``pickle`` reads back as the list of the block's lines."""
import io
import os
import pickle

import pytest

from disco_core.fileutils import Chunker
from disco_core.records import PROTOCOL, lines_of, pickle_line_block, read_records

LINES = ([("%d %s\n" % (i, os.urandom(8).hex())).encode() for i in range(5000)]
         + [("\u20ac wide \U0001f600 %d\r\n" % i).encode() for i in range(700)]
         + [b"x" * 255 + b"\n", b"y" * 256 + b"\n", b"z" * 70000 + b"\n", b"\n",
            b"no end"])


def blocks(lines, size):
    return [b"".join(lines[i:i + size]) for i in range(0, len(lines), size)]


def records_of(chunks):
    return [r for chunk in chunks for r in read_records(io.BytesIO(chunk))]


@pytest.mark.parametrize("as_text", [True, False])
def test_a_pickled_block_loads_as_the_list_of_its_lines(as_text):
    block = b"".join(LINES)
    got = pickle.loads(pickle_line_block(block, as_text))
    assert got == [line.decode() if as_text else line for line in LINES]
    assert got == lines_of(block.decode() if as_text else block)
    assert pickle.loads(pickle_line_block(b"", as_text)) == []
    assert pickle.loads(pickle_line_block(b"\r\n\n", as_text)) == (
        ["\r\n", "\n"] if as_text else [b"\r\n", b"\n"])


def test_one_block_too_big_for_a_chunk_is_cut_between_lines():
    want = [line.decode() for line in LINES[:4000]]
    chunker = Chunker(chunk_size=1 << 14, max_record_size=1 << 12)
    chunks = list(chunker.chunks_of_lines([b"".join(LINES[:4000])], True))
    assert len(chunks) > 2 and all(len(c) <= 1 << 14 for c in chunks)
    assert records_of(chunks) == want


@pytest.mark.parametrize("as_text", [True, False])
@pytest.mark.parametrize("chunk_size", [1 << 20, 1 << 15])
def test_lines_give_the_records_a_text_input_gives_within_the_chunk_size(as_text, chunk_size):
    want = [line.decode() if as_text else line for line in LINES]
    chunker = Chunker(chunk_size=chunk_size, max_record_size=1 << 20, hunk_size=1 << 14)
    chunks = list(chunker.chunks_of_lines(blocks(LINES, 333), as_text))
    assert records_of(chunks) == want == records_of(chunker.chunks(want))
    pieces = list(chunker.chunks_of_lines(blocks(LINES, 333), as_text, joined=False))
    assert [b"".join(hunks) for hunks in pieces] == chunks  # the hunks, not yet joined
    assert all(len(c) <= chunk_size for c in chunks)
    assert (len(chunks) > 1) == (chunk_size < 1 << 20)


@pytest.mark.parametrize("as_text", [True, False])
def test_a_line_over_the_limit_is_named_as_chunks_names_it(as_text):
    limit = 300
    fits = next(b"x" * n + b"\n" for n in range(400, 0, -1)
                if len(pickle.dumps(b"x" * n + b"\n" if not as_text else "x" * n + "\n",
                                    PROTOCOL)) <= limit)
    chunker = Chunker(chunk_size=1 << 20, max_record_size=limit)
    assert records_of(chunker.chunks_of_lines([fits + b"a"], as_text)) == \
        [fits.decode() if as_text else fits, "a" if as_text else b"a"]
    assert records_of(chunker.chunks_of_lines([b"a\n" * 200 + fits * 3], as_text)) == \
        [r.decode() if as_text else r for r in [b"a\n"] * 200 + [fits] * 3]
    lines = [[b"a\n"] * 5, [b"a\n", b"a\n", b"x" + fits, b"b\n"]]
    records = [line.decode() if as_text else line for block in lines for line in block]
    lines = [b"".join(block) for block in lines]
    with pytest.raises(ValueError) as by_lines:
        list(chunker.chunks_of_lines(lines, as_text))
    with pytest.raises(ValueError) as one_by_one:
        list(chunker.chunks(records))
    assert str(by_lines.value) == str(one_by_one.value)
    assert str(by_lines.value).startswith("record 7 is")


def test_chunks_stop_cleanly_when_the_reader_stops_early():
    chunker = Chunker(chunk_size=1 << 16, max_record_size=1 << 20, hunk_size=1 << 12)
    chunks = chunker.chunks_of_lines(blocks(LINES, 100), True)
    first = list(read_records(io.BytesIO(next(chunks))))
    chunks.close()  # the threads encoding the next hunks are let go
    assert first == [line.decode() for line in LINES[:len(first)]] and len(first) > 100
