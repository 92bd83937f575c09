"""The internal record format (disco_core.records): round trips, concatenation, streaming
in constant memory, and clear errors for truncated or corrupt files."""
import io
import os
import random
import re

import pytest

from disco_core import records
from disco_core.errors import CorruptRecords, DataError
from disco_core.records import HEADER, RecordWriter, read_hunks, read_records, write_records

URL = "disco://node1/disco/node1/ab/job/map-0-1"


def encode(items, hunk_size=records.HUNK_SIZE, pairs=False):
    buf = io.BytesIO()
    w = RecordWriter(buf, hunk_size=hunk_size)
    if pairs:
        for k, v in items:
            w.add(k, v)
    else:
        w.extend(items)
    w.close()
    assert w.size == len(buf.getvalue())
    return buf.getvalue()


def hunk_offsets(data):
    """Start offset of every hunk, found by walking the headers."""
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        clen = HEADER.unpack(data[pos:pos + HEADER.size])[3]
        pos += HEADER.size + clen
    assert pos == len(data)
    return offsets


class CountingReader(io.RawIOBase):
    """A file object that remembers how many bytes were read from it."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), len(self.data) - self.pos)
        b[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def test_round_trip_of_many_records_of_many_types():
    items = [(i, "value %d" % i) for i in range(50000)]
    items += [None, b"\x00\xff bytes", {"a": [1, 2.5]}, ("nested", ("t", 1)), "ünïcødé", 2 ** 80]
    data = encode(items, hunk_size=64 * 1024)
    assert len(hunk_offsets(data)) > 3  # several hunks, not one
    assert list(read_records(io.BytesIO(data), URL)) == items


def test_add_stores_key_value_pairs_and_counts_them():
    buf = io.BytesIO()
    w = RecordWriter(buf)
    for i in range(5000):
        w.add("k%d" % (i % 7), i)
    w.close()
    assert w.count == 5000
    got = list(read_records(io.BytesIO(buf.getvalue())))
    assert got == [("k%d" % (i % 7), i) for i in range(5000)]


def test_large_records_and_a_large_file():
    big = os.urandom(3 << 20)  # one record larger than a hunk
    items = [("big", big)] + [(i, os.urandom(100)) for i in range(30000)] + [("end", big)]
    data = encode(items, hunk_size=256 * 1024)
    assert len(data) > 9 << 20
    assert list(read_records(io.BytesIO(data), URL)) == items


def test_empty_file_holds_no_records():
    data = encode([])
    assert data == b""
    assert list(read_records(io.BytesIO(b""), URL)) == []
    assert write_records(io.BytesIO(), []) == 0


def test_write_records_returns_bytes_written(tmp_path):
    path = tmp_path / "out"
    with open(path, "wb") as f:
        size = write_records(f, [(1, 2), (3, 4)])
    assert size == path.stat().st_size > 0
    with open(path, "rb") as f:
        assert list(read_records(f, str(path))) == [(1, 2), (3, 4)]


def test_concatenated_files_read_as_one(tmp_path):
    parts = [[("a", i) for i in range(3000)], [], [("b", i) for i in range(10)],
             [("c", i) for i in range(20000)]]
    joined = tmp_path / "joined"
    with open(joined, "wb") as out:
        for part in parts:
            out.write(encode(part, hunk_size=8192))
    with open(joined, "rb") as f:
        assert list(read_records(f, str(joined))) == [r for part in parts for r in part]


def test_reader_streams_one_hunk_at_a_time():
    rng = random.Random(1)
    items = [(i, rng.randbytes(40)) for i in range(200000)]
    data = encode(items, hunk_size=64 * 1024)
    offsets = hunk_offsets(data)
    assert len(offsets) > 50
    fd = CountingReader(data)
    it = read_records(fd, URL)
    assert next(it) == items[0]
    # only the first hunk has been read, not the file
    assert fd.pos == offsets[1]
    for _ in range(5000):
        next(it)
    assert fd.pos < len(data) // 10
    rest = list(it)
    assert len(rest) == len(items) - 5001 and rest[-1] == items[-1]
    assert fd.pos == len(data)


def test_read_hunks_yields_raw_bodies_lazily():
    data = encode([(i, i) for i in range(100000)], hunk_size=32 * 1024)
    fd = CountingReader(data)
    hunks = read_hunks(fd, URL)
    first = next(hunks)
    assert 32 * 1024 <= len(first) < 2 * 32 * 1024 + records.BATCH * 16
    assert fd.pos == hunk_offsets(data)[1]


def message_of(data, url=URL):
    with pytest.raises(CorruptRecords) as err:
        list(read_records(io.BytesIO(data), url))
    assert isinstance(err.value, DataError)  # a data error: the task is retried elsewhere
    assert err.value.url == url
    text = str(err.value)
    assert url in text
    return text


def offset_in(text):
    found = re.search(r"at byte (\d+)", text)
    assert found, "no byte offset in %r" % text
    return int(found.group(1))


@pytest.fixture
def two_hunks():
    data = encode([(i, "v%d" % i) for i in range(30000)], hunk_size=64 * 1024)
    offsets = hunk_offsets(data)
    assert len(offsets) >= 2
    return data, offsets


def test_truncated_in_a_header_names_url_and_offset(two_hunks):
    data, offsets = two_hunks
    text = message_of(data[:offsets[1] + 5])
    assert "truncated" in text
    assert offset_in(text) == offsets[1]
    text = message_of(data[:7])
    assert "truncated" in text and offset_in(text) == 0


def test_truncated_in_a_body_names_url_and_offset(two_hunks):
    data, offsets = two_hunks
    text = message_of(data[:offsets[1] + HEADER.size + 100])
    assert "truncated" in text
    assert offset_in(text) == offsets[1]
    text = message_of(data[:HEADER.size])  # a header and no body at all
    assert "truncated" in text and offset_in(text) == 0


def test_a_corrupt_byte_fails_the_checksum(two_hunks):
    data, offsets = two_hunks
    for pos in (HEADER.size + 3, offsets[1] - 1, offsets[1] + HEADER.size + 1000):
        bad = bytearray(data)
        bad[pos] ^= 0x40
        text = message_of(bytes(bad))
        assert "checksum" in text
        assert offset_in(text) == max(o for o in offsets if o <= pos - HEADER.size)


def test_records_before_the_damage_are_delivered(two_hunks):
    data, offsets = two_hunks
    got = []
    with pytest.raises(CorruptRecords):
        for record in read_records(io.BytesIO(data[:-1]), URL):
            got.append(record)
    assert got and got == [(i, "v%d" % i) for i in range(len(got))]


def test_not_a_record_file_says_so():
    text = message_of(b"hello world\nthis is a text file\n")
    assert "not a Disco record file" in text and offset_in(text) == 0


def test_a_corrupt_codec_byte_names_the_hunk_offset(two_hunks):
    data, offsets = two_hunks
    bad = bytearray(data)
    bad[offsets[1] + 3] = records.CODEC_NONE  # the header now says "not compressed"
    text = message_of(bytes(bad))
    assert offset_in(text) == offsets[1]


def test_an_unknown_version_is_named(two_hunks):
    data, _ = two_hunks
    bad = bytearray(data)
    bad[2] = 7
    text = message_of(bytes(bad))
    assert "version 7" in text and offset_in(text) == 0


def test_distinct_records_round_trip_and_take_less_room():
    pairs = [("k%d" % i, (i % 2, str(i * 7))) for i in range(5000)]
    shared = [1, 2]
    cyclic: list = ["loop"]
    cyclic.append(cyclic)
    odd = [("s", shared), ("t", shared), ("c", cyclic), ("n", None)]
    for items in (pairs, odd * 700):
        plain, distinct = io.BytesIO(), io.BytesIO()
        for buf, flag in ((plain, False), (distinct, True)):
            w = RecordWriter(buf)
            w.extend(items, distinct=flag)
            w.close()
        back = list(read_records(io.BytesIO(distinct.getvalue())))
        assert len(back) == len(items)
        for (k, v), (bk, bv) in zip(items, back):
            assert bk == k
            if v is cyclic:
                assert bv[0] == "loop" and bv[1] is bv  # a cycle keeps its memo
            else:
                assert bv == v
    # without memo entries the pickles of distinct pairs are smaller
    assert len(records._dumps_distinct(pairs[:2048])) < len(records._dumps(pairs[:2048], 5))
