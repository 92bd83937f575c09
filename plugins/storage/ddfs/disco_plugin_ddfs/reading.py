"""Reading blobs without waiting on dead nodes.

A blob has replicas on several nodes; a reader (``ddfs cat``/``xcat``, ``DDFS.pull``, the
``tag://`` scheme, job inputs expanded from tags) tries them in turn. Two things keep a
dead node from holding it up:

* the master knows which nodes are down (``/disco/ctrl/nodeinfo``: ``connected`` false):
  their replicas go last (:func:`live_first`), tried only when every other one failed;
* every replica is given :data:`DDFS_CONNECT_TIMEOUT` seconds to send its reply's headers
  (a node that is stopped accepts the connection and never answers); the body then reads
  with the usual long timeout.
"""
from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import urlsplit

from disco_core.comm import open_http, open_remote
from disco_core.errors import CommError, DataError

#: The setting bounding the wait for a replica's first answer (seconds).
CONNECT_TIMEOUT = "DDFS_CONNECT_TIMEOUT"


def connect_timeout(settings: Any) -> float:
    try:
        return float(settings.get(CONNECT_TIMEOUT) or 5.0)
    except (TypeError, ValueError):
        return 5.0


def replica_host(url: str) -> str:
    """The node a replica URL names (``disco://HOST/...``, ``http://HOST:PORT/...``)."""
    return urlsplit(url).hostname or ""


def down_hosts(master: str, timeout: float = 5.0) -> set[str]:
    """The nodes the master knows are down (not connected); none when it cannot say."""
    try:
        resp = open_remote(master + "/disco/ctrl/nodeinfo", retries=1, timeout=timeout,
                           connect_timeout=timeout)
        try:
            info = json.loads(resp.read())
        finally:
            resp.close()
    except (CommError, ValueError):
        return set()
    if not isinstance(info, dict):
        return set()
    return {host for host, entry in info.items()
            if isinstance(entry, dict) and entry.get("connected") is False}


def live_first(replicas: list[str], down: set[str], shuffle: bool = False) -> list[str]:
    """The replicas with those on down nodes moved to the end (shuffled within each part
    with ``shuffle``)."""
    live = [u for u in replicas if replica_host(u) not in down]
    dead = [u for u in replicas if replica_host(u) in down]
    if shuffle:
        random.shuffle(live)
        random.shuffle(dead)
    return live + dead


class ReplicaReader:
    """Opens blobs from the first replica that answers, live nodes first."""

    def __init__(self, master: str, settings: Any) -> None:
        self.master = master
        self.timeout = connect_timeout(settings)
        self._down: set[str] | None = None

    @property
    def down(self) -> set[str]:
        if self._down is None:
            self._down = down_hosts(self.master, self.timeout)
        return self._down

    def order(self, replicas: list[str], shuffle: bool = False) -> list[str]:
        return live_first(list(replicas), self.down, shuffle)

    def open(self, replicas: list[str], shuffle: bool = False) -> Any:
        """A :class:`~disco_core.comm.Connection` to the blob (``.url`` the replica read);
        a :class:`CommError` naming every replica tried when none answers."""
        errors = []
        for url in self.order(replicas, shuffle):
            try:
                conn = open_http(url, retries=1, connect_timeout=self.timeout)
            except (CommError, DataError) as exc:
                errors.append("%s: %s" % (url, exc))
                continue
            conn.url = url
            return conn
        raise CommError("no replica could be read (%s)" % ("; ".join(errors) or "none given"),
                        replicas[0] if replicas else "?")
