"""The gzip and gzip_bytes readers against the reader contract, their own cases, and a job
that reads a gzip input served over HTTP."""
import gzip
import io

import pytest

from disco_core.errors import DataError
from disco_core.testing import ReaderContract

LINES = ["first line\n", "second line, \u00e9t\u00e9 \u2603\n", "\n", "  indented\ttab\r\n",
         "a\rcarriage return inside\n"]


def stored(data):
    """Valid gzip without compression, so the contract's streaming test can see how far
    the reader read (compressed, its repetitive sample would fit in one read buffer)."""
    return gzip.compress(data, compresslevel=0, mtime=0)


class TestGzipReader(ReaderContract):
    reader = "gzip"
    records = LINES
    bad_input = b"this is plain text, not gzip\n"
    bad_error = DataError
    bad_error_names_url = True

    @pytest.fixture
    def encode(self):
        return lambda lines: stored("".join(lines).encode("utf-8"))


class TestGzipBytesReader(ReaderContract):
    reader = "gzip_bytes"
    records = [line.encode("utf-8") for line in LINES] + [b"\xff\xfe\x00 not UTF-8\n"]
    bad_input = stored(b"a\nb\n")[:-6]   # the trailer cut short
    bad_error = DataError
    bad_error_names_url = True

    @pytest.fixture
    def encode(self):
        return lambda lines: stored(b"".join(lines))


@pytest.fixture
def host():
    from disco_core.plugins import PluginHost
    return PluginHost()


@pytest.fixture
def read(host):
    return host.driver("reader", "gzip")


@pytest.fixture
def read_bytes(host):
    return host.driver("reader", "gzip_bytes")


def test_compressed_input(read, read_bytes):
    text = "".join("line %d \u00e9\n" % i for i in range(10000))
    data = gzip.compress(text.encode("utf-8"), compresslevel=9)
    assert len(data) < len(text) // 4
    assert list(read(io.BytesIO(data), len(data), "test://c", None)) == \
        text.splitlines(keepends=True)
    assert list(read_bytes(io.BytesIO(data), len(data), "test://c", None)) == \
        text.encode("utf-8").splitlines(keepends=True)


def test_last_line_without_newline(read, read_bytes):
    data = gzip.compress(b"a\nb")
    assert list(read(io.BytesIO(data))) == ["a\n", "b"]
    assert list(read_bytes(io.BytesIO(data))) == [b"a\n", b"b"]


def test_multi_member_files_read_as_one(read):
    data = gzip.compress(b"a\nb") + gzip.compress(b"") + gzip.compress(b"c\n")
    assert list(read(io.BytesIO(data))) == ["a\n", "bc\n"]


def test_zero_byte_input_has_no_lines(read, read_bytes):
    assert list(read(io.BytesIO(b""))) == []
    assert list(read_bytes(io.BytesIO(b""))) == []


def test_reads_the_bytes_under_a_text_stream(read):
    """The worker's default input stream is text; the reader decompresses its ``.buffer``."""
    from disco_core.worker.dataio import text_stream
    data = gzip.compress(b"x\ny\n")
    assert list(read(text_stream(io.BytesIO(data)), len(data), "test://t", None)) == \
        ["x\n", "y\n"]


@pytest.mark.parametrize("cut", [1, 5, 9, 30, -1, -4, -8])
def test_truncated_input_is_a_data_error_naming_the_url(read_bytes, cut):
    data = gzip.compress(b"".join(b"record %d\n" % i for i in range(1000)))
    url = "http://somewhere/part-%d.gz" % cut
    with pytest.raises(DataError) as err:
        list(read_bytes(io.BytesIO(data[:cut]), None, url, None))
    assert url in str(err.value)


def test_bad_crc_is_a_data_error(read):
    data = bytearray(gzip.compress(b"hello\nworld\n"))
    data[-8] ^= 0xFF  # the CRC32 in the trailer
    with pytest.raises(DataError) as err:
        list(read(io.BytesIO(bytes(data)), None, "test://crc", None))
    assert "test://crc" in str(err.value) and "gzip" in str(err.value)


def test_corrupt_deflate_data_is_a_data_error(read_bytes):
    data = bytearray(gzip.compress(bytes(range(256)) * 64))
    data[20:40] = b"\xff" * 20
    with pytest.raises(DataError):
        list(read_bytes(io.BytesIO(bytes(data)), None, "test://deflate", None))


def test_text_that_is_not_utf8_is_refused(read):
    with pytest.raises(UnicodeDecodeError):
        list(read(io.BytesIO(gzip.compress(b"ok\n\xff\xfe\n"))))


def test_lines_already_read_come_before_the_error(read):
    data = stored(b"".join(b"line %d\n" % i for i in range(100000)))
    lines = read(io.BytesIO(data[:len(data) // 2]), None, "test://half", None)
    assert next(lines) == "line 0\n"
    with pytest.raises(DataError):
        list(lines)


def test_closes_its_input(read, read_bytes):
    for reader in (read, read_bytes):
        fd = io.BytesIO(gzip.compress(b"a\n"))
        assert list(reader(fd)) in (["a\n"], [b"a\n"])
        assert fd.closed
        fd = io.BytesIO(b"not gzip")
        with pytest.raises(DataError):
            list(reader(fd))
        assert fd.closed


def test_gzip_input_in_a_job(disco_cluster, http_server):
    from disco.core import Job, result_iterator
    from disco.worker.classic.func import sum_reduce
    from disco_core.worker.task_io import NamedDriver
    text = "the cat sat\non the mat\r\nthe end\n" * 200
    url = http_server.add("words.txt.gz", gzip.compress(text.encode("utf-8")))
    job = Job().run(input=[url], map_reader=NamedDriver("reader", "gzip"),
                    map=lambda line, params: [(w, 1) for w in line.split()]
                    + [("CR", 1)] * line.endswith("\r\n"),
                    reduce=sum_reduce)
    assert sorted(result_iterator(job.wait(timeout=120))) == [
        ("CR", 200), ("cat", 200), ("end", 200), ("mat", 200), ("on", 200), ("sat", 200),
        ("the", 600)]
