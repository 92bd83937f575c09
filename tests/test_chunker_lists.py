"""Chunks of records given a list at a time (``Chunker.chunks_of_lists``, what ``ddfs
chunk`` cuts a text file's blocks of lines with) hold what ``Chunker.chunks`` of the same
records holds, with the same record-size limit and the same record numbers in its errors;
``RecordWriter.extend`` of a list writes what record by record writes."""
import io
import os
import pickle

import pytest

from disco_core.fileutils import Chunker
from disco_core.records import BATCH, PROTOCOL, RecordWriter, read_records


def records_of(chunks):
    return [r for chunk in chunks for r in read_records(io.BytesIO(chunk))]


LISTS = [["%d %s\n" % (i, os.urandom(8).hex()) for i in range(3000)], [],
         [b"raw\n", b"bytes\n"] * 700, [("key", 1), "mixed", b"kinds", 3.5],
         ["\u20ac wide %d\n" % i for i in range(900)]]


@pytest.mark.parametrize("chunk_size", [1 << 20, 4096])
def test_lists_give_the_records_in_order_within_the_chunk_size(chunk_size):
    chunker = Chunker(chunk_size=chunk_size, max_record_size=1024, hunk_size=2048)
    flat = [r for lst in LISTS for r in lst]
    chunks = list(chunker.chunks_of_lists(LISTS))
    assert records_of(chunks) == flat == records_of(chunker.chunks(flat))
    assert all(len(c) <= chunk_size for c in chunks)
    assert len(chunks) > 1 or chunk_size > 4096


@pytest.mark.parametrize("kind", [bytes, str])
def test_a_record_over_the_limit_is_named_as_chunks_names_it(kind):
    limit = 200
    unit = b"x" if kind is bytes else "x"
    fits = next(unit * n for n in range(300, 0, -1)
                if len(pickle.dumps(unit * n, PROTOCOL)) <= limit)
    too_big = fits + unit
    chunker = Chunker(chunk_size=1 << 20, max_record_size=limit)
    assert records_of(chunker.chunks_of_lists([[fits], [unit, fits]])) == [fits, unit, fits]
    lists = [[unit] * 5, [unit, unit, too_big]]
    with pytest.raises(ValueError) as by_list:
        list(chunker.chunks_of_lists(lists))
    with pytest.raises(ValueError) as one_by_one:
        list(chunker.chunks([r for lst in lists for r in lst]))
    assert str(by_list.value) == str(one_by_one.value)
    assert str(by_list.value).startswith("record 7 is %d bytes pickled"
                                         % len(pickle.dumps(too_big, PROTOCOL)))


@pytest.mark.parametrize("before", [0, 1, BATCH - 1])
def test_extend_of_a_list_writes_the_bytes_record_by_record_writes(before):
    records = ["r%d" % i for i in range(BATCH * 3 + 7)]
    by_list, one_by_one = io.BytesIO(), io.BytesIO()
    for out, many in ((by_list, list(records)), (one_by_one, iter(records))):
        writer = RecordWriter(out, hunk_size=BATCH * 4)
        for i in range(before):
            writer.append(i)
        writer.extend(many)
        writer.close()
    assert by_list.getvalue() == one_by_one.getvalue()
    assert list(read_records(io.BytesIO(by_list.getvalue()))) == list(range(before)) + records
