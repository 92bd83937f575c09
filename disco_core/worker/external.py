"""External programs as map and reduce (``disco.worker.classic.external``).

A classic job's ``map`` or ``reduce`` may be a program in any language instead of a Python
function: ``Job().run(input=..., map=external(["./wc", "stopwords.txt"]), reduce=external(
["./wc"]), ext_params={"lower": "1"})``. :func:`external` returns the dict the classic
worker recognises: ``{"op": <the executable's bytes>, "<basename>": <bytes>, ...}``.

How a task runs the program
---------------------------
The task writes the files into ``<task dir>/ext.map/`` (or ``ext.reduce/``), ``op`` with
mode 0755, and runs ``<dir>/op map`` (or ``op reduce``: one binary may do both) with that
directory as its working directory (so it opens its extra files by name) and prepended to
``LD_LIBRARY_PATH`` (so shared libraries shipped as extra files load). Its stdin, stdout and
stderr are pipes to the task; it inherits nothing else.

Bytes on stdin
--------------
1. The parameters, first, from ``ext_params``: a ``str`` or ``bytes`` is written as it is
   (``str`` as UTF-8; the program must know how much to read); a ``dict`` (the default is
   ``{}``) is written as the original's ``netstring.encode_netstring_fd``::

       <total>\\n<len(k1)> <k1> <len(v1)> <v1>\\n<len(k2)> <k2> <len(v2)> <v2>\\n...

   where every length is ASCII decimal bytes and ``<total>`` is the byte length of all the
   ``<len> <k> <len> <v>\\n`` lines together (so ``{}`` is ``b"0\\n"`` and ``{"a": "xy"}`` is
   ``b"9\\n1 a 2 xy\\n"``). Keys and values: ``bytes`` as they are, anything else as UTF-8
   of ``str(x)``; items in the dict's order.
2. Then key/value pairs, each ``<u32le len(key)><key><u32le len(value)><value>``, and the
   end of the file when the input ends.

   Map input: an entry that is a pair (a 2-tuple or 2-list, e.g. from ``chain_reader``)
   gives its key and value; any other entry is the value of a pair whose key is empty, as
   in the original. A ``str`` entry is a text line (what the default map input gives) and
   is sent without its final ``\\n``, as the original's line reader did; ``bytes`` are sent
   as they are. Keys and values that are ``str`` are sent as UTF-8, other non-bytes
   objects as UTF-8 of ``str(x)``.

   Reduce input: every record of the task's inputs, encoded the same way and sorted by key
   bytewise (on disk past ``sort_buffer_size``, default ``DISCO_SORT_BUFFER_SIZE``), so
   equal keys are adjacent; pairs with equal keys keep their input order.

Bytes on stdout
---------------
Result lists, each ``<u32le n>`` followed by exactly ``n`` pairs in the format above. A map
program writes one list (possibly ``n = 0``) for every input pair, in order, and must write
it before it reads the next pair (flushing its stdout: the task feeds pairs ahead, but a
program that keeps its replies buffered while it waits for input only finishes when its
input ends). A reduce program writes lists whenever it likes, also after its input ended.
The program ends by exiting with status 0 after reading all of its input. Keys and values
of the results are ``bytes``.

stderr
------
Lines ``**<MSG> text`` become the task's messages (events ``MSG: [map:N] text``); lines
``**<ERR> text`` are the task's error: the task fails with that text (and is retried, up to
the job's failure limit). Other lines are passed on as messages prefixed with the program's
name, and the last ones are quoted when the program fails.

Failures
--------
The task fails with an :class:`ExternalError` naming the program, its argv and working
directory when the program reports ``**<ERR>``, exits with a non-zero status, is killed by
a signal, cannot be started, stops reading its input early, or writes output that does not
follow the format (a truncated list, an element over 256 MiB -- typically text written to
stdout --, fewer or more map replies than pairs). A program that writes a malformed reply is
killed at once; one that closes its output keeps :data:`EXIT_GRACE` seconds to exit.

The C helper library for this interface is ``contrib/ext/disco.c`` / ``disco.h``.
"""
from __future__ import annotations

import collections
import os
import select
import signal
import struct
import subprocess
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from ..errors import DiscoError

U32 = struct.Struct("<I")
MAX_ELEMENT = 1 << 28          # a key, a value or a list count larger than this is malformed
EXIT_GRACE = 30.0              # seconds a program may take to exit after closing its stdout
MSG_INTERVAL = 0.25            # stderr messages are sent at most this often
_TAIL = 20                     # plain stderr lines quoted in a failure
_MAX_LINE = 64 * 1024
_END = object()                # marks the end of a result list in the parsed output


class ExternalError(DiscoError):
    """An external map or reduce program failed or broke the interface."""


class ExternalFiles(dict):
    """The upstream dict ``{"op": exe bytes, basename: bytes, ...}`` that also remembers
    the executable's file name (``name``) for messages."""

    name = "op"


def _read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise DiscoError("external(): cannot read the %s %s: %s" % (what, path, exc.strerror
                                                                     or exc)) from None


def external(files: Iterable[str]) -> ExternalFiles:
    """A map or reduce made of an executable and extra files: ``files[0]`` is the path of
    the executable, the rest are files the program opens by their base name."""
    if isinstance(files, (str, bytes)):
        raise DiscoError("external() takes a list of paths, the executable first: "
                         "external([%r])" % (files,))
    paths = list(files)
    if not paths:
        raise DiscoError("external() needs at least the path of the executable: "
                         "external(['./my_program', 'extra_file', ...])")
    exe = paths[0]
    if not os.path.isfile(exe):
        raise DiscoError("external(): the executable %s does not exist or is not a file" % exe)
    program = ExternalFiles(op=_read_file(exe, "executable"))
    program.name = os.path.basename(exe)
    for path in paths[1:]:
        name = os.path.basename(path)
        if name in program:
            raise DiscoError("external(): two files are named %r (%s); the program opens "
                             "them by base name, so rename one%s"
                             % (name, path, " ('op' is the executable's name)"
                                if name == "op" else ""))
        program[name] = _read_file(path, "file")
    return program


def check_program(program: Any, what: str) -> None:
    """Raise a :class:`DiscoError` unless ``program`` is a usable external program dict."""
    if not isinstance(program, dict):
        raise DiscoError("%s must be a function or external([...]), got %r" % (what, program))
    if "op" not in program:
        raise DiscoError("%s is a dict but has no 'op' (the executable): build it with "
                         "disco.util.external(['./program', 'extra_file', ...])" % what)
    for name, data in program.items():
        if not isinstance(name, str) or not name or name in (".", "..") or "/" in name \
                or "\0" in name:
            raise DiscoError("%s: file name %r is not a plain base name" % (what, name))
        if not isinstance(data, (bytes, bytearray, str)):
            raise DiscoError("%s: file %r must be bytes, got %s" % (what, name,
                                                                    type(data).__name__))


def program_name(program: dict) -> str:
    return getattr(program, "name", "op")


# -- netstrings (the original's disco.worker.classic.netstring) ---------------------------

def to_bytes(obj: Any) -> bytes:
    """``bytes`` as they are, ``str`` as UTF-8, anything else as UTF-8 of ``str(obj)``."""
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, str):
        return obj.encode("utf-8")
    return str(obj).encode("utf-8")


def encode_netstring_str(d: dict) -> bytes:
    """``<len(k)> <k> <len(v)> <v>\\n`` for every item of ``d``."""
    out = []
    for k, v in d.items():
        kb, vb = to_bytes(k), to_bytes(v)
        out.append(b"%d %s %d %s\n" % (len(kb), kb, len(vb), vb))
    return b"".join(out)


def encode_netstring_fd(d: dict) -> bytes:
    """:func:`encode_netstring_str` preceded by its length and a newline."""
    body = encode_netstring_str(d)
    return b"%d\n%s" % (len(body), body)


def decode_netstring_str(data: bytes) -> dict[bytes, bytes]:
    """The dict of an :func:`encode_netstring_str` encoding (keys and values as bytes)."""
    out: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _netstring_element(data, pos, b" ")
        value, pos = _netstring_element(data, pos, b"\n")
        out[key] = value
    return out


def _netstring_element(data: bytes, pos: int, end: bytes) -> tuple[bytes, int]:
    space = data.find(b" ", pos)
    if space == -1 or not data[pos:space].isdigit():
        raise DiscoError("malformed netstring at byte %d: expected '<length> '" % pos)
    start = space + 1
    stop = start + int(data[pos:space])
    if data[stop:stop + 1] != end:
        raise DiscoError("malformed netstring at byte %d: the element is not followed by %r"
                         % (pos, end))
    return data[start:stop], stop + 1


def decode_netstring_fd(fd: Any) -> dict[bytes, bytes]:
    """Read one :func:`encode_netstring_fd` encoding from a binary stream."""
    digits = b""
    while True:
        c = fd.read(1)
        if not c:
            raise DiscoError("truncated netstring parameters: no length line")
        if c == b"\n":
            break
        digits += c
    if not digits.isdigit():
        raise DiscoError("malformed netstring parameters: length line %r" % digits)
    size = int(digits)
    body = fd.read(size)
    if len(body) < size:
        raise DiscoError("truncated netstring parameters: %d of %d bytes" % (len(body), size))
    return decode_netstring_str(body)


def encode_params(ext_params: Any) -> bytes:
    """The bytes a program reads first on stdin for ``ext_params``."""
    if ext_params is None:
        ext_params = {}
    if isinstance(ext_params, dict):
        return encode_netstring_fd(ext_params)
    if isinstance(ext_params, (str, bytes, bytearray)):
        return to_bytes(ext_params)
    raise DiscoError("ext_params must be a dict (sent as netstrings) or a str/bytes (sent as "
                     "it is), got %s" % type(ext_params).__name__)


# -- what the program reads -----------------------------------------------------------------

def encode_entry(entry: Any) -> tuple[bytes, bytes]:
    """The pair a map program receives for one input entry."""
    if isinstance(entry, (tuple, list)) and len(entry) == 2:
        return to_bytes(entry[0]), to_bytes(entry[1])
    if isinstance(entry, str):
        return b"", (entry[:-1] if entry.endswith("\n") else entry).encode("utf-8")
    return b"", to_bytes(entry)


def encode_record(record: Any) -> tuple[bytes, bytes]:
    """The pair a reduce program receives for one ``(key, value)`` record."""
    try:
        key, value = record
    except (TypeError, ValueError):
        raise DiscoError("an external reduce reads (key, value) records; an input gave %r: "
                         "set reduce_reader to a reader that yields pairs" % (record,)) from None
    return to_bytes(key), to_bytes(value)


def _describe_status(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal"
        return "was killed by signal %s (%d)" % (name, -code)
    return "exited with status %d" % code


class ExternalProgram:
    """One running external program of a task: its files, its pipes and its verdict.

    ``feed(pairs)`` writes the parameters and the pairs from a thread (then closes stdin);
    the caller reads results with :meth:`replies` (map: one list per pair) or
    :meth:`results` (reduce: pairs), then calls :meth:`finish`, which raises
    :class:`ExternalError` if anything went wrong. ``message(text)`` receives the
    program's messages, from a thread of its own.
    """

    def __init__(self, program: dict, mode: str, directory: str, params: bytes,
                 message: Callable[[str], None]) -> None:
        check_program(program, mode)
        self.program = program
        self.mode = mode
        self.name = program_name(program)
        self.directory = directory
        self.params = params
        self.message = message
        self.argv = [os.path.join(directory, "op"), mode]
        self.proc: subprocess.Popen | None = None
        self.fed = 0                         # pairs the writer started to write
        self.received = 0                    # result lists read
        self.feed_done = False
        self.feed_error: BaseException | None = None
        self.broken_pipe = False
        self.errors: list[str] = []          # **<ERR> texts
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL)
        self.malformed = ""
        self.killed = False
        self.stopped_late = False
        self.threads: list[threading.Thread] = []

    @property
    def title(self) -> str:
        return "external %s program %r (argv: op %s, in %s)" % (self.mode, self.name,
                                                                self.mode, self.directory)

    # -- start ------------------------------------------------------------------------
    def write_files(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        for name, data in self.program.items():
            path = os.path.join(self.directory, name)
            with open(path, "wb") as f:
                f.write(to_bytes(data))
            os.chmod(path, 0o755 if name == "op" else 0o644)

    def start(self) -> "ExternalProgram":
        self.write_files()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (self.directory, env.get("LD_LIBRARY_PATH", "")) if p)
        try:
            self.proc = subprocess.Popen(self.argv, cwd=self.directory, env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, bufsize=1 << 16,
                                         close_fds=True)
        except OSError as exc:
            raise ExternalError("%s cannot be started: %s" % (self.title, exc)) from None
        self._thread(self._read_stderr, "stderr")
        return self

    def _thread(self, target: Callable[..., None], what: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name="external-%s-%s" % (self.mode, what))
        self.threads.append(thread)
        thread.start()

    # -- stdin ------------------------------------------------------------------------
    def feed(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        """Write the parameters, then ``pairs``, then close stdin (in a thread)."""
        self._thread(self._write, "stdin", pairs)

    def _write(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        # a program that exits early must give this thread EPIPE, not kill the task: the
        # worker may run with SIGPIPE's default action (a process forked by the node)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
        out = self.proc.stdin
        write, pack = out.write, U32.pack
        try:
            write(self.params)
            for key, value in pairs:
                self.fed += 1
                write(pack(len(key)))
                write(key)
                write(pack(len(value)))
                write(value)
            out.flush()
        except BrokenPipeError:
            self.broken_pipe = True
        except BaseException as exc:  # reading the input failed: stop the program
            self.feed_error = exc
            self.kill()
        finally:
            self.feed_done = True
            try:
                out.close()
            except OSError:  # a broken pipe while flushing what was left
                self.broken_pipe = True

    # -- stdout -----------------------------------------------------------------------
    def _parse(self) -> Iterator[Any]:
        """Pairs of the program's result lists, with :data:`_END` after each list."""
        assert self.proc is not None and self.proc.stdout is not None
        read = self.proc.stdout.read
        unpack = U32.unpack
        while True:
            head = read(4)
            if len(head) < 4:
                if head:
                    self._bad("its output ended inside a list count (%d of 4 bytes: %r)"
                              % (len(head), head))
                return
            (n,) = unpack(head)
            if n > MAX_ELEMENT:
                self._bad("a list count of %d pairs (bytes %r): is it writing text to stdout? "
                          "Messages go to stderr as '**<MSG> text' lines" % (n, head))
            for i in range(n):
                pair = []
                for what in ("key", "value"):
                    lhead = read(4)
                    if len(lhead) < 4:
                        self._bad("its output ended inside pair %d of a %d-pair list (at the "
                                  "length of the %s)" % (i + 1, n, what))
                    (size,) = unpack(lhead)
                    if size > MAX_ELEMENT:
                        self._bad("a %s of %d bytes (length bytes %r) in pair %d of a "
                                  "%d-pair list: is it writing text to stdout?"
                                  % (what, size, lhead, i + 1, n))
                    data = read(size)
                    if len(data) < size:
                        self._bad("its output ended inside pair %d of a %d-pair list (%d of "
                                  "the %d bytes of the %s)" % (i + 1, n, len(data), size, what))
                    pair.append(data)
                yield pair[0], pair[1]
            self.received += 1
            yield _END

    def _bad(self, what: str) -> None:
        self.malformed = what
        self.kill()
        self._reap()
        if self.feed_error is not None:  # the input failed first: that is the error
            raise self.feed_error
        failure = self._failure()
        assert failure is not None
        raise failure

    def replies(self) -> Iterator[list[tuple[bytes, bytes]]]:
        """A map program's result lists, one per pair fed, in order."""
        reply: list[tuple[bytes, bytes]] = []
        for item in self._parse():
            if item is _END:
                if self.received > self.fed:
                    self._bad("it wrote %d result lists but was given %d pairs: a map writes "
                              "exactly one list per input pair" % (self.received, self.fed))
                yield reply
                reply = []
            else:
                reply.append(item)

    def results(self) -> Iterator[tuple[bytes, bytes]]:
        """A reduce program's result pairs, as they come."""
        for item in self._parse():
            if item is not _END:
                yield item

    # -- the end ----------------------------------------------------------------------
    def finish(self) -> None:
        """Wait for the program to exit; raise :class:`ExternalError` if it failed."""
        self._reap()
        if self.feed_error is not None:
            raise self.feed_error
        assert self.proc is not None
        if self.mode == "map" and not self.malformed and self.received < self.fed \
                and not self.errors and self.proc.returncode == 0:
            self.malformed = ("its output ended after %d result lists but it was given %d "
                              "pairs: a map writes one list per input pair"
                              % (self.received, self.fed))
        failure = self._failure()
        if failure is not None:
            raise failure

    def _reap(self) -> None:
        assert self.proc is not None
        try:
            self.proc.wait(timeout=EXIT_GRACE)
        except subprocess.TimeoutExpired:
            self.stopped_late = True
            self.kill()
            self.proc.wait()
        for thread in self.threads:
            # a writer stuck reading an input, or a stderr kept open by a process the
            # program left behind, must not hold the task: they are daemon threads
            thread.join(timeout=5)

    def _failure(self) -> ExternalError | None:
        assert self.proc is not None
        code = self.proc.poll()
        problems = []
        if self.errors:
            problems.append("reported an error: %s" % "; ".join(self.errors))
        if self.malformed:
            problems.append("wrote a malformed reply: %s" % self.malformed)
        if self.stopped_late:
            problems.append("did not exit within %g s after closing its output, so it was "
                            "killed" % EXIT_GRACE)
        if code and not (self.killed and problems):
            problems.append(_describe_status(code))
        if not problems and self.broken_pipe:
            problems.append("stopped reading its input after %d of the pairs (an external "
                            "program must read all of its input)" % self.fed)
        if not problems:
            return None
        text = "%s %s" % (self.title, "; ".join(problems))
        if self.tail:
            text += "\nlast lines on its stderr:\n" + "\n".join(self.tail)
        return ExternalError(text)

    def kill(self) -> None:
        """Stop the program now (a malformed reply, or the task is failing)."""
        if self.proc is not None and self.proc.poll() is None:
            self.killed = True
            try:
                self.proc.kill()
            except OSError:
                pass

    def abort(self) -> None:
        """The task is failing for another reason: stop the program and its threads."""
        self.kill()
        if self.proc is not None:
            self.proc.wait()
            for thread in self.threads:
                thread.join(timeout=5)

    # -- stderr -----------------------------------------------------------------------
    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        buf = b""
        pending: list[str] = []
        last = 0.0
        while True:
            wait = None
            if pending:
                wait = max(0.0, MSG_INTERVAL - (time.monotonic() - last))
            ready, _, _ = select.select([fd], [], [], wait)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                if len(buf) > _MAX_LINE:
                    lines.append(buf)
                    buf = b""
                for line in lines:
                    self._stderr_line(line, pending)
            if pending and time.monotonic() - last >= MSG_INTERVAL:
                self._send(pending)
                last = time.monotonic()
        if buf:
            self._stderr_line(buf, pending)
        self._send(pending)

    def _stderr_line(self, raw: bytes, pending: list[str]) -> None:
        line = raw[:_MAX_LINE].decode("utf-8", "replace").rstrip("\r")
        if line.startswith("**<MSG>"):
            pending.append(line[7:].strip())
        elif line.startswith("**<ERR>"):
            if len(self.errors) < 100:
                self.errors.append(line[7:].strip())
        elif line.strip():
            self.tail.append(line)
            pending.append("%s: %s" % (self.name, line))

    def _send(self, pending: list[str]) -> None:
        if not pending:
            return
        text = "\n".join(pending)
        pending.clear()
        try:
            self.message(text)
        except Exception as exc:  # the task is ending; the program's stderr is still drained
            self.tail.append("(a message could not be sent: %s)" % exc)


def start(worker: Any, task: Any, program: dict, mode: str) -> ExternalProgram:
    """Start a task's external ``mode`` program with the job's ``ext_params``."""
    params = encode_params(worker.getitem("ext_params", worker.job, worker.jobargs, {}))
    return ExternalProgram(program, mode, task.path("ext." + mode), params,
                           lambda text: worker.send("MSG", text)).start()


def reply_map(reply: list, params: Any) -> list:
    """The classic map loop's ``map`` for an external map: its input is the reply."""
    return reply


__all__ = ["external", "ExternalError", "ExternalFiles", "ExternalProgram", "check_program",
           "encode_params", "encode_entry", "encode_record", "encode_netstring_str",
           "encode_netstring_fd", "decode_netstring_str", "decode_netstring_fd"]
