"""``disco.ddfs``: the Python client of DDFS (``reference/python-api.md`` section 11).

``DDFS(master)`` talks to the master's ``/ddfs/`` API and to the nodes (blobs are PUT to
the nodes the master names and read from the nodes that hold them). Tag arguments are
names (``data:logs``) or tag URLs (``tag://data:logs``, ``tag://TOKEN@/data:logs``,
``tag://HOST:PORT/data:logs`` for a tag on another master).

Token of a request: the ``token`` argument, else the one in the tag URL, else
``DDFS_READ_TOKEN`` for reads and ``DDFS_WRITE_TOKEN`` for writes (when they are set).
"""
from __future__ import annotations

import builtins
import io
import json
import os
from typing import Any, BinaryIO, Callable, Iterable, Iterator
from urllib.parse import quote, urlencode

from disco_core.comm import open_remote
from disco_core.errors import CommError, DiscoError
from disco_core.settings import DiscoSettings
from disco_core.util import isiterable, master_url, urltoken

from . import names
from .defaults import register_client_defaults

CHUNK_SIZE = 64 * 1024 ** 2
MAX_RECORD_SIZE = 1024 ** 2
#: Seconds a node may take no bytes of a blob PUT and give no answer (``DDFS_PUT_TIMEOUT``).
PUT_TIMEOUT = 30.0


class InvalidTag(DiscoError):
    """Not a tag name or tag URL."""


def istag(tag: Any) -> bool:
    return isinstance(tag, str) and tag.startswith("tag://")


def canonizetag(tag: Any) -> str:
    """``tag://NAME`` for a name or a tag URL; anything else is an :class:`InvalidTag`."""
    if isinstance(tag, (list, tuple)) and len(tag) == 1:
        tag = tag[0]
    if istag(tag):
        return tag
    if isinstance(tag, str) and "://" not in tag and "/" not in tag and tag not in ("", "-"):
        return "tag://%s" % tag
    raise InvalidTag("%r is not a tag: give a tag name (A-Z a-z 0-9 _ - @ :) or tag://NAME"
                     % (tag,))


def canonizetags(tags: Iterable) -> list[str]:
    return [canonizetag(t) for t in tags]


def tagname(tag: Any) -> str:
    """The name part of a tag or tag URL."""
    return canonizetag(tag)[len("tag://"):].rsplit("/", 1)[-1]


def taghost(tag: str) -> str:
    """The master a tag URL names (``tag://HOST[:PORT]/NAME``), ``""`` for the default."""
    rest = canonizetag(tag)[len("tag://"):]
    if "/" not in rest:
        return ""
    return rest.rsplit("/", 1)[0].rpartition("@")[2]


def relativizetag(tag: str, parent: str) -> str:
    """A link inside a tag, on the master of ``parent`` when it names none itself."""
    host = taghost(parent)
    if host and not taghost(tag):
        return "tag://%s/%s" % (host, tagname(tag))
    return tag


class DDFS:
    """A client of one master's DDFS."""

    def __init__(self, master: Any = None, proxy: str | None = None,
                 settings: DiscoSettings | None = None) -> None:
        register_client_defaults()  # ours (DDFS_READ_TOKEN, ...), without a plugin host
        self.settings = settings or DiscoSettings()
        if hasattr(master, "master"):  # a Disco client
            master = master.master
        self.master = master_url(proxy or master or self.settings["DISCO_MASTER"],
                                 self.settings)

    def __repr__(self) -> str:
        return "DDFS(%r)" % self.master

    # -- naming helpers (the original's classmethods) -----------------------------------
    safe_name = staticmethod(names.safe_name)
    blob_name = staticmethod(names.blob_name)

    @classmethod
    def job_tag(cls, job: str) -> str:
        return "disco:results:%s" % job

    @classmethod
    def job_oob(cls, job: str) -> str:
        return "disco:job:oob:%s" % job

    @classmethod
    def job_blob(cls, job: str, path: str) -> str:
        return cls.safe_name("disco:blob:%s:%s" % (job, os.path.basename(path)))

    # -- HTTP ----------------------------------------------------------------------------
    def _token(self, method: str, tag: str | None, token: str | None) -> str | None:
        if token is not None:
            return token
        if tag is not None and istag(tag):
            embedded = urltoken(tag)
            if embedded is not None:
                return embedded
        name = "DDFS_READ_TOKEN" if method == "GET" else "DDFS_WRITE_TOKEN"
        value = self.settings[name]
        return value if isinstance(value, str) else None

    def _base(self, tag: str | None) -> str:
        host = taghost(tag) if tag is not None else ""
        return master_url(host, self.settings) if host else self.master

    def _request(self, method: str, path: str, body: Any = None, tag: str | None = None,
                 token: str | None = None, query: dict | None = None) -> Any:
        url = self._base(tag) + path
        if query:
            url += "?" + urlencode(query)
        data = None if body is None else json.dumps(body).encode("utf-8")
        resp = open_remote(url, method, data, token=self._token(method, tag, token))
        try:
            raw = resp.read()
        finally:
            resp.close()
        return json.loads(raw) if raw else None

    def _tagpath(self, tag: Any, attr: str | None = None) -> str:
        path = "/ddfs/tag/%s" % quote(tagname(tag), safe=":@-_")
        return path + ("/%s" % quote(attr, safe=":@-_") if attr is not None else "")

    # -- tags ----------------------------------------------------------------------------
    def list(self, prefix: str = "") -> list[str]:
        """The names of the tags that start with ``prefix``."""
        return self._request("GET", "/ddfs/tags/%s" % quote(prefix, safe=":@-_"))

    def get(self, tag: Any, token: str | None = None) -> dict:
        """The tag object: ``id``, ``last-modified``, ``urls``, ``user-data``, ``version``."""
        tag = canonizetag(tag)
        return self._request("GET", self._tagpath(tag), tag=tag, token=token)

    def urls(self, tag: Any, token: str | None = None) -> list:
        tag = canonizetag(tag)
        return self._request("GET", self._tagpath(tag, "ddfs:urls"), tag=tag, token=token)

    def exists(self, tag: Any) -> bool:
        """Whether the tag exists (a tag that refuses our token exists)."""
        try:
            self.get(tag)
        except CommError as exc:
            if exc.code == 401:
                return True
            if exc.code in (403, 404):
                return False
            raise
        return True

    def tag(self, tag: Any, urls: Iterable, token: str | None = None,
            delayed: bool = False, update: bool = False, **kwargs: Any) -> list:
        """Append ``urls`` (a list of replica lists) to the tag, creating it if needed."""
        tag = canonizetag(tag)
        query = {"delayed": "1" if delayed else "", "update": "1" if update else ""}
        return self._request("POST", self._tagpath(tag), _replica_lists(urls), tag=tag,
                             token=token, query=query)

    def put(self, tag: Any, urls: Iterable, token: str | None = None) -> list:
        """Replace the tag's urls with ``urls``."""
        tag = canonizetag(tag)
        return self._request("PUT", self._tagpath(tag), _replica_lists(urls), tag=tag,
                             token=token)

    def delete(self, tag: Any, token: str | None = None) -> str:
        tag = canonizetag(tag)
        return self._request("DELETE", self._tagpath(tag), tag=tag, token=token)

    def attrs(self, tag: Any, token: str | None = None) -> dict:
        return self.get(tag, token=token)["user-data"]

    def getattr(self, tag: Any, attr: str, token: str | None = None) -> Any:
        tag = canonizetag(tag)
        return self._request("GET", self._tagpath(tag, attr), tag=tag, token=token)

    def setattr(self, tag: Any, attr: str, val: Any, token: str | None = None) -> Any:
        tag = canonizetag(tag)
        return self._request("PUT", self._tagpath(tag, attr), val, tag=tag, token=token)

    def delattr(self, tag: Any, attr: str, token: str | None = None) -> Any:
        tag = canonizetag(tag)
        return self._request("DELETE", self._tagpath(tag, attr), tag=tag, token=token)

    # -- walking the tag graph -----------------------------------------------------------
    def walk(self, tag: Any, ignore_missing: bool = True, tagpath: tuple = (),
             token: str | None = None) -> Iterator[tuple]:
        """Depth first: ``(tagpath, subtags, blobs)`` for the tag and every tag it links,
        each once. A missing tag gives ``(path, (), ())`` when ignored; else
        ``(path, None, None)`` and then the error."""
        yield from self._walk(canonizetag(tag), ignore_missing, tuple(tagpath), token, set())

    def _walk(self, tag: str, ignore_missing: bool, tagpath: tuple, token: str | None,
              seen: set) -> Iterator[tuple]:
        path = tagpath + (tagname(tag),)
        seen.add(tagname(tag))
        try:
            urls = self.urls(tag, token=token)
        except CommError as exc:
            if exc.code != 404:
                raise
            if ignore_missing:
                yield path, (), ()
                return
            yield path, None, None
            raise
        subtags = [relativizetag(r[0], tag) for r in urls if r and istag(r[0])]
        blobs = [r for r in urls if r and not istag(r[0])]
        yield path, subtags, blobs
        for sub in subtags:
            if tagname(sub) not in seen:
                yield from self._walk(sub, ignore_missing, path, token, seen)

    def findtags(self, tags: Iterable = (), ignore_missing: bool = True,
                 token: str | None = None) -> Iterator[tuple]:
        """Breadth first: ``(tag, subtags, blobs)`` once per reachable tag."""
        queue = canonizetags([tags] if isinstance(tags, str) else tags)
        seen: set[str] = set()
        while queue:
            tag = queue.pop(0)
            if tagname(tag) in seen:
                continue
            seen.add(tagname(tag))
            try:
                urls = self.urls(tag, token=token)
            except CommError as exc:
                if exc.code == 404 and ignore_missing:
                    continue
                raise
            subtags = [relativizetag(r[0], tag) for r in urls if r and istag(r[0])]
            blobs = [r for r in urls if r and not istag(r[0])]
            yield tag, subtags, blobs
            queue.extend(subtags)

    def blobs(self, tag: Any, ignore_missing: bool = True,
              token: str | None = None) -> Iterator[list]:
        """The replica lists of every blob reachable from the tag."""
        for _path, _tags, blobs in self.walk(tag, ignore_missing=ignore_missing, token=token):
            if blobs:
                yield from blobs

    def pull(self, tag: Any, blobfilter: Callable[[str], bool] = lambda x: True,
             token: str | None = None) -> Iterator[Any]:
        """An open connection to each blob of the tag whose name passes ``blobfilter``
        (replicas in random order, those on nodes the master knows are down last, the next
        one tried when one fails or does not answer in ``DDFS_CONNECT_TIMEOUT`` seconds)."""
        tag = canonizetag(tag)
        reader = self.reader()
        for replicas in self.blobs(tag, ignore_missing=False, token=token):
            if not blobfilter(names.blob_name(replicas[0])):
                continue
            try:
                conn = reader.open(replicas, shuffle=True)
            except CommError as exc:
                raise CommError("no replica of %s could be read: %s"
                                % (names.blob_name(replicas[0]), exc), replicas[0]) from None
            yield conn

    def reader(self) -> Any:
        """A :class:`~.reading.ReplicaReader`: opens a blob from its first replica that
        answers, replicas on the nodes the master knows are down last."""
        from .reading import ReplicaReader
        return ReplicaReader(self.master, self.settings)

    # -- blobs ---------------------------------------------------------------------------
    def new_blob(self, prefix: str, replicas: int | None = None, exclude: Iterable = (),
                 include: Iterable = ()) -> list[str]:
        query: dict[str, Any] = {}
        if replicas is not None:
            query["replicas"] = str(int(replicas))
        if exclude:
            query["exclude"] = ",".join(exclude)
        if include:
            query["include"] = ",".join(include)
        return self._request("GET", "/ddfs/new_blob/%s" % quote(prefix, safe=":@-_"),
                             query=query)

    def _upload(self, source: Callable[[], BinaryIO], prefix: str, replicas: int | None,
                forceon: Iterable, retries: int) -> list[str]:
        """Store one blob: ask for a name and nodes, PUT it to all of them at once
        (:mod:`.transfer`); on a failure try again with the failing nodes excluded (a
        ``forceon`` node too: a node that fails or hangs does not hold up the write). A
        node silent for ``DDFS_PUT_TIMEOUT`` seconds has failed."""
        from .transfer import put_replicas
        timeout = self._put_timeout()
        exclude: list[str] = []
        errors: list[str] = []
        refused: set[str] = set()  # hosts that refused once for a bad volume
        for _attempt in range(max(1, retries)):
            try:
                targets = self.new_blob(prefix, replicas, exclude,
                                        [h for h in forceon if h not in exclude])
            except CommError as exc:
                if not errors:
                    raise
                raise CommError("cannot store blob %s: %s; and no other node can take it: %s"
                                % (prefix, "; ".join(errors[-3:]), exc), prefix) from None
            stored, failed = put_replicas(targets, source, timeout)
            if not failed:
                return stored
            for url, exc in failed:
                errors.append(str(exc) if url in str(exc) else "%s: %s" % (url, exc))
                host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
                if getattr(exc, "code", None) == 507 and host not in refused:
                    refused.add(host)  # its other volumes get the next try
                else:
                    exclude.append(host)
        raise CommError("cannot store blob %s: %s" % (prefix, "; ".join(errors[-3:])), prefix)

    def _put_timeout(self) -> float:
        value = self.settings.get("DDFS_PUT_TIMEOUT", PUT_TIMEOUT)
        try:
            timeout = float(value)
        except (TypeError, ValueError):
            timeout = -1.0
        if not timeout > 0:
            raise CommError("DDFS_PUT_TIMEOUT=%r is not a number of seconds above 0: set it "
                            "to one (e.g. 30) or unset it" % (value,), "DDFS_PUT_TIMEOUT")
        return timeout

    def push(self, tag: Any, files: Iterable, replicas: int | None = None,
             forceon: Iterable = (), retries: int = 10, delayed: bool = False,
             update: bool = False, token: str | None = None) -> tuple[list, list]:
        """Store each file as a blob and tag them all in one update. ``files`` are paths,
        ``(path, name)`` or ``(fileobj, name)``; returns ``(tag reply, blob replica lists)``."""
        tag = canonizetag(tag)
        forceon = [forceon] if isinstance(forceon, str) else list(forceon)
        blobs = []
        for item in files:
            source, name = _source(item)
            blobs.append(self._upload(source, names.safe_name(name), replicas, forceon,
                                      retries))
        return self.tag(tag, blobs, token=token, delayed=delayed, update=update), blobs

    def chunk(self, tag: Any, urls: Iterable, replicas: int | None = None,
              forceon: Iterable = (), retries: int = 10, delayed: bool = False,
              update: bool = False, token: str | None = None, chunk_size: float = CHUNK_SIZE,
              max_record_size: float = MAX_RECORD_SIZE, **kwargs: Any) -> tuple[list, list]:
        """Read the records of each input (``result_iterator`` with ``kwargs``: ``reader``
        (default none: raw records, lines of text), ``input_stream``), cut them into chunks
        of the internal record format, store each as a blob and tag them in one update."""
        from disco_core.client.results import result_iterator
        from disco_core.fileutils import Chunker
        tag = canonizetag(tag)
        forceon = [forceon] if isinstance(forceon, str) else list(forceon)
        kwargs.setdefault("reader", None)
        chunker = Chunker(chunk_size, max_record_size)
        blobs = []
        with _Uploads(self, replicas, forceon, retries) as uploads:
            for url in urls:
                url_name = url[0] if isiterable(url) else url
                base = os.path.basename(str(url_name).rstrip("/")) or "chunk"
                path = _plain_text_file(url, kwargs)
                if path is not None:  # its lines a block at a time, as a text input's
                    as_text = _text_lines()
                    chunks = chunker.chunks_of_lines(_line_blocks(path, as_text), as_text,
                                                     joined=False)
                else:
                    chunks = chunker.chunks(result_iterator([url], **kwargs))
                for n, chunk in enumerate(chunks):
                    uploads.add(chunk, names.safe_name("%s-%d" % (base, n)))
            blobs = uploads.results()
        return self.tag(tag, blobs, token=token, delayed=delayed, update=update), blobs

    def save(self, jobname: str, paths: Iterable[str], retries: int = 600) -> tuple:
        """The original's helper: push files to ``disco:job:results:<job>``."""
        return self.push("disco:job:results:%s" % jobname,
                         [(p, self.job_blob(jobname, p)) for p in paths],
                         retries=retries, delayed=True, update=True)

    @staticmethod
    def tarblobs(tarball: str, compress: bool = True, include: str | None = None,
                 exclude: str | None = None) -> Iterator[tuple[str, BinaryIO, int]]:
        """``(name, file, size)`` for each member of a tar file (gzipped, ``_gz`` suffix)."""
        import gzip
        import tarfile
        with tarfile.open(tarball) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if include and include not in member.name:
                    continue
                if exclude and exclude in member.name:
                    continue
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                name = names.safe_name(member.name)
                if compress:
                    data = gzip.compress(data, 2)
                    name += "_gz"
                yield name, io.BytesIO(data), len(data)


class _Uploads:
    """Chunks stored in a thread while the next ones are cut: at most :data:`AHEAD` wait
    (each is up to a chunk's size in memory); the replica lists come back in order."""

    AHEAD = 2

    def __init__(self, ddfs: DDFS, replicas: int | None, forceon: Iterable,
                 retries: int) -> None:
        import concurrent.futures
        self.ddfs, self.replicas, self.forceon, self.retries = ddfs, replicas, forceon, retries
        self.pool = concurrent.futures.ThreadPoolExecutor(1, "ddfs-chunk")
        self.futures: builtins.list = []

    def add(self, chunk: bytes | builtins.list, prefix: str) -> None:
        """Upload ``chunk``: its bytes, or the list of its pieces."""
        from .transfer import Pieces
        waiting = [f for f in self.futures if not f.done()]
        if len(waiting) >= self.AHEAD:
            waiting[0].result()  # an upload that failed raises here, before more are cut
        source = (lambda: Pieces(chunk)) if isinstance(chunk, builtins.list) \
            else (lambda: io.BytesIO(chunk))
        self.futures.append(self.pool.submit(self.ddfs._upload, source,
                                             prefix, self.replicas, self.forceon,
                                             self.retries))

    def results(self) -> builtins.list:
        return [f.result() for f in self.futures]

    def __enter__(self) -> "_Uploads":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


#: Bytes of a text file read at a time by :func:`_line_blocks`.
LINES_BLOCK = 1 << 20


def _plain_text_file(url: Any, kwargs: dict) -> str | None:
    """The path of ``url`` when it is a local file read as plain text lines (no reader,
    the default input stream, no other option), else None."""
    if not isinstance(url, str) or set(kwargs) - {"reader", "input_stream"} \
            or kwargs.get("reader") is not None:
        return None
    from disco_core.worker.task_io import default_stream
    stream = kwargs.get("input_stream", default_stream)
    stream = tuple(stream) if isinstance(stream, (list, tuple)) else (stream,)
    if stream != tuple(default_stream):
        return None
    path = url[len("file://"):] if url.startswith("file://") else url
    return path if "://" not in path and os.path.isfile(path) else None


def _text_lines() -> bool:
    """Whether a text input's lines are ``str`` (not ``DISCO_TEXT_INPUTS=bytes``)."""
    from disco_core.worker.dataio import text_inputs_mode
    return text_inputs_mode() != "bytes"


def _line_blocks(path: str, as_text: bool) -> Iterator[bytes]:
    """A text file in blocks of whole lines (about :data:`LINES_BLOCK` bytes each, cut
    after a ``"\\n"``: its lines split at ``"\\n"`` only, as a text input splits them);
    with ``as_text`` each block is checked to be strict UTF-8 (the records are its lines
    decoded)."""
    carry = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(LINES_BLOCK)
            if not block:
                break
            end = block.rfind(b"\n") + 1
            if not end:  # no line ends in this block
                carry += block
                continue
            whole, carry = carry + block[:end] if carry else block[:end], block[end:]
            yield _checked(whole, as_text, path)
    if carry:
        yield _checked(carry, as_text, path)


def _checked(data: bytes, as_text: bool, path: str) -> bytes:
    if as_text and not data.isascii():  # ASCII is UTF-8 (checked without decoding it)
        try:
            data.decode("utf-8")  # whole lines: never a character cut in two
        except UnicodeDecodeError as exc:
            raise DiscoError("%s is not UTF-8 text (%s): read it with DISCO_TEXT_INPUTS=bytes"
                             % (path, exc)) from None
    return data


def _replica_lists(urls: Iterable) -> builtins.list:
    out = []
    for item in urls:
        out.append([item] if isinstance(item, str) else builtins.list(item))
    return out


def _source(item: Any) -> tuple[Callable[[], BinaryIO], str]:
    """How to (re)open one file to push, and its blob name."""
    if isinstance(item, (str, os.PathLike)):
        path, name = os.fspath(item), os.path.basename(os.fspath(item))
    elif isinstance(item, (tuple, builtins.list)) and len(item) == 2:
        path, name = item
    else:
        raise DiscoError("cannot push %r: give a path, (path, name) or (file, name)"
                         % (item,))
    if hasattr(path, "read"):
        fileobj = path
        start = fileobj.tell() if hasattr(fileobj, "seek") else None
        data = None if start is not None else fileobj.read()

        def reopen() -> BinaryIO:
            if data is not None:
                return io.BytesIO(data)
            fileobj.seek(start)
            return _Borrowed(fileobj)
        return reopen, str(name)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DiscoError("cannot push %s: no such file" % path)
    return (lambda: open(path, "rb")), str(name)


class _Borrowed(io.RawIOBase):
    """A caller's file object lent to one upload: closing the view leaves it open."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self.f.read(n)

    def readinto(self, b: Any) -> int:
        data = self.f.read(len(b))
        b[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos, whence)


__all__ = ["DDFS", "InvalidTag", "canonizetag", "canonizetags", "istag", "tagname",
           "relativizetag"]
