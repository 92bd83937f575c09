"""``discodb://HOST/PATH[!METHOD[/ARG]]``: a DiscoDB file as a job's input, and the discodb
output stream, on ``pydiscodb`` (the DiscoDB library of the original, as a wheel).

* **Inputs** (``open``): ``HOST/PATH`` names the file as a ``disco://`` URL does (read
  from the local disk on ``HOST``, over HTTP from its data server elsewhere); the records
  are, as the original gave them:

  - no method, or ``!keys``: each key;
  - ``!values``: each value of each key; ``!unique_values``: each distinct value;
  - ``!items``: ``(key, [values])`` for each key;
  - ``!query/ARG``: the values of the keys the query ``ARG`` matches, ``ARG`` in the URL
    form of a query (``discodb.Q.urlformat``: ``a,b`` is ``a | b``, ``(a,b)/c`` is
    ``(a | b) & c``, ``~a`` is not ``a``);
  - ``!metaquery/ARG``: ``(query, [values])`` for each clause of the query's expansion.

  Keys, values and queries are ``str`` (UTF-8; bytes that are not UTF-8 kept by
  ``surrogateescape``), or ``bytes`` with ``DISCO_TEXT_INPUTS=bytes``, as text inputs
  are. The opened input also has the DiscoDB's own methods (``query``, ``metaquery``,
  ``keys``, ... giving ``bytes``), for a ``map_reader(discodb, size, url, params)`` written
  for the original. A DiscoDB keeps a key's values in its own order (the order values
  were first added to the database), not in the order they were added to that key.
* **Output** (``discodb_output``, after ``task_output_stream``; ``discodb_stream`` is the
  two, as ``reduce_output_stream=discodb_stream``): the task's records, keys and values as
  ``bytes`` (``str`` as UTF-8, anything else as ``str(x)``), go into a DiscoDB written to
  the task's output file when the output is closed; ``params.unique_items`` (drop a
  key's duplicate values) and ``params.disable_compression`` are the DiscoDB's flags. The
  results list ``disco://`` URLs of those files: :func:`inputs` gives their
  ``discodb://`` URLs, for the next job.

A file that cannot be fetched is a :class:`~disco_core.errors.DataError` (from the
``disco://`` scheme); a file that is not a DiscoDB is a DataError naming it; a URL or a
method that can never work is a plain error saying the form.
"""
from __future__ import annotations

from typing import Any, Iterator

from disco_core.errors import DataError, DiscoError
from disco_core.worker.dataio import open_url, raw_bytes, text_inputs_mode

FORM = "discodb://HOST/PATH[!METHOD[/ARG]]"
METHODS = ("keys", "values", "unique_values", "items", "query", "metaquery")
FLAGS = ("unique_items", "disable_compression")


def parse_url(url: str) -> tuple[str, str, str | None]:
    """``(disco:// URL of the file, method, arg)`` of a discodb:// URL."""
    if not isinstance(url, str) or not url.startswith("discodb://"):
        raise DiscoError("not a discodb:// URL: %r; the form is %s" % (url, FORM))
    location, bang, rest = url[len("discodb://"):].partition("!")
    host, slash, path = location.partition("/")
    if not host or not slash or not path:
        raise DiscoError("bad discodb URL %r: HOST/PATH names the file as a disco:// URL "
                         "does; the form is %s" % (url, FORM))
    method, _slash, arg = rest.partition("/")
    method = method or "keys"
    if method not in METHODS:
        raise DiscoError("bad discodb URL %r: %r is not a method; use one of %s (the form "
                         "is %s)" % (url, method, ", ".join(METHODS), FORM))
    if method in ("query", "metaquery") and not arg:
        raise DiscoError("bad discodb URL %r: %s needs a query, as in !%s/a,b (the form "
                         "is %s)" % (url, method, method, FORM))
    return "disco://" + location, method, arg or None


def load(url: str, source: str, task: Any = None) -> Any:
    """The DiscoDB in the file ``source`` (a disco:// URL)."""
    from discodb import DiscoDB, DiscoDBError
    stream = open_url(source, task)
    try:
        data = stream.read()
    finally:
        stream.close()
    try:
        return DiscoDB.loads(data)
    except (DiscoDBError, ValueError, TypeError) as exc:
        raise DataError("not a DiscoDB (%s: %s): write it with discodb_output, or read "
                        "it with the scheme its data are in" % (type(exc).__name__, exc),
                        url) from None


class DiscoDBInput:
    """The records of a discodb:// URL; iterate for them. The DiscoDB's own methods are
    here too (``self.query(...)``)."""

    size = None  # records, not bytes

    def __init__(self, url: str, task: Any = None) -> None:
        source, self.method, self.arg = parse_url(url)
        self.url = url
        self.db = load(url, source, task)
        self.text = text_inputs_mode() == "str"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["db"], name)  # the DiscoDB's methods

    def _out(self, x: bytes) -> Any:
        return x.decode("utf-8", "surrogateescape") if self.text else x

    def _values(self, values: Any) -> list:
        return [self._out(v) for v in values]

    def _query(self) -> Any:
        from discodb import Q
        arg = self.arg or ""
        try:
            return Q.urlscan(arg)
        except Exception as exc:
            raise DiscoError("bad discodb URL %r: %r is not a query in the URL form (a,b "
                             "for a | b, (a,b)/c for (a | b) & c, ~a for not a): %s"
                             % (self.url, arg, exc)) from None

    def __iter__(self) -> Iterator[Any]:
        db, out = self.db, self._out
        if self.method == "keys":
            return (out(k) for k in db.keys())
        if self.method in ("values", "unique_values"):
            return (out(v) for v in getattr(db, self.method)())
        if self.method == "items":
            return ((out(k), self._values(db[k])) for k in db.keys())
        return self._queried()

    def _queried(self) -> Iterator[Any]:
        from discodb import DiscoDBError
        try:
            if self.method == "query":
                for value in self.db.query(self._query()):
                    yield self._out(value)
            else:
                for q, values in self.db.metaquery(self._query()):
                    yield self._out(str(q).encode("utf-8")), self._values(values)
        except DiscoDBError as exc:
            if "multiset" not in str(exc):
                raise
            raise DiscoError("discodb input %s: a DiscoDB with a value twice under one key "
                             "cannot be queried (%s); write it with the job's params "
                             "unique_items=True" % (self.url, exc)) from None

    def read(self, n: int = -1) -> bytes:
        raise DiscoError("discodb input %s gives records, not bytes: read it with the "
                         "default input chain (task_input_stream) and no reader, or a "
                         "map_reader that takes the DiscoDB" % self.url)

    def close(self) -> None:
        self.__dict__["db"] = None


def _bytes(x: Any) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    return (x if isinstance(x, str) else str(x)).encode("utf-8", "surrogateescape")


def _flag(params: Any, name: str) -> Any:
    if isinstance(params, dict):
        return params.get(name)
    return getattr(params, name, None)


class DiscoDBOutput:
    """A DiscoDB of a task's records, written to ``stream`` at ``close``."""

    def __init__(self, stream: Any, params: Any) -> None:
        from discodb import DiscoDBConstructor
        self.constructor = DiscoDBConstructor()
        self.stream = stream
        self.flags = {f: bool(_flag(params, f)) for f in FLAGS if _flag(params, f) is not None}
        self.closed = False

    def add(self, key: Any, value: Any) -> None:
        self.constructor.add(_bytes(key), _bytes(value))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        db = self.constructor.finalize(**self.flags)
        stream = raw_bytes(self.stream)
        if stream is None or not hasattr(stream, "write"):
            raise DiscoError("discodb_output writes to the task's output file: put "
                             "task_output_stream before it in the output chain (or use "
                             "discodb_stream)")
        stream.write(db.dumps())


class DiscoDBScheme:
    name = "discodb"
    records = True  # open() gives records, not bytes

    def open(self, url: str, task: Any = None) -> DiscoDBInput:
        return DiscoDBInput(url, task)

    @staticmethod
    def discodb_output(stream: Any, partition: Any, url: str, params: Any) -> DiscoDBOutput:
        """The task's records for ``partition`` as a DiscoDB, written to ``stream`` (the
        task's output file, from ``task_output_stream``) when the output is closed."""
        return DiscoDBOutput(stream, params)

    @staticmethod
    def inputs(results: Any, method: str = "") -> list[str]:
        """The ``discodb://`` URLs of a job's results written by ``discodb_output`` (its
        ``dir://`` indexes expanded), with ``!method`` when given."""
        from disco_core.worker.dataio import expand
        suffix = "!" + method if method else ""
        urls = []
        for result in results:
            url = result if isinstance(result, str) else result[0]  # its first replica
            urls += ["discodb://%s%s" % (item.split("://", 1)[1], suffix)
                     for item in expand(url)]
        return urls


scheme = DiscoDBScheme()
