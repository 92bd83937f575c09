"""Opening a task's inputs through scheme plugins and writing its outputs atomically."""
from __future__ import annotations

import io
import os
from typing import Any, BinaryIO, Callable, Iterable

from .. import plugins
from ..atomicfile import AtomicFile  # noqa: F401  (its former home; fileutils and plugins)
from ..errors import DataError, DiscoError, PluginError
from ..util import argcount, schemesplit
from .task import Input, Task


def scheme_of(url: str) -> str:
    scheme, _ = schemesplit(url)
    return scheme or "file"


def open_url(url: str, task: Task | None = None) -> BinaryIO:
    """A binary stream of the data at ``url``, through the scheme's plugin."""
    return plugins.driver("scheme", scheme_of(url)).open(url, task)


def is_index(url: str) -> bool:
    try:
        drv = plugins.driver("scheme", scheme_of(url))
    except PluginError:
        return False
    return hasattr(drv, "expand")


def expand(url: str, label: Any = "all", task: Task | None = None) -> list[str]:
    """The data URLs behind an index URL (``dir://``) for ``label``; other URLs as they are."""
    drv = plugins.driver("scheme", scheme_of(url))
    if hasattr(drv, "expand"):
        return list(drv.expand(url, label, task))
    return [url]


def read_index(url: str, task: Task | None = None) -> list[tuple[int, str, int]]:
    """``(label, url, size)`` lines of an index file."""
    drv = plugins.driver("scheme", scheme_of(url))
    if not hasattr(drv, "read_index"):
        raise DiscoError("%s is not an index URL" % url)
    return list(drv.read_index(url, task))


class TextStream(io.TextIOWrapper):
    """A text view of a binary input that cannot hold its view (see :func:`text_stream`).
    Dropping the view does not close the bytes under it."""

    def __del__(self) -> None:
        pass


#: What ``DISCO_TEXT_INPUTS`` may be: text inputs as ``str`` lines (the default) or as
#: ``bytes`` lines, as the original handed them to job functions under Python 3.
TEXT_MODES = ("str", "bytes")


def text_inputs_mode() -> str:
    """``DISCO_TEXT_INPUTS`` in force here. A task reads the value its job pack carries
    (the node exports the pack's environment to the worker); a client reads its settings."""
    mode = os.environ.get("DISCO_TEXT_INPUTS")
    if mode is None:
        from ..settings import DiscoSettings
        mode = DiscoSettings()["DISCO_TEXT_INPUTS"]
    mode = str(mode).strip().lower() or "str"
    if mode not in TEXT_MODES:
        raise DiscoError("DISCO_TEXT_INPUTS=%r is not one of %s: set it to str (text lines "
                         "as str) or bytes (as the original gave them)"
                         % (mode, ", ".join(TEXT_MODES)))
    return mode


def input_view(binary: BinaryIO, url: str = "") -> Any:
    """How a text input reaches a reader or job function: a text stream of ``str`` lines,
    or with ``DISCO_TEXT_INPUTS=bytes`` a binary stream of ``bytes`` lines. Schemes whose
    data the original always handed over as text (their plugin sets ``text = True``, as
    ``raw://`` does) stay ``str`` in both modes. A scheme whose inputs are records rather
    than bytes (its plugin sets ``records = True``: what ``open`` returns is iterated for
    ``(key, value)`` records, as ``redis://`` inputs are) is handed over as it is."""
    if _scheme_flag(url, "records"):
        return binary
    if text_inputs_mode() == "bytes" and not _scheme_flag(url, "text"):
        return binary_stream(binary)
    return text_stream(binary)


def _scheme_flag(url: str, flag: str) -> bool:
    """Whether the scheme plugin of ``url`` sets ``flag`` (``text``, ``records``)."""
    if not url:
        return False
    try:
        return bool(getattr(plugins.driver("scheme", scheme_of(url)), flag, False))
    except PluginError:
        return False


def binary_stream(binary: BinaryIO) -> BinaryIO:
    """A buffered binary stream (iterating gives ``bytes`` lines) over ``binary``."""
    if isinstance(binary, io.IOBase) and hasattr(binary, "readline"):
        return binary
    size = getattr(binary, "size", None)
    stream = io.BufferedReader(_Readable(binary) if not isinstance(binary, io.RawIOBase)
                               else binary)
    stream.size = size  # type: ignore[attr-defined]
    return stream


def text_stream(binary: BinaryIO) -> io.TextIOWrapper:
    """A text view of a binary stream: iterating gives ``str`` lines; ``.buffer`` the bytes."""
    if not hasattr(binary, "readable"):
        binary = _Readable(binary)
    # Lines end at "\n" only and keep their bytes ("\r\n" stays), as file iteration did in
    # the original's Python 2.
    #
    # Dropping the view must not close the bytes under it, so that a reader may keep using
    # fd.buffer after letting go of fd: the bytes hold their view, which is closed (by
    # the collector, closing them) only once neither is reachable. A subclass of
    # TextIOWrapper that does not close when dropped would do it too, but iterating one
    # costs a method call per line (CPython reads lines without one only for the class
    # itself): a text input was read at half the speed.
    stream = io.TextIOWrapper(binary, encoding="utf-8", errors="strict",  # type: ignore
                              newline="\n")
    try:
        # (every view made of them: dropping an earlier one must not close them either)
        binary._text_view = (stream, getattr(binary, "_text_view", None))  # type: ignore
    except (AttributeError, TypeError):
        stream.detach()
        stream = TextStream(binary, encoding="utf-8", errors="strict",  # type: ignore
                            newline="\n")
    stream.size = getattr(binary, "size", None)  # type: ignore[attr-defined]
    return stream


class _Readable(io.RawIOBase):
    """Adapts an object with only ``read(n)`` to the io stack."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.obj.read(len(b))
        n = len(data)
        b[:n] = data
        return n


def raw_bytes(fd: Any) -> BinaryIO:
    """The binary stream under a text stream (or the stream itself)."""
    return getattr(fd, "buffer", fd)


def call_stream(fn: Callable, stream: Any, size: Any, url: str, params: Any) -> Any:
    n = argcount(fn)
    return fn(stream, size, url, params) if n >= 4 else fn(stream, size, url)


def apply_input_chain(url: str, chain: Iterable[Callable], params: Any) -> Any:
    """Run the stream functions of an input chain; the last result is iterated for records."""
    stream: Any = None
    size: Any = None
    for fn in chain:
        result = call_stream(fn, stream, size, url, params)
        if isinstance(result, tuple):
            if len(result) == 3:
                stream, size, url = result
            elif len(result) == 2:
                stream, url = result
            else:
                stream = result[0]
        else:
            stream = result
    return stream


def open_replicas(inp: Input, opener: Callable[[str], Any],
                  report: Callable[[int, list[int]], list[tuple[int, str]]] | None = None) -> Any:
    """Open the first replica that works, reporting failed ones (``INPUT_ERR``) for more.

    Raises :class:`DataError` naming every replica tried when none works.
    """
    replicas = list(inp.replicas)
    errors: list[str] = []
    while replicas:
        failed = []
        for rep_id, url in replicas:
            try:
                return url, opener(url)
            except (DataError, OSError) as exc:
                errors.append("%s: %s" % (url, exc))
                failed.append(rep_id)
        replicas = report(inp.id, failed) if report else []
    raise DataError("no replica of input %d could be read (%s)" % (inp.id, "; ".join(errors)),
                    inp.urls[0] if inp.replicas else "?")
