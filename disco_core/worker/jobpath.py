"""The job's own modules first on ``sys.path``, and the worker's standard ones kept.

A job home's ``lib/`` holds the job's modules (:mod:`.modutil` puts them there) and must come
first on the task's ``sys.path``: the pickled job names them (``profile.ProfileJob``) and the
job's code imports them. One of them may share its name with a standard library module the
worker uses itself: the seed FAQ's ``profile.py`` shadows the ``profile`` that ``cProfile``
is built on, a ``json.py`` would shadow the worker protocol's JSON.

So a task process (:meth:`~disco_core.worker.Worker.main`) calls :func:`job_modules_first`
before it loads the job: the worker imports everything it will need while ``lib/`` is off the
path (:func:`preload`), then ``lib/`` goes first and every module already imported that a
file in ``lib/`` shadows leaves ``sys.modules``. The worker's modules keep their references to
the standard modules; the job's ``import profile`` finds the job's own. Built-in and frozen
modules (``sys``, ``os``, ...) cannot be shadowed from ``sys.path`` and are never touched,
nor is the worker's own package.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys

#: Modules a task imports after it starts, beyond those importing the worker brings in:
#: the stages, their inputs and outputs, profiling, the job's unpickling, the task's limits.
WORKER_MODULES = (
    "disco_core.worker.classic", "disco_core.worker.pipeline", "disco_core.worker.simple",
    "disco_core.worker.dataio", "disco_core.worker.inout", "disco_core.worker.runtime",
    "disco_core.worker.sort", "disco_core.worker.task_io", "disco_core.worker.schemes",
    "disco_core.comm", "disco_core.records", "disco_core.sysutil", "disco_core.util",
    "cloudpickle", "zstandard", "pickle", "marshal", "cProfile", "profile", "pstats",
    "random", "resource", "tempfile", "shutil", "heapq", "collections",
)

#: Schemes every Python task may open (others load when a job names them).
CORE_SCHEMES = ("file", "disco", "dir", "raw", "http", "https")

_PROTECTED = ("disco_core",)


def preload() -> None:
    """Import what Python tasks use: :data:`WORKER_MODULES` and the core schemes, readers
    and writers (a plugin that fails to load is reported when a task uses it)."""
    for name in WORKER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from ..plugins import get_host
    host = get_host()
    for kind in ("scheme", "reader", "writer"):
        for name in host.names(kind):
            if kind == "scheme" and name not in CORE_SCHEMES:
                continue
            try:
                host.driver(kind, name)
            except Exception:
                pass


def shadowed_names(lib: str) -> list[str]:
    """Top-level modules and packages in ``lib`` that an import would take from there."""
    try:
        entries = os.listdir(lib)
    except OSError:
        return []
    suffixes = tuple(importlib.machinery.SOURCE_SUFFIXES + importlib.machinery.EXTENSION_SUFFIXES
                     + importlib.machinery.BYTECODE_SUFFIXES)
    names = set()
    for entry in entries:
        path = os.path.join(lib, entry)
        if os.path.isdir(path):
            if os.path.isfile(os.path.join(path, "__init__.py")):
                names.add(entry)
        elif entry.endswith(suffixes):
            names.add(entry.split(".", 1)[0])
    return sorted(n for n in names if n.isidentifier() and not _unshadowable(n))


def _unshadowable(name: str) -> bool:
    return (name in sys.builtin_module_names or name in _PROTECTED
            or importlib.machinery.FrozenImporter.find_spec(name) is not None)


def job_modules_first(lib: str) -> list[str]:
    """Put ``lib`` first on ``sys.path`` after preloading the worker's modules without it;
    evict the imported modules ``lib`` shadows. The names evicted."""
    lib = os.path.abspath(lib)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != lib]
    preload()
    sys.path.insert(0, lib)
    importlib.invalidate_caches()
    shadowed = shadowed_names(lib)
    evicted = []
    for name in list(sys.modules):
        top = name.split(".", 1)[0]
        if top in shadowed and not _from(sys.modules[name], lib):
            del sys.modules[name]
            evicted.append(name)
    return evicted


def _from(module: object, lib: str) -> bool:
    path = getattr(module, "__file__", None) or ""
    return os.path.abspath(path).startswith(lib + os.sep)
