"""Small helpers shared by client, worker, master and node (no I/O besides what is named)."""
from __future__ import annotations

import functools
import hashlib
import heapq
import inspect
import itertools
import os
import random
import socket
import tempfile
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
    from .settings import DiscoSettings
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


def dsorted(iterable: Iterable, buffer_size: float = 1e6, tempdir: str = ".") -> Iterator:
    """The items of ``iterable`` in sorted order (stable), holding at most ``buffer_size``
    items in memory: each full buffer is sorted and spilled to an anonymous temporary file
    in ``tempdir`` (in the record format), and the runs are merged as they are read."""
    from .records import RecordWriter, read_records
    size = int(buffer_size)
    if size < 1:
        raise DiscoError("dsorted: buffer_size must be at least 1 item, got %r" % buffer_size)
    it = iter(iterable)
    buffer = sorted(itertools.islice(it, size))
    if len(buffer) < size:
        yield from buffer
        return
    runs = []
    try:
        while buffer:
            run = tempfile.TemporaryFile(dir=tempdir, prefix="dsorted-")
            runs.append(run)
            writer = RecordWriter(run)
            writer.extend(buffer)
            writer.close()
            run.seek(0)
            buffer = sorted(itertools.islice(it, size))
        yield from heapq.merge(*(read_records(run, "dsorted run in %s" % tempdir)
                                 for run in runs))
    finally:
        for run in runs:
            run.close()


def parse_dir(dir_url: str, label: Any = None) -> list[str]:
    """The URLs a ``dir://`` index lists, sorted by label and URL; only ``label``'s when
    one is given."""
    return [url for lab, url, _size in sorted(read_index(dir_url))
            if label is None or lab == label]


def read_index(dir_url: str) -> list[tuple[int, str, int]]:
    """The ``(label, url, size)`` lines of a ``dir://`` index."""
    from .worker.dataio import read_index as _read_index
    return _read_index(dir_url)


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


def _expand_tag(url: str, label: Any) -> list:
    from . import plugins
    from .errors import PluginError
    try:
        drv = plugins.driver("scheme", "tag")
    except PluginError:
        drv = None
    if drv is None or not hasattr(drv, "expand"):
        raise DiscoError("cannot expand the input %s: no storage plugin is installed "
                         "(tag:// inputs need one that provides the tag scheme, with "
                         "expand)" % url)
    return list(drv.expand(url, "all" if label in (None, False) else label, None))


def inputexpand(input: Any, label: Any = None, settings: Any = None) -> list:  # noqa: A002
    """The inputs one job input stands for: a ``dir://`` index gives one input per URL it
    lists (of ``label`` if given; left as it is when ``label is False``), paired up as
    replicas when a list of indexes is given; a list is one input of replicas; a
    ``tag://`` gives the tag's blobs (needs DDFS); anything else stays as it is."""
    if label is not False and ispartitioned(input):
        return [list(reps) for reps in zip(*(parse_dir(i, label=label)
                                              for i in iterify(input)))]
    if isiterable(input):
        return [inputlist(input, label=label, settings=settings)]
    if isinstance(input, str) and input.startswith("tag://"):
        return _expand_tag(input, label)
    return [input]


def inputlist(inputs: Any, label: Any = None, partition: Any = None,
              settings: Any = None) -> list:
    """Every input of ``inputs`` expanded (:func:`inputexpand`), as a flat list; empty
    entries are dropped. ``partition`` is the older name of ``label``."""
    if partition is not None:
        if label is not None and label != partition:
            raise DiscoError("inputlist: give label=%r or partition=%r, not both"
                             % (label, partition))
        label = partition
    if not isiterable(inputs):
        raise DiscoError("inputs must be a list of input URLs (or of lists of replicas), "
                         "got %r" % (inputs,))
    return [i for i in chainify(inputexpand(i, label=label, settings=settings) for i in inputs)
            if i]


def deref(inputs: Iterable, resolve: bool = False) -> Iterator:
    """Each input with every ``dir://`` index replaced by the URLs it lists (a list of
    replicas stays a list); with ``resolve``, every URL made an http URL (:func:`urlresolve`)."""
    fix = urlresolve if resolve else identity

    def urls(url: str) -> list[str]:
        return parse_dir(url) if url.startswith("dir://") else [url]
    for input in inputs:  # noqa: A001
        if isiterable(input):
            yield [fix(u) for url in input for u in urls(url)]
        else:
            yield from (fix(u) for u in urls(input))


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


def save_oob(host: str | None, name: str, key: str, value: bytes | str,
             ddfs_token: str | None = None) -> None:
    """Store an out-of-band value ``key`` of job ``name`` with the master at ``host``
    (``Disco.oob_get``, ``disco oob`` and :func:`load_oob` read it). The master keeps OOB
    values itself, without DDFS, so ``ddfs_token`` has nothing to authorize: it is accepted
    for compatibility and not used."""
    from .client.disco import Disco
    Disco(master_url(host)).oob_put(name, key, value)


def load_oob(host: str | None, name: str, key: str) -> bytes:
    """The out-of-band value ``key`` of job ``name`` from the master at ``host``."""
    from .client.disco import Disco
    return Disco(master_url(host)).oob_get(name, key)
