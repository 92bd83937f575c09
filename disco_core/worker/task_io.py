"""Stream functions of the classic worker (``disco.worker.task_io``).

Input stream functions are ``f(stream, size, url, params)`` (3-argument functions are called
without ``params``) and return a new stream or a ``(stream, size, url)`` tuple; records are
what iterating the last one yields (:class:`InputStream`). Output stream functions are
``f(stream, partition, url, params)`` and the last returns an object with ``add(k, v)``
(:class:`OutputStream`). :class:`StreamCombiner` runs an input chain by hand.

Under Python 3, :func:`task_input_stream` gives a *text* stream: iterating it yields
``str`` lines, and ``fd.buffer`` is the raw bytes for binary readers. Readers and writers
that are plugins (``chain_reader`` is the reader plugin named ``chain``) are
looked up by name when first called, so this module imports no plugin.
"""
from __future__ import annotations

import codecs
import gzip
import inspect
import io
import re
from typing import Any, Callable, Iterable, Iterator, Protocol, runtime_checkable

from .. import plugins
from ..errors import DataError, DiscoError
from .dataio import (AtomicFile, apply_input_chain, call_stream, input_view, open_url, raw_bytes,
                     text_stream)
from .task import active_task

CHUNK = 1 << 16


@runtime_checkable
class InputStream(Protocol):
    """What an input chain hands over: a stream to ``read(n)`` bytes (or text) from, and,
    from the last function of the chain, an iterable of the records a job function gets."""

    def __iter__(self) -> Iterator[Any]:
        """The records (or, for a plain stream, the lines) of the input."""
        ...

    def read(self, n: int = -1) -> Any:
        """At most ``n`` bytes (all that is left when ``n`` is negative)."""
        ...


@runtime_checkable
class OutputStream(Protocol):
    """What the last function of an output chain returns. The original also gave some
    output streams ``write(data)`` (raw data, deprecated since 0.3) and ``path`` (the
    local file, used when saving results to DDFS); neither is required."""

    def add(self, key: Any, value: Any) -> None:
        """Write one ``(key, value)`` record."""
        ...

    def close(self) -> None:
        """Finish the output (flush what is buffered)."""
        ...


_SIGNATURES: dict[Any, inspect.Signature] = {}


class NamedDriver:
    """A reader or writer plugin, called by its upstream name and resolved when used."""

    def __init__(self, kind: str, name: str, doc: str = "") -> None:
        self.kind = kind
        self.name = name
        self.__doc__ = doc
        self.__name__ = "%s_%s" % (name, kind)

    @property
    def driver(self) -> Any:
        return plugins.driver(self.kind, self.name)

    @property
    def __signature__(self) -> inspect.Signature:
        """The plugin's own signature, so callers pass ``params`` when it takes them
        (worked out once per plugin object: every task asks for it)."""
        driver = self.driver
        try:
            sig = _SIGNATURES.get(driver)
        except TypeError:  # an unhashable plugin object
            return inspect.signature(driver)
        if sig is None:
            sig = _SIGNATURES[driver] = inspect.signature(driver)
        return sig

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.driver(*args, **kwargs)

    def __repr__(self) -> str:
        return "<%s plugin %r>" % (self.kind, self.name)

    def __reduce__(self) -> Any:
        return (NamedDriver, (self.kind, self.name, self.__doc__))


def _options_are_keywords(fn: Callable) -> Callable:
    """Show ``fn``'s defaulted parameters as keyword-only in its signature.

    An input chain passes ``params`` as the fourth argument to functions with four or more
    positional parameters; a reader whose fourth parameter is an option of its own
    (``head``, ``output_tail``) says this way that it takes no ``params``, so the chain, and
    ``functools.partial(re_reader, pattern)``, call it with three. Passing the options by
    position still works.
    """
    sig = inspect.signature(fn)
    params = [p.replace(kind=p.KEYWORD_ONLY) if p.default is not p.empty else p
              for p in sig.parameters.values()]
    fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return fn


def task_input_stream(stream: Any, size: Any, url: str, params: Any = None) -> Any:
    """Open ``url`` through its scheme plugin, as a text stream over the bytes (a binary
    stream with ``DISCO_TEXT_INPUTS=bytes``: :func:`~.dataio.input_view`)."""
    binary = open_url(url, active_task())
    return input_view(binary, url), getattr(binary, "size", None), url


map_input_stream = reduce_input_stream = task_input_stream


def string_input_stream(string: Any, size: Any = None, url: str = "", params: Any = None) -> Any:
    data = string.encode("utf-8") if isinstance(string, str) else string
    return text_stream(io.BytesIO(data)), len(data), url


class StreamCombiner:
    """An input chain run by hand: ``StreamCombiner(url, [task_input_stream, chain_reader],
    params)`` opens ``url`` and iterating it yields the last stream's records.

    ``fd`` and ``size`` are what the first function gets (None: it opens ``url`` itself).
    The functions run when the combiner is made, so an input that cannot be opened raises
    here; :meth:`close` closes every stream the chain made (and ``fd``), last first.
    """

    def __init__(self, url: str, streams: Iterable[Callable], params: Any,
                 fd: Any = None, size: Any = None) -> None:
        self.url = url
        self.params = params
        self.fd = fd
        self.size = size
        self.streams = list(streams)
        self.opened: list[Any] = [] if fd is None else [fd]
        chain = [self._start] + [self._recorded(fn) for fn in self.streams]
        self.stream = apply_input_chain(url, chain, params)

    def _start(self, stream: Any, size: Any, url: str, params: Any) -> tuple:
        return self.fd, self.size, url

    def _recorded(self, fn: Callable) -> Callable:
        def step(stream: Any, size: Any, url: str, params: Any) -> Any:
            result = call_stream(fn, stream, size, url, params)
            self.opened.append(result[0] if isinstance(result, tuple) else result)
            return result
        return step

    def __iter__(self) -> Iterator[Any]:
        return iter(self.stream)

    def read(self, n: int = -1) -> Any:
        """Read from the last stream (when it is a stream, not a record iterator)."""
        read = getattr(self.stream, "read", None)
        if read is None:
            raise DiscoError("the last stream of the input chain of %s (%r) has no read(); "
                             "iterate it for its records instead" % (self.url, self.stream))
        return read(n)

    def close(self) -> None:
        seen: set[int] = set()
        for stream in reversed(self.opened):
            if id(stream) in seen:
                continue
            seen.add(id(stream))
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> "StreamCombiner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


chain_reader = NamedDriver("reader", "chain", "Records of the internal format (job results).")
disco_input_stream = chain_reader
line_reader = NamedDriver("reader", "lines", "Text lines as str.")
csv_reader = NamedDriver("reader", "csv", "CSV rows as lists of str (the csv reader plugin).")
csv_dict_reader = NamedDriver("reader", "csv_dict",
                              "CSV rows as dicts keyed by the header (the csv reader "
                              "plugin).")
netstr_reader = NamedDriver("reader", "netstring",
                            "(key, value) bytes pairs of the original's netstring format "
                            "(the netstring reader plugin).")


class _HeadAndRest:
    """``head`` followed by the bytes of ``fd``, ending after ``size`` bytes in all (at the
    end of ``fd`` when ``size`` is None). ``pos`` counts the bytes handed out."""

    def __init__(self, head: bytes, fd: Any, size: int | None) -> None:
        self.head = head
        self.fd = fd
        self.size = size
        self.pos = 0

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = -1 if self.size is None else self.size - self.pos
        elif self.size is not None:
            n = min(n, self.size - self.pos)
        if n == 0:
            return b""
        parts = []
        if self.pos < len(self.head):
            part = self.head[self.pos:] if n < 0 else self.head[self.pos:self.pos + n]
            parts.append(part)
            if n > 0:
                n -= len(part)
        if n != 0:
            part = self.fd.read() if n < 0 else self.fd.read(n)
            if isinstance(part, str):  # a text stream with no bytes under it
                part = part.encode("utf-8")
            parts.append(part)
        data = b"".join(parts)
        self.pos += len(data)
        return data

    def close(self) -> None:
        close = getattr(self.fd, "close", None)
        if close is not None:
            close()


@_options_are_keywords
def old_netstr_reader(fd: Any, size: int | None, fname: str,
                      head: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` bytes pairs of the original's v0 record format
    (``<len> <key> <len> <value>\\n``), read by the ``netstring`` reader plugin.

    ``head`` is bytes already read from the front of the stream; ``size`` is the length of
    the whole input, ``head`` included: reading stops there, and an input that ends before
    it raises :class:`~disco_core.errors.DataError`. Unlike the original, ``size`` may be
    None (read to the end of the stream).
    """
    if isinstance(head, str):
        head = head.encode("utf-8")
    if not isinstance(head, (bytes, bytearray, memoryview)):
        raise DiscoError("old_netstr_reader: head must be the bytes already read from the "
                         "stream, got %r" % (head,))
    stream = _HeadAndRest(bytes(head), raw_bytes(fd), size)
    yield from plugins.driver("reader", "netstring")(stream, size, fname, None)
    if size and stream.pos < size:
        raise DataError("truncated input: expected %d bytes, got %d" % (size, stream.pos),
                        fname)


@_options_are_keywords
def re_reader(item_re_str: Any, fd: Any, size: int | None, fname: str,
              output_tail: bool = False, read_buffer_size: int = 8192) -> Iterator[tuple]:
    """``match.groups()`` of consecutive matches of the regular expression ``item_re_str``
    from the start of the input, read ``read_buffer_size`` bytes at a time.

    Each match starts where the previous one ended (matched against the rest of the input
    as a new string, so ``^`` matches there); a match that reaches the end of what has been
    read waits for more input, so an item is never cut at a buffer boundary. When no more
    items match, the bytes left are printed as a message (``output_tail=True``: yielded as
    a one-element tuple instead). An input shorter than ``size`` (when ``size`` is given)
    raises :class:`~disco_core.errors.DataError` after the items read.

    ``str`` or ``bytes``: the pattern's type decides. A ``str`` pattern matches the input
    decoded as UTF-8 and yields ``str`` groups (what a text job wants: inputs arrive as text
    streams); a ``bytes`` pattern (``rb"..."``) matches the raw bytes and yields ``bytes``.
    Either way the bytes under the stream (``fd.buffer``) are read, and ``size`` counts
    bytes. The pattern must have at least one group and must not match an empty string.
    """
    pattern = item_re_str if isinstance(item_re_str, re.Pattern) else re.compile(item_re_str)
    if not pattern.groups:
        raise DiscoError("re_reader: the pattern %r has no groups: put the part of each "
                         "item you want in parentheses" % (pattern.pattern,))
    if not isinstance(read_buffer_size, int) or read_buffer_size < 1:
        raise DiscoError("re_reader: read_buffer_size must be a positive integer, got %r"
                         % (read_buffer_size,))
    binary = isinstance(pattern.pattern, bytes)
    source = raw_bytes(fd)
    decoder = None if binary else codecs.getincrementaldecoder("utf-8")()
    buf: Any = b"" if binary else ""
    total = 0
    eof = False
    try:
        while not eof:
            want = read_buffer_size if not size else min(read_buffer_size, size - total)
            piece = source.read(want) if want > 0 else b""
            if isinstance(piece, str):  # a text stream with no bytes under it
                piece = piece.encode("utf-8")
            total += len(piece)
            eof = not piece or bool(size) and total >= size
            if decoder is None:
                buf += piece
            else:
                try:
                    buf += decoder.decode(piece, eof)
                except UnicodeDecodeError as exc:
                    raise DiscoError("re_reader: %s is not UTF-8 text (%s); give re_reader a "
                                     "bytes pattern (rb'...') to match bytes"
                                     % (fname, exc)) from exc
            while buf:
                match = pattern.match(buf)
                if match is None:
                    break
                end = match.end()
                if end == 0:
                    raise DiscoError("re_reader: the pattern %r matches an empty string in %s;"
                                     " every item must take at least one character"
                                     % (pattern.pattern, fname))
                if end == len(buf) and not eof:
                    break  # more input could make this match longer
                yield match.groups()
                buf = buf[end:]
    finally:
        close = getattr(fd, "close", None)
        if close is not None:
            close()
    if size and total < size:
        raise DataError("truncated input: expected %d bytes, got %d" % (size, total), fname)
    if buf:
        if output_tail:
            yield (buf,)
        else:
            n = len(buf) if binary else len(buf.encode("utf-8"))
            print("Couldn't match the last %d bytes in %s. Some bytes may be missing from "
                  "input." % (n, fname))


def gzip_reader(fd: Any, size: Any, url: str, params: Any = None) -> Iterator[bytes]:
    """Lines (bytes) of a gzip-compressed input."""
    return iter(gzip.GzipFile(fileobj=raw_bytes(fd)))


def gzip_line_reader(fd: Any, size: Any, url: str, params: Any = None) -> Iterator[str]:
    """Lines (str) of a gzip-compressed text input."""
    return io.TextIOWrapper(gzip.GzipFile(fileobj=raw_bytes(fd)), encoding="utf-8")


def task_output_stream(stream: Any, partition: Any, url: str, params: Any = None) -> AtomicFile:
    """The task's output file for ``partition`` (``url`` is its path), written atomically."""
    return AtomicFile(url, sync=None)


map_output_stream = reduce_output_stream = task_output_stream
disco_output_stream = NamedDriver("writer", "chain", "The internal record format writer.")


def _line_bytes(x: Any) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    return (x if isinstance(x, str) else str(x)).encode("utf-8")


class DiscoPlainOut:
    """Writes records as text lines ``<key> <value>\\n`` (the original's plain output).

    ``bytes`` are written as they are, ``str`` as UTF-8, anything else as ``str(x)``.
    Nothing is escaped: a key holding a space, or a key or value holding a newline, cannot
    be told apart when the lines are read back. Writes are buffered; :meth:`close` flushes
    and leaves the stream under it to whoever opened it (``task_output_stream``).
    """

    def __init__(self, stream: Any, buffer_size: int = CHUNK) -> None:
        self.stream = raw_bytes(stream)
        self.buffer_size = buffer_size
        self.pending: list[bytes] = []
        self.pending_size = 0

    def add(self, key: Any, value: Any) -> None:
        self.write(b"%b %b\n" % (_line_bytes(key), _line_bytes(value)))

    def write(self, data: Any) -> None:
        """Write ``data`` (bytes, or str as UTF-8) as it is."""
        data = _line_bytes(data)
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size >= self.buffer_size:
            self.flush()

    @property
    def path(self) -> str | None:
        """The local file written to, when there is one."""
        return getattr(self.stream, "final", None) or getattr(self.stream, "name", None)

    def flush(self) -> None:
        if self.pending:
            self.stream.write(b"".join(self.pending))
            self.pending = []
            self.pending_size = 0
        flush = getattr(self.stream, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        self.flush()


def plain_output_stream(stream: Any, partition: Any, url: str,
                        params: Any = None) -> DiscoPlainOut:
    """An output stream writing ``key value`` text lines (:class:`DiscoPlainOut`): use it
    after ``task_output_stream`` in ``map_output_stream`` / ``reduce_output_stream``;
    ``result_iterator(urls, reader=None)`` reads the lines back."""
    return DiscoPlainOut(stream)


chain_stream = (task_input_stream, chain_reader)
default_stream = (task_input_stream,)
gzip_stream = (task_input_stream, gzip_reader)
gzip_line_stream = (task_input_stream, gzip_line_reader)
