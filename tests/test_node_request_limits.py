"""A node's own web app (its data server) takes request bodies whole only up to a small
limit: its routes serve reads. A larger body is refused by its length with a 413 that
names the limit, before any of it is read, and the node goes on serving."""
import socket

import pytest

from disco_core.dataserver import MAX_BODY
from disco_core.testing import running_cluster, wait_for


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(hosts=[("127.0.0.2", 1)]) as cluster:
        wait_for(lambda: cluster.disco.nodeinfo()["127.0.0.2"]["connected"], timeout=60)
        yield cluster


def reply_to(cluster, head, body=b""):
    """The node's whole reply to ``head`` (and ``body``), read until it closes or 10 s
    pass without a byte (a node waiting for a body it will never get)."""
    with socket.create_connection(("127.0.0.2", cluster.port), timeout=10) as s:
        s.sendall(head + body)
        reply = b""
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                reply += data
                if b"\r\n\r\n" in reply and b"Content-Length" in reply:
                    head_, _, rest = reply.partition(b"\r\n\r\n")
                    length = int(head_.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                    if len(rest) >= length:
                        break
        except socket.timeout:
            raise AssertionError("the node waited for the body: %r" % reply) from None
    return reply


def test_a_large_body_is_refused_by_its_length_before_it_is_sent(cluster):
    reply = reply_to(cluster, b"POST /disco/some/file HTTP/1.1\r\nHost: 127.0.0.2\r\n"
                     b"Content-Length: %d\r\n\r\n" % (200 << 20))
    assert reply.startswith(b"HTTP/1.1 413 "), reply
    text = reply.partition(b"\r\n\r\n")[2].decode()
    assert "POST /disco/some/file" in text and "more than the %d" % MAX_BODY in text


def test_a_large_chunked_body_is_cut_off(cluster):
    head = (b"PUT /disco/some/file HTTP/1.1\r\nHost: 127.0.0.2\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (MAX_BODY, b"x" * MAX_BODY)
    sent, reply = 0, b""
    with socket.create_connection(("127.0.0.2", cluster.port), timeout=10) as s:
        s.sendall(head)
        try:
            for _ in range(4096):  # 256 MiB if nothing stopped it
                s.sendall(chunk)
                sent += 1
            s.sendall(b"0\r\n\r\n")
            reply = s.recv(65536)
        except OSError:  # the node closed the connection past the limit
            pass
    assert sent < 256, "the node read %d KiB of the body" % (sent * 64)  # not even 16 MiB
    assert not reply.startswith(b"HTTP/1.1 2"), reply


def test_a_small_body_gets_the_routes_own_answer_and_the_node_goes_on(cluster):
    reply = reply_to(cluster, b"POST /disco/some/file HTTP/1.1\r\nHost: 127.0.0.2\r\n"
                     b"Content-Length: 5\r\nConnection: close\r\n\r\n", b"hello")
    assert reply.startswith(b"HTTP/1.1 405 "), reply  # its data routes serve reads
    reply = reply_to(cluster, b"GET /disco/no/such/file HTTP/1.1\r\nHost: 127.0.0.2\r\n"
                     b"Connection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 404 ") or reply.startswith(b"HTTP/1.1 401 "), reply
    assert cluster.disco.nodeinfo()["127.0.0.2"]["connected"]
