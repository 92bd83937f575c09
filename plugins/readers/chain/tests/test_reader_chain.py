"""The chain reader (the internal record format) against the reader contract, and its
writer."""
import io

import pytest

from disco_core.errors import CorruptRecords
from disco_core.records import RecordWriter
from disco_core.testing import ReaderContract


def encode_records(records):
    buf = io.BytesIO()
    w = RecordWriter(buf, hunk_size=64 * 1024)
    w.extend(records)
    w.close()
    return buf.getvalue()


class TestChainReader(ReaderContract):
    reader = "chain"
    records = [("word", 1), ("key with spaces", [1, 2.5]), (None, {"b": b"\x00\xff"}),
               (("tuple", "key"), "\u00e9\u2603"), ("last", None)]
    bad_input = b"this is a text file, not records\n"
    bad_error = CorruptRecords
    bad_error_names_url = True

    @pytest.fixture
    def encode(self):
        return encode_records


@pytest.fixture
def host():
    from disco_core.plugins import PluginHost
    return PluginHost()


def test_writer_and_reader_round_trip(host, tmp_path):
    writer = host.driver("writer", "chain")
    read = host.driver("reader", "chain")
    path = tmp_path / "out"
    with open(path, "wb") as f:
        w = writer(f, 0, str(path), None)
        for i in range(10000):
            w.add("k%d" % (i % 10), i)
        w.close()
    with open(path, "rb") as f:
        got = list(read(f, path.stat().st_size, str(path), None))
    assert got == [("k%d" % (i % 10), i) for i in range(10000)]


def test_concatenated_outputs_read_as_one(host):
    read = host.driver("reader", "chain")
    data = encode_records([(1, "a")]) + encode_records([]) + encode_records([(2, "b")])
    assert list(read(io.BytesIO(data))) == [(1, "a"), (2, "b")]


def test_reads_the_bytes_under_a_text_stream(host):
    """The worker's default input stream is text; chain_reader reads its ``.buffer``."""
    read = host.driver("reader", "chain")
    data = encode_records([("x", 1)])
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    assert list(read(text, len(data), "test://text", None)) == [("x", 1)]


def test_a_truncated_input_names_the_url_and_offset(host):
    read = host.driver("reader", "chain")
    data = encode_records([(i, "v") for i in range(100)])
    with pytest.raises(CorruptRecords) as err:
        list(read(io.BytesIO(data[:-3]), None, "disco://h/disco/out", None))
    assert "disco://h/disco/out" in str(err.value) and "at byte 0" in str(err.value)
