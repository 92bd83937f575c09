"""Copying a blob to a file descriptor (``ddfs cat``) with as few copies of its bytes as the
output allows:

* into a pipe, a blob read over HTTP goes from the node's socket with ``splice``: the kernel
  moves the pages and the bytes never enter this process (the pipe is first widened to
  :data:`PIPE_SIZE`, so each call moves that much);
* into a regular file, the same through a pipe of our own (socket to pipe to file);
* a local file goes with ``sendfile``;
* anything else (a terminal, ``/dev/null``, a body of unknown length) through one reused
  buffer with ``readinto`` and ``os.write``.

A connection that drops is read on from where it stopped, as :class:`ResumingStream` does.
"""
from __future__ import annotations

import fcntl
import io
import os
import select
import stat
from typing import Any

from disco_core.comm import ResumingStream
from disco_core.errors import CommError
from disco_core.httpclient import ProtocolError

#: Bytes one system call moves (and the size pipes are widened to: the default maximum of
#: an unprivileged process, ``/proc/sys/fs/pipe-max-size``).
PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux), named in fcntl only from Python 3.10 on


def widen_pipe(fd: int) -> None:
    """Make the pipe ``fd`` hold :data:`PIPE_SIZE` bytes when it may (nothing otherwise)."""
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass


#: Errors of a connection (a node that went away or stopped sending), after which the blob
#: is read on from where it stopped; any other error (of the output) ends the copy.
DROPPED = (ConnectionResetError, ConnectionAbortedError, TimeoutError, ProtocolError)


class Output:
    """Where ``ddfs cat`` writes: ``stream`` (stdout's bytes), through its file descriptor
    when it has one (it is flushed first), else through its ``write``."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        try:
            stream.flush()
            self.fd: int | None = stream.fileno()
            mode = os.fstat(self.fd).st_mode
            blocking = os.get_blocking(self.fd)
            appending = bool(fcntl.fcntl(self.fd, fcntl.F_GETFL) & os.O_APPEND)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            self.fd, mode, blocking, appending = None, 0, False, False
        self.pipe = stat.S_ISFIFO(mode)
        # splice writes no file opened to append (``>>``)
        self.splice = hasattr(os, "splice") and blocking and (
            self.pipe or stat.S_ISREG(mode) and not appending)
        self._own_pipe: tuple[int, int] | None = None
        self._buffer: memoryview | None = None
        if self.pipe and self.splice:
            widen_pipe(self.fd)

    def close(self) -> None:
        if self._own_pipe is not None:
            for end in self._own_pipe:
                os.close(end)
            self._own_pipe = None

    def __enter__(self) -> "Output":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- what a blob is copied with ------------------------------------------------------
    def copy(self, conn: Any) -> None:
        """Everything ``conn`` (a :class:`disco_core.comm.Connection`, unread) gives."""
        raw = getattr(conn, "raw", None)
        if isinstance(raw, ResumingStream) and raw.size is not None and self.splice \
                and raw.offset == 0:
            self._splice_stream(raw)
        elif isinstance(raw, io.FileIO) and self.fd is not None and raw.tell() == 0:
            self._sendfile(raw.fileno(), conn)
        else:
            self._buffered(conn)

    def write(self, data: Any) -> None:
        if self.fd is None:
            self.stream.write(data)
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def flush(self) -> None:
        if self.fd is None:
            self.stream.flush()

    def _buffered(self, conn: Any) -> None:
        if self._buffer is None:
            self._buffer = memoryview(bytearray(PIPE_SIZE))
        buf = self._buffer
        while True:
            n = conn.readinto(buf)
            if not n:
                return
            self.write(buf[:n])

    def _sendfile(self, fd: int, conn: Any) -> None:
        size = os.fstat(fd).st_size
        offset = 0
        while offset < size:
            try:
                sent = os.sendfile(self.fd, fd, offset, min(size - offset, 1 << 30))
            except OSError:
                if offset:
                    raise
                self._buffered(conn)  # an output sendfile cannot write to
                return
            if not sent:
                break
            offset += sent

    def _splice_stream(self, raw: ResumingStream) -> None:
        """The body of ``raw``'s response and, when the connection drops, of the responses
        it reads on with (up to its ``retries`` in a row)."""
        failures = 0
        while raw.offset < raw.size:  # type: ignore[operator]
            got = self._splice_response(raw.resp, raw.size - raw.offset,  # type: ignore
                                        raw.timeout)
            raw.offset += got
            if raw.offset >= raw.size:  # type: ignore[operator]
                break
            failures = 0 if got else failures + 1
            if failures > raw.retries:
                raise CommError("the connection dropped at byte %d of %d and resuming "
                                "failed %d times" % (raw.offset, raw.size, failures - 1),
                                raw.url)
            raw.resp.close()
            raw.resp = raw.open_at(raw.offset)

    def _splice_response(self, resp: Any, want: int, timeout: float) -> int:
        """Up to ``want`` bytes of ``resp``'s body to the output; the count (fewer when
        the connection ends or fails first)."""
        done = 0
        try:
            # what the response read past its headers waits in its buffer: that first
            first = resp.read1(min(want, PIPE_SIZE))
            if first:
                self.write(first)
                done += len(first)
            if done < want:
                sock = resp.fileno()
            while done < want:
                n = self._splice_once(sock, want - done, timeout)
                if not n:
                    break
                done += n
        except DROPPED:
            pass  # read on from ``done``
        return done

    def _splice_once(self, sock: int, want: int, timeout: float) -> int:
        """One ``splice`` of at most ``want`` bytes from the socket: straight into the
        output pipe, or through our own pipe into the output file."""
        size = min(want, PIPE_SIZE)
        if self.pipe:
            return _splice_wait(sock, self.fd, size, timeout)
        if self._own_pipe is None:
            self._own_pipe = os.pipe()
            widen_pipe(self._own_pipe[1])
        rd, wr = self._own_pipe
        n = _splice_wait(sock, wr, size, timeout)
        left = n
        while left:
            left -= os.splice(rd, self.fd, left)
        return n


def _splice_wait(src: int, dst: int, size: int, timeout: float) -> int:
    """``splice`` from the (non-blocking) socket ``src``, waiting at most ``timeout``
    seconds for it to have bytes."""
    while True:
        try:
            return os.splice(src, dst, size)
        except BlockingIOError:
            ready, _w, _x = select.select([src], [], [], timeout)
            if not ready:
                raise TimeoutError("no bytes for %.0f seconds" % timeout) from None
