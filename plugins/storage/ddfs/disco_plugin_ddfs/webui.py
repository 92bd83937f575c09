"""The tag browser: a page of the master's web UI, linked into every page's navigation.

* ``/ddfs/browse`` (``static/ddfs.html``): the tags by prefix (a filter box), and with
  ``?tag=NAME`` one tag: its attributes, the tags it points to, its blobs a page at a time,
  each blob's replicas and the state of the nodes holding them. The page uses core's sheet
  and script (``/static/disco.css``, ``/static/disco.js``) and the status feed for the job
  list, so it looks like the master's own pages.
* ``GET /ddfs/ui/tags?prefix=P&offset=N&limit=M``: a page of the tag names with a prefix,
  each with its number of entries and when it last changed.
* ``GET /ddfs/ui/tag?name=T&offset=N&limit=M``: a tag's page of entries, each either a tag
  (``tag://``) or a blob with its replicas and their nodes' states. A tag with a read token
  answers only with that token (``Authorization: Basic``, as ``/ddfs/tag/`` does).

Node states: ``up`` (connected), ``down`` (in the node table, not connected),
``blacklisted``, ``unknown`` (not in the node table) and ``external`` (a URL no node
serves, such as ``raw://``).
"""
from __future__ import annotations

import os
import urllib.parse
from typing import Any

import tornado.web

from .master import DDFSHandler, request_token
from .names import DELETED
from .tags import TagError, may_read

STATIC = os.path.join(os.path.dirname(__file__), "static")
#: Entries (blobs and tags) of one tag on one page, unless the page asks for fewer.
PAGE_ENTRIES = 100
#: Tag names on one page of the list, unless the page asks for fewer.
PAGE_TAGS = 200
#: The most a page may ask for.
MOST = 1000
#: The most tags a tag's page lists as "points to" (every page shows them).
MOST_LINKED = 1000
NODE_SCHEMES = ("disco", "http", "https", "dir")


def page_args(handler: tornado.web.RequestHandler, default: int) -> tuple[int, int]:
    """``offset`` and ``limit`` of a request, with errors that say what to send."""
    out = []
    for name, fallback in (("offset", 0), ("limit", default)):
        text = handler.get_query_argument(name, "") or str(fallback)
        try:
            value = int(text)
        except ValueError:
            raise TagError(400, "Invalid %s %r: give a whole number" % (name, text)) from None
        if value < 0 or (name == "limit" and not 1 <= value <= MOST):
            raise TagError(400, "Invalid %s %d: give %s" % (
                name, value, "0 or more" if name == "offset" else "1 to %d" % MOST))
        out.append(value)
    return out[0], out[1]


def node_states(master: Any) -> dict[str, str]:
    """``host -> up | down | blacklisted`` for every node in the node table."""
    gc_black = set(getattr(master.nodes, "gc_blacklist", []))
    out = {}
    for host, node in master.scheduler.nodes.items():
        if node.blacklisted or host in gc_black:
            out[host] = "blacklisted"
        else:
            out[host] = "up" if node.connected else "down"
    return out


def replica(url: str, states: dict[str, str]) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname if parts.scheme in NODE_SCHEMES else None
    if host is None:
        return {"url": url, "host": None, "state": "external"}
    return {"url": url, "host": host, "state": states.get(host, "unknown")}


def blob_name(urls: list[str]) -> str:
    """A replica set's blob name: the last part of its first URL's path."""
    path = urllib.parse.urlsplit(urls[0]).path if urls else ""
    return urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1]) or (urls[0] if urls else "")


def entry(urls: list[str], states: dict[str, str], known: Any) -> dict[str, Any]:
    if urls and urls[0].startswith("tag://"):
        target = urls[0][len("tag://"):].rsplit("/", 1)[-1]
        return {"kind": "tag", "name": target, "url": urls[0], "exists": target in known}
    return {"kind": "blob", "name": blob_name(urls),
            "replicas": [replica(u, states) for u in urls]}


def tag_view(ddfs: Any, name: str, doc: dict, offset: int, limit: int) -> dict[str, Any]:
    urls = doc["urls"]
    states = node_states(ddfs.master)
    known = ddfs.tags.docs
    linked = [u[0][len("tag://"):].rsplit("/", 1)[-1] for u in urls
              if u and u[0].startswith("tag://")]
    return {"name": name, "id": doc["id"], "version": doc["version"],
            "last-modified": doc["last-modified"], "attrs": doc["user-data"],
            "read-protected": doc.get("read-token") is not None,
            "write-protected": doc.get("write-token") is not None,
            "count": len(urls), "blob_count": len(urls) - len(linked),
            "offset": offset, "limit": limit,
            "entries": [entry(u, states, known) for u in urls[offset:offset + limit]],
            "tags": [{"name": n, "exists": n in known} for n in linked[:MOST_LINKED]],
            "tag_count": len(linked), "nodes": states}


class TagsView(DDFSHandler):
    """``/ddfs/ui/tags``: a page of tag names with a prefix."""

    def get(self) -> None:
        prefix = self.get_query_argument("prefix", "")
        offset, limit = page_args(self, PAGE_TAGS)
        store = self.ddfs.tags
        names = [n for n in store.names(prefix) if n != DELETED]
        rows = []
        for name in names[offset:offset + limit]:
            doc = store.docs[name]
            shown = may_read(doc, None)
            rows.append({"name": name, "last-modified": doc["last-modified"],
                         "entries": len(doc["urls"]) if shown else None,
                         "read-protected": not shown})
        self.reply({"prefix": prefix, "count": len(names), "offset": offset, "limit": limit,
                    "tags": rows})


class TagView(DDFSHandler):
    """``/ddfs/ui/tag?name=``: a page of one tag's entries."""

    async def get(self) -> None:
        name = self.get_query_argument("name", "")
        if not name:
            raise TagError(400, "Missing tag name: ask for /ddfs/ui/tag?name=TAG")
        offset, limit = page_args(self, PAGE_ENTRIES)
        await self.ddfs.tags.get(name, None, request_token(self.request))  # 403, 404, 401
        self.reply(tag_view(self.ddfs, name, self.ddfs.tags.docs[name], offset, limit))


class BrowsePage(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        with open(os.path.join(STATIC, "ddfs.html"), "rb") as f:
            self.finish(f.read())


def webui_routes(ddfs: Any) -> list[tuple]:
    kw = {"ddfs": ddfs}
    return [(r"/ddfs/browse", BrowsePage),
            (r"/ddfs/static/(.*)", tornado.web.StaticFileHandler, {"path": STATIC}),
            (r"/ddfs/ui/tags", TagsView, kw),
            (r"/ddfs/ui/tag", TagView, kw)]


def links() -> list[dict[str, str]]:
    return [{"title": "ddfs", "url": "/ddfs/browse"}]


def openapi_paths() -> dict[str, Any]:
    def query(name: str, text: str, required: bool = False) -> dict:
        return {"name": name, "in": "query", "required": required, "description": text,
                "schema": {"type": "string" if name in ("name", "prefix") else "integer"}}
    paging = [query("offset", "the first entry shown (0)"),
              query("limit", "how many (1 to %d)" % MOST)]
    json_reply = {"description": "the view",
                  "content": {"application/json": {"schema": {"type": "object"}}}}
    error = {"description": "what went wrong",
             "content": {"application/json": {"schema": {"type": "string"}}}}
    html = {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}}
    return {
        "/ddfs/browse": {"get": {
            "summary": "The tag browser's page (?tag=NAME: one tag, ?prefix=P: the list)",
            "parameters": [], "responses": {"200": html}}},
        "/ddfs/static/{path}": {"get": {
            "summary": "The tag browser's script and style sheet",
            "parameters": [{"name": "path", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the file"},
                          "404": {"description": "no such file"}}}},
        "/ddfs/ui/tags": {"get": {
            "summary": "The tag browser's list: a page of tag names with a prefix",
            "parameters": [query("prefix", "the names' prefix")] + paging,
            "responses": {"200": json_reply, "400": error}}},
        "/ddfs/ui/tag": {"get": {
            "summary": "The tag browser's tag: a page of its blobs (with their replicas' "
                       "nodes) and tags",
            "parameters": [query("name", "the tag", True)] + paging,
            "responses": {"200": json_reply, "400": error, "401": error, "403": error,
                          "404": error}}},
    }
