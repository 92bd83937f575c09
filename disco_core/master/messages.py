"""What a node may tell the master, checked before anything on the master changes.

Every message a node sends up its WebSocket goes through :func:`parse` first: a message
that is not JSON, names an unknown ``op``, or lacks a field of the right type is a
:class:`BadMessage` naming the field, and the master drops it (it logs it and keeps the
connection). A report about a task (``done``, ``failed``, ``counters``) then goes through
:func:`current_attempt`: it changes something only if it is about the attempt the master
believes is running on that host now (same job, task, run id and host, job active). A
report from an older attempt, or from a host that no longer runs that attempt, is ignored;
in particular it never frees the slot the task's newer attempt holds on another node.

The master and the scheduler simulator of the contract suites (:mod:`disco_core.contracts`)
both follow this order: parse, find the current attempt, only then free its slot and tell
the job's coordinator.
"""
from __future__ import annotations

import json
from typing import Any

from ..errors import DiscoError
from ..protocol import is_counts
from .pipeline import Output

#: op -> {field: (types, what it is)} of the fields every message of that op carries.
_INT = (int,)
_STR = (str,)
_LIST = (list,)
FIELDS: dict[str, dict[str, tuple[tuple, str]]] = {
    "hello": {"session": (_STR, "the node's session id"),
              "running": (_LIST, "the [job, taskid, runid] attempts it runs")},
    "done": {"job": (_STR, "a job name"), "taskid": (_INT, "a task id"),
             "runid": (_INT, "a run id"), "outputs": (_LIST, "a list of outputs")},
    "failed": {"job": (_STR, "a job name"), "taskid": (_INT, "a task id"),
               "runid": (_INT, "a run id"), "kind": (_STR, "error, fatal or data"),
               "message": (_STR, "the error's text")},
    "counters": {"job": (_STR, "a job name"), "taskid": (_INT, "a task id"),
                 "runid": (_INT, "a run id"), "counts": ((dict,), "{name: number}")},
    "events": {"events": (_LIST, "a list of [job, host, text]")},
    "gc_query": {},
    "error": {"message": (_STR, "what the node could not do")},
    # several of the above (not hello) that the node had to send in one loop iteration
    "batch": {"messages": (_LIST, "a list of messages")},
}


class BadMessage(DiscoError):
    """A node sent something the master does not understand; nothing was changed."""


def parse(raw: str | bytes) -> dict[str, Any]:
    """The message in ``raw``, its fields checked (and a ``done``'s outputs decoded into
    :class:`~.pipeline.Output` under ``"outputs"``); :class:`BadMessage` otherwise."""
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadMessage("the message is not JSON") from None
    msg = check(msg)
    if msg["op"] == "batch":
        inner = []
        for item in msg["messages"]:
            if isinstance(item, dict) and item.get("op") in ("batch", "hello"):
                raise BadMessage("batch message: a %s message cannot be in a batch"
                                 % item["op"])
            inner.append(check(item))
        msg["messages"] = inner
    return msg


def check(msg: Any) -> dict[str, Any]:
    """:func:`parse` of a message already decoded from JSON."""
    if not isinstance(msg, dict):
        raise BadMessage("the message is a %s, not an object with an \"op\""
                         % type(msg).__name__)
    op = msg.get("op")
    fields = FIELDS.get(op) if isinstance(op, str) else None
    if fields is None:
        raise BadMessage("unknown op %r: a node sends one of %s" % (op, ", ".join(sorted(FIELDS))))
    for name, (types, what) in fields.items():
        value = msg.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise BadMessage("%s message: field %r is %r, expected %s" % (op, name, value, what))
    if op == "done":
        msg["outputs"] = [_output(o) for o in msg["outputs"]]
        msg.setdefault("counters", {})
        if not is_counts(msg["counters"]):
            raise BadMessage("done message: counters %r are not {name: number}"
                             % (msg["counters"],))
    elif op == "counters":
        if not is_counts(msg["counts"]):
            raise BadMessage("counters message: %r is not {name: number}" % (msg["counts"],))
    elif op == "failed":
        msg.setdefault("lost", [])
        if not (isinstance(msg["lost"], list) and all(isinstance(u, str) for u in msg["lost"])):
            raise BadMessage("failed message: lost %r is not a list of input URLs"
                             % (msg["lost"],))
    elif op == "events":
        for event in msg["events"]:
            if not (isinstance(event, list) and len(event) == 3
                    and all(isinstance(x, str) for x in event)):
                raise BadMessage("events message: %r is not [job, host, text]" % (event,))
    elif op == "hello":
        msg["running"] = [_attempt(a) for a in msg["running"]]
        msg["plugins"] = _installed(msg.get("plugins"))
    return msg


def _installed(obj: Any) -> dict[str, Any] | None:
    """A hello's ``plugins`` (what the node has installed: ``{"core": version, "dists":
    {name: version}, "drivers": {kind: [name, ...]}}``), or None when it names none."""
    if obj is None:
        return None
    ok = (isinstance(obj, dict) and isinstance(obj.get("core"), str)
          and isinstance(obj.get("dists"), dict)
          and all(isinstance(k, str) and isinstance(v, str) for k, v in obj["dists"].items())
          and isinstance(obj.get("drivers"), dict)
          and all(isinstance(k, str) and isinstance(v, list) and all(isinstance(n, str)
                                                                     for n in v)
                  for k, v in obj["drivers"].items()))
    if not ok:
        raise BadMessage("hello message: plugins %r is not {\"core\": version, \"dists\": "
                         "{name: version}, \"drivers\": {kind: [name, ...]}}" % (obj,))
    return obj


def _output(obj: Any) -> Output:
    try:
        if obj[0] == "dir":
            labels = obj[3]
            if not all(isinstance(x, list) and len(x) == 2 for x in labels):
                raise ValueError(labels)
        elif obj[0] == "data":
            if not isinstance(obj[3], list) or not all(isinstance(u, str) for u in obj[3]):
                raise ValueError(obj[3])
        else:
            raise ValueError(obj[0])
        return Output.from_json(obj)
    except (TypeError, ValueError, IndexError, KeyError):
        raise BadMessage("done message: output %r is not [\"dir\", host, url, [[label, size], "
                         "...]] or [\"data\", label, size, [url, ...]]" % (obj,)) from None


def _attempt(obj: Any) -> tuple[str, int, int]:
    if (isinstance(obj, list) and len(obj) == 3 and isinstance(obj[0], str)
            and all(isinstance(x, int) and not isinstance(x, bool) for x in obj[1:])):
        return obj[0], obj[1], obj[2]
    raise BadMessage("hello message: %r is not [job, taskid, runid]" % (obj,))


def current_attempt(jobs: dict[str, Any], host: str, job: str, taskid: int,
                    runid: int) -> Any:
    """The task ``job``/``taskid`` if its attempt ``runid`` is the one running on ``host``
    now, else None (the report is stale: an older attempt, a retried or finished task, a
    job that ended, or a host the task was moved away from)."""
    owner = jobs.get(job)
    task = owner.tasks.get(taskid) if owner is not None else None
    if task is None or owner.status != "active":
        return None
    if task.state != "running" or task.runid != runid or task.host != host:
        return None
    return task
