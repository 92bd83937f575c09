"""What re-replication decides, without doing it: which blob replicas a GC run found where
(:class:`BlobMap`), which blobs need more copies and from where (:func:`plan_copies`), and
what each tag's replica sets become afterwards (:func:`fix_urls`).

A replica *counts* when it is on a node that answered this run and is not gc-blacklisted.
A blob with fewer counted replicas than ``DDFS_BLOB_REPLICAS`` gets copies on other usable
nodes, from any node that has it. A tag's replica set gains the URLs of every copy found
(new ones, and ones a returning node still had), and, once the blob has its replica count,
loses the URLs on nodes that are gone, lost, gc-blacklisted or found not to hold it; a URL
on a node that is down but not yet lost is kept (its copy may come back).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: A replica's URL: ``disco://HOST/ddfs/HOST/volN/blob/hh/<name>`` (or ``http://`` of it).
BLOB_URL = re.compile(r"/ddfs/(?:[^/]+/)?vol\d+/blob/[0-9a-f]{2}/([^/?#]+)$")


def blob_of(url: str) -> str | None:
    """The blob a replica URL names, None for anything else (``tag://`` links, ...)."""
    m = BLOB_URL.search(url)
    return m.group(1) if m else None


def url_host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


@dataclass
class Replica:
    path: str      # under DDFS_DATA: HOST/volN/blob/hh/name
    size: int
    mtime: float


@dataclass
class BlobMap:
    """The replicas found on the nodes that answered, and what the tags reference."""

    reachable: set[str] = field(default_factory=set)
    where: dict[str, dict[str, Replica]] = field(default_factory=dict)  # name -> host -> r
    refs: dict[str, list[str]] = field(default_factory=dict)            # name -> tag URLs

    def add_node(self, host: str, blobs: dict[str, list]) -> None:
        self.reachable.add(host)
        for name, (path, size, mtime) in blobs.items():
            self.where.setdefault(name, {})[host] = Replica(path, int(size), float(mtime))

    def add_tags(self, docs: dict[str, dict]) -> None:
        for doc in docs.values():
            for replicas in doc.get("urls", []):
                for url in replicas:
                    name = blob_of(url)
                    if name is not None:
                        self.refs.setdefault(name, []).append(url)

    def url(self, name: str, host: str) -> str:
        return "disco://%s/ddfs/%s" % (host, self.where[name][host].path)


@dataclass
class Copy:
    name: str
    source: str    # host
    path: str      # the source replica's path under DDFS_DATA
    target: str    # host


def counted(have: dict[str, Any], gc_black: set[str]) -> list[str]:
    return [h for h in have if h not in gc_black]


def plan_copies(bmap: BlobMap, k: int, usable: list[str], gc_black: set[str],
                roomy: Any = lambda hosts: hosts) -> tuple[list[Copy], list[str]]:
    """The copies that bring every referenced blob to ``k`` counted replicas (as far as the
    ``usable`` nodes allow), and the referenced blobs no answering node has."""
    copies, missing = [], []
    for name in sorted(bmap.refs):
        have = bmap.where.get(name, {})
        if not have:
            missing.append(name)
            continue
        need = k - len(counted(have, gc_black))
        if need <= 0:
            continue
        free = [h for h in usable if h not in have]
        first = roomy(free)
        targets = random.sample(first, min(need, len(first)))
        targets += [h for h in free if h not in targets][:need - len(targets)]
        good = counted(have, gc_black) or list(have)
        for target in targets:
            source = random.choice(good)
            copies.append(Copy(name, source, have[source].path, target))
    return copies, missing


def fix_urls(urls: list[list[str]], bmap: BlobMap, k: int, gc_black: set[str],
             table: set[str], lost: set[str]) -> list[list[str]]:
    """A tag's replica sets after this run (see the module docstring)."""
    return [fix_set(replicas, bmap, k, gc_black, table, lost) for replicas in urls]


def fix_set(replicas: list[str], bmap: BlobMap, k: int, gc_black: set[str],
            table: set[str], lost: set[str]) -> list[str]:
    names = {blob_of(u) for u in replicas}
    if len(names) != 1 or None in names:
        return replicas  # a tag link, or a set mixing blobs: not ours to change
    name = names.pop()
    if name not in bmap.where:
        return replicas  # nothing found of it: leave it as it is
    have = bmap.where[name]
    listed = {url_host(u) for u in replicas}
    added = [bmap.url(name, h) for h in have if h not in listed]
    if len(counted(have, gc_black)) < k:
        return replicas + added  # not safe yet: nothing is pruned

    def keep(url: str) -> bool:
        host = url_host(url)
        if host in gc_black:
            return False
        if host in bmap.reachable:
            return host in have
        return host in table and host not in lost  # down for now: it may come back
    return [u for u in replicas if keep(u)] + [u for u in added
                                              if url_host(u) not in gc_black]
