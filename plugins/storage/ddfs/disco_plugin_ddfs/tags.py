"""Tags: named, mutable lists of replica sets with attributes and tokens (master side).

Where tags live (a first design): the master keeps every tag as a JSON document in its own
data directory, ``DISCO_MASTER_ROOT/ddfs/tags/<hh>/<name>``, written to a temporary file,
fsynced and renamed over the previous version, so a tag survives a restart of the master and
a crash never leaves half a document. The original kept each version (*incarnation*
``<tag>$<ts>``) as ``DDFS_TAG_REPLICAS`` replicas on the nodes; here the newest incarnation
is the only copy, and its id (``<tag>$<ts>``) changes on every write as the original's did.

All operations on one tag are serialised by a lock of the tag. What each does follows
``reference/ddfs.md`` section 6:

* append (POST) puts the new replica sets before the old ones; an empty append to an
  existing tag makes no new incarnation; ``update=1`` adds only sets whose name is not in
  the tag yet; ``delayed=1`` buffers appends to an existing tag for
  :data:`DELAYED_FLUSH` seconds and commits them, in the order they came, as one
  incarnation (every waiter gets the same reply); any other operation flushes first;
* replace (PUT) sets the list; attributes are strings, ``ddfs:urls``,
  ``ddfs:read-token`` and ``ddfs:write-token`` name the list and the tokens;
* a write to a missing or deleted tag creates it, and the request's token, if any, becomes
  both tokens of the new tag;
* delete records the name in the ``+deleted`` tag (with the time) before the document goes,
  so a deleted tag is "not found" at once and stays so after a restart; recreating it takes
  the name off ``+deleted``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

from .names import DELETED, hexhash, set_name, timestamp, valid_name

log = logging.getLogger("disco.ddfs.tags")
DELAYED_FLUSH = 1.0
MAX_ATTR_NAME = 1024
MAX_ATTR_VALUE = 4096
MAX_ATTRS = 1000
RESERVED = ("ddfs:urls", "ddfs:read-token", "ddfs:write-token")


class Internal:
    """The token of the master's own operations (saving results): passes every check."""

    def __repr__(self) -> str:
        return "INTERNAL"


INTERNAL = Internal()


class TagError(Exception):
    """A request the tag store refuses: an HTTP status and the message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_found() -> TagError:
    return TagError(404, "Tag not found.")


def unauthorized() -> TagError:
    return TagError(401, "Incorrect or missing token.")


def check_urls(urls: Any) -> list[list[str]]:
    """A tag's list of replica sets: a list of lists of strings."""
    if not isinstance(urls, list) or not all(
            isinstance(s, list) and all(isinstance(u, str) for u in s) for s in urls):
        raise TagError(403, "Invalid url object: give a JSON list of lists of URL strings, "
                       'e.g. [["disco://host/ddfs/..."]]')
    return urls


def check_tag_name(name: str) -> None:
    if not valid_name(name):
        raise TagError(403, "Invalid tag. A tag name is 1 to 511 characters of "
                       "A-Z a-z 0-9 _ - @ :, got %r" % name[:600])


def _now_text() -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime())


def ts_seconds(tag_id: str) -> float:
    """The creation time an incarnation id ``<tag>$<mega>-<sec>-<micro>`` carries."""
    try:
        mega, sec, micro = (int(p, 16) for p in tag_id.rsplit("$", 1)[1].split("-"))
    except (IndexError, ValueError):
        return 0.0
    return mega * 1e6 + sec + micro / 1e6


def public(doc: dict) -> dict:
    """A tag as ``GET /ddfs/tag/<tag>`` shows it: without its tokens."""
    return {k: doc[k] for k in ("version", "id", "last-modified", "urls", "user-data")}


def may_read(doc: dict, token: Any) -> bool:
    read, write = doc.get("read-token"), doc.get("write-token")
    return (token is INTERNAL or read is None or token == read
            or (write is not None and token == write))


def may_write(doc: dict, token: Any) -> bool:
    write = doc.get("write-token")
    return token is INTERNAL or write is None or token == write


class TagStore:
    """Every tag of the cluster: documents on disk, the current ones in memory."""

    def __init__(self, root: str, reply_url: Any = None) -> None:
        self.root = root
        self.reply_url = reply_url or (lambda name: "tag://%s" % name)
        self.docs: dict[str, dict] = {}
        self.deleted: dict[str, float] = {}   # name -> when it was deleted
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: dict[str, list] = {}   # delayed appends: name -> [(urls, update, fut)]
        self.deleted_doc: dict | None = None  # the +deleted document last stored
        #: Called with every document before it is stored (the copies on the nodes,
        #: :mod:`.tagreplicas`); what it raises fails the write.
        self.replicate: Any = None
        #: Called with a tag this store lacks before a read calls it not found: a
        #: :class:`TagError` (503) it raises answers instead, when copies elsewhere may
        #: hold the tag (:mod:`.tagreplicas`).
        self.unsure: Any = None

    # -- disk ----------------------------------------------------------------------------
    def path(self, name: str) -> str:
        return os.path.join(self.root, hexhash(name), name)

    def load(self) -> None:
        """Read every tag document (at the master's start); settle interrupted deletes."""
        os.makedirs(self.root, exist_ok=True)
        docs: dict[str, dict] = {}
        for sub in sorted(os.listdir(self.root)):
            subdir = os.path.join(self.root, sub)
            if not os.path.isdir(subdir):
                continue
            for fname in os.listdir(subdir):
                path = os.path.join(subdir, fname)
                if fname.startswith("."):  # a write that never finished
                    os.unlink(path)
                    continue
                try:
                    with open(path, encoding="utf-8") as f:
                        doc = json.load(f)
                except (OSError, ValueError) as exc:
                    log.error("tag document %s cannot be read (%s): left out; move it away "
                              "or fix it and restart the master", path, exc)
                    continue
                docs[fname] = doc
        marker = docs.pop(DELETED, None)
        self.deleted_doc = marker
        if marker is not None:
            self.deleted = {k: float(v) for k, v in marker.get("deleted-at", {}).items()}
        for name, doc in docs.items():
            when = self.deleted.get(name)
            if when is None or ts_seconds(doc.get("id", "")) > when:
                self.docs[name] = doc
                self.deleted.pop(name, None)
            else:
                os.unlink(self.path(name))

    def _write(self, name: str, doc: dict | None) -> None:
        path = self.path(name)
        if doc is None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), ".%s.%s" % (name, os.getpid()))
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    async def _save(self, name: str, doc: dict | None) -> None:
        if doc is not None and self.replicate is not None:
            await self.replicate(name, doc)
        await asyncio.get_running_loop().run_in_executor(None, self._write, name, doc)

    # -- copies kept elsewhere -------------------------------------------------------------
    def current(self, name: str) -> dict | None:
        """The stored document of a tag (``+deleted`` too), None when there is none."""
        return self.deleted_doc if name == DELETED else self.docs.get(name)

    async def restore(self, name: str, doc: dict) -> bool:
        """Take back a version of a tag kept elsewhere (a node's copy) when it is newer
        than this store's and than the tag's deletion; whether it was taken."""
        if name != DELETED:
            check_tag_name(name)
        if not isinstance(doc.get("id"), str) or not isinstance(doc.get("urls"), list):
            return False
        save = asyncio.get_running_loop().run_in_executor
        async with self._lock(name):
            await self._flush(name)
            current = self.current(name)
            if current is not None and ts_seconds(current["id"]) >= ts_seconds(doc["id"]):
                return False
            if name == DELETED:
                for gone, when in dict(doc.get("deleted-at", {})).items():
                    when = float(when)
                    if when > self.deleted.get(gone, 0.0):
                        self.deleted[gone] = when
                    kept = self.docs.get(gone)
                    if kept is not None and ts_seconds(kept["id"]) <= when:
                        del self.docs[gone]
                        await save(None, self._write, gone, None)
                await save(None, self._write, DELETED, doc)
                self.deleted_doc = doc
                return True
            when = self.deleted.get(name)
            if when is not None and ts_seconds(doc["id"]) <= when:
                return False
            await save(None, self._write, name, doc)
            self.docs[name] = doc
            return True

    # -- reading -------------------------------------------------------------------------
    def names(self, prefix: str = "") -> list[str]:
        return sorted(n for n in self.docs if n.startswith(prefix))

    def _doc(self, name: str) -> dict:
        check_tag_name(name)
        doc = self.docs.get(name)
        if doc is None:
            if self.unsure is not None and name not in self.deleted:
                self.unsure(name)
            raise not_found()
        return doc

    async def get(self, name: str, attr: str | None = None, token: Any = None) -> Any:
        """The tag (without tokens), or one attribute of it."""
        await self._flush_first(name)
        doc = self._doc(name)
        if not may_read(doc, token):
            raise unauthorized()
        if attr is None:
            return public(doc)
        if attr == "ddfs:urls":
            return doc["urls"]
        if attr == "ddfs:read-token":
            return doc.get("read-token")
        if attr == "ddfs:write-token":
            if not may_write(doc, token):
                raise unauthorized()
            return doc.get("write-token")
        self._check_attr(attr)
        try:
            return doc["user-data"][attr]
        except KeyError:
            raise TagError(404, "Tag attribute not found.") from None

    @staticmethod
    def _check_attr(attr: str) -> None:
        if len(attr.encode("utf-8")) > MAX_ATTR_NAME:
            raise TagError(403, "Attribute name too big.")
        if attr.startswith("ddfs:") and attr not in RESERVED:
            raise TagError(404, "Unknown attribute %r: the ddfs: names are %s"
                           % (attr, ", ".join(RESERVED)))
        if not valid_name(attr):
            raise TagError(403, "Invalid attribute key or value: an attribute name is "
                           "characters A-Z a-z 0-9 _ - @ :, got %r" % attr)

    # -- writing -------------------------------------------------------------------------
    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    def _writable(self, name: str, token: Any) -> dict:
        """The document a write starts from: a copy of the tag, or a new one (with the
        request's token as both tokens) when the tag is missing or deleted."""
        check_tag_name(name)
        if name.startswith("+"):
            raise TagError(403, "Invalid tag. Tags starting with + are internal.")
        doc = self.docs.get(name)
        if doc is None:
            tok = None if token is INTERNAL else token
            return {"version": 1, "id": "", "last-modified": "", "urls": [], "user-data": {},
                    "read-token": tok, "write-token": tok}
        if not may_write(doc, token):
            raise unauthorized()
        return dict(doc, urls=list(doc["urls"]), **{"user-data": dict(doc["user-data"])})

    async def _commit(self, name: str, doc: dict) -> list[str]:
        doc["id"] = "%s$%s" % (name, timestamp())
        doc["last-modified"] = _now_text()
        await self._save(name, doc)
        self.docs[name] = doc
        if name in self.deleted:
            del self.deleted[name]
            await self._save_deleted()
        return self.reply(name)

    def reply(self, name: str) -> list[str]:
        return [self.reply_url(name)]

    async def append(self, name: str, urls: Any, token: Any = None, update: bool = False,
                     delayed: bool = False) -> list[str]:
        """POST: the new replica sets before the old ones (see the module docstring)."""
        check_urls(urls)
        check_tag_name(name)
        if delayed and name in self.docs:
            fut = asyncio.get_running_loop().create_future()
            pending = self._pending.setdefault(name, [])
            pending.append((urls, update, token, fut))
            if len(pending) == 1:
                asyncio.get_running_loop().call_later(
                    DELAYED_FLUSH, lambda: asyncio.ensure_future(self._flush_first(name)))
            return await fut
        async with self._lock(name):
            await self._flush(name)
            doc = self._writable(name, token)
            if not _merge(doc, urls, update) and name in self.docs:
                return self.reply(name)
            return await self._commit(name, doc)

    async def _flush_first(self, name: str) -> None:
        if self._pending.get(name):
            async with self._lock(name):
                await self._flush(name)

    async def _flush(self, name: str) -> None:
        """Commit the delayed appends of a tag as one incarnation (lock held)."""
        pending = self._pending.pop(name, [])
        if not pending:
            return
        ok: list = []
        changed = False
        try:
            doc = self._writable(name, INTERNAL)
            for urls, update, token, fut in pending:
                if name in self.docs and not may_write(self.docs[name], token):
                    fut.set_exception(unauthorized())
                    continue
                changed = _merge(doc, urls, update) or changed
                ok.append(fut)
            reply = await self._commit(name, doc) if changed else self.reply(name)
        except Exception as exc:
            for fut in ok:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for fut in ok:
            if not fut.done():
                fut.set_result(reply)

    async def replace(self, name: str, urls: Any, token: Any = None) -> list[str]:
        """PUT: the tag's list of replica sets becomes ``urls``."""
        check_urls(urls)
        async with self._lock(name):
            await self._flush(name)
            doc = self._writable(name, token)
            doc["urls"] = urls
            return await self._commit(name, doc)

    async def set_attr(self, name: str, attr: str, value: Any,
                       token: Any = None) -> list[str]:
        """PUT of an attribute: a string; ``ddfs:urls`` and the tokens are reserved names."""
        self._check_attr(attr)
        if attr == "ddfs:urls":
            return await self.replace(name, value, token)
        if not isinstance(value, str):
            raise TagError(403, "Invalid attribute key or value: the value of %s must be a "
                           "JSON string" % attr)
        async with self._lock(name):
            await self._flush(name)
            doc = self._writable(name, token)
            if attr in ("ddfs:read-token", "ddfs:write-token"):
                doc[attr[len("ddfs:"):]] = value
            else:
                if attr not in doc["user-data"] and len(doc["user-data"]) >= MAX_ATTRS:
                    raise TagError(403, "Too many attributes: a tag has at most %d"
                                   % MAX_ATTRS)
                doc["user-data"][attr] = value
            return await self._commit(name, doc)

    async def del_attr(self, name: str, attr: str, token: Any = None) -> str:
        self._check_attr(attr)
        async with self._lock(name):
            await self._flush(name)
            self._doc(name)
            doc = self._writable(name, token)
            if attr in ("ddfs:read-token", "ddfs:write-token"):
                doc[attr[len("ddfs:"):]] = None
            elif attr == "ddfs:urls":
                doc["urls"] = []
            elif attr in doc["user-data"]:
                del doc["user-data"][attr]
            else:
                return "deleted"
            await self._commit(name, doc)
            return "deleted"

    async def delete(self, name: str, token: Any = None) -> str:
        """The tag is "not found" from now on; deleting a missing tag succeeds."""
        check_tag_name(name)
        async with self._lock(name):
            await self._flush(name)
            doc = self.docs.get(name)
            if doc is None:
                return "deleted"
            if not may_write(doc, token):
                raise unauthorized()
            self.deleted[name] = time.time()
            try:
                await self._save_deleted()  # first: a crash after it leaves it deleted
            except Exception:
                del self.deleted[name]
                raise
            del self.docs[name]
            await self._save(name, None)
            return "deleted"

    # -- upkeep (the GC, :mod:`.gc`) -----------------------------------------------------
    async def update_urls(self, name: str, fix: Any) -> bool:
        """Replace the tag's replica sets with ``fix(urls)`` under the tag's lock (so no
        append in between is lost); a new incarnation only if they changed."""
        async with self._lock(name):
            await self._flush(name)
            doc = self.docs.get(name)
            if doc is None:
                return False
            urls = fix(doc["urls"])
            if urls == doc["urls"]:
                return False
            doc = self._writable(name, INTERNAL)
            doc["urls"] = urls
            await self._commit(name, doc)
            return True

    async def forget_deleted(self, before: float, keep: Any = ()) -> int:
        """Take the tags deleted before ``before`` off ``+deleted`` (but those in ``keep``,
        of which a copy may remain elsewhere); how many."""
        old = [n for n, when in self.deleted.items() if when < before and n not in keep]
        if not old:
            return 0
        for name in old:
            del self.deleted[name]
        await self._save_deleted()
        return len(old)

    async def _save_deleted(self) -> None:
        doc = {"version": 1, "id": "%s$%s" % (DELETED, timestamp()),
               "last-modified": _now_text(),
               "urls": [["tag://%s" % n] for n in sorted(self.deleted)],
               "user-data": {}, "read-token": None, "write-token": None,
               "deleted-at": dict(self.deleted)}
        await self._save(DELETED, doc)
        self.deleted_doc = doc


def _merge(doc: dict, urls: list[list[str]], update: bool) -> bool:
    """Put ``urls`` before the tag's sets (only the new names with ``update``); whether
    anything was added."""
    if not update:
        doc["urls"] = list(urls) + doc["urls"]
        return bool(urls)
    have = {set_name(s) for s in doc["urls"]}
    added = False
    for replicas in urls:
        key = set_name(replicas)
        if key is not None and key in have:
            continue
        have.add(key)
        doc["urls"].insert(0, replicas)
        added = True
    return added
