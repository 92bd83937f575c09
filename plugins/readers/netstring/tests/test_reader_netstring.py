"""The netstring reader against the reader contract, its writer, malformed inputs, and jobs
that read netstring inputs served over HTTP and write netstring outputs."""
import io

import pytest

from disco_core.errors import DataError
from disco_core.testing import ReaderContract, WriterContract

PAIRS = [(b"cat", b"1"), (b"", b""), (b"key with spaces", b"value\nwith\nnewlines\n"),
         (b"\x00\xff binary", bytes(range(256))), (b"12 3", b" 4 5\n"), (b"k" * 300, b"v" * 5000)]


def encode(pairs):
    return b"".join(b"%d %b %d %b\n" % (len(k), k, len(v), v) for k, v in pairs)


class TestNetstringReader(ReaderContract):
    reader = "netstring"
    records = PAIRS
    bad_input = b"3 cat 1 1\nthis is not netstring data\n"
    bad_error = DataError
    bad_error_names_url = True

    @pytest.fixture
    def encode(self):
        return encode


class TestNetstringWriter(WriterContract):
    writer = "netstring"
    records = PAIRS

    @pytest.fixture
    def decode(self):
        from disco_core.plugins import PluginHost
        read = PluginHost().driver("reader", "netstring")
        return lambda data: list(read(io.BytesIO(data)))


@pytest.fixture
def host():
    from disco_core.plugins import PluginHost
    return PluginHost()


@pytest.fixture
def read(host):
    return host.driver("reader", "netstring")


@pytest.fixture
def writer(host):
    return host.driver("writer", "netstring")


def test_the_format(read):
    assert list(read(io.BytesIO(b"3 cat 1 1\n2 on 5 a mat\n"))) == [(b"cat", b"1"),
                                                                   (b"on", b"a mat")]


def test_writer_writes_the_format(writer):
    out = io.BytesIO()
    w = writer(out, 0, "test://out", None)
    w.add("cat", 1)
    w.add(b"\xff", "\u00e9")
    w.add(("t", 1), None)
    w.close()
    assert out.getvalue() == b"3 cat 1 1\n1 \xff 2 \xc3\xa9\n8 ('t', 1) 4 None\n"
    assert not out.closed


def test_writer_and_reader_round_trip(writer, read, tmp_path):
    path = tmp_path / "out"
    pairs = [(b"k%d" % (i % 10), b"%d\n" % i * (i % 7)) for i in range(20000)] + PAIRS
    with open(path, "wb", buffering=0) as f:
        w = writer(f, 0, str(path), None)
        for k, v in pairs:
            w.add(k, v)
        w.close()
    with open(path, "rb") as f:
        assert list(read(f, path.stat().st_size, str(path), None)) == pairs


def test_writer_under_a_text_stream_writes_its_bytes(writer):
    out = io.BytesIO()
    text = io.TextIOWrapper(out, encoding="utf-8")
    w = writer(text, 0, "test://t", None)
    w.add(b"a", b"b")
    w.close()
    assert out.getvalue() == b"1 a 1 b\n"


def test_reads_the_bytes_under_a_text_stream(read):
    from disco_core.worker.dataio import text_stream
    data = encode([(b"\xff\xfe", b"not utf-8")])
    assert list(read(text_stream(io.BytesIO(data)), len(data), "test://t", None)) == \
        [(b"\xff\xfe", b"not utf-8")]


def test_reads_a_stream_that_returns_a_few_bytes_at_a_time(read):
    class Trickle(io.RawIOBase):
        def __init__(self, data):
            self.data, self.pos = data, 0

        def readable(self):
            return True

        def readinto(self, b):
            n = min(len(b), 3, len(self.data) - self.pos)
            b[:n] = self.data[self.pos:self.pos + n]
            self.pos += n
            return n
    data = encode(PAIRS)
    assert list(read(Trickle(data))) == PAIRS


@pytest.mark.parametrize("data, offset, what", [
    (b"3 cat 1 1\nx cat 1 1\n", 10, "length of a key"),
    (b"3 cat 1 1\n-1 a 1 b\n", 10, "length of a key"),
    (b"3 cat 1 1\n3 cat x 1\n", 16, "length of a value"),
    (b"3 cat 1 1\n3 cats 1 1\n", 10, "followed by b's'"),
    (b"3 cat 1 1\n3 cat 1 12\n", 16, "followed by b'2'"),
    (b"3 cat 1 1\n1234567890123456789012345 a", 10, "length of a key"),
    (b"3 cat 1 1\n3 cat", 10, "ends inside a key"),
    (b"3 cat 1 1\n3 ca", 10, "ends inside a key"),
    (b"3 cat 1 1\n3 cat ", 16, "ends before the value"),
    (b"3 cat 1 1\n3 cat 12", 16, "ends inside the length of a value"),
    (b"3 cat 1 1\n3 cat 5 abcde", 16, "ends inside a value"),
    (b"3 cat 1 1\n3 cat 9999999999999 abc\n", 16, "ends inside a value of 9999999999999"),
    (b"3 cat 1 1\n\n", 10, "length of a key"),
])
def test_malformed_input_names_the_url_and_byte_offset(read, data, offset, what):
    url = "http://h/bad.ns"
    records = read(io.BytesIO(data), len(data), url, None)
    assert next(records) == (b"cat", b"1")   # records before the damage are read
    with pytest.raises(DataError) as err:
        next(records)
    msg = str(err.value)
    assert url in msg and "at byte %d" % offset in msg and what in msg, msg


def test_closes_its_input(read):
    fd = io.BytesIO(encode(PAIRS))
    list(read(fd))
    assert fd.closed
    fd = io.BytesIO(b"garbage")
    with pytest.raises(DataError):
        list(read(fd))
    assert fd.closed


def test_netstring_input_in_a_job(disco_cluster, http_server):
    from disco.core import Job, result_iterator
    from disco.worker.classic.func import sum_reduce
    from disco_core.worker.task_io import NamedDriver
    data = encode([(b"cat", b"2"), (b"the mat", b"5"), (b"cat", b"40"), (b"\xff", b"1")])
    url = http_server.add("counts.ns", data)
    job = Job().run(input=[url], map_reader=NamedDriver("reader", "netstring"),
                    map=lambda kv, params: [(kv[0], int(kv[1]))], reduce=sum_reduce)
    assert sorted(result_iterator(job.wait(timeout=120))) == [(b"cat", 42), (b"the mat", 5),
                                                   (b"\xff", 1)]


def test_netstring_output_of_a_job_reads_back(disco_cluster, http_server):
    """A job writes netstring outputs (writer plugin in map_output_stream); a second job
    reads them with the netstring reader."""
    from disco.core import Job, result_iterator
    from disco.worker.task_io import task_output_stream
    from disco_core.worker.task_io import NamedDriver
    url = http_server.add("words.txt", "the cat\nsat on\nthe mat\n")
    first = Job().run(input=[url], map=lambda line, params: [(w, len(w)) for w in line.split()],
                      map_output_stream=(task_output_stream, NamedDriver("writer", "netstring")))
    outputs = first.wait(timeout=120)
    second = Job().run(input=outputs, map_reader=NamedDriver("reader", "netstring"),
                       map=lambda kv, params: [(kv[0].decode(), int(kv[1]))])
    assert sorted(result_iterator(second.wait(timeout=120))) == [
        ("cat", 3), ("mat", 3), ("on", 2), ("sat", 3), ("the", 3), ("the", 3)]


def test_upstream_style_name_in_task_io():
    from disco.worker.task_io import netstr_reader
    assert list(netstr_reader(io.BytesIO(b"1 a 2 bc\n"), None, "test://n", None)) == \
        [(b"a", b"bc")]
