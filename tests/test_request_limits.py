"""Request bodies have a limit per route, enforced while they stream in: job packs and OOB
values are large (``DISCO_MAX_JOBPACK_SIZE``), every other body is a small JSON value."""
from __future__ import annotations

import json
import socket

import pytest

from disco_core.errors import CommError
from disco_core.testing import running_cluster
from disco_core.access import HEADER, client_token

from test_bounded_state import no_stages


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(extra_env={"DISCO_MAX_JOBPACK_SIZE": str(4 << 20)}) as cluster:
        yield cluster


def chunks(sent, count=4096, size=65536):
    """A chunked body of ``count * size`` bytes (256 MiB): the master learns its size only
    by counting."""
    for _ in range(count):
        sent.append(1)
        yield b" " * size


def token_line():
    """The master's token as a raw request's header line."""
    return b"%s: %s\r\n" % (HEADER.encode(), client_token().encode())


def raw_reply(port, head):
    with socket.create_connection(("localhost", port), timeout=30) as s:
        s.sendall(head)
        reply = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            reply += data
    return reply


def test_a_command_body_is_refused_as_it_streams_in(cluster):
    sent = []
    with pytest.raises(CommError) as err:
        cluster.disco.request("/disco/ctrl/save_settings", chunks(sent))
    assert err.value.code == 413
    assert "/disco/ctrl/save_settings is more than the 1048576 bytes it takes" \
        in str(err.value)
    assert len(sent) < 1024  # refused on the way: not even 64 MiB went
    assert cluster.disco.request("/disco/version")


def test_a_command_body_is_refused_by_its_length_before_it_is_sent(cluster):
    reply = raw_reply(cluster.port, b"POST /disco/ctrl/get_results HTTP/1.1\r\n"
                      b"Host: localhost\r\n" + token_line()
                      + b"Content-Length: %d\r\n\r\n" % (2 << 20))
    assert reply.startswith(b"HTTP/1.1 413 "), reply
    message = json.loads(reply.partition(b"\r\n\r\n")[2])
    assert message.startswith("the body of /disco/ctrl/get_results is more than")


def test_a_small_command_still_works(cluster):
    body = json.dumps([0, ["nosuchjob"] * 1000])
    assert json.loads(cluster.disco.request("/disco/ctrl/get_results", body)) \
        == [["nosuchjob", ["unknown job", []]]] * 1000


def test_an_oob_value_may_be_large_up_to_the_pack_limit(cluster):
    disco = cluster.disco
    name = disco.submit(no_stages("Oob"))
    value = bytes(range(256)) * (12 << 10)  # 3 MiB: more than a command, less than a pack
    disco.oob_put(name, "big", value)
    assert disco.oob_get(name, "big") == value
    with pytest.raises(CommError) as err:
        disco.oob_put(name, "huge", b"x" * (5 << 20))
    assert err.value.code == 413 and "DISCO_MAX_JOBPACK_SIZE" in str(err.value)
    sent = []
    with pytest.raises(CommError) as err:
        disco.request("/disco/ctrl/oob_put?name=%s&key=streamed" % name, chunks(sent))
    assert err.value.code == 413 and len(sent) < 1024
    assert disco.oob_list(name) == ["big"]
