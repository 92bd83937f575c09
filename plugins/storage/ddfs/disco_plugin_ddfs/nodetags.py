"""A node's copies of tags (``DDFS_TAG_REPLICAS``), on its PUT port, for the master only.

The master writes every version of a tag it stores to some nodes too, so a master that
lost its own store gets its tags back from them (:mod:`.tagreplicas`). A node keeps the
newest version of each tag it was given, in one of its good volumes:
``volN/tag/<hh>/<tag>`` (the tag's JSON document, written to a temporary file, fsynced and
renamed; an older version in another volume is then removed).

* ``PUT /ddfs/tag/<tag>``: store a version (the document); an older one than the node has
  is ignored (the reply says which it keeps). With ``?phase=prepare`` the version is only
  written aside (``!pending.<tag>``, never listed nor read), and ``?phase=commit&id=<id>``
  (no body) then makes it the node's copy: a version the master could not store on enough
  nodes is never taken for the tag's newest;
* ``GET /ddfs/tag/<tag>``: the newest version the node has;
* ``GET /ddfs/tags``: ``{tag: id}`` of every tag the node has;
* ``DELETE /ddfs/tag/<tag>?id=<id>``: delete the node's copies of the tag that are not
  newer than version ``id`` (the master's GC: a deleted tag, an old version, a copy beyond
  ``DDFS_TAG_REPLICAS``), never a newer one; ``{"deleted": n}``.

Every request carries the cluster secret (``X-Disco-Secret``), as the master's other
requests to nodes do; without it the reply is a 401.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
from typing import Any

import tornado.web

from disco_core import access

from .names import hexhash, valid_name
from .tags import ts_seconds

log = logging.getLogger("disco.ddfs.nodetags")
MAX_TAG_DOC = 64 << 20


def tag_files(volumes: Any, name: str | None = None) -> dict[str, list[str]]:
    """``{tag: [paths]}`` of the tag copies in the node's good volumes (of one tag)."""
    out: dict[str, list[str]] = {}
    for volume in volumes.good():
        base = os.path.join(volumes.root, volume, "tag")
        subs = [hexhash(name)] if name is not None else (
            os.listdir(base) if os.path.isdir(base) else [])
        for sub in subs:
            subdir = os.path.join(base, sub)
            if not os.path.isdir(subdir):
                continue
            for fname in os.listdir(subdir):
                if fname.startswith((".", "!")) or (name is not None and fname != name):
                    continue
                out.setdefault(fname, []).append(os.path.join(subdir, fname))
    return out


def read_doc(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None


def newest(paths: list[str]) -> tuple[str, dict] | None:
    best = None
    for path in paths:
        doc = read_doc(path)
        if doc is not None and (best is None or ts_seconds(doc["id"]) > ts_seconds(
                best[1]["id"])):
            best = (path, doc)
    return best


def _write_json(path: str, doc: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), ".%s.%d" % (os.path.basename(path),
                                                          os.getpid()))
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def pending_path(volumes: Any, volume: str, name: str) -> str:
    return os.path.join(volumes.root, volume, "tag", hexhash(name), "!pending." + name)


def prepare(volumes: Any, name: str, doc: dict) -> None:
    """Write a version aside until the master commits it (one pending version a tag)."""
    _write_json(pending_path(volumes, volumes.choose(), name), doc)


def commit(volumes: Any, name: str, tag_id: str) -> dict | None:
    """Make the pending version ``tag_id`` the node's copy; None when it has no such."""
    for volume in volumes.good():
        path = pending_path(volumes, volume, name)
        doc = read_doc(path)
        if doc is not None and doc["id"] == tag_id:
            kept = store(volumes, name, doc, volume)
            try:
                os.unlink(path)
            except OSError:
                pass
            return kept
    return None


def store(volumes: Any, name: str, doc: dict, volume: str | None = None) -> dict:
    """Keep ``doc`` as the node's copy of tag ``name`` unless it has a newer one; the
    version kept."""
    have = newest(tag_files(volumes, name).get(name, []))
    if have is not None and ts_seconds(have[1]["id"]) >= ts_seconds(doc["id"]):
        return have[1]
    volume = volume or volumes.choose()
    path = os.path.join(volumes.root, volume, "tag", hexhash(name), name)
    _write_json(path, doc)
    for other in tag_files(volumes, name).get(name, []):
        if other != path:
            try:
                os.unlink(other)
            except OSError:
                pass
    return doc


def remove(volumes: Any, name: str, tag_id: str) -> int:
    """Delete the copies of tag ``name`` no newer than ``tag_id``; how many."""
    limit = ts_seconds(tag_id)
    count = 0
    for path in tag_files(volumes, name).get(name, []):
        doc = read_doc(path)
        if doc is not None and ts_seconds(doc["id"]) > limit:
            continue  # newer than the master asked: a version it may not have seen
        try:
            os.unlink(path)
            count += 1
        except OSError:
            pass
    return count


class NodeTagHandler(tornado.web.RequestHandler):
    def initialize(self, volumes: Any, secret: str) -> None:
        self.volumes = volumes
        self.secret = secret

    def prepare(self) -> None:
        given = self.request.headers.get(access.SECRET_HEADER, "")
        if not self.secret or not hmac.compare_digest(given, self.secret):
            self.reply("Tag copies are for the master: send the cluster secret", 401)

    def reply(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def get(self, name: str | None = None) -> None:
        if name is None:
            found = {}
            for tag, paths in tag_files(self.volumes).items():
                best = newest(paths)
                if best is not None:
                    found[tag] = best[1]["id"]
            self.reply(found)
            return
        best = newest(tag_files(self.volumes, name).get(name, []))
        if best is None:
            self.reply("Tag not found.", 404)
        else:
            self.reply(best[1])

    def delete(self, name: str | None = None) -> None:
        tag_id = self.get_query_argument("id", "")
        if name is None or not tag_id.startswith(name + "$"):
            self.reply("Give the tag and the newest version to delete: "
                       "DELETE /ddfs/tag/<tag>?id=<tag>$<ts>", 400)
            return
        try:
            count = remove(self.volumes, name, tag_id)
        except OSError as exc:
            self.reply("Cannot delete copies of tag %s: %s" % (name, exc.strerror or exc), 500)
            return
        self.reply({"deleted": count})

    def put(self, name: str | None = None) -> None:
        if name is None or not (valid_name(name) or name.startswith("+")):
            self.reply("Invalid tag name %r" % (name or "")[:600], 403)
            return
        phase = self.get_query_argument("phase", "")
        if phase == "commit":
            try:
                kept = commit(self.volumes, name, self.get_query_argument("id", ""))
            except OSError as exc:
                self.reply("Cannot keep a copy of tag %s: %s" % (name, exc.strerror or exc),
                           507)
                return
            if kept is None:
                self.reply("No pending version %s of tag %s" % (
                    self.get_query_argument("id", ""), name), 404)
            else:
                self.reply(kept["id"])
            return
        if len(self.request.body) > MAX_TAG_DOC:
            self.reply("Tag document too large", 413)
            return
        try:
            doc = json.loads(self.request.body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            self.reply("Invalid tag document: send the tag's JSON with its id", 403)
            return
        try:
            if phase == "prepare":
                prepare(self.volumes, name, doc)
                self.reply(doc["id"])
                return
            kept = store(self.volumes, name, doc)
        except OSError as exc:
            log.error("cannot keep a copy of tag %s: %s", name, exc)
            self.reply("Cannot keep a copy of tag %s: %s" % (name, exc.strerror or exc), 507)
            return
        self.reply(kept["id"])


def tag_routes(volumes: Any, secret: str) -> list[tuple]:
    kw = {"volumes": volumes, "secret": secret}
    return [(r"/ddfs/tags", NodeTagHandler, kw),
            (r"/ddfs/tag/([^/]+)", NodeTagHandler, kw)]
