"""``disco.fileutils`` and ``disco.comm`` as a user imports them: chunks and output streams
read back with the reader plugins, atomic files, zip files, inputs with timeouts, paths, and
HTTP downloads, uploads and connections (tokens, ranges, and reads that resume after the
connection drops) against real servers on loopback."""
import base64
import io
import json
import os
import threading
import time
import zipfile

import pytest
import tornado.iostream
import tornado.web

from disco.comm import Connection, download, open_local, open_remote, open_url, upload
from disco.error import CommError, DataError, DiscoError
from disco.fileutils import (CHUNK_SIZE, HUNK_SIZE, MAX_RECORD_SIZE, MB, MIN_DISK_SPACE,
                             AtomicFile, Chunker, DiscoOutput, DiscoOutputStream, DiscoZipFile,
                             NonBlockingInput, Wait, ensure_free_space, ensure_path, files,
                             get_valid_path)
from disco.worker.task_io import chain_reader
from disco_core.testing import TornadoServer


def chain_records(data):
    return list(chain_reader(io.BytesIO(data), len(data), "test://chunk"))


def test_constants():
    assert MB == 1 << 20
    assert (MIN_DISK_SPACE, MAX_RECORD_SIZE, HUNK_SIZE, CHUNK_SIZE) == (MB, MB, MB, 64 * MB)


# -- chunks ---------------------------------------------------------------------------------
def test_chunker_chunks_stay_under_the_limit_and_read_back_alone():
    records = [os.urandom(200).hex() for _ in range(3000)]  # ~400 bytes each, incompressible
    chunks = list(Chunker(chunk_size=64 * 1024, max_record_size=1024).chunks(records))
    assert len(chunks) >= 8
    assert all(len(c) <= 64 * 1024 for c in chunks)
    assert all(len(c) > 0.8 * 64 * 1024 for c in chunks[:-1])  # filled, not just capped
    got = []
    for chunk in chunks:
        got.extend(chain_records(chunk))  # each chunk is a record file of its own
    assert got == records


def test_chunker_small_input_gives_one_chunk():
    records = [("key%d" % i, i) for i in range(100)]
    chunks = list(Chunker().chunks(iter(records)))
    assert len(chunks) == 1 and chain_records(chunks[0]) == records
    assert list(Chunker().chunks([])) == []


def test_chunker_refuses_records_over_the_limits():
    with pytest.raises(ValueError, match=r"record 2 is \d+ bytes pickled, more than "
                                         r"max_record_size \(100 bytes\)"):
        list(Chunker(max_record_size=100).chunks(["a", "b", "x" * 500]))
    with pytest.raises(ValueError, match="more than chunk_size"):
        list(Chunker(chunk_size=1000, max_record_size=MB).chunks([os.urandom(5000)]))
    with pytest.raises(DiscoError, match="chunk_size must be a positive number"):
        Chunker(chunk_size=0)


# -- output streams ----------------------------------------------------------------------------
def test_output_stream_v1_round_trip_through_the_chain_reader():
    buf = io.BytesIO()
    out = DiscoOutputStream(buf)
    for i in range(5000):
        out.add("k%d" % i, {"v": i})
    out.append(["not", "a", "pair"])
    out.close()
    assert out.size == len(buf.getvalue()) > 0
    records = chain_records(buf.getvalue())
    assert records[:2] == [("k0", {"v": 0}), ("k1", {"v": 1})]
    assert records[-1] == ["not", "a", "pair"] and len(records) == 5001


def test_output_stream_v1_options():
    buf = io.BytesIO()
    out = DiscoOutputStream(buf, version=1, compression_level=9, min_hunk_size=100,
                            max_record_size=200)
    out.add("a", "b")
    with pytest.raises(ValueError, match="max_record_size"):
        out.add("big", "x" * 1000)
    out.close()
    assert chain_records(buf.getvalue()) == [("a", "b")]
    with pytest.raises(DiscoError, match="unknown record format version 7"):
        DiscoOutputStream(io.BytesIO(), version=7)


def test_output_stream_v0_is_the_netstring_format():
    from disco_core import plugins
    buf = io.BytesIO()
    out = DiscoOutputStream(buf, version=0)
    out.add("cat", "1")
    out.append((b"two words", b"line\nbreak"))
    out.close()
    assert buf.getvalue().startswith(b"3 cat 1 1\n")
    reader = plugins.driver("reader", "netstring")
    assert list(reader(io.BytesIO(buf.getvalue()), None, "v0")) == [
        (b"cat", b"1"), (b"two words", b"line\nbreak")]
    with pytest.raises(TypeError, match="version 0 output holds"):
        out.append("single")
    with pytest.raises(DiscoError, match="take no options"):
        DiscoOutputStream(io.BytesIO(), version=0, compression_level=1)


def test_disco_output_appears_only_when_closed(tmp_path, monkeypatch):
    path = str(tmp_path / "out" / "records")
    with DiscoOutput(path) as out:
        out.add("k", "v")
        assert not os.path.exists(path)
    with open(path, "rb") as f:
        assert chain_records(f.read()) == [("k", "v")]
    failed = str(tmp_path / "failed")
    with pytest.raises(RuntimeError):
        with DiscoOutput(failed) as out:
            out.add("k", "v")
            raise RuntimeError("the task broke")
    assert not os.path.exists(failed) and not os.path.exists(failed + ".partial")
    monkeypatch.setenv("DISCO_DATA", str(tmp_path / "data"))
    out = DiscoOutput("disco://somehost/disco/somehost/ab/job/part-0", version=0)
    out.add("x", "y")
    out.close()
    assert (tmp_path / "data" / "somehost" / "ab" / "job" / "part-0").read_bytes() == b"1 x 1 y\n"
    with pytest.raises(DiscoError, match="output files are local"):
        DiscoOutput("http://h/x")


def test_atomic_file(tmp_path):
    path = str(tmp_path / "sub" / "f")
    f = AtomicFile(path)
    f.write(b"data")
    assert not os.path.exists(path) and os.path.exists(path + ".partial")
    f.close()
    assert open(path, "rb").read() == b"data"
    g = AtomicFile(str(tmp_path / "g"))
    g.write(b"half")
    g.abort()
    assert os.listdir(str(tmp_path)) == ["sub"]


# -- zip files ------------------------------------------------------------------------------
def test_disco_zip_file(tmp_path):
    src = tmp_path / "lib"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "a.py").write_text("A = 1\n")
    (src / "pkg" / "a.pyc").write_bytes(b"compiled")
    (src / "top.txt").write_text("hello")
    z = DiscoZipFile()
    z.writepath(str(src), exclude=(".pyc",))
    z.writemodule("json")
    z.writemodule(json, arcname="lib/json_copy.py")
    z.writesource(Chunker)
    data = z.dumps()
    assert z.dumps() == data
    out = io.BytesIO()
    z.dump(out)
    assert out.getvalue() == data
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    prefix = str(src).lstrip("/")
    assert prefix + "/pkg/a.py" in names and prefix + "/top.txt" in names
    assert prefix + "/pkg/a.pyc" not in names
    assert "json/__init__.py" in names and "lib/json_copy.py" in names
    assert "disco_core/chunker.py" in names
    with pytest.raises(DiscoError, match="no such file"):
        DiscoZipFile().writepath(str(tmp_path / "missing"))
    with pytest.raises(DiscoError, match="no source file"):
        DiscoZipFile().writemodule("sys")


# -- input with a timeout --------------------------------------------------------------------
def test_non_blocking_input_reads_and_times_out():
    r, w = os.pipe()
    try:
        os.write(w, b"hello world\nrest")
        inp = NonBlockingInput(r, timeout=0.3)
        assert inp.t_read(5) == b"hello"
        assert inp.t_read_until(b"\n") == b" world\n"
        assert inp.t_read(4) == b"rest"
        threading.Timer(0.05, os.write, (w, b"late")).start()
        assert inp.t_read(4) == b"late"
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="no input for 0.3 seconds"):
            inp.t_read(1)
        assert time.monotonic() - start < 2
        os.write(w, b"ab")
        os.close(w)
        w = -1
        with pytest.raises(EOFError, match="input ended"):
            inp.t_read(3)
    finally:
        os.close(r)
        if w != -1:
            os.close(w)


def test_wait():
    exc = Wait(5)
    assert exc.retry_after == 5 and "retry after 5" in str(exc)
    assert Wait().retry_after == 1


# -- paths ----------------------------------------------------------------------------------
def test_paths(tmp_path, monkeypatch):
    deep = str(tmp_path / "a" / "b" / "c")
    ensure_path(deep)
    ensure_path(deep)
    assert os.path.isdir(deep)
    (tmp_path / "a" / "f1").write_text("1")
    (tmp_path / "a" / "b" / "f2").write_text("2")
    assert list(files(str(tmp_path / "a"))) == [str(tmp_path / "a" / "b" / "f2"),
                                                 str(tmp_path / "a" / "f1")]
    assert list(files(str(tmp_path / "a" / "f1"))) == [str(tmp_path / "a" / "f1")]
    ensure_free_space(str(tmp_path / "not" / "yet" / "there"))
    monkeypatch.setattr("disco_core.fileutils.MIN_DISK_SPACE", 1 << 62)
    with pytest.raises(DataError, match="disk space left"):
        ensure_free_space(str(tmp_path))


def test_get_valid_path(tmp_path):
    (tmp_path / "mod.py").write_text("")
    (tmp_path / "__pycache__").mkdir()
    assert get_valid_path(str(tmp_path / "mod.pyc")) == str(tmp_path / "mod.py")
    assert get_valid_path(str(tmp_path / "__pycache__" / "mod.cpython-311.pyc")) == \
        str(tmp_path / "mod.py")
    assert get_valid_path(str(tmp_path / "mod.py")) == str(tmp_path / "mod.py")
    with pytest.raises(DiscoError, match="no file at"):
        get_valid_path(str(tmp_path / "gone.py"))


# -- HTTP -------------------------------------------------------------------------------------
class EchoHandler(tornado.web.RequestHandler):
    """Replies with what it was sent: method, Authorization, Range and body."""

    def initialize(self, store):
        self.store = store

    def reply(self):
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"method": self.request.method, "path": self.request.path,
                                "auth": self.request.headers.get("Authorization"),
                                "range": self.request.headers.get("Range"),
                                "body": self.request.body.decode("latin-1")}))

    def get(self, name):
        self.reply()

    def put(self, name):
        self.store[name] = self.request.body
        self.reply()

    def post(self, name):
        self.reply()


class RawPutHandler(tornado.web.RequestHandler):
    def put(self):
        self.finish(b"stored, not json")


class DroppingHandler(tornado.web.RequestHandler):
    """Serves ``data``, but the first response is cut off half way (the connection closes
    although Content-Length promised more). Later requests honour ``Range`` when
    ``ranges`` is set, else they send everything again."""

    def initialize(self, data, log, ranges):
        self.data, self.log, self.ranges = data, log, ranges

    async def get(self):
        data = self.data
        rng = self.request.headers.get("Range")
        self.log.append(rng)
        if len(self.log) == 1:
            self.set_header("Content-Length", str(len(data)))
            self.write(data[:len(data) // 2])
            await self.flush()
            self.request.connection.stream.close()
            raise tornado.iostream.StreamClosedError()
        if rng and self.ranges:
            start = int(rng.split("=")[1].split("-")[0])
            self.set_status(206)
            self.set_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            self.finish(data[start:])
        else:
            self.finish(data)


@pytest.fixture
def echo_server():
    store = {}
    server = TornadoServer([(r"/raw", RawPutHandler), (r"/echo/(.*)", EchoHandler,
                                                         {"store": store})])
    server.store = store
    yield server
    server.close()


def test_download_sends_tokens_ranges_and_bodies(echo_server):
    reply = json.loads(download(echo_server.url("echo/x"), token="s3cret"))
    assert reply["auth"] == "Basic " + base64.b64encode(b"token:s3cret").decode()
    assert reply["method"] == "GET" and reply["range"] is None
    assert json.loads(download(echo_server.url("echo/x"), token=""))["auth"] == \
        "Basic " + base64.b64encode(b"token:").decode()
    assert json.loads(download(echo_server.url("echo/x")))["auth"] is None
    assert json.loads(download(echo_server.url("echo/x"), offset=(10,)))["range"] == "bytes=10-"
    assert json.loads(download(echo_server.url("echo/x"), offset=(10, 19)))["range"] == \
        "bytes=10-19"
    reply = json.loads(download(echo_server.url("echo/x"), method="POST", data="payload"))
    assert (reply["method"], reply["body"]) == ("POST", "payload")
    with pytest.raises(DiscoError, match="not a byte range"):
        download(echo_server.url("echo/x"), offset=(5, 1))


def test_download_ranges_from_a_data_server(data_server):
    url = data_server.add("h/j/blob", bytes(range(100)))
    assert download(url) == bytes(range(100))          # disco:// resolved to http
    assert download(url, offset=(10, 14)) == bytes(range(10, 15))
    assert download(url, offset=(95,)) == bytes(range(95, 100))
    with pytest.raises(CommError) as err:
        download(data_server.add("h/j/x", b"") + "-missing")
    assert err.value.code == 404


def test_upload_to_several_urls(echo_server, tmp_path):
    urls = [echo_server.url("echo/one"), echo_server.url("echo/two")]
    replies = upload(urls, b"blob bytes", token="t")
    assert [r["method"] for r in replies] == ["PUT", "PUT"]
    assert replies[0]["auth"] == "Basic " + base64.b64encode(b"token:t").decode()
    assert echo_server.store == {"one": b"blob bytes", "two": b"blob bytes"}
    path = tmp_path / "f"
    path.write_bytes(b"from a file")
    upload([echo_server.url("echo/f")], str(path))
    upload(echo_server.url("echo/g"), io.BytesIO(b"from a buffer"))
    with open(path, "rb") as f:
        upload([echo_server.url("echo/h")], f)
    assert (echo_server.store["f"], echo_server.store["g"], echo_server.store["h"]) == (
        b"from a file", b"from a buffer", b"from a file")
    assert upload([echo_server.url("raw")], b"x") == [b"stored, not json"]
    with pytest.raises(DataError, match="cannot read the file to upload"):
        upload(urls, str(tmp_path / "missing"))


def test_connections_to_local_files(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes(b"one\ntwo\nthree")
    for conn in (open_local(str(path)), open_url(str(path)), open_url("file://%s" % path)):
        with conn:
            assert isinstance(conn, Connection)
            assert len(conn) == 13 and conn.url == "file://%s" % path
            assert list(conn) == [b"one\n", b"two\n", b"three"]
        assert conn.closed
    with open_local(str(path)) as conn:
        assert conn.read(3) == b"one" and conn.read() == b"\ntwo\nthree"
    with pytest.raises(DataError, match="cannot open the file"):
        open_local(str(tmp_path / "missing"))


def test_connections_to_http(http_server):
    data = b"".join(b"line %d\n" % i for i in range(20000))
    url = http_server.add("big.txt", data)
    with open_remote(url) as conn:
        assert len(conn) == len(data) and conn.url == url
        assert conn.read(7) == b"line 0\n"
        assert conn.readline() == b"line 1\n"
        rest = list(conn)
    assert rest[0] == b"line 2\n" and len(rest) == 19998
    with open_url(url) as conn:
        assert conn.read() == data


@pytest.mark.parametrize("ranges", [True, False])
def test_a_dropped_connection_reads_on(ranges):
    data = os.urandom(300 * 1024)
    log = []
    server = TornadoServer([(r"/data", DroppingHandler, {"data": data, "log": log,
                                                        "ranges": ranges})])
    try:
        with open_remote(server.url("data")) as conn:
            assert len(conn) == len(data)
            assert conn.read() == data
        assert len(log) == 2 and log[0] is None
        assert log[1] is not None and log[1].startswith("bytes=")
        assert int(log[1][len("bytes="):-1]) > 0
    finally:
        server.close()


def test_a_server_that_never_answers_is_given_up_after_the_connect_timeout():
    """The kernel takes the connection (as it does for a stopped process); no reply comes."""
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    url = "http://127.0.0.1:%d/x" % listener.getsockname()[1]
    try:
        start = time.monotonic()
        from disco_core.comm import open_remote as core_open_remote
        with pytest.raises(CommError):
            core_open_remote(url, retries=0, connect_timeout=0.3)
        assert time.monotonic() - start < 3
    finally:
        listener.close()


def test_the_body_reads_with_the_long_timeout_after_the_headers(echo_server):
    from disco_core.comm import open_remote as core_open_remote
    resp = core_open_remote(echo_server.url("echo/x"), connect_timeout=0.5, timeout=30)
    try:
        assert resp.gettimeout() == 30
    finally:
        resp.close()
