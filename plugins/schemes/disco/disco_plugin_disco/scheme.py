"""``disco://HOST/PATH`` (job data a node serves) and ``dir://HOST/PATH`` (an index of it).

``disco://HOST/disco/REST`` is ``http://HOST:DISCO_PORT/disco/REST``; when HOST is the
host running the task (or, outside a task, this machine) and the file exists under
``DISCO_DATA`` the file is read directly. ``ddfs/`` paths map to ``DDFS_DATA`` the same way.

A ``dir://`` URL names an index file whose lines are ``<label> <url> <size>``;
:meth:`DirScheme.expand` gives the URLs of one label (or every label for ``"all"``);
opening a ``dir://`` URL streams every listed file in turn.
"""
from __future__ import annotations

import gzip
import io
import os
from typing import Any, BinaryIO, Iterator

from disco_core.comm import open_remote
from disco_core.errors import DataError, DiscoError
from disco_core.settings import DiscoSettings
from disco_core.util import local_hostnames

_settings = None


def settings() -> DiscoSettings:
    global _settings
    if _settings is None:
        _settings = DiscoSettings()
    return _settings


def split(url: str) -> tuple[str, str]:
    _, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    if not host or not path:
        raise DataError("malformed URL: expected scheme://host/path", url)
    return host, path


def local_path(path: str, task: Any) -> str | None:
    if path.startswith("disco/"):
        base = getattr(task, "disco_data", None) or settings()["DISCO_DATA"]
        return os.path.join(base, path[len("disco/"):])
    if path.startswith("ddfs/"):
        base = getattr(task, "ddfs_data", None) or settings()["DDFS_DATA"]
        return os.path.join(base, path[len("ddfs/"):])
    return None


def _open_local(lpath: str, path: str) -> BinaryIO:
    """A local file; a DDFS blob only once the volume driver (``DDFS_VOLUMES``) finds it
    intact, when the driver can check (``open_verified``): a corrupt one is a DataError,
    so the reader goes on to another replica."""
    if path.startswith("ddfs/"):
        opener = _ddfs_opener()
        if opener is not None:
            return opener(lpath)
    f = open(lpath, "rb")
    f.size = os.fstat(f.fileno()).st_size  # type: ignore[attr-defined]
    return f


def _ddfs_opener() -> Any:
    from disco_core.plugins import driver
    try:
        volumes = driver("volume", settings().get("DDFS_VOLUMES") or "local")
    except DiscoError:
        return None
    return getattr(volumes, "open_verified", None)


def _connect_timeout(path: str) -> float | None:
    """A DDFS blob has other replicas: a node that does not answer in
    ``DDFS_CONNECT_TIMEOUT`` seconds is given up for them."""
    if not path.startswith("ddfs/"):
        return None
    try:
        return float(settings().get("DDFS_CONNECT_TIMEOUT") or 5.0)
    except (TypeError, ValueError):
        return 5.0


def open_data(url: str, task: Any = None) -> BinaryIO:
    host, path = split(url)
    local = host == task.host if task is not None else host in local_hostnames()
    if local:
        lpath = local_path(path, task)
        if lpath is not None:
            try:
                return _open_local(lpath, path)
            except FileNotFoundError:
                if task is not None:
                    raise DataError("no such file on %s" % host, url) from None
    port = getattr(task, "disco_port", None) or settings()["DISCO_PORT"]
    timeout = _connect_timeout(path)
    return open_remote("http://%s:%s/%s" % (host, port, path), retries=1 if timeout else 3,
                       connect_timeout=timeout)


class DiscoScheme:
    name = "disco"

    def open(self, url: str, task: Any = None) -> BinaryIO:
        return open_data(url, task)


class DirScheme:
    """Index files of labelled outputs. Opening one gives every listed file in turn."""

    name = "dir"

    def read_index(self, url: str, task: Any = None) -> Iterator[tuple[int, str, int]]:
        stream = open_data(url, task)
        try:
            data = stream.read()
        finally:
            stream.close()
        if url.endswith(".gz"):
            data = gzip.decompress(data)
        for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 3:
                raise DataError("bad line %d in index file: %r" % (n, line), url)
            yield int(parts[0]), parts[1], int(parts[2])

    def expand(self, url: str, label: Any = "all", task: Any = None) -> list[str]:
        return [u for lab, u, _ in self.read_index(url, task) if label == "all" or lab == label]

    def open(self, url: str, task: Any = None) -> BinaryIO:
        """Every listed file in turn, streamed: each is opened when the reader reaches it."""
        entries = list(self.read_index(url, task))
        stream = io.BufferedReader(_Concat([u for _, u, _ in entries],
                                           lambda u: open_data(u, task)), 1 << 16)
        stream.size = sum(size for _, _, size in entries)  # type: ignore[attr-defined]
        return stream  # type: ignore[return-value]


class _Concat(io.RawIOBase):
    """Several streams read as one, opened one at a time (constant memory)."""

    def __init__(self, urls: list[str], opener: Any) -> None:
        self.urls = urls
        self.opener = opener
        self.current: Any = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while True:
            if self.current is None:
                if not self.urls:
                    return 0
                self.current = self.opener(self.urls.pop(0))
            data = self.current.read(len(b))
            if data:
                n = len(data)
                b[:n] = data
                return n
            self.current.close()
            self.current = None

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None
        super().close()


disco = DiscoScheme()
dir = DirScheme()  # noqa: A001
