"""How blob bytes travel: the client's PUTs (a length, no chunking, every replica at once),
the node storing a body however it is sent (with a length, chunked, after ``Expect:
100-continue``) whole, and blobs whose recorded checksum is of the older kind."""
import asyncio
import hashlib
import json
import http.client
import io
import os
import subprocess
import time
import urllib.parse

import pytest
import tornado.web

from disco.ddfs import DDFS
from disco_core.testing import TornadoServer
from disco_plugin_ddfs.transfer import Pieces, put_replicas


class Recorder(tornado.web.RequestHandler):
    """Keeps each PUT's headers and body; with ``barrier``, answers only once ``barrier``
    PUTs have arrived (or gives up after 10 s with a 504)."""

    def initialize(self, seen, barrier=1):
        self.seen, self.barrier = seen, barrier

    async def put(self, name):
        self.seen.append((name, dict(self.request.headers), self.request.body))
        for _ in range(1000):
            if len(self.seen) >= self.barrier:
                self.finish('"stored %s"' % name)
                return
            await asyncio.sleep(0.01)
        self.set_status(504)
        self.finish('"the other replica never came"')


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(3 << 20) * 4)  # 12 MiB
    return str(path)


def test_a_put_says_its_length_and_is_not_chunked(big_file):
    seen = []
    server = TornadoServer([(r"/ddfs/(.*)", Recorder, {"seen": seen})])
    try:
        for source in (lambda: open(big_file, "rb"),
                       lambda: io.BytesIO(b"in memory")):
            seen.clear()
            stored, failed = put_replicas([server.url("/ddfs/b$1-2-3")], source)
            assert failed == [] and stored == ["stored b$1-2-3"]
            [(_name, headers, body)] = seen
            with source() as f:
                expected = f.read()
            assert headers.get("Content-Length") == str(len(expected))
            assert "Transfer-Encoding" not in headers
            assert body == expected
    finally:
        server.close()


def test_a_blob_of_pieces_reaches_every_replica_whole_in_order():
    # a chunk's hunks are sent as they are (sendmsg of up to 64 at once), never joined
    parts = [os.urandom(n) for n in (1, 0, 70000, 3 << 20, 5)] + \
        [os.urandom(100) for _ in range(150)]
    data = b"".join(parts)
    assert Pieces(parts).read() == data  # read in turn, too
    seen = []
    rules = [(r"/ddfs/(.*)", Recorder, {"seen": seen, "barrier": 2})]
    servers = [TornadoServer(rules) for _ in range(2)]
    try:
        urls = [s.url("/ddfs/b$1-2-3") for s in servers]
        stored, failed = put_replicas(urls, lambda: Pieces(parts))
        assert failed == [] and len(stored) == 2
        assert [(h.get("Content-Length"), body == data) for _n, h, body in seen] == \
            [(str(len(data)), True)] * 2
    finally:
        for s in servers:
            s.close()


def test_every_replica_is_sent_at_once_and_gets_every_byte(big_file):
    seen = []
    rules = [(r"/ddfs/(.*)", Recorder, {"seen": seen, "barrier": 3})]
    servers = [TornadoServer(rules) for _ in range(3)]
    try:
        urls = [s.url("/ddfs/b$1-2-3") for s in servers]
        stored, failed = put_replicas(urls, lambda: open(big_file, "rb"))
        assert failed == [], failed  # one by one, the first would wait for the others
        assert len(stored) == 3
        with open(big_file, "rb") as f:
            data = f.read()
        assert [body == data for _n, _h, body in seen] == [True, True, True]
    finally:
        for s in servers:
            s.close()


def test_a_failing_replica_is_named_and_the_others_are_stored(big_file):
    seen = []
    server = TornadoServer([(r"/ddfs/(.*)", Recorder, {"seen": seen})])
    try:
        dead = "http://127.0.0.1:1/ddfs/b$1-2-3"
        stored, failed = put_replicas([server.url("/ddfs/b$1-2-3"), dead],
                                      lambda: open(big_file, "rb"))
        assert stored == ["stored b$1-2-3"]
        assert [url for url, _exc in failed] == [dead]
    finally:
        server.close()


def blob_path(cluster, url):
    path = urllib.parse.urlsplit(url).path  # /ddfs/HOST/volN/blob/hh/name
    return os.path.join(cluster.home, "root", "ddfs", *path.split("/")[2:])


def sums_path(cluster, url):
    blob = blob_path(cluster, url)
    volume = os.path.dirname(os.path.dirname(os.path.dirname(blob)))
    return os.path.join(volume, "sums", os.path.basename(os.path.dirname(blob)),
                        os.path.basename(blob))


def read_blob(ddfs, tag):
    return b"".join(c.read() for c in ddfs.pull(tag))


def test_a_big_blob_is_stored_whole_however_the_body_comes(disco_cluster, big_file):
    ddfs = DDFS()
    with open(big_file, "rb") as f:
        data = f.read()
    # with a length (the client's way): read off the connection by the node itself
    _r, [[url]] = ddfs.push("test:xfer:length", [big_file])
    assert read_blob(ddfs, "test:xfer:length") == data
    with open(sums_path(disco_cluster, url)) as f:
        assert f.read().startswith("crc32:")
    # chunked, as http.client sends a generator
    [put] = ddfs.new_blob("chunked")
    parts = urllib.parse.urlsplit(put)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("PUT", parts.path, body=(data[i:i + 100003]
                                          for i in range(0, len(data), 100003)),
                 encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 201, resp.read()
    ddfs.tag("test:xfer:chunked", [[json.loads(resp.read())]])
    conn.close()
    assert read_blob(ddfs, "test:xfer:chunked") == data
    # curl -T asks for 100-continue before it sends a big body
    [put] = ddfs.new_blob("curled")
    proc = subprocess.run(["curl", "-sS", "-f", "-T", big_file, put], capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    ddfs.tag("test:xfer:curled", [[json.loads(proc.stdout)]])
    assert read_blob(ddfs, "test:xfer:curled") == data
    for tag in ("length", "chunked", "curled"):
        ddfs.delete("test:xfer:" + tag)


def test_a_blob_with_a_blake2b_checksum_is_still_checked(disco_cluster):
    ddfs = DDFS()
    _r, [[url]] = ddfs.push("test:xfer:old", [(io.BytesIO(b"older blob"), "old")])
    blob, sums = blob_path(disco_cluster, url), sums_path(disco_cluster, url)

    def record(checksum):
        os.chmod(sums, 0o600)
        with open(sums, "w") as f:
            f.write(checksum)
        st = os.stat(blob)
        os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))  # look again
    record("blake2b:" + hashlib.blake2b(b"older blob").hexdigest())
    assert read_blob(ddfs, "test:xfer:old") == b"older blob"
    record("blake2b:" + hashlib.blake2b(b"other bytes").hexdigest())
    with pytest.raises(Exception) as err:
        read_blob(ddfs, "test:xfer:old")
    assert "checksum mismatch" in str(err.value)
    record("md4:0123")  # a kind no node knows is never taken as intact
    with pytest.raises(Exception) as err:
        read_blob(ddfs, "test:xfer:old")
    assert "checksum mismatch" in str(err.value)
    ddfs.delete("test:xfer:old")


def test_a_blob_past_100_mb_is_read_through_the_master_of_a_one_machine_cluster(
        disco_cluster, tmp_path):
    # the node beside the master serves its blobs behind the master's port
    path = tmp_path / "past-100MB.bin"
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(101):
            f.write(block)
    ddfs = DDFS()
    _r, [[url]] = ddfs.push("test:xfer:huge", [str(path)])
    assert url.startswith("disco://localhost/")
    [conn] = list(ddfs.pull("test:xfer:huge"))
    got = 0
    with conn:
        for data in iter(lambda: conn.read(1 << 20), b""):
            assert data == block
            got += len(data)
    assert got == 101 << 20
    ddfs.delete("test:xfer:huge")


def test_a_blob_is_read_whole_in_ranges_and_by_head(disco_cluster):
    # (the whole of it goes by sendfile, ranges and HEAD as any data file)
    from disco_core.comm import _http_url, open_remote
    ddfs = DDFS()
    data = os.urandom(1 << 20) * 3
    _r, [[url]] = ddfs.push("test:xfer:ranges", [(io.BytesIO(data), "ranges")])
    http = _http_url(url)
    resp = open_remote(http)
    assert resp.status == 200 and resp.read() == data
    resp.close()
    resp = open_remote(http, offset=(5, 10))
    assert resp.status == 206 and resp.read() == data[5:11]  # both ends included
    resp.close()
    resp = open_remote(http, offset=(3 << 20) - 4)
    assert resp.read() == data[-4:]
    resp.close()
    resp = open_remote(http, "HEAD")
    assert resp.status == 200 and resp.read() == b""
    resp.close()
    ddfs.delete("test:xfer:ranges")


def put_in_pieces(url, data, pieces, pause):
    """A PUT over a plain socket: the headers alone, then the body's first ``pieces``
    (sizes) each after ``pause`` seconds, then the rest; the status and the reply."""
    import socket
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(b"PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                     % (parts.path.encode(), len(data)))
        view = memoryview(data)
        for size in pieces:
            time.sleep(pause)
            sock.sendall(view[:size])
            view = view[size:]
        sock.sendall(view)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b'"'):
            more = sock.recv(65536)
            if not more:
                break
            reply += more
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_a_body_that_comes_while_the_node_takes_it_from_tornado_is_stored_whole(
        disco_cluster):
    """Body bytes that arrive between the headers and the node's taking the socket from
    Tornado (which reads a piece off an idle connection whenever it can) are part of the
    blob, whatever the timing: each PUT here comes in pieces around that moment."""
    ddfs = DDFS()
    data = os.urandom(600000)
    for n in range(12):
        [put] = ddfs.new_blob("pieces")
        pieces = [(1, 1000, 70000, 3), (70000, 70000), (5, 65536, 65536)][n % 3]
        status, body = put_in_pieces(put, data, pieces, 0.002 * (n % 4))
        assert status == 201, body
        ddfs.tag("test:xfer:pieces", [[json.loads(body)]])
    got = [c.read() for c in ddfs.pull("test:xfer:pieces")]
    assert len(got) == 12 and all(blob == data for blob in got)
    ddfs.delete("test:xfer:pieces")
