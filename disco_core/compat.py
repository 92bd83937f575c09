"""The original's Python 2/3 bridge (``disco.compat``), for programs written against it.

Jobs of the original's era import their helpers from here (``bytes_to_str``,
``str_to_bytes``, ``BytesIO``, ``http_server``, ``file``, ...). On Python 3 every name is
the Python 3 thing it stood for; the conversions accept either type, so code that calls
them on what it is given works whether text inputs arrive as ``str`` (our default) or as
``bytes`` (``DISCO_TEXT_INPUTS=bytes``).
"""
from __future__ import annotations

import http.client as httplib  # noqa: F401
import http.cookiejar as cookielib  # noqa: F401
import http.server as http_server  # noqa: F401
import io
import pickle
import queue  # noqa: F401
import socketserver  # noqa: F401
import sys
from functools import reduce  # noqa: F401
from io import BytesIO, StringIO  # noqa: F401
from itertools import zip_longest as izip_longest  # noqa: F401
from typing import Any, Iterable, Iterator
from urllib.parse import (parse_qs, quote, quote_plus, unquote, unquote_plus,  # noqa: F401
                          urlencode, urlparse, urlsplit, urlunparse)
from urllib.request import urlopen  # noqa: F401

PY3 = sys.version_info[0] >= 3

#: The types the original spelled with Python 2 names.
basestring = str
unicode = str
long = int
integer_types = (int,)
string_types = (str,)
file = io.IOBase  # every file object (text or binary) is an io.IOBase
range = range
xrange = range
izip = zip
imap = map
ifilter = filter
input = input
raw_input = input
intern = sys.intern
Queue = queue


def bytes_to_str(data: Any, encoding: str = "utf-8", errors: str = "strict") -> Any:
    """``bytes`` (or a bytearray / memoryview) decoded; anything else as it is."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data).decode(encoding, errors)
    if isinstance(data, memoryview):
        return data.tobytes().decode(encoding, errors)
    return data


def str_to_bytes(data: Any, encoding: str = "utf-8", errors: str = "strict") -> Any:
    """``str`` encoded; bytes-like values as bytes; anything else as it is."""
    if isinstance(data, str):
        return data.encode(encoding, errors)
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    return data


def force_utf8(data: Any) -> str:
    """Text for ``data``: bytes decoded as UTF-8 (bad bytes replaced), others through str."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data).decode("utf-8", "replace")
    return data if isinstance(data, str) else str(data)


def int_of_byte(byte: Any) -> int:
    """The value of one byte: indexing bytes gives an int on Python 3, a str on Python 2."""
    return byte if isinstance(byte, int) else ord(byte)


def iteritems(d: dict) -> Iterator:
    return iter(d.items())


def iterkeys(d: dict) -> Iterator:
    return iter(d.keys())


def itervalues(d: dict) -> Iterator:
    return iter(d.values())


def dict_items(d: dict) -> list:
    return list(d.items())


def sort_cmd(cmp: Any) -> Any:
    """A ``key=`` function from an old-style comparison function."""
    from functools import cmp_to_key
    return cmp_to_key(cmp)


def pickle_loads(data: bytes) -> Any:
    return pickle.loads(data)


def pickle_dumps(obj: Any, protocol: int = pickle.HIGHEST_PROTOCOL) -> bytes:
    return pickle.dumps(obj, protocol)


def pickle_load(fd: Any) -> Any:
    return pickle.load(fd)


def pickle_dump(obj: Any, fd: Any, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
    pickle.dump(obj, fd, protocol)


def get_bytes(data: Iterable[int]) -> bytes:
    """Bytes from a sequence of byte values."""
    return bytes(data)


__all__ = [
    "PY3", "BytesIO", "StringIO", "basestring", "unicode", "long", "integer_types",
    "string_types", "file", "range", "xrange", "izip", "imap", "ifilter", "izip_longest",
    "input", "raw_input", "intern", "reduce", "httplib", "http_server", "cookielib",
    "socketserver", "Queue", "urlencode", "urlparse", "urlsplit", "urlunparse", "parse_qs",
    "quote", "quote_plus", "unquote", "unquote_plus", "urlopen", "bytes_to_str",
    "str_to_bytes", "force_utf8", "int_of_byte", "iteritems", "iterkeys", "itervalues",
    "dict_items", "sort_cmd", "pickle_loads", "pickle_dumps", "pickle_load", "pickle_dump",
    "get_bytes",
]
