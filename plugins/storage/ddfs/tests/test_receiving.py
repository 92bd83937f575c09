"""A node receiving a body of known length off a socket in one thread (real sockets, real
files): every byte written and hashed with zlib's CRC32 value whatever the pieces are, and
a client that goes away or falls silent half-way is told apart from a failing disk."""
import os
import socket
import threading
import time
import zlib

import pytest

from disco_plugin_ddfs.receiving import ClientGone, receive_body
from disco_plugin_ddfs.volumes import CRC32, file_checksum


def send_in_pieces(sock, data, sizes, pause=0.0, close=True):
    def run():
        view, sizes_left = memoryview(data), list(sizes)
        while view:
            n = sizes_left.pop(0) if sizes_left else len(view)
            sock.sendall(view[:n])
            view = view[n:]
            if pause:
                time.sleep(pause)
        if close:
            sock.close()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    for s in (a, b):
        try:
            s.close()
        except OSError:
            pass


def test_a_body_is_written_and_hashed_whole_however_it_is_cut(pair, tmp_path):
    node, client = pair
    data = os.urandom(3 << 20) + b"tail"
    first, rest = data[:70000], data[70000:]  # what Tornado read past the headers
    sender = send_in_pieces(client, rest, [1, 65535, 3 << 19, 7], pause=0.001)
    path = tmp_path / "blob"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    digest = CRC32()
    try:
        assert receive_body(node.fileno(), fd, digest, len(data), first, timeout=10) is None
    finally:
        os.close(fd)
    sender.join()
    assert path.read_bytes() == data
    assert digest.hexdigest() == "%08x" % zlib.crc32(data)
    assert file_checksum(str(path)) == "crc32:%08x" % zlib.crc32(data)


def test_a_client_that_closes_half_way_is_gone(pair, tmp_path):
    node, client = pair
    sender = send_in_pieces(client, b"x" * 5000, [])
    fd = os.open(tmp_path / "blob", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(ClientGone, match="closed after 5000 of 9000 bytes"):
            receive_body(node.fileno(), fd, CRC32(), 9000, timeout=10)
    finally:
        os.close(fd)
    sender.join()


def test_a_client_that_falls_silent_is_dropped_after_the_timeout(pair, tmp_path):
    node, client = pair
    client.sendall(b"y" * 100)  # and then nothing, the connection left open
    fd = os.open(tmp_path / "blob", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(ClientGone, match="no byte for 0.3s after 100 of 1000 bytes"):
            receive_body(node.fileno(), fd, CRC32(), 1000, timeout=0.3)
    finally:
        os.close(fd)


def test_a_write_that_fails_is_returned_not_raised(pair, tmp_path):
    node, client = pair
    sender = send_in_pieces(client, b"z" * 4096, [], close=False)
    path = tmp_path / "blob"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)  # every write fails, as on a broken volume
    try:
        error = receive_body(node.fileno(), fd, CRC32(), 4096, timeout=10)
    finally:
        os.close(fd)
    sender.join()
    assert isinstance(error, OSError)


@pytest.mark.parametrize("writeback", [True, False])
def test_the_disk_is_asked_to_write_ahead_only_for_a_blob_fsynced_next(pair, tmp_path,
                                                                       monkeypatch, writeback):
    # with DDFS_BLOB_SYNC off nothing fsyncs the blob: starting writeback during the
    # upload would only make its later writes wait for pages on their way to disk
    from disco_plugin_ddfs import receiving
    asked = []
    monkeypatch.setattr(receiving, "start_writeback",
                        lambda fd, offset, length: asked.append((offset, length)))
    node, client = pair
    data = os.urandom(receiving.WRITEBACK + (1 << 20) + 5)
    sender = send_in_pieces(client, data, [1 << 16])
    path = tmp_path / "blob"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert receive_body(node.fileno(), fd, CRC32(), len(data), timeout=10,
                            writeback=writeback) is None
    finally:
        os.close(fd)
    sender.join()
    assert path.read_bytes() == data
    if writeback:
        assert sum(length for _, length in asked) == len(data)
        assert asked[0] == (0, receiving.WRITEBACK)
    else:
        assert asked == []
