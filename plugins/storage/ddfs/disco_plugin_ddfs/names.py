"""Names of DDFS objects, shared by the master, the nodes and the client.

* Tag names, blob prefixes and attribute names: characters ``[A-Za-z0-9_\\-@:]``, 1 to 511
  of them. Tags starting with ``+`` are internal (only ``+deleted`` exists).
* A blob is ``<prefix>$<ts>``; a prefix longer than 200 characters is replaced by the md5 of
  it (32 hex digits). ``<ts>`` is ``<mega>-<sec>-<micro>`` of the creation time, each in
  lowercase hex, so every ``new_blob`` makes a new name even for the same prefix.
* On a node a blob lives in ``vol<N>/blob/<hh>/<name>``, ``hh`` the first byte of the md5 of
  the full name in hex.
"""
from __future__ import annotations

import _thread
import re
import time

NAME_CHARS = r"A-Za-z0-9_\-@:"
NAME = re.compile(r"[%s]+" % NAME_CHARS)
MAX_NAME = 511
MAX_PREFIX = 200
DELETED = "+deleted"
#: A blob's full name, as the PUT URL of a node carries it.
BLOB = re.compile(r"([%s]+)\$([0-9a-f]+-[0-9a-f]+-[0-9a-f]+)" % NAME_CHARS)


def valid_name(name: object) -> bool:
    """Whether ``name`` is a legal tag name, blob prefix or attribute name."""
    return (isinstance(name, str) and 0 < len(name) <= MAX_NAME
            and NAME.fullmatch(name) is not None)


def safe_name(name: str) -> str:
    """``name`` with every character outside the legal set replaced by ``_``."""
    return re.sub(r"[^%s]" % NAME_CHARS, "_", name)


def blob_prefix(prefix: str) -> str:
    """The prefix a blob name starts with: ``prefix``, or its md5 when it is too long."""
    if len(prefix) > MAX_PREFIX:
        import hashlib  # here: only names made or hashed need it (it loads OpenSSL)
        return hashlib.md5(prefix.encode("utf-8")).hexdigest()
    return prefix


def hexhash(name: str) -> str:
    """The directory a node keeps an object in: 2 hex digits of the md5 of its name."""
    import hashlib
    return hashlib.md5(name.encode("utf-8")).hexdigest()[:2]


def _hex(n: int) -> str:
    return "%02x" % n if n == 0 else "%x" % n


_last = [0]
_lock = _thread.allocate_lock()  # threading's Lock, without loading threading


def timestamp(now: float | None = None) -> str:
    """``<mega>-<sec>-<micro>`` in hex; never the same twice in one process."""
    with _lock:
        micros = int((time.time() if now is None else now) * 1e6)
        if micros <= _last[0]:
            micros = _last[0] + 1
        _last[0] = micros
    secs, micro = divmod(micros, 1000000)
    mega, sec = divmod(secs, 1000000)
    return "%s-%s-%s" % (_hex(mega), _hex(sec), _hex(micro))


def blob_name(url: str) -> str:
    """The blob name of a URL: its last path component up to ``$``."""
    return url.rstrip("/").rsplit("/", 1)[-1].split("$", 1)[0]


def set_name(replicas: list) -> str | None:
    """The name ``update=1`` identifies a replica set by: ``tag://X`` is ``X``, a blob URL
    is the blob's name without its version; ``None`` for anything else (always added)."""
    if not replicas or not isinstance(replicas[0], str):
        return None
    url = replicas[0]
    if url.startswith("tag://"):
        return url[len("tag://"):].rsplit("/", 1)[-1]
    if "://" in url:
        last = url.rstrip("/").rsplit("/", 1)[-1]
        if BLOB.fullmatch(last):
            return last.split("$", 1)[0]
    return None
