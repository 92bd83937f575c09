"""The record-size limit of chunks (``Chunker``, ``DiscoOutputStream_v1``): a record's
pickled size is checked exactly near the limit, even though short lines are not pickled
one by one to learn it."""
import io
import os
import pickle

import pytest

from disco_core.fileutils import Chunker, DiscoOutputStream_v1
from disco_core.records import PROTOCOL, read_records


def pickled(record):
    return len(pickle.dumps(record, PROTOCOL))


@pytest.mark.parametrize("kind", [bytes, str])
def test_the_limit_is_exact_for_records_near_it(kind):
    limit = 200
    unit = b"x" if kind is bytes else "x"
    fits = next(unit * n for n in range(300, 0, -1) if pickled(unit * n) <= limit)
    too_big = fits + unit
    assert pickled(fits) <= limit < pickled(too_big)
    chunker = Chunker(chunk_size=1 << 20, max_record_size=limit)
    [chunk] = list(chunker.chunks([fits, fits]))
    assert list(read_records(io.BytesIO(chunk))) == [fits, fits]
    with pytest.raises(ValueError, match="record 1 is %d bytes pickled" % pickled(too_big)):
        list(chunker.chunks([fits, too_big]))
    out = DiscoOutputStream_v1(io.BytesIO(), max_record_size=limit)
    out.append(fits)
    with pytest.raises(ValueError, match="more than max_record_size"):
        out.append(too_big)


def test_wide_characters_count_by_their_bytes():
    limit = 200
    wide = "\u20ac" * 70  # 210 bytes in UTF-8, 70 characters
    with pytest.raises(ValueError, match="more than max_record_size"):
        list(Chunker(chunk_size=1 << 20, max_record_size=limit).chunks([wide]))


def test_many_short_lines_make_the_chunks_they_should():
    lines = [b"%d %s\n" % (i, os.urandom(8).hex().encode()) for i in range(200000)]
    chunks = list(Chunker(chunk_size=256 << 10).chunks(lines))
    assert len(chunks) > 1 and all(len(c) <= 256 << 10 for c in chunks)
    assert [r for c in chunks for r in read_records(io.BytesIO(c))] == lines
