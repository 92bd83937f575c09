"""Reading blobs without waiting on dead nodes.

A blob has replicas on several nodes; a reader (``ddfs cat``/``xcat``, ``DDFS.pull``, the
``tag://`` scheme, job inputs expanded from tags) tries them in turn. Two things keep a
dead node from holding it up:

* the master knows which nodes are down (``/disco/ctrl/nodeinfo``: ``connected`` false):
  their replicas go last (:func:`live_first`), tried only when every other one failed;
* every replica is given :data:`DDFS_CONNECT_TIMEOUT` seconds to send its reply's headers
  (a node that is stopped accepts the connection and never answers); the body then reads
  with the usual long timeout.

The node beside the master (same host and port) serves its data on a loopback port of its
own, behind the master, which hands every request on (a second copy of every byte, through
the master's loop). The master tells that port in the node's ``nodeinfo`` (``data_port``);
a reader on the master's machine reads such replicas there, and through the master only
when that fails.
"""
from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import urlsplit

from disco_core.comm import open_http, open_remote
from disco_core.errors import CommError, DataError
from disco_core.util import urlresolve

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


def node_info(master: str, timeout: float = 5.0) -> dict[str, dict]:
    """The master's ``nodeinfo`` (host: entry); empty when it cannot say."""
    try:
        resp = open_remote(master + "/disco/ctrl/nodeinfo", retries=1, timeout=timeout,
                           connect_timeout=timeout)
        try:
            info = json.loads(resp.read())
        finally:
            resp.close()
    except (CommError, ValueError):
        return {}
    if not isinstance(info, dict):
        return {}
    return {host: entry for host, entry in info.items() if isinstance(entry, dict)}


def down_hosts(master: str, timeout: float = 5.0) -> set[str]:
    """The nodes the master knows are down (not connected); none when it cannot say."""
    return _down(node_info(master, timeout))


def _down(info: dict[str, dict]) -> set[str]:
    return {host for host, entry in info.items() if entry.get("connected") is False}


def _data_ports(info: dict[str, dict]) -> dict[str, int]:
    return {host: entry["data_port"] for host, entry in info.items()
            if isinstance(entry.get("data_port"), int) and entry.get("connected") is not False}


def direct_url(url: str, master: str, ports: dict[str, int]) -> str | None:
    """The node's own loopback address for ``url`` (an http URL) when it names the node
    beside the master through the master's host and port (None otherwise)."""
    parts, home = urlsplit(url), urlsplit(master)
    host = parts.hostname or ""
    if parts.scheme != "http" or host not in ports or parts.port != home.port \
            or host != (home.hostname or ""):
        return None
    rest = parts.path + ("?" + parts.query if parts.query else "")
    return "http://127.0.0.1:%d%s" % (ports[host], rest)


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
        self._info: dict[str, dict] | None = None

    @property
    def info(self) -> dict[str, dict]:
        if self._info is None:
            self._info = node_info(self.master, self.timeout)
        return self._info

    @property
    def down(self) -> set[str]:
        return _down(self.info)

    def order(self, replicas: list[str], shuffle: bool = False) -> list[str]:
        return live_first(list(replicas), self.down, shuffle)

    def open(self, replicas: list[str], shuffle: bool = False, direct: bool = True) -> Any:
        """A :class:`~disco_core.comm.Connection` to the blob (``.url`` the URL read: the
        node's own port for the node beside the master, unless ``direct`` is false); a
        :class:`CommError` naming every replica tried when none answers."""
        errors = []
        ports = _data_ports(self.info) if direct else {}
        for url in self.order(replicas, shuffle):
            http_url = urlresolve(url) if ports and "://" in url else url
            near = direct_url(http_url, self.master, ports) if ports else None
            for where in ([near] if near else []) + [url]:
                try:
                    conn = open_http(where, retries=1, connect_timeout=self.timeout)
                except (CommError, DataError) as exc:
                    errors.append("%s: %s" % (where, exc))
                    continue
                conn.url = where
                return conn
        raise CommError("no replica could be read (%s)" % ("; ".join(errors) or "none given"),
                        replicas[0] if replicas else "?")
