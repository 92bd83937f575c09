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
    }
