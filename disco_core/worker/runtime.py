"""What job functions may call while a task runs (the original injected these as globals):
``this_name()``, ``this_host()``, ``this_master()``, ``this_inputs()``,
``this_partition()``, ``Task`` (the running :class:`~disco_core.worker.task.Task`), and
out-of-band values ``put(key, value)`` / ``get(key)``, stored
with the master and read by ``Disco.oob_get`` / ``oob_list`` (or ``disco oob``)."""
from __future__ import annotations

# standard modules at import time, before a job's lib/ (which may shadow them) is on the path
import builtins
import importlib
import re
import sys
from typing import Any

from ..errors import DiscoError
from . import counters
from .task import active_task

_inputs: list[str] = []


def _task() -> Any:
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

#: Interface documentation in :mod:`.func` (``map(entry, params)``, ...), not helpers.
_STUBS = frozenset(("map", "reduce", "reduce2", "partition", "combiner", "init"))


def helper_globals() -> dict[str, Any]:
    """What the original's job functions found as globals besides the task's: ``re``, and
    the helpers of ``disco.worker.classic.func`` and ``disco.worker.task_io``
    (``chain_reader``, the stream functions, ``sum_combiner``, ...). Names
    of builtins are left out, so a job's ``map(...)`` stays Python's. Made once a process
    (a warm worker injects them for every task) and copied for each caller."""
    global _helpers
    if _helpers is None:
        _helpers = _make_helper_globals()
    return dict(_helpers)


_helpers: dict[str, Any] | None = None


def _make_helper_globals() -> dict[str, Any]:
    from . import func, task_io
    values: dict[str, Any] = {"re": re}
    for module in (task_io, func):
        for name, value in vars(module).items():
            if name.startswith("_") or name in _STUBS or hasattr(builtins, name):
                continue
            if isinstance(value, task_io.NamedDriver) or (
                    callable(value) and getattr(value, "__module__", None) == module.__name__
                    and not isinstance(value, type)):
                values[name] = value
            elif name.endswith("_stream") and isinstance(value, tuple):
                values[name] = value  # chain_stream, default_stream, ...
    return values


def bind_modules(modules: list) -> dict[str, Any]:
    """``{global name: module}`` for ``[name, strict]`` pairs: each module imported and
    bound under its top-level name. A strict one that does not import fails the task;
    one found automatically is skipped then."""
    values: dict[str, Any] = {}
    for name, strict in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            if strict:
                raise DiscoError("required module %r does not import on this node: %s: %s. "
                                 "Install it on the nodes, or give it as (name, path) in "
                                 "required_modules to ship its source"
                                 % (name, type(exc).__name__, exc)) from None
            continue
        top = name.split(".")[0]
        values[top] = sys.modules[top]
    return values


_injected: list[tuple[dict, str]] = []


def inject(functions: list[Any], inputs: list[str], modules: list | None = None) -> None:
    """Give job functions these names as globals, unless they define their own: the
    task's (:data:`NAMES`), the modules of ``required_modules`` (``[name, strict]``
    pairs) and the original's helpers (:func:`helper_globals`). :func:`uninject` takes
    them back."""
    _inputs[:] = inputs
    values = {name: globals()[name] for name in NAMES if name != "Task"}
    values["Task"] = _task()
    values["counters"] = counters
    values.update(bind_modules(modules or []))
    for name, value in helper_globals().items():
        values.setdefault(name, value)
    functions = list(functions)
    for obj in list(functions):
        if isinstance(obj, type):  # a Job class: its methods and static methods
            functions.extend(v for base in obj.__mro__ for v in vars(base).values())
    seen: set[int] = set()
    for fn in functions:
        fn = getattr(fn, "__func__", fn)
        while hasattr(fn, "func") and not hasattr(fn, "__globals__"):  # functools.partial
            fn = fn.func
        glob = getattr(fn, "__globals__", None)
        if isinstance(glob, dict) and id(glob) not in seen and not _framework(glob):
            seen.add(id(glob))
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


def _framework(glob: dict) -> bool:
    """Whether these are the globals of Disco's own code (a Job base class's methods)."""
    name = str(glob.get("__name__") or "")
    return name.split(".")[0] in ("disco", "disco_core") or name.startswith("disco_plugin_")
