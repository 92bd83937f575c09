"""Small helpers shared by client, worker, master and node (no I/O besides what is named)."""
from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import os
import random
import socket
from typing import Any, Callable, Iterable, Iterator

from .errors import DiscoError


def hexhash(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.md5(data).hexdigest()[:2]


def isiterable(obj: Any) -> bool:
    return hasattr(obj, "__iter__") and not isinstance(obj, (str, bytes))


def iterify(obj: Any) -> Any:
    return obj if isiterable(obj) else [obj]


def listify(obj: Any) -> list:
    return list(iterify(obj))


def flatten(iterable: Iterable) -> Iterator:
    for item in iterable:
        if isiterable(item):
            yield from flatten(item)
        else:
            yield item


def chainify(iterable: Iterable) -> Iterator:
    return itertools.chain.from_iterable(iterable)


def iskv(obj: Any) -> bool:
    return isinstance(obj, tuple) and len(obj) == 2


def kvify(entry: Any) -> tuple:
    return entry if iskv(entry) else (entry, None)


def ilen(iterable: Iterable) -> int:
    return sum(1 for _ in iterable)


def identity(x: Any) -> Any:
    return x


def key(entry: Any) -> Any:
    return entry[0]


def kvgroup(kviter: Iterable) -> Iterator[tuple[Any, Iterator]]:
    """Group *consecutive* pairs with equal keys: ``(k, iterator of values)``. No sorting."""
    for k, kvs in itertools.groupby(kviter, key=lambda kv: kv[0]):
        yield k, (v for _, v in kvs)


def partition(iterable: Iterable, fn: Callable) -> tuple[list, list]:
    t, f = [], []
    for item in iterable:
        (t if fn(item) else f).append(item)
    return t, f


def shuffled(obj: Iterable) -> list:
    items = list(obj)
    random.shuffle(items)
    return items


def argcount(fn: Callable) -> int:
    """Positional parameters of ``fn`` still to be given (partials and bound methods count)."""
    if isinstance(fn, functools.partial):
        return argcount(fn.func) - len(fn.args) - len(fn.keywords or {})
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 0
    return sum(1 for p in sig.parameters.values()
               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def reify(dotted: str, globals_: dict | None = None) -> Any:
    from .plugins import import_object
    try:
        return import_object(dotted)
    except (ImportError, AttributeError, ValueError):
        return eval(dotted, globals_ or {})


def schemesplit(url: str) -> tuple[str, str]:
    scheme, sep, rest = url.partition("://")
    return (scheme, rest) if sep else ("", url)


def urljoin(parts: tuple[str, str, str]) -> str:
    scheme, netloc, path = parts
    return "%s%s%s" % ("%s://" % scheme if scheme else "", netloc or "", path)


def urlsplit(url: str, localhost: str | None = None, disco_port: int | None = None,
             **_kw: Any) -> tuple[str, str, str]:
    """``(scheme, netloc, path)``; ``disco://`` becomes ``http`` on DISCO_PORT."""
    scheme, rest = schemesplit(url)
    if not scheme:
        return "file", "", rest
    netloc, _, path = rest.partition("/")
    if scheme in ("disco", "dir"):
        if localhost and netloc == localhost:
            return "file", "", path
        port = disco_port or 8989
        return "http", "%s:%s" % (netloc, port), path
    if scheme == "tag":
        return scheme, "", rest
    return scheme, netloc, path


def netloc_host(url: str) -> str:
    """The host part of a URL (``""`` for local files), as written: no user, no port, and
    case kept, so that it matches the node names of the cluster's configuration."""
    scheme, rest = schemesplit(url)
    if not scheme or scheme == "file":
        return ""
    host = rest.split("/", 1)[0].rpartition("@")[2]
    if host.startswith("[") and "]" in host:  # [IPv6]:port
        return host[1:host.index("]")]
    return host.partition(":")[0]


def local_hostnames() -> set[str]:
    names = {"localhost", "127.0.0.1", "::1"}
    try:
        names.add(socket.gethostname())
    except OSError:
        pass
    return names


def ensure_dir(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


def jobname(url: str) -> str:
    scheme, rest = schemesplit(url)
    parts = rest.rstrip("/").split("/")
    if len(parts) < 2:
        raise DiscoError("cannot find a job name in %r" % url)
    return parts[-2]


def format_size(num: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(num) < 1024:
            return "%3.1f%s" % (num, unit)
        num /= 1024.0
    return "%3.1fPB" % num


def format_duration(seconds: float) -> str:
    """``H:MM:SS.mmm`` as the event log writes durations."""
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3600000)
    m, ms = divmod(ms, 60000)
    s, ms = divmod(ms, 1000)
    return "%d:%02d:%02d.%03d" % (h, m, s, ms)
