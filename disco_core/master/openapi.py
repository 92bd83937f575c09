"""The master's REST API as an OpenAPI 3.1 document, served at ``/disco/openapi.json``.

Core's endpoints are described here, each ``/disco/ctrl/`` operation of the master's table
(:mod:`.ctrl`) on its own path; plugins add theirs with the ``disco_openapi_paths`` hook
(a storage plugin its own endpoints). A test checks that every route the master serves
and every operation in its table is described, and fuzzes the API from this document.
"""
from __future__ import annotations

from typing import Any

from .. import __version__

def _tuple(*items: dict[str, Any], description: str = "") -> dict[str, Any]:
    """A fixed-length JSON array of these items' kinds (``prefixItems`` would say which is
    where, but not every OpenAPI tool takes it yet)."""
    kinds: list[dict[str, Any]] = []
    for item in items:
        if item not in kinds:
            kinds.append(item)
    schema: dict[str, Any] = {"type": "array", "minItems": len(items), "maxItems": len(items),
                              "items": kinds[0] if len(kinds) == 1 else {"anyOf": kinds}}
    if description:
        schema["description"] = description
    return schema


JSON = "application/json"
MESSAGE = {"type": "string", "description": "what went wrong, and how to fix it"}
NAME = {"name": "name", "in": "query", "required": True, "description": "the job's name",
        "schema": {"type": "string"}}
JOB_NAME_BODY = {"type": "string", "description": "a job's name"}
HOST_BODY = {"type": "string", "description": "a host of the node table"}
URL_LISTS = {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
COUNTS = {"type": "object", "additionalProperties": {"type": "number"}}
PIPELINE_ROW = _tuple({"type": "string"}, *[{"type": "integer"}] * 5,
                      description="[stage, pending, waiting, running, done, failed]")
JOBINFO = {"type": "object",
           "required": ["timestamp", "active", "pipeline", "results", "inputs"],
           "properties": {"timestamp": {"type": "string"},
                          "active": {"enum": ["active", "ready", "dead", "initializing"]},
                          "pipeline": {"type": "array", "items": PIPELINE_ROW},
                          "results": {"type": "array", "items": {"type": "string"}},
                          "inputs": {"type": "array", "items": {"type": "string"}},
                          "worker": {"type": "string"}, "owner": {"type": "string"},
                          "hosts": {"type": "array", "items": {"type": "string"}},
                          "blacklisted": {"type": "array", "items": {"type": "string"},
                                          "description": "nodes that failed too many of its "
                                          "tasks (DISCO_JOB_NODE_FAILURES)"},
                          "node_failures": {"type": "object",
                                            "additionalProperties": {"type": "integer"}},
                          "reason": {"type": "string"}}}
NODEINFO = {"type": "object", "additionalProperties": {
    "type": "object", "required": ["max_workers", "connected", "blacklisted"],
    "properties": {"max_workers": {"type": "integer"}, "connected": {"type": "boolean"},
                   "blacklisted": {"type": "boolean"}, "job_ok": {"type": "integer"},
                   "data_error": {"type": "integer"}, "error": {"type": "integer"},
                   "tasks": {"type": "array", "items": {"type": "string"}},
                   "diskfree": {"type": "integer"}, "diskused": {"type": "integer"},
                   "problem": {"type": "string"},
                   "plugins_differ": {"type": "object", "description": "how its plugins "
                                      "differ from the master's: missing, extra, versions, "
                                      "core"}}}}
EVENT = _tuple(*[{"type": "string"}] * 3, description="[timestamp, host, message]")


def _json(schema: dict[str, Any], description: str = "the reply") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(MESSAGE, description)


def _op(summary: str, ok: dict[str, Any], *, params: list | None = None,
        body: dict | None = None, body_type: str = JSON, errors: dict | None = None,
        **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": ok}}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {body_type: {"schema": body}}}
    for code, text in (errors or {}).items():
        op["responses"][str(code)] = _error(text)
    op.update(extra)
    return op


def _query(name: str, description: str, schema: dict | None = None,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


UNKNOWN_JOB = {404: "no such job"}
PROXY_PARAMS = [{"name": "node", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "a host of the node table, or host:port (default DISCO_PORT)"},
                {"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "the path on the node's server"}]
PROXY_ERRORS = {404: "not a node of the node table", 400: "not a host or host:port",
                502: "the node did not answer"}
BAD_BODY = {400: "the body is not what the operation takes"}
GET_OPS: dict[str, dict[str, Any]] = {
    "joblist": _op("Every job, newest first", _json(
        {"type": "array", "items": _tuple({"type": "integer"},
                                          {"enum": ["active", "ready", "dead"]},
                                          {"type": "string"})},
        "[[start, status, name], ...]")),
    "jobinfo": _op("A job's status, stages, inputs and results", _json(JOBINFO),
                   params=[NAME], errors=UNKNOWN_JOB),
    "taskinfo": _op("One task of a job (the failed one by default), enough to run it again",
                    _json({"type": "object"}), errors={404: "no such job or task"},
                    params=[NAME, _query("task", "stage:id, or empty for the task that "
                                         "failed")]),
    "jobevents": _op("A job's newest events (a JSON list in a text/plain reply)",
                     {"description": "[[timestamp, host, message], ...], newest first",
                      "content": {"text/plain": {"schema": {"type": "string"}}}},
                     params=[NAME, _query("num", "how many (1 to 1000)",
                                          {"type": "integer", "minimum": 1}),
                             _query("filter", "only events containing this text")],
                     errors={404: "no such job", 400: "num is not a number of at least 1"}),
    "rawevents": _op("A job's event file as it is (from offset, or a Range)",
                     {"description": "event lines",
                      "content": {"text/plain": {"schema": {"type": "string"}}}},
                     params=[NAME, _query("offset", "byte offset", {"type": "integer",
                                                                   "minimum": 0})],
                     errors={404: "no such job", 400: "a bad offset or Range"}),
    "parameters": _op("The job pack as it was submitted",
                      {"description": "the job pack",
                       "content": {"application/octet-stream": {"schema": {
                           "type": "string", "format": "binary"}}}},
                      params=[NAME], errors={404: "no job pack for that job"}),
    "get_stageresults": _op("The result URLs of a finished stage", _json(URL_LISTS),
                            params=[NAME, _query("stage", "the stage's name", required=True)],
                            errors={404: "no such job, or the stage has not finished"}),
    "counters": _op("A job's counters", _json(
        {"type": "object", "required": ["counters", "running"],
         "properties": {"counters": COUNTS, "running": COUNTS}},
        "the accepted attempts' totals, and the running attempts'"),
        params=[NAME], errors=UNKNOWN_JOB),
    "nodeinfo": _op("Every node of the table: slots, running tasks, state", _json(NODEINFO)),
    "load_config_table": _op("The node table", _json(
        {"type": "array", "items": {"type": "array", "items": {"type": "string"},
                                    "minItems": 2, "maxItems": 2}},
        '[["host or range", "workers"], ...]')),
    "get_blacklist": _op("The hosts no new tasks go to", _json(
        {"type": "array", "items": {"type": "string"}})),
    "get_gc_blacklist": _op("The hosts being emptied of stored data", _json(
        {"type": "array", "items": {"type": "string"}})),
    "get_settings": _op("The master's own settings", _json(
        {"type": "object", "properties": {"max_failure_rate": {"type": "integer"},
                                          "accept_new_jobs": {"type": "integer"}}})),
    "plugins": _op("The plugins the master loaded, and what failed", _json(
        {"type": "array", "items": {"type": "object"}})),
    "oob_list": _op("The keys of a job's out-of-band values", _json(
        {"type": "array", "items": {"type": "string"}}), params=[NAME], errors=UNKNOWN_JOB),
    "oob_get": _op("One out-of-band value of a job",
                   {"description": "the value's bytes", "content": {
                       "application/octet-stream": {"schema": {"type": "string",
                                                               "format": "binary"}}}},
                   params=[NAME, _query("key", "the value's key", required=True)],
                   errors={404: "no such job or key"}),
}
POST_OPS: dict[str, dict[str, Any]] = {
    "oob_put": _op("Store an out-of-band value of a job (a task's put)", _json({"const": ""}),
                   params=[NAME, _query("key", "the value's key", required=True)],
                   body={"type": "string", "format": "binary"},
                   body_type="application/octet-stream",
                   errors={404: "no such job", 400: "a bad key", 413: "too large"}),
    "kill_job": _op("Kill a job", _json({"const": ""}), body=JOB_NAME_BODY,
                    errors={400: "not a job name", 404: "no such job"}),
    "clean_job": _op("Make the master forget a job (its data stays on the nodes)",
                     _json({"const": ""}), body=JOB_NAME_BODY, errors={400: "not a job name"}),
    "purge_job": _op("Kill a job and delete its data everywhere", _json({"const": ""}),
                     body=JOB_NAME_BODY, errors={400: "not a job name"}),
    "get_results": _op("Wait (up to timeout ms) until one of the jobs ends; their results",
                       _json({"type": "array", "items": {"type": "array"}},
                             "[[name, [status, results]], ...]"),
                       body=_tuple({"type": "integer", "minimum": 0, "maximum": 2000},
                                   {"type": "array", "items": {"type": "string"}}),
                       errors=BAD_BODY),
    "blacklist": _op("Send no new tasks to a host", _json({"const": ""}), body=HOST_BODY,
                     errors={400: "not a host of the node table"}),
    "whitelist": _op("Take a host off the blacklist", _json({"const": ""}), body=HOST_BODY,
                     errors={400: "not a host of the node table"}),
    "gc_blacklist": _op("Empty a host of stored data (before removing it)",
                        _json({"const": ""}), body=HOST_BODY,
                        errors={400: "not a host of the node table"}),
    "gc_whitelist": _op("Take a host off the storage blacklist", _json({"const": ""}),
                        body=HOST_BODY, errors={400: "not a host of the node table"}),
    "save_config_table": _op("Replace the node table", _json({"const": "table saved!"}),
                             body={"type": "array", "items": {
                                 "type": "array", "items": {"type": "string"},
                                 "minItems": 2, "maxItems": 2}},
                             params=[_query("empty", "1 to save a table with no rows (no job "
                                            "can run until nodes are added)",
                                            {"enum": ["", "0", "1"]})],
                             errors={400: "a bad row, named, or no rows without empty=1"}),
    "save_settings": _op("Change the master's own settings", _json({"const": "Settings saved"}),
                         body={"type": "object", "properties": {
                             "max_failure_rate": {"type": ["integer", "string"]},
                             "accept_new_jobs": {"type": ["integer", "string"]}}},
                         errors={400: "a setting is not an integer"}),
}


def _static() -> dict[str, Any]:
    job = {"get": _op("The job page", {"description": "HTML",
                                       "content": {"text/html": {"schema": {"type": "string"}}}})}
    page = lambda what: {"get": _op(what, {  # noqa: E731
        "description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}})}
    view_job = [NAME]
    return {
        "/disco/version": {"get": _op("The master's version", _json({"type": "string"}))},
        "/disco/openapi.json": {"get": _op("This document", _json({"type": "object"}))},
        "/disco/job/new": {"post": _op(
            "Submit a job pack", _json(_tuple({"enum": ["ok", "error"]}, {"type": "string"}),
                                       '["ok", name] or ["error", "Job failed to start: ..."]'),
            body={"type": "string", "format": "binary"},
            body_type="application/octet-stream",
            errors={403: "the cluster takes no new jobs", 413: "the job pack is too large"})},
        "/": page("The status page"), "/index.html": page("The status page"),
        "/job.html": job, "/config.html": page("The configure page"),
        "/static/{file}": {"get": _op("The pages' scripts and styles", {
            "description": "the file", "content": {"*/*": {"schema": {"type": "string"}}}},
            params=[{"name": "file", "in": "path", "required": True,
                     "schema": {"type": "string"}}], errors={404: "no such file"})},
        "/disco/ui/status": {"get": _op("What the status page shows", _json({"type": "object"}))},
        "/disco/ui/job": {"get": _op("What a job's page shows", _json({"type": "object"}),
                                     params=view_job, errors=UNKNOWN_JOB)},
        "/disco/ui/timeline": {"get": _op("A job's attempts per node and slot", _json(
            {"type": "object", "required": ["attempts", "nodes", "stages"]}),
            params=view_job, errors=UNKNOWN_JOB)},
        "/disco/ui/settings": {"get": _op("The settings the master runs with, secrets left out",
                                          _json({"type": "object"}))},
        "/disco/ui/links": {"get": _op("The pages plugins link from the navigation", _json(
            {"type": "array", "items": {"type": "object"}}))},
        "/disco/ui/safe_to_remove": {"get": _op(
            "The gc-blacklisted nodes storage plugins say can leave with nothing lost",
            _json({"type": "array", "items": {"type": "string"}}))},
        "/disco/ui/feed": {"get": _op(
            "A live view: server-sent snapshot events each time it changes",
            {"description": "an event stream", "content": {"text/event-stream": {
                "schema": {"type": "string"}}}},
            params=[_query("view", "status or job", {"enum": ["status", "job"]}),
                    _query("name", "the job, for view=job"),
                    _query("filter", "only events containing this text")],
            errors={400: "an unknown view", 404: "no such job"}, **{"x-stream": True})},
        "/disco/node/connect": {"get": _op(
            "A node's WebSocket (nodes only: the cluster secret; a node of another core "
            "version is refused)",
            {"description": "the WebSocket handshake"},
            params=[_query("host", "the node's host in the node table", required=True),
                    _query("version", "the node's disco_core version", required=True),
                    _query("data_port", "where the node beside the master serves its data",
                           {"type": "integer"})],
            **{"x-nodes-only": True})},
        "/disco/node/inputs": {"get": _op(
            "A running task's inputs, for its node (the cluster secret)", _json(URL_LISTS),
            params=[_query("job", "the job", required=True),
                    _query("taskid", "the task", {"type": "integer"}, True),
                    _query("runid", "the attempt", {"type": "integer"}, True),
                    _query("start", "the first input wanted (default 0)", {"type": "integer"}),
                    _query("end", "past the last input wanted (default all)",
                           {"type": "integer"})],
            errors={403: "not a node of this cluster", 404: "no such running attempt",
                    400: "bad arguments"}, **{"x-nodes-only": True})},
        "/disco/{path}": {"get": _op(
            "A file of job data the node beside the master keeps (DISCO_DATA)",
            {"description": "the file", "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}},
            params=[{"name": "path", "in": "path", "required": True,
                     "schema": {"type": "string"}}],
            errors={404: "no such file", 403: "not a file"})},
        "/proxy/{node}/GET/{path}": {"get": _op(
            "A node's data, for a client that reaches only the master (DISCO_PROXY)",
            {"description": "the node's reply, as it is",
             "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
            params=PROXY_PARAMS, errors=PROXY_ERRORS)},
        "/proxy/{node}/PUT/{path}": {"put": _op(
            "A PUT to a node's server, for a client that reaches only the master",
            {"description": "the node's reply, as it is"}, params=PROXY_PARAMS,
            body={"type": "string", "format": "binary"},
            body_type="application/octet-stream", errors=PROXY_ERRORS)},
    }


def document(master: Any) -> dict[str, Any]:
    """The OpenAPI document of this master: core's endpoints, each operation in its table,
    and the plugins' paths."""
    paths = _static()
    for method, ops in (("GET", GET_OPS), ("POST", POST_OPS)):
        for name in master.ctrl_ops.names(method):
            spec = ops.get(name) or _op("(an operation a plugin added)", _json({}))
            paths.setdefault("/disco/ctrl/%s" % name, {})[method.lower()] = spec
    for _plugin, extra in master.plugins.each("disco_openapi_paths", master=master):
        if isinstance(extra, dict):
            for path, methods in extra.items():
                if isinstance(path, str) and isinstance(methods, dict):
                    paths.setdefault(path, {}).update(methods)
    return {"openapi": "3.1.0",
            "info": {"title": "Disco master", "version": __version__,
                     "description": "The REST API of a Disco master: jobs, nodes, the web "
                                    "UI's views, and what plugins add."},
            "paths": dict(sorted(paths.items()))}
