"""The HTTP/1.1 client every request of :mod:`disco_core.comm` goes through, against real
Tornado servers: bodies framed by length, by chunks and by the connection's end, errors,
refused connections, bodies cut short, redirects, what a request sends."""
import io
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
import tornado.web

from disco_core import comm
from disco_core.errors import CommError
from disco_core.httpclient import Connection, IncompleteRead, ProtocolError
from disco_core.testing import TornadoServer

LINES = [b"line %d of the reply\n" % i for i in range(3000)]


class ChunkedHandler(tornado.web.RequestHandler):
    async def get(self):
        for i in range(0, len(LINES), 500):  # each flush is one chunk
            self.write(b"".join(LINES[i:i + 500]))
            await self.flush()


class EchoHandler(tornado.web.RequestHandler):
    """The request as JSON: method, headers, body."""

    def _echo(self):
        self.write({"method": self.request.method, "body": self.request.body.decode("latin-1"),
                    "headers": dict(self.request.headers)})

    put = post = get = _echo


class MissingHandler(tornado.web.RequestHandler):
    def get(self):
        self.set_status(404)
        self.write({"message": "no blob named x here"})


class ShortHandler(tornado.web.RequestHandler):
    """Announces ``size`` bytes and sends ``cut`` of them before dropping the connection,
    the first time; the whole body (or the asked range) after."""

    def initialize(self, data, seen):
        self.data, self.seen = data, seen

    async def get(self):
        rng = self.request.headers.get("Range")
        self.seen.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        if start:
            self.set_status(206)
            self.set_header("Content-Range", "bytes %d-%d/%d"
                            % (start, len(self.data) - 1, len(self.data)))
        self.set_header("Content-Length", str(len(self.data) - start))
        if len(self.seen) == 1:
            self.write(self.data[:len(self.data) // 3])
            await self.flush()
            self.request.connection.stream.close()
            return
        self.write(self.data[start:])


class RedirectHandler(tornado.web.RequestHandler):
    def get(self):
        self.redirect("/echo", status=302)

    def put(self):
        self.redirect("/echo", status=307)


class HeadHandler(tornado.web.RequestHandler):
    def head(self):
        self.set_header("Content-Length", "12345")


@pytest.fixture(scope="module")
def server():
    seen = []
    srv = TornadoServer([(r"/chunked", ChunkedHandler), (r"/echo", EchoHandler),
                         (r"/missing", MissingHandler), (r"/moved", RedirectHandler),
                         (r"/head", HeadHandler),
                         (r"/short", ShortHandler, {"data": bytes(range(256)) * 2000,
                                                    "seen": seen})])
    srv.seen = seen
    yield srv
    srv.close()


def test_a_chunked_reply_reads_whole_by_lines_and_into_buffers(server):
    whole = b"".join(LINES)
    resp = comm.open_remote(server.url("chunked"))
    assert resp.getheader("transfer-encoding") == "chunked" and resp.size is None
    assert resp.read() == whole
    resp.close()
    with comm.open_remote(server.url("chunked")) as resp:
        assert list(resp) == LINES
    resp = comm.open_remote(server.url("chunked"))
    buf, got = bytearray(7777), bytearray()
    while True:
        n = resp.readinto(buf)
        if not n:
            break
        got += buf[:n]
    resp.close()
    assert got == whole


def test_an_error_status_is_a_comm_error_with_the_servers_message(server):
    with pytest.raises(CommError) as info:
        comm.open_remote(server.url("missing"), retries=0)
    assert info.value.code == 404 and "no blob named x here" in str(info.value)
    assert server.url("missing") in str(info.value)


def test_a_refused_connection_names_the_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    url = "http://127.0.0.1:%d/some/blob" % port
    with pytest.raises(CommError) as info:
        comm.open_remote(url, retries=1)
    assert "ConnectionRefusedError" in str(info.value) and url in str(info.value)


def test_a_body_cut_short_is_an_error_and_a_resuming_stream_reads_on(server):
    data = bytes(range(256)) * 2000
    del server.seen[:]
    resp = comm.open_remote(server.url("short"))
    assert resp.size == len(data)
    with pytest.raises(IncompleteRead) as info:
        resp.read()
    assert isinstance(info.value, OSError) and "more expected" in str(info.value)
    resp.close()
    del server.seen[:]
    with comm.open_http(server.url("short")) as conn:
        assert conn.read() == data
    assert server.seen == [None, "bytes=%d-" % (len(data) // 3)]


def test_bytes_read_before_a_drop_come_first_and_the_drop_after(server):
    data = bytes(range(256)) * 2000
    del server.seen[:]
    resp = comm.open_remote(server.url("short"))
    buf = bytearray(len(data))
    assert resp.readinto(buf) == len(data) // 3
    assert buf[:len(data) // 3] == data[:len(data) // 3]
    with pytest.raises(IncompleteRead):
        resp.readinto(buf)
    resp.close()


def test_redirects_are_followed_with_the_method_and_the_body(server):
    reply = json.loads(comm.request("GET", server.url("moved")))
    assert reply["method"] == "GET"
    reply = json.loads(comm.request("PUT", server.url("moved"), b"the body"))
    assert reply["method"] == "PUT" and reply["body"] == "the body"
    resp = comm.open_remote(server.url("moved"), redirects=False)
    assert resp.status == 302 and resp.getheader("Location") == "/echo"
    resp.close()


@pytest.mark.parametrize("body, framing", [
    (b"x" * 200000, "Content-Length"),
    (io.BytesIO(b"y" * 200000), "Transfer-Encoding"),
    (iter([b"ab", b"", b"cd"]), "Transfer-Encoding"),
    (None, "Content-Length"),
])
def test_a_request_body_is_sent_whole_with_its_framing(server, body, framing):
    expected = {bytes: lambda b: b, io.BytesIO: lambda b: b.getvalue()}.get(
        type(body), lambda b: b"abcd" if b is not None else b"")(body)
    resp = comm.open_remote(server.url("echo"), "PUT", body, retries=0)
    reply = json.loads(resp.read())
    resp.close()
    assert reply["body"].encode("latin-1") == expected
    assert framing in reply["headers"]
    assert reply["headers"]["Host"] == "127.0.0.1:%d" % server.port


def test_head_has_no_body_but_the_size(server):
    resp = comm.open_remote(server.url("head"), "HEAD")
    assert resp.size == 12345 and resp.read() == b""
    resp.close()


def test_a_reply_that_is_not_http_is_a_protocol_error():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
        conn.close()
    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    conn = Connection("127.0.0.1", listener.getsockname()[1], timeout=10)
    conn.request("GET", "/")
    with pytest.raises(ProtocolError, match="not an HTTP/1.x status line"):
        conn.response()
    conn.close()
    thread.join(10)
    listener.close()


def test_a_header_that_is_not_latin1_is_named():
    conn = Connection("127.0.0.1", 1, timeout=1)
    conn.sock = socket.socket()  # never connected: the header fails before it is sent
    with pytest.raises(ValueError, match="header X-Name"):
        conn.send_head("GET", "/", {"X-Name": "\u2603"})
    conn.close()


def test_the_ddfs_command_and_a_request_load_none_of_what_a_short_command_does_not_need(server):
    unneeded = ("http.client", "email", "ssl", "encodings.idna", "argparse", "dataclasses",
                "hashlib", "threading")
    code = ("import sys; from disco_plugin_ddfs.cli import main; from disco_core import comm; "
            "comm.request('GET', %r); "
            "print(sorted(m for m in %r if m in sys.modules))" % (server.url("echo"), unneeded))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "[]"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """The echo handler over https, with a certificate of its own for 127.0.0.1."""
    import ssl
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    srv = TornadoServer([(r"/echo", EchoHandler)], ssl_options=context)
    srv.cert = cert
    yield srv
    srv.close()


def test_https_verifies_the_servers_certificate_and_loads_ssl_only_for_it(tls_server):
    code = ("import json, sys; from disco_core import comm; "
            "print('ssl' in sys.modules); "
            "reply = json.loads(comm.request('PUT', %r, b'over tls')); "
            "print(reply['body'], 'ssl' in sys.modules)" % tls_server.url("echo"))
    trusted = dict(os.environ, SSL_CERT_FILE=tls_server.cert)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=trusted, timeout=60)
    assert out.stdout.splitlines() == ["False", "over tls True"], out.stderr
    with pytest.raises(CommError) as info:  # not trusted here: refused, and named
        comm.open_remote(tls_server.url("echo"), retries=0)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert tls_server.url("echo") in str(info.value)
