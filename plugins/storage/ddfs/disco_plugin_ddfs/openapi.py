"""The OpenAPI ``paths`` of DDFS's master routes (``reference/rest-api.md`` section 2), merged
into the master's ``/disco/openapi.json`` through the ``disco_openapi_paths`` hook."""
from __future__ import annotations

from typing import Any

JSON = "application/json"
MESSAGE = {"type": "string", "description": "what went wrong"}
URLS = {"type": "array", "items": {"type": "string"}}
URL_SETS = {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
TAG = {"name": "tag", "in": "path", "required": True, "description": "the tag's name",
       "schema": {"type": "string"}}
ATTR = {"name": "attr", "in": "path", "required": True,
        "description": "an attribute (ddfs:urls, ddfs:read-token, ddfs:write-token, or the "
                       "user's own)", "schema": {"type": "string"}}
FLAGS = [{"name": name, "in": "query", "required": False, "description": text,
          "schema": {"type": "string"}}
         for name, text in (("update", "non-empty: add only the URL sets not in the tag"),
                            ("delayed", "non-empty: a delayed write"))]


def _reply(schema: dict, description: str = "the reply") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(**codes: str) -> dict[str, Any]:
    return {code.lstrip("_"): _reply(MESSAGE, text) for code, text in codes.items()}


def _op(summary: str, ok: dict, params: list, errors: dict, body: dict | None = None) -> dict:
    op: dict[str, Any] = {"summary": summary, "parameters": params,
                          "responses": {"200": ok, **errors}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    return op


def ctrl_paths() -> dict[str, Any]:
    """The maintenance operations (:mod:`.ctrl`)."""
    text = {"type": "string"}
    host = {"name": "host", "in": "query", "required": True, "schema": text,
            "description": "a node of the table"}
    report = {"type": "object", "description": "checked, corrupt [host, blob, why], missing "
              "[host, blob], copied [blob, url], failed, lost, unreachable, seconds"}
    drain = {"type": "object", "properties": {
        "host": text, "blobs_left": {"type": "integer"}, "gc_blacklisted": {"type": "boolean"},
        "safe": {"type": "boolean"}, "gc": text, "runs": {"type": "integer"},
        "report": {"type": "object"}}}
    gets = {"gc_status": ("The GC's phase ('' when idle)", text),
            "gc_start": ("Start a GC run ('GC has started' or 'GC is waiting')", text),
            "gc_stats": ("The last run's counts ('' before the first)", {}),
            "gc_balance": ("The disks' use the last run found, and the blobs it moved to "
                           "even them out ('' before the first)", {}),
            "safe_gc_blacklist": ("gc-blacklisted hosts no tag references (safe to remove)",
                                  URLS)}
    out: dict[str, Any] = {"/ddfs/ctrl/%s" % name: {"get": _op(summary, _reply(schema), [], {})}
                           for name, (summary, schema) in gets.items()}
    out["/ddfs/ctrl/drain_status"] = {"get": _op(
        "How far a drain is", _reply(drain), [host], _errors(_404="not in the node table"))}
    out["/ddfs/ctrl/drain"] = {"post": _op(
        "Drain a node: gc-blacklist it and copy its blobs away", _reply(drain), [],
        _errors(_404="not in the node table",
                _409="too few other nodes for the replicas: nothing changed"), body=text)}
    out["/ddfs/ctrl/hosted_tags"] = {"post": _op(
        "The tags whose URLs name data on a node", _reply(URLS, "tag names, sorted"), [],
        _errors(_400="the body is not a JSON string", _404="Unknown host."), body=text)}
    out["/ddfs/ctrl/scrub"] = {"post": _op(
        "Check every replica's checksum, repair from good replicas", _reply(report), [], {},
        body={})}
    for path, what, kind in (("/ddfs/gc", "The web UI's GC panel", "text/html"),
                             ("/ddfs/gc/gc.js", "The GC panel's script",
                              "application/javascript")):
        out[path] = {"get": {"summary": what, "parameters": [], "responses": {"200": {
            "description": what, "content": {kind: {"schema": text}}}}}}
    return out


def paths() -> dict[str, Any]:
    bad = _errors(_403="an invalid name or body", _401="a wrong token",
                  _404="no such tag or attribute")
    tag_object = {"type": "object", "properties": {
        "version": {"type": "integer"}, "id": {"type": "string"},
        "last-modified": {"type": "string"}, "urls": URL_SETS,
        "user-data": {"type": "object"}}}
    return {
        "/ddfs/new_blob/{prefix}": {"get": _op(
            "Where to PUT a new blob's replicas", _reply(URLS, "PUT URLs"),
            [{"name": "prefix", "in": "path", "required": True, "schema": {"type": "string"}}]
            + [{"name": n, "in": "query", "required": False, "schema": {"type": "string"},
                "description": d} for n, d in (("replicas", "how many"),
                                               ("exclude", "hosts to leave out, a,b"),
                                               ("include", "hosts to use, a,b"))],
            _errors(_403="an invalid prefix, not enough nodes, or an unknown host"))},
        "/ddfs/tags": {"get": _op("Every tag", _reply(URLS, "tag names"), [], {})},
        "/ddfs/tags/{prefix}": {"get": _op(
            "The tags with a prefix", _reply(URLS, "tag names"),
            [{"name": "prefix", "in": "path", "required": True, "schema": {"type": "string"}}],
            {})},
        "/ddfs/tag/{tag}": {
            "get": _op("A tag", _reply(tag_object), [TAG], bad),
            "post": _op("Add URL sets to a tag (made if missing)",
                        _reply(URLS, "where the tag is"), [TAG] + FLAGS,
                        {**bad, **_errors(_413="the body is too large")}, body=URL_SETS),
            "put": _op("Replace a tag's URL sets", _reply(URLS, "where the tag is"), [TAG],
                       {**bad, **_errors(_413="the body is too large")}, body=URL_SETS),
            "delete": _op("Delete a tag", _reply({"type": "string"}), [TAG], bad)},
        "/ddfs/tag/{tag}/{attr}": {
            "get": _op("An attribute of a tag", _reply({}), [TAG, ATTR], bad),
            "put": _op("Set an attribute", _reply(URLS, "where the tag is"), [TAG, ATTR], bad,
                       body={"type": "string"}),
            "delete": _op("Delete an attribute", _reply({"type": "string"}), [TAG, ATTR],
                          bad)},
        **ctrl_paths(),
    }
