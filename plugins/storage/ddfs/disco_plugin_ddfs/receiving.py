"""A node receiving a blob's body of known length: off the connection in a thread of its own,
in large reads into one reused buffer, each buffer hashed (a C-speed CRC over the whole
buffer) and written to the blob's file; when the blob is to be fsynced, the disk is asked
to start writing every :data:`WRITEBACK` bytes, so the fsync that ends it has little left.
When it is not (``DDFS_BLOB_SYNC`` off), the page cache writes it back in its own time:
asking the disk to write while the upload goes on made every later write of the upload
wait for pages being written (a 256 MB push took 0.56-0.73 s to receive with it, 0.20 s
without, on an ext4 disk).

The node's loop does no work per piece: Tornado's own reading woke the loop for every 64 KiB
the socket had, made a future of each and handed it to a writer thread (most of a push's
time on the node went to that hand-over and the GIL it fought for).
"""
from __future__ import annotations

import os
import socket
from typing import Any

#: Bytes of the buffer a body is read into, hashed and written from.
RECEIVE_BUFFER = 1 << 20
#: Bytes of an upload after which the disk is asked to start writing them.
WRITEBACK = 8 << 20
#: Seconds a client may send no byte of a body before the upload is dropped.
BODY_TIMEOUT = 300.0


class ClientGone(ConnectionError):
    """The client closed the connection, or sent nothing for :data:`BODY_TIMEOUT` seconds,
    before the whole body came."""


def _sync_file_range() -> Any:
    """libc's ``sync_file_range`` (Linux), or None."""
    try:
        import ctypes
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    return fn


_SYNC_FILE_RANGE = _sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Have the kernel start writing the bytes ``offset`` to ``offset + length`` of ``fd``
    to disk, without waiting (the fsync that ends an upload then has little left)."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def receive_body(sock_fd: int, file_fd: int, hash: Any, length: int, first: Any = b"",
                 timeout: float = BODY_TIMEOUT, writeback: bool = True) -> OSError | None:
    """Read the ``length`` bytes of a body from the socket ``sock_fd`` (``first``: those
    already read off it), hash them with ``hash`` and write them to ``file_fd``. Returns
    the error of a write that failed (the rest of the body is not read), or None; a client
    that goes away is a :class:`ClientGone`. ``writeback``: start the disk writing every
    :data:`WRITEBACK` bytes (for a file fsynced next). Blocks: run it in a thread, with the socket
    out of every event loop's hands meanwhile."""
    sock = socket.socket(fileno=os.dup(sock_fd))
    try:
        sock.settimeout(timeout)
        written = synced = 0
        if first:
            hash.update(first)
            try:
                _write_all(file_fd, first)
            except OSError as exc:
                return exc
            written = len(first)
        left = length - written
        if not left:
            if writeback:
                start_writeback(file_fd, 0, written)
            return None
        buffer = memoryview(bytearray(min(RECEIVE_BUFFER, left)))
        size = len(buffer)
        fill = 0
        while True:
            while fill < size and left:
                try:
                    n = sock.recv_into(buffer[fill:], min(size - fill, left))
                except TimeoutError:
                    raise ClientGone("no byte for %gs after %d of %d bytes"
                                     % (timeout, written + fill, length)) from None
                if not n:
                    raise ClientGone("the connection closed after %d of %d bytes"
                                     % (written + fill, length))
                fill += n
                left -= n
            piece = buffer[:fill]
            hash.update(piece)
            try:
                _write_all(file_fd, piece)
                written += fill
                if writeback and (written - synced >= WRITEBACK or not left):
                    start_writeback(file_fd, synced, written - synced)
                    synced = written
            except OSError as exc:
                return exc
            fill = 0
            if not left:
                return None
    finally:
        sock.close()


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def send_all(sock_fd: int, data: bytes, timeout: float = 30.0) -> None:
    """``data`` to the socket ``sock_fd`` (blocks: run it in a thread)."""
    sock = socket.socket(fileno=os.dup(sock_fd))
    try:
        sock.settimeout(timeout)
        sock.sendall(data)
    finally:
        sock.close()
