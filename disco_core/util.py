"""Small helpers shared by client, worker, master and node (no I/O besides what is named).

This module is at the bottom of the house: it imports only :mod:`.errors` and :mod:`.settings`
(for the defaults of DISCO_PORT, DISCO_MASTER, DISCO_DATA, DDFS_DATA and DISCO_PROXY), so
every other part may use it. The original's ``disco.util`` helpers that need more live with
what they need, and ``disco.util`` gathers them all: ``dsorted`` in :mod:`.worker.sort`,
``parse_dir``, ``read_index``, ``inputexpand``, ``inputlist`` and ``deref`` in
:mod:`.worker.inputlist`, ``save_oob`` and ``load_oob`` in :mod:`.client.disco`.
"""
from __future__ import annotations

import functools
import importlib
import itertools
import operator
import os
import socket
import types
from typing import Any, Callable, Iterable, Iterator

from .errors import DiscoError
from .settings import DiscoSettings


def hexhash(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    import hashlib  # here: most processes never hash (and _hashlib loads OpenSSL)
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


_first = operator.itemgetter(0)
_second = operator.itemgetter(1)


def kvgroup(kviter: Iterable) -> Iterator[tuple[Any, Iterator]]:
    """Group *consecutive* pairs with equal keys: ``(k, iterator of values)``. No sorting."""
    for k, kvs in itertools.groupby(kviter, key=_first):
        yield k, map(_second, kvs)


def partition(iterable: Iterable, fn: Callable) -> tuple[list, list]:
    t, f = [], []
    for item in iterable:
        (t if fn(item) else f).append(item)
    return t, f


def shuffled(obj: Iterable) -> list:
    items = list(obj)
    import random
    random.shuffle(items)
    return items


def argcount(fn: Callable) -> int:
    """Positional parameters of ``fn`` still to be given (partials and bound methods count)."""
    if isinstance(fn, functools.partial):
        return argcount(fn.func) - len(fn.args) - len(fn.keywords or {})
    if type(fn) is types.FunctionType and not hasattr(fn, "__wrapped__") \
            and not hasattr(fn, "__signature__"):
        return fn.__code__.co_argcount  # what inspect.signature would count, 50x faster
    try:
        import inspect  # here: it loads ast, dis and tokenize, for the rare callable
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 0
    return sum(1 for p in sig.parameters.values()
               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def import_object(dotted: str) -> Any:
    """``pkg.mod.attr`` or ``pkg.mod:attr`` -> the object (for -R/--reader and friends)."""
    if ":" in dotted:
        mod, _, attr = dotted.partition(":")
    else:
        mod, _, attr = dotted.rpartition(".")
    obj = importlib.import_module(mod)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def reify(dotted: str, globals_: dict | None = None) -> Any:
    try:
        return import_object(dotted)
    except (ImportError, AttributeError, ValueError):
        return eval(dotted, globals_ or {})


def schemesplit(url: str) -> tuple[str, str]:
    scheme, sep, rest = url.partition("://")
    return (scheme, rest) if sep else ("", url)


def urljoin(parts: tuple[Any, Any, str]) -> str:
    """``scheme://netloc/path`` from the parts :func:`urlsplit` gives."""
    scheme, loc, path = parts
    return "%s%s%s" % ("%s://" % scheme if scheme else "", "%s/" % (loc,) if loc else "", path)


class netloc(tuple):  # noqa: N801 (the original's name)
    """``(host, port)`` of a URL, both strings (``""`` when absent); ``str()`` gives
    ``host:port``, or ``host`` without a port. False when there is no host."""

    def __new__(cls, hostport: Iterable = ("", "")) -> "netloc":
        host, port = hostport
        return super().__new__(cls, (str(host or ""), "" if port in (None, "") else str(port)))

    @classmethod
    def parse(cls, netlocstr: str) -> "netloc":
        """``netloc`` of ``[user[:token]@]host[:port]`` (``[v6addr]:port`` too)."""
        text = netlocstr.rpartition("@")[2]
        if text.startswith("["):
            end = text.find("]")
            rest = text[end + 1:] if end != -1 else ""
            if end == -1 or (rest and not rest.startswith(":")):
                raise DiscoError("malformed address %r: write an IPv6 host as [addr]:port"
                                 % netlocstr)
            host, port = text[1:end], rest[1:]
        else:
            host, _, port = text.partition(":")
        # The port is kept as written (the original's ``urlsplit("http://host:port/")``
        # gives the port ``"port"``); what connects to it checks it is a number.
        return cls((host, port))

    @property
    def host(self) -> str:
        return self[0]

    @property
    def port(self) -> str:
        return self[1]

    def __bool__(self) -> bool:
        return bool(self[0])

    def __str__(self) -> str:
        host = "[%s]" % self[0] if ":" in self[0] else self[0]
        return "%s:%s" % (host, self[1]) if self[1] else host

    def __repr__(self) -> str:
        return "netloc(%r)" % (tuple(self),)


def _settings(settings: Any = None) -> Any:
    return settings if settings is not None else DiscoSettings()


def urlsplit(url: str, localhost: str | None = None, disco_port: Any = None,
             **kwargs: Any) -> tuple[str, netloc, str]:
    """``(scheme, netloc, path)`` of a URL.

    ``disco://`` and ``dir://`` URLs become ``http`` on ``disco_port`` (default DISCO_PORT),
    or, when their host is ``localhost``, ``file`` and the local path (:func:`localize`,
    given ``ddfs_data`` / ``disco_data`` keywords). ``tag://NAME`` has an empty netloc,
    ``tag://HOST/NAME`` the other master's. A string without a scheme is a local file."""
    scheme, rest = schemesplit(url)
    if scheme in ("", "file"):
        return "file", netloc(), rest
    locstr, _, path = rest.partition("/")
    if scheme == "tag" and not path and "@" not in locstr:
        locstr, path = "", locstr
    loc = netloc.parse(locstr)
    if scheme in ("disco", "dir"):
        if localhost and loc.host == localhost:
            return "file", netloc(), localize(path, **kwargs)
        port = disco_port or _settings()["DISCO_PORT"]
        return "http", netloc((loc.host, port)), path
    return scheme, loc, path


def localize(path: str, ddfs_data: str | None = None, disco_data: str | None = None) -> str:
    """The local file behind a job data path: ``ddfs/REST`` is ``DDFS_DATA/REST`` and any
    other ``PREFIX/REST`` (``disco/REST``, as job data URLs have it) is
    ``DISCO_DATA/REST``, as the original had it (the directories default to the settings).
    A whole ``disco://HOST/...`` URL works too; its host is not checked."""
    scheme, rest = schemesplit(path)
    if scheme:
        if scheme not in ("disco", "dir"):
            raise DiscoError("cannot localize %r: only disco:// and dir:// URLs name job data "
                             "files" % path)
        rest = rest.partition("/")[2]
    prefix, _, fname = rest.lstrip("/").partition("/")
    if not fname:
        raise DiscoError("cannot localize %r: job data paths are disco/PATH and DDFS paths "
                         "ddfs/PATH" % path)
    if prefix == "ddfs":
        base = ddfs_data or _settings()["DDFS_DATA"]
    else:
        base = disco_data or _settings()["DISCO_DATA"]
    local = os.path.normpath(os.path.join(base, fname))
    if os.path.relpath(local, base).startswith(os.pardir):
        raise DiscoError("cannot localize %r: the path leaves %s" % (path, base))
    return local


def master_url(master: str | None = None, settings: Any = None) -> str:
    """An ``http://host:port`` address of a master from what a user may write: ``None``
    (DISCO_MASTER), ``host``, ``host:port``, ``disco://host`` or a full http(s) URL."""
    s = _settings(settings)
    master = master or s["DISCO_MASTER"]
    scheme, rest = schemesplit(master)
    if scheme in ("http", "https"):
        return master.rstrip("/")
    if scheme not in ("", "disco"):
        raise DiscoError("%r is not a master address: write http://host:port" % master)
    loc = netloc.parse(rest.partition("/")[0])
    if not loc:
        raise DiscoError("%r is not a master address: write http://host:port" % master)
    if loc.port and not loc.port.isdigit():
        raise DiscoError("malformed master address %r: the port %r is not a number"
                         % (master, loc.port))
    return "http://%s" % (netloc((loc.host, loc.port or s["DISCO_PORT"])),)


def urlresolve(url: str, master: str | None = None) -> str:
    """An http URL for ``url``: ``tag://NAME`` is ``<master>/ddfs/tag/NAME`` (``master``
    defaults to DISCO_MASTER; ``tag://HOST/NAME`` uses that master), ``disco://`` and
    ``dir://`` go to the node's data server on DISCO_PORT, other URLs with a host are
    returned as they are. A URL with no host (a local file) raises :class:`DiscoError`."""
    scheme, loc, path = urlsplit(url)
    if scheme == "tag":
        if master and not loc and "://" not in master:
            raise DiscoError("master %r is not a URL: write http://%s:PORT (or disco://%s)"
                             % (master, master, master))
        base = master_url(str(loc) if loc else master)
        return "%s/ddfs/tag/%s" % (base, path)
    if not scheme or not loc:
        raise DiscoError("cannot resolve %r to a URL other hosts can read: it names no host"
                         % url)
    if schemesplit(url)[0] in ("disco", "dir"):
        return urljoin((scheme, loc, path))
    return url


def urltoken(url: str) -> str | None:
    """The token of ``scheme://TOKEN@host/...`` or ``scheme://user:TOKEN@host/...``."""
    _scheme, rest = schemesplit(url)
    locstr = rest.partition("/")[0]
    if "@" not in locstr:
        return None
    auth = locstr.rpartition("@")[0]
    return auth.partition(":")[2] if ":" in auth else auth


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


def globalize(fn: Any, globals: dict) -> None:  # noqa: A002 (the original's signature)
    """Give ``fn`` (a function, method or partial) the ``globals`` it does not define
    itself, as the worker does for job functions; objects without globals are left alone."""
    fn = getattr(fn, "__func__", fn)
    while isinstance(fn, functools.partial):
        fn = fn.func
    fn = getattr(fn, "__func__", fn)
    glob = getattr(fn, "__globals__", None)
    if isinstance(glob, dict):
        for name, value in globals.items():
            glob.setdefault(name, value)


def ispartitioned(input: Any) -> bool:  # noqa: A002
    """Whether ``input`` (a URL, or a list of replicas or inputs) is a ``dir://`` index;
    a list mixing indexes and other inputs raises :class:`DiscoError`."""
    if isiterable(input):
        flags = [ispartitioned(i) for i in input]
        if any(flags) and not all(flags):
            raise DiscoError("mixed partitioned (dir://) and non-partitioned inputs in %r: "
                             "list index inputs and data inputs separately" % (input,))
        return bool(flags) and all(flags)
    return isinstance(input, str) and input.startswith("dir://")


def proxy_url(url: str, proxy: str | None = None, meth: str = "GET",
              to_master: bool = True) -> str:
    """``url`` through the proxy (``proxy``, default DISCO_PROXY): ``disco://`` and
    ``dir://`` URLs become ``<proxy>/<path>`` (the master serves the data), or, with
    ``to_master=False``, ``<proxy>/proxy/<host>/<meth>/<path>``. Unchanged when there is
    no proxy or the URL is of another scheme."""
    if proxy is None:
        proxy = _settings()["DISCO_PROXY"]
    scheme, _ = schemesplit(url)
    if not proxy or scheme not in ("disco", "dir"):
        return url
    _, loc, path = urlsplit(url)
    proxy = proxy.rstrip("/")
    if to_master:
        return "%s/%s" % (proxy, path)
    return "%s/proxy/%s/%s/%s" % (proxy, loc.host, meth, path)
