"""Chunks of a text file's lines given as bytes a block at a time
(``Chunker.chunks_of_lines``, what ``ddfs chunk`` of a local text file uses): the records
read back are the lines a text input gives (decoded, or the bytes), the same as
``Chunker.chunks`` of those records gives, within the chunk size, with the same error for a
line over the record limit; ``pickle_lines`` is what ``pickle`` reads back as the list."""
import io
import os
import pickle

import pytest

from disco_core.fileutils import Chunker
from disco_core.records import PROTOCOL, pickle_lines, read_records

LINES = ([("%d %s\n" % (i, os.urandom(8).hex())).encode() for i in range(5000)]
         + [("\u20ac wide \U0001f600 %d\r\n" % i).encode() for i in range(700)]
         + [b"x" * 255 + b"\n", b"y" * 256 + b"\n", b"z" * 70000 + b"\n", b"\n",
            b"no end"])


def blocks(lines, size):
    return [lines[i:i + size] for i in range(0, len(lines), size)]


def records_of(chunks):
    return [r for chunk in chunks for r in read_records(io.BytesIO(chunk))]


@pytest.mark.parametrize("as_text", [True, False])
def test_pickle_lines_loads_as_the_list_of_lines(as_text):
    got = pickle.loads(pickle_lines(LINES, as_text))
    assert got == [line.decode() if as_text else line for line in LINES]
    assert pickle.loads(pickle_lines([], as_text)) == []


@pytest.mark.parametrize("as_text", [True, False])
@pytest.mark.parametrize("chunk_size", [1 << 20, 1 << 15])
def test_lines_give_the_records_a_text_input_gives_within_the_chunk_size(as_text, chunk_size):
    want = [line.decode() if as_text else line for line in LINES]
    chunker = Chunker(chunk_size=chunk_size, max_record_size=1 << 20, hunk_size=1 << 14)
    chunks = list(chunker.chunks_of_lines(blocks(LINES, 333), as_text))
    assert records_of(chunks) == want == records_of(chunker.chunks(want))
    assert all(len(c) <= chunk_size for c in chunks)
    assert (len(chunks) > 1) == (chunk_size < 1 << 20)


@pytest.mark.parametrize("as_text", [True, False])
def test_a_line_over_the_limit_is_named_as_chunks_names_it(as_text):
    limit = 300
    fits = next(b"x" * n for n in range(400, 0, -1)
                if len(pickle.dumps(b"x" * n if not as_text else "x" * n, PROTOCOL)) <= limit)
    chunker = Chunker(chunk_size=1 << 20, max_record_size=limit)
    assert records_of(chunker.chunks_of_lines([[fits, b"a"]], as_text)) == \
        [fits.decode() if as_text else fits, "a" if as_text else b"a"]
    lines = [[b"a"] * 5, [b"a", b"a", fits + b"x"]]
    records = [line.decode() if as_text else line for block in lines for line in block]
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
