"""The ``tag://`` scheme: a tag as job input stands for the blobs it reaches.

``expand(url)`` gives one input per blob, each the list of the blob's replica URLs (so a
task can be placed beside a replica and fall back to the others); clients expand a job's
tag inputs with it before they submit (``disco.util.inputlist``), as the original did, and
``result_iterator`` reads a saved job's results with it. ``open(url)`` streams the bytes of
every blob in turn (a replica that fails, or does not answer in ``DDFS_CONNECT_TIMEOUT``
seconds, is replaced by the next one; see :mod:`.reading`).
"""
from __future__ import annotations

from typing import Any, BinaryIO, Iterator

from disco_core.errors import CommError, DataError


def _ddfs(task: Any = None) -> Any:
    from .client import DDFS
    return DDFS(getattr(task, "master", None) or None)


class _Concatenated:
    """The blobs of a tag, one after the other, as one binary stream."""

    def __init__(self, replica_lists: list[list[str]], url: str, reader: Any) -> None:
        self.pending = list(replica_lists)
        self.url = url
        self.reader = reader
        self.current: Any = None
        self.size = None

    def _next(self) -> bool:
        if not self.pending:
            return False
        try:
            self.current = self.reader.open(self.pending.pop(0))
        except CommError as exc:
            raise DataError("no replica of a blob of the tag could be read: %s" % exc.msg,
                            self.url) from None
        return True

    def read(self, n: int = -1) -> bytes:
        out = []
        while n < 0 or sum(map(len, out)) < n:
            if self.current is None and not self._next():
                break
            data = self.current.read(-1 if n < 0 else n - sum(map(len, out)))
            if not data:
                self.current.close()
                self.current = None
                continue
            out.append(data)
        return b"".join(out)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.read(1 << 20), b"")


class TagScheme:
    name = "tag"

    def expand(self, url: str, label: Any = "all", task: Any = None) -> list[list[str]]:
        """One input (a list of replica URLs) per blob the tag reaches, breadth first; the
        replicas on nodes the master knows are down last."""
        ddfs = _ddfs(task)
        reader = ddfs.reader()
        return [reader.order(list(blob)) for _tag, _subtags, blobs in ddfs.findtags([url])
                for blob in blobs]

    def open(self, url: str, task: Any = None) -> BinaryIO:
        reader = _ddfs(task).reader()
        return _Concatenated(self.expand(url, "all", task), url,  # type: ignore[return-value]
                             reader)


tag = TagScheme()
