"""Stream functions of the classic worker (``disco.worker.task_io``).

Input stream functions are ``f(stream, size, url, params)`` (3-argument functions are called
without ``params``) and return a new stream or a ``(stream, size, url)`` tuple; records are
what iterating the last one yields. Output stream functions are
``f(stream, partition, url, params)`` and the last returns an object with ``add(k, v)``.

Under Python 3, :func:`task_input_stream` gives a *text* stream: iterating it yields
``str`` lines, and ``fd.buffer`` is the raw bytes for binary readers. Readers and writers
that are plugins (``chain_reader`` is the ``chain`` reader of ``disco-plugin-chain``) are
looked up by name when first called, so this module imports no plugin.
"""
from __future__ import annotations

import gzip
import inspect
import io
from typing import Any, Iterator

from .. import plugins
from .dataio import AtomicFile, open_url, raw_bytes, text_stream


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
        """The plugin's own signature, so callers pass ``params`` when it takes them."""
        return inspect.signature(self.driver)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.driver(*args, **kwargs)

    def __repr__(self) -> str:
        return "<%s plugin %r>" % (self.kind, self.name)

    def __reduce__(self) -> Any:
        return (NamedDriver, (self.kind, self.name, self.__doc__))


def task_input_stream(stream: Any, size: Any, url: str, params: Any = None) -> Any:
    """Open ``url`` through its scheme plugin, as a text stream over the bytes."""
    from . import active_task
    binary = open_url(url, active_task())
    return text_stream(binary), getattr(binary, "size", None), url


map_input_stream = reduce_input_stream = task_input_stream


def string_input_stream(string: Any, size: Any = None, url: str = "", params: Any = None) -> Any:
    data = string.encode("utf-8") if isinstance(string, str) else string
    return text_stream(io.BytesIO(data)), len(data), url


chain_reader = NamedDriver("reader", "chain", "Records of the internal format (job results).")
disco_input_stream = chain_reader
line_reader = NamedDriver("reader", "lines", "Text lines as str.")
csv_reader = NamedDriver("reader", "csv", "CSV rows as lists of str (disco-plugin-csv).")
csv_dict_reader = NamedDriver("reader", "csv_dict",
                              "CSV rows as dicts keyed by the header (disco-plugin-csv).")
netstr_reader = NamedDriver("reader", "netstring",
                            "(key, value) bytes pairs of the original's netstring format "
                            "(disco-plugin-netstring).")


def gzip_reader(fd: Any, size: Any, url: str, params: Any = None) -> Iterator[bytes]:
    """Lines (bytes) of a gzip-compressed input."""
    return iter(gzip.GzipFile(fileobj=raw_bytes(fd)))


def gzip_line_reader(fd: Any, size: Any, url: str, params: Any = None) -> Iterator[str]:
    """Lines (str) of a gzip-compressed text input."""
    return io.TextIOWrapper(gzip.GzipFile(fileobj=raw_bytes(fd)), encoding="utf-8")


def task_output_stream(stream: Any, partition: Any, url: str, params: Any = None) -> AtomicFile:
    """The task's output file for ``partition`` (``url`` is its path), written atomically."""
    return AtomicFile(url)


map_output_stream = reduce_output_stream = task_output_stream
disco_output_stream = NamedDriver("writer", "chain", "The internal record format writer.")

chain_stream = (task_input_stream, chain_reader)
default_stream = (task_input_stream,)
gzip_stream = (task_input_stream, gzip_reader)
gzip_line_stream = (task_input_stream, gzip_line_reader)
