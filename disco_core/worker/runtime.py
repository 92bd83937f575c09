"""What job functions may call while a task runs (the original injected these as globals):
``this_name()``, ``this_host()``, ``this_master()``, ``this_inputs()``,
``this_partition()``, ``Task`` (the running :class:`~disco_core.worker.task.Task`), and
out-of-band values ``put(key, value)`` / ``get(key)``, stored
with the master and read by ``Disco.oob_get`` / ``oob_list`` (or ``disco oob``)."""
from __future__ import annotations

from typing import Any

from ..errors import DiscoError

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
    _task().put(key, value)


def get(key: str, job: str | None = None) -> bytes:
    """An out-of-band value of this job (or of ``job``)."""
    return _task().get(key, job)


NAMES = ("this_name", "this_host", "this_master", "this_partition", "this_inputs", "put", "get",
         "Task")


_injected: list[tuple[dict, str]] = []


def inject(functions: list[Any], inputs: list[str]) -> None:
    """Give job functions these names as globals, unless they define their own
    (:func:`uninject` takes them back)."""
    _inputs[:] = inputs
    values = {name: globals()[name] for name in NAMES if name != "Task"}
    values["Task"] = _task()
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
                if name not in glob:
                    glob[name] = value
                    _injected.append((glob, name))


def uninject() -> None:
    """Remove the globals :func:`inject` gave (a task run in a process that goes on, as
    ``disco debug`` runs one, leaves the job's modules as they were)."""
    while _injected:
        glob, name = _injected.pop()
        glob.pop(name, None)
    _inputs[:] = []
