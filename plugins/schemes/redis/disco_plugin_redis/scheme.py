"""``redis://HOST:PORT:DB``: a redis database as a job's input, output or intermediate data.

* **Input** (``open``): every key of the database is scanned (``SCAN``, a key that SCAN
  returns twice is read once) and each item of its list is one ``(key, value)`` record, in
  list order. A key that holds something other than a list is an error naming the key. Keys
  and values are ``str`` (UTF-8; bytes that are not UTF-8 kept by ``surrogateescape``), or
  ``bytes`` with ``DISCO_TEXT_INPUTS=bytes``, as text inputs are. The records are read as
  the job reads them, a hundred keys at a time; a database written while a job reads it
  gives no snapshot.
* **Output** (``redis_output_stream``, last in an output chain): the task's records are
  appended (``RPUSH``, so a list keeps the order of the records) to the lists of the
  database ``params['url']`` names. They are held until the task's output is closed and
  then written in one ``MULTI``/``EXEC`` transaction, so a task that fails, or a server
  that goes away, leaves nothing of that task in the database; the whole output of a task
  is held in the task's memory until then. The task's output file holds the database's URL
  (one line), written after the transaction, so an output reported as done is in redis.
* **Intermediate data** (``redis_inter_stream_out`` with a ``redis_server(partition, url,
  params)`` function giving each task's database, and ``redis_inter_stream_in`` in the next
  stage's input chain after ``task_input_stream``): as the output stream, but the database
  is emptied (``FLUSHDB``) when the output is opened, as the original did, so a retried task
  starts over; the next stage reads the URL from the output file and the records from redis.

Values written must be ``bytes``, ``str``, ``int`` or ``float`` (what redis stores); other
objects are refused by ``add`` with an error saying to encode them.

Connection problems (refused, reset, timed out) are :class:`~disco_core.errors.DataError`,
so the task is retried; a URL that is not of the form above is a plain error naming it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from disco_core.errors import DataError, DiscoError
from disco_core.worker.dataio import AtomicFile, raw_bytes, text_inputs_mode

FORM = "redis://HOST:PORT:DB (PORT 6379 and DB 0 when left out)"
SCAN_COUNT = 100
TIMEOUT = 30.0  # seconds a command may take before the server counts as gone


def parse_url(url: str) -> tuple[str, int, int]:
    """``(host, port, db)`` of ``redis://HOST:PORT:DB``."""
    if not isinstance(url, str) or not url.startswith("redis://"):
        raise DiscoError("not a redis:// URL: %r; the form is %s" % (url, FORM))
    parts = url[len("redis://"):].rstrip("/").split(":")
    if not parts[0] or len(parts) > 3:
        raise DiscoError("bad redis URL %r: the form is %s" % (url, FORM))
    try:
        port = int(parts[1]) if len(parts) > 1 else 6379
        db = int(parts[2]) if len(parts) > 2 else 0
    except ValueError:
        raise DiscoError("bad redis URL %r: PORT and DB are numbers; the form is %s"
                         % (url, FORM)) from None
    if not 0 < port < 65536 or db < 0:
        raise DiscoError("bad redis URL %r: PORT is 1-65535 and DB 0 or more; the form is %s"
                         % (url, FORM))
    return parts[0], port, db


def connect(url: str, once: bool = False) -> redis.Redis:
    """A client of the database of ``url``, checked with a ``PING``. With ``once``, the
    client connects once only: the client would otherwise reconnect on its own when it
    finds its connection dead, to a server that may have restarted since, where a SCAN
    cursor of the old one silently skips keys."""
    host, port, db = parse_url(url)
    connections = []

    def connected(conn: Any) -> None:
        if connections:
            raise redis.ConnectionError("the connection to the server was lost part-way; "
                                        "the keys scanned so far cannot be continued")
        connections.append(conn)
        conn.on_connect()
    # No retries by the client: a SCAN cursor re-sent to a restarted server, or a
    # transaction re-sent after its reply was lost, would read or write the wrong thing;
    # the task is retried instead, from the start.
    client = redis.Redis(host=host, port=port, db=db, socket_timeout=TIMEOUT,
                         socket_connect_timeout=TIMEOUT, retry=Retry(NoBackoff(), 0),
                         redis_connect_func=connected if once else None)
    with _errors(url, "cannot use the redis server"):
        client.ping()
    return client


class _errors:
    """Turns the redis client's errors into errors naming the URL: connection problems into
    DataError (the task is retried), the server's refusals (a DB out of range) too, since
    another try may reach a server configured otherwise."""

    def __init__(self, url: str, doing: str) -> None:
        self.url = url
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: Any, exc: Any, tb: Any) -> bool:
        if exc is None or not isinstance(exc, redis.RedisError):
            return False
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            why = "the server went away or cannot be reached"
        else:
            why = "the server refused"
        raise DataError("%s: %s (%s: %s)" % (self.doing, why, type(exc).__name__, exc),
                        self.url) from exc


class RedisInput:
    """The records of a redis database: iterate for ``(key, value)``."""

    size = None  # a database has no length in bytes

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = connect(url, once=True)
        self.text = text_inputs_mode() == "str"

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        seen: set[bytes] = set()
        cursor = 0
        while True:
            with _errors(self.url, "reading the keys of the redis database failed"):
                cursor, keys = self.client.scan(cursor, count=SCAN_COUNT)
            keys = [k for k in keys if k not in seen]
            seen.update(keys)
            if keys:
                yield from self._records(keys)
            if cursor == 0:
                return

    def _records(self, keys: list[bytes]) -> Iterator[tuple[Any, Any]]:
        with _errors(self.url, "reading the lists of the redis database failed"):
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.lrange(key, 0, -1)
            results = pipe.execute(raise_on_error=False)
        for key, values in zip(keys, results):
            if isinstance(values, redis.ResponseError):
                if "WRONGTYPE" in str(values):
                    raise DiscoError("redis input %s: key %r does not hold a list; a redis:// "
                                     "input reads the items of lists" % (self.url, key))
                raise DataError("reading key %r failed: %s" % (key, values), self.url)
            if self.text:
                key = key.decode("utf-8", "surrogateescape")
                values = [v.decode("utf-8", "surrogateescape") for v in values]
            for value in values:
                yield key, value

    def read(self, n: int = -1) -> bytes:
        raise DiscoError("redis input %s gives (key, value) records, not bytes: read it with "
                         "the default input chain (task_input_stream) and no reader" % self.url)

    def close(self) -> None:
        self.client.close()


def _encode(x: Any, what: str, url: str) -> Any:
    if isinstance(x, str):
        return x.encode("utf-8", "surrogateescape")
    if isinstance(x, (bytes, int, float)) and not isinstance(x, bool):
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise DiscoError("redis output %s stores bytes, str, int or float; a record's %s is %s "
                     "(%r): encode it first, e.g. with str() or pickle.dumps()"
                     % (url, what, type(x).__name__, x))


class RedisOutput:
    """Records appended to the lists of a redis database in one transaction at ``close``;
    the output file under it gets the database's URL afterwards."""

    def __init__(self, url: str, stream: Any, path: str, flush: bool = False) -> None:
        self.url = url
        self.client = connect(url)
        if flush:
            with _errors(url, "emptying the redis database for intermediate data failed"):
                self.client.flushdb()
        self.own = None
        if stream is None or not hasattr(raw_bytes(stream), "write"):
            self.own = AtomicFile(path)
            stream = self.own
        self.stream = raw_bytes(stream)
        self.pending: dict[Any, list[Any]] = {}
        self.closed = False

    def add(self, key: Any, value: Any) -> None:
        key = _encode(key, "key", self.url)
        self.pending.setdefault(key, []).append(_encode(value, "value", self.url))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            with _errors(self.url, "writing the task's output to redis failed; none of it "
                                   "was written"):
                pipe = self.client.pipeline(transaction=True)
                for key, values in self.pending.items():
                    for start in range(0, len(values), 10000):
                        pipe.rpush(key, *values[start:start + 10000])
                pipe.execute()
            self.pending = {}
            self.stream.write(self.url.encode("utf-8") + b"\n")
        except BaseException:
            self.abort()
            raise
        finally:
            self.client.close()
        if self.own is not None:
            self.own.close()

    def abort(self) -> None:
        self.pending = {}
        self.closed = True
        if self.own is not None:
            self.own.abort()


def _param_url(params: Any) -> str:
    if isinstance(params, Mapping):
        url = params.get("url")
    else:
        url = getattr(params, "url", None)
    if not url:
        raise DiscoError("redis_output_stream writes to the redis database named by the job's "
                         "params['url'] (%s); the job's params have no 'url'" % FORM)
    return url


class RedisScheme:
    name = "redis"
    records = True  # open() gives (key, value) records, not bytes

    def open(self, url: str, task: Any = None) -> RedisInput:
        return RedisInput(url)

    @staticmethod
    def redis_output_stream(stream: Any, partition: Any, url: str, params: Any) -> RedisOutput:
        """The task's records for ``partition`` appended to the database ``params['url']``
        (``url`` is the task's output file, which gets the database's URL)."""
        return RedisOutput(_param_url(params), stream, url)

    @staticmethod
    def redis_inter_stream_out(stream: Any, partition: Any, url: str, params: Any,
                               redis_server: Any) -> RedisOutput:
        """Intermediate records for ``partition`` into the database
        ``redis_server(partition, url, params)`` names, emptied first."""
        return RedisOutput(redis_server(partition, url, params), stream, url, flush=True)

    @staticmethod
    def redis_inter_stream_in(stream: Any, size: Any, url: str, params: Any) -> tuple:
        """The records of the database whose URL the output file ``stream`` holds."""
        data = stream.read(1024)
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        target = text.strip()
        if not target.startswith("redis://"):
            raise DiscoError("%s does not hold a redis URL (it holds %r): read it with "
                             "redis_inter_stream_in only when redis_inter_stream_out wrote it"
                             % (url, text[:100]))
        records = RedisInput(target)
        return records, None, target


scheme = RedisScheme()
