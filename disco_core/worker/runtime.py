"""What job functions may call while a task runs (the original injected these as globals):
``this_name()``, ``this_host()``, ``this_master()``, ``this_inputs()``,
``this_partition()``, and out-of-band values ``put(key, value)`` / ``get(key)``, stored
with the master and read by ``Disco.oob_get`` / ``oob_list`` (or ``disco oob``)."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from ..errors import DiscoError

_KEY = re.compile(r"^[A-Za-z0-9_\-@:]+$")
_inputs: list[str] = []


def _task() -> Any:
    from . import active_task
    task = active_task()
    if task is None:
        raise DiscoError("this function works only inside a running task")
    return task


def this_name() -> str:
    return _task().jobname


def this_host() -> str:
    return _task().host


def this_master() -> str:
    return _task().master


def this_partition() -> Any:
    return _task().group_label


def this_inputs() -> list[str]:
    return list(_inputs)


def put(key: str, value: bytes) -> None:
    """Store an out-of-band value for this job (``key`` of ``[A-Za-z0-9_-@:]``)."""
    from ..client.comm import request
    if not isinstance(key, str) or not _KEY.match(key):
        raise DiscoError("OOB key %r must match [A-Za-z0-9_-@:]+" % (key,))
    if isinstance(value, str):
        value = value.encode("utf-8")
    task = _task()
    request("POST", "%s/disco/ctrl/oob_put?name=%s&key=%s"
            % (task.master, quote(task.jobname), quote(key)), bytes(value))


def get(key: str, job: str | None = None) -> bytes:
    """An out-of-band value of this job (or of ``job``)."""
    from ..client.comm import request
    task = _task()
    return request("GET", "%s/disco/ctrl/oob_get?name=%s&key=%s"
                   % (task.master, quote(job or task.jobname), quote(key)))


NAMES = ("this_name", "this_host", "this_master", "this_partition", "this_inputs", "put", "get")


def inject(functions: list[Any], inputs: list[str]) -> None:
    """Give job functions these names as globals, unless they define their own."""
    _inputs[:] = inputs
    values = {name: globals()[name] for name in NAMES}
    functions = list(functions)
    for obj in list(functions):
        if isinstance(obj, type):  # a Job class: its methods and static methods
            functions.extend(v for base in obj.__mro__ for v in vars(base).values())
    for fn in functions:
        fn = getattr(fn, "__func__", fn)
        fn = getattr(fn, "func", fn)  # functools.partial
        glob = getattr(fn, "__globals__", None)
        if isinstance(glob, dict):
            for name, value in values.items():
                glob.setdefault(name, value)
