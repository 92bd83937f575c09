"""The worker's side of the worker protocol: blocking request/response over two fds.

Requests go out on the protocol fd (the worker's stderr, fd 2, by default) and replies come
in on fd 0. Nothing else may reach the protocol fd unframed: :class:`MessageWriter`
replaces ``sys.stdout`` and ``sys.stderr`` so ``print()``, stray writes and warnings
become ``MSG`` messages: one per line printed, as the original sent them, so the node's
rate limit (``reference/protocol.md`` section 9) ends a task that prints per record.

A worker that offers reuse also posts its ``MSG``, ``OUTPUT`` and ``COUNT`` messages
(:meth:`WorkerProtocol.post`): it says so in ``WORKER`` (``"post": true``), and the node
then sends no ``OK`` for them (``docs/worker-protocol.md``).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any

from .. import PROTOCOL_VERSION
from ..errors import ProtocolError
from ..protocol import FrameParser, decode_payload, encode

MSG_MAX = 64 * 1024
#: What a worker that said ``"post": true`` in WORKER sends without waiting for the OK.
POSTED = ("MSG", "OUTPUT", "COUNT")
#: Seconds a posted MSG may wait in the worker for the next message to go with it.
LINGER = 0.2


class WorkerProtocol:
    def __init__(self, rfd: int = 0, wfd: int = 2) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self.parser = FrameParser()
        self.pending: list[tuple[str, bytes]] = []
        self.lock = threading.RLock()
        #: Whether the node was told (in WORKER) that MSG, OUTPUT and COUNT are posted.
        self.posting = False
        self.held: list[bytes] = []
        self.lingering: threading.Event | None = None  # a held MSG waits for the flusher

    def send(self, name: str, payload: Any = "") -> None:
        data = encode(name, payload)
        with self.lock:
            if self.held:  # posted messages held back go first, in the same write
                self.held.append(data)
                data = b"".join(self.held)
                self.held = []
            self._write(data)

    def recv(self) -> tuple[str, Any]:
        while not self.pending:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                raise ProtocolError("eof", "the node closed the protocol channel")
            self.pending.extend(self.parser.feed(chunk))
        name, raw = self.pending.pop(0)
        return name, decode_payload(name, raw)

    def request(self, name: str, payload: Any = "",
                expect: tuple[str, ...] = ()) -> tuple[str, Any]:
        """Send a message and wait for its reply; a posted one (:meth:`post`) is answered
        here with the ``OK`` the node no longer sends."""
        if self.posting and name in POSTED:
            self.send(name, payload)
            return "OK", "ok"
        with self.lock:
            self.send(name, payload)
            reply, body = self.recv()
        if expect and reply not in expect:
            raise ProtocolError("unexpected_reply", "expected %s in reply to %s, got %s %r"
                                % ("/".join(expect), name, reply, body))
        return reply, body

    def post(self, name: str, payload: Any = "", hold: bool = False,
             linger: bool = False) -> None:
        """A message whose reply is ``OK`` (MSG, OUTPUT, COUNT): posted, without waiting
        for a reply, once :meth:`hello` said so to the node; a request otherwise. A
        ``hold`` one waits in this process until the next message, which carries it in the
        same write (a task's OUTPUTs go with its DONE); a ``linger`` one as well, but for at
        most :data:`LINGER` seconds (a task's last MSG goes with its DONE, and one printed
        before a long computation still shows at once)."""
        if not self.posting or name not in POSTED:
            self.request(name, payload, ("OK",))
        elif hold or linger:
            with self.lock:
                self.held.append(encode(name, payload))
                if linger:
                    self._linger()
        else:
            self.send(name, payload)

    def _linger(self) -> None:
        """Have the flusher thread send what is held in :data:`LINGER` seconds, unless a
        message goes before and takes it along."""
        if self.lingering is None:
            self.lingering = threading.Event()
            threading.Thread(target=self._flusher, name="disco-msg-flusher",
                             daemon=True).start()
        self.lingering.set()

    def _flusher(self) -> None:
        assert self.lingering is not None
        while True:
            self.lingering.wait()
            time.sleep(LINGER)
            with self.lock:
                self.lingering.clear()
                if self.held:
                    data, self.held = b"".join(self.held), []
                    self._write(data)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.wfd, view)
            view = view[n:]

    def hello(self, reuse: bool = False) -> None:
        """WORKER. With ``reuse`` the worker offers to run more tasks of its job: a node
        that takes the offer answers its DONE with the next task's TASK reply (see
        :meth:`next_task`) instead of ending the process. Such a worker also posts its MSG,
        OUTPUT and COUNT messages (:meth:`post`)."""
        info: dict[str, Any] = {"version": PROTOCOL_VERSION, "pid": os.getpid()}
        if reuse:
            info["reuse"] = True
            info["post"] = True
        self.request("WORKER", info, ("OK",))
        self.posting = reuse

    def next_task(self) -> dict | None:
        """After DONE, for a worker that offered reuse: the TASK reply of the next task the
        node gives it, or None when the node ends the conversation instead (it closes the
        pipe or kills the process, as it does for every other worker)."""
        try:
            name, body = self.recv()
        except (ProtocolError, OSError):
            return None
        return body if name == "TASK" and isinstance(body, dict) else None


class MessageWriter:
    """A text stream whose lines become ``MSG`` messages: what is written up to a newline
    is one message (``print(x)`` is one event); ``interval`` > 0 coalesces the lines
    written within that many seconds into one message."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, proto: WorkerProtocol, interval: float = 0.0) -> None:
        self.proto = proto
        self.interval = interval
        self.buf: list[str] = []
        self.size = 0
        self.last = 0.0
        self.truncated = False

    def write(self, text: Any) -> int:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = str(text)
        if self.size < MSG_MAX:
            self.buf.append(text)
            self.size += len(text)
        else:
            self.truncated = True
        if "\n" in text and time.monotonic() - self.last >= self.interval:
            self.flush()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.buf:
            return
        text = "".join(self.buf)
        self.buf, self.size = [], 0
        if self.truncated:
            text = text[:MSG_MAX] + "... (output truncated)"
            self.truncated = False
        self.last = time.monotonic()
        self.proto.post("MSG", text.rstrip("\n"), linger=True)

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("task output is sent as messages and has no file descriptor")

    @property
    def buffer(self) -> "MessageWriter":
        return self

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True
