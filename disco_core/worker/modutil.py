"""Finding the modules a job needs that nodes may not have.

Job functions travel with cloudpickle: functions from ``__main__`` go by value, functions
from importable modules go by reference, so the node must be able to import those
modules. :func:`job_modules` scans the job's functions (their module, the globals their
code names, recursively through user modules) and returns the *user* modules among them:
those whose source lives outside the standard library and site-packages. Their sources
are shipped in the job home under ``lib/``, which is on the task's ``sys.path``.

:func:`find_modules` is the original's scan: the modules a function's code uses as
``module.attribute``, which the task binds as globals of the job functions (the original's
job functions could use a module they never imported).
"""
from __future__ import annotations

import os
import sys
import sysconfig
import types
from typing import Any, Iterable

from ..errors import DiscoError


class ModUtilImportError(DiscoError):
    def __init__(self, error: str, function: Any) -> None:
        self.error = error
        self.function = function
        super().__init__("%s (in %r)" % (error, function))


def _system_paths() -> list[str]:
    paths = set()
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            paths.add(os.path.realpath(sysconfig.get_paths()[name]))
        except KeyError:
            pass
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        paths.add(os.path.realpath(os.path.join(prefix, "lib")))
    import site
    for p in getattr(site, "getsitepackages", lambda: [])():
        paths.add(os.path.realpath(p))
    return sorted(paths)


_SYSTEM = None


def is_user_module(module: types.ModuleType) -> bool:
    global _SYSTEM
    name = module.__name__
    if name == "__main__" or name.split(".")[0] in ("disco", "disco_core") \
            or name.startswith("disco_plugin_"):
        return False
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return False
    if _SYSTEM is None:
        _SYSTEM = _system_paths()
    real = os.path.realpath(path)
    if "site-packages" in real.split(os.sep) or "dist-packages" in real.split(os.sep):
        return False
    return not any(real.startswith(p + os.sep) for p in _SYSTEM)


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _referenced(obj: Any) -> list[Any]:
    """Modules and module-level objects a function, class or module refers to."""
    out: list[Any] = []
    if isinstance(obj, types.ModuleType):
        out.extend(v for v in vars(obj).values()
                   if isinstance(v, (types.ModuleType, types.FunctionType, type)))
        return out
    func = getattr(obj, "__func__", obj)
    if hasattr(func, "func"):  # functools.partial
        out.append(func.func)
        out.extend(func.args)
    code = getattr(func, "__code__", None)
    if code is not None:
        glob = getattr(func, "__globals__", {})
        for name in _code_names(code):
            if name in glob:
                out.append(glob[name])
        for cell in getattr(func, "__closure__", None) or ():
            try:
                out.append(cell.cell_contents)
            except ValueError:
                pass
    if isinstance(obj, type):
        for base in obj.__mro__:
            for value in vars(base).values():
                value = getattr(value, "__func__", value)
                if callable(value):
                    out.append(value)
    return out


def _module_of(obj: Any) -> types.ModuleType | None:
    if isinstance(obj, types.ModuleType):
        return obj
    name = getattr(obj, "__module__", None)
    if isinstance(obj, types.FunctionType) or isinstance(obj, type):
        return sys.modules.get(name) if name else None
    return None


def job_modules(objects: Iterable[Any], send_modules: bool = True,
                job_path: str | None = None, recurse: bool = True,
                exclude: Iterable[str] = ()) -> list[Any]:
    """The user modules the objects (job functions, classes) need on a node so that their
    pickles load there: the objects' own modules and every user module their code and
    those modules refer to. ``(module name, source path)`` pairs to ship in the job home,
    or, with ``send_modules=False``, the names only.

    ``recurse=False`` looks only at the objects' own modules and what their code names, not
    into the modules found. ``job_path`` is a directory whose modules count as user modules
    even when it lies under a system path. Modules in ``exclude`` are left out.
    """
    excluded = set(exclude)
    found: dict[str, str] = {}
    seen: set[int] = set()
    stack = list(objects)
    user = _user_test(job_path)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        module = _module_of(obj)
        if module is not None and module.__name__ not in found and user(module) \
                and module.__name__ not in excluded:
            found[module.__name__] = module.__file__  # type: ignore[assignment]
            if recurse:
                stack.append(module)
            # parents of a submodule are needed to import it
            parts = module.__name__.split(".")
            for i in range(1, len(parts)):
                parent = sys.modules.get(".".join(parts[:i]))
                if parent is not None and user(parent):
                    found.setdefault(parent.__name__, parent.__file__)  # type: ignore[arg-type]
        if isinstance(obj, types.ModuleType):
            if recurse and module is not None and module.__name__ in found:
                stack.extend(_referenced(obj))
            continue
        if module is not None and module.__name__ not in found and module.__name__ != "__main__":
            continue  # library code: the node has it
        stack.extend(_referenced(obj))
    if not send_modules:
        return sorted(found)
    return sorted(found.items())


def find_modules(fun_list: Iterable[Any], send_modules: bool = True,
                 job_path: str | None = None, recurse: bool = True,
                 exclude: Iterable[str] = ()) -> list[Any]:
    """The modules the functions use, as the original's ``find_modules``: every module a
    function's code names as ``module.attribute`` (:func:`parse_function`), imported here.

    With ``send_modules`` (the default) a module found on the path (a user module, or one
    under ``job_path``) is a ``(name, source path)`` pair to ship in the job home, and so,
    with ``recurse``, is every user module it uses in turn; a system module is its name.
    With ``send_modules=False`` every module is its name (the user modules' own modules
    too when ``recurse``). Modules in ``exclude`` are left out. A name that does not import
    raises :class:`ModUtilImportError`. Tasks get every module of ``required_modules`` as a
    global of the job functions, so they may use one without importing it.
    """
    import importlib
    excluded = set(exclude)
    user = _user_test(job_path)
    shipped: dict[str, str] = {}
    names: list[str] = []
    for function in fun_list:
        for name in parse_function(function):
            if name in excluded:
                continue
            try:
                module = sys.modules.get(name) or importlib.import_module(name)
            except ImportError as exc:
                raise ModUtilImportError("cannot import module %r: %s" % (name, exc),
                                         function) from None
            if user(module):
                found = {name: module.__file__}
                if recurse:
                    found.update(job_modules([module], job_path=job_path, exclude=excluded))
                if send_modules:
                    shipped.update(found)
                else:
                    names.extend(n for n in found if n not in names)
            elif name not in names:
                names.append(name)
    if not send_modules:
        return sorted(names)
    return sorted(shipped.items()) + sorted(n for n in names if n not in shipped)


def bound_names(fun_list: Iterable[Any]) -> list[str]:
    """The module names :func:`find_modules` would give, without failing: names that do
    not import here are left out (a job's own runtime globals, a module only the nodes
    have). What a job with automatic ``required_modules`` binds in its functions."""
    import importlib
    names: list[str] = []
    for function in fun_list:
        try:
            candidates = parse_function(function)
        except Exception:
            continue
        for name in candidates:
            if name in names:
                continue
            try:
                sys.modules.get(name) or importlib.import_module(name)
            except Exception:
                continue
            names.append(name)
    return names


def module_plan(required: Any, functions: list[Any]) -> tuple[list[tuple[str, str]], list[list]]:
    """What a job's modules need: ``(name, source path)`` of the user modules the job home
    carries, and ``[name, strict]`` of the modules each task binds as globals of the job
    functions. The modules the job's pickles load from (:func:`job_modules`) always ship.
    ``required`` (the job's ``required_modules``: names, or ``(name, path)`` to ship) names
    the modules to bind, each strictly (a task fails when one does not import on its node);
    ``None`` finds them: the modules the functions' code uses as ``module.attribute``
    (:func:`bound_names`), shipped when they are user modules, bound when they import."""
    import importlib
    ship: dict[str, str] = dict(job_modules(functions))
    bind: list[list] = []
    if required is None:
        for name in bound_names(_unpacked(functions)):
            module = sys.modules.get(name)
            if module is not None and is_user_module(module):
                ship.setdefault(name, module.__file__)  # type: ignore[arg-type]
                ship.update((n, p) for n, p in job_modules([module]) if n not in ship)
            bind.append([name, False])
        return sorted(ship.items()), bind
    if isinstance(required, str):
        required = [required]
    for entry in required:
        if isinstance(entry, (tuple, list)):
            name, path = entry[0], entry[1]
            ship[name] = path
        else:
            name = entry
            try:
                mod = sys.modules.get(name) or importlib.import_module(name)
            except ImportError as exc:
                raise DiscoError("required_modules names %r, which does not import here "
                                 "(%s): install it, or give it as (name, path) to ship its "
                                 "source" % (name, exc)) from None
            path = getattr(mod, "__file__", None)
            if path and path.endswith(".py") and is_user_module(mod):
                ship[name] = path
        bind.append([name, True])
    return sorted(ship.items()), bind


def _unpacked(functions: list[Any]) -> list[Any]:
    """Functions, with each class (a Job subclass) replaced by its own methods."""
    out: list[Any] = []
    for obj in functions:
        if isinstance(obj, type):
            for base in obj.__mro__:
                if base.__module__.split(".")[0] in ("disco", "disco_core", "builtins"):
                    continue
                out.extend(getattr(v, "__func__", v) for v in vars(base).values()
                           if callable(getattr(v, "__func__", v)))
        else:
            out.append(obj)
    return out


def _user_test(job_path: str | None) -> Any:
    if not job_path:
        return is_user_module
    root = os.path.realpath(job_path) + os.sep

    def user(module: types.ModuleType) -> bool:
        path = getattr(module, "__file__", None) or ""
        return is_user_module(module) or (path.endswith(".py")
                                          and os.path.realpath(path).startswith(root))
    return user


def locate_modules(modules: Iterable[str], recurse: bool = True,
                   include_sys: bool = False) -> list[Any]:
    """``(name, source path)`` of the named modules that are user modules (imported here
    if need be), and, with ``recurse``, of the user modules they use. ``include_sys=True``
    adds the names of the other (system) modules as plain strings."""
    import importlib
    found: dict[str, Any] = {}
    system: list[str] = []
    for name in modules:
        try:
            module = sys.modules.get(name) or importlib.import_module(name)
        except ImportError as exc:
            raise ModUtilImportError("cannot import module %r: %s; install it or name its "
                                     "file as (name, path)" % (name, exc), name) from None
        if is_user_module(module):
            found[name] = module.__file__
            if recurse:
                found.update(job_modules([module]))
        elif include_sys:
            system.append(name)
    return sorted(found.items()) + sorted(set(system))


def parse_function(function: Any) -> list[str]:
    """The names of the modules a function's code uses as ``module.attribute``: a global
    name followed by an attribute (``os.path``, ``mod1.plusceil(...)``), including the code
    of functions nested in it. A global bound to a module gives that module's name (so
    ``import numpy as np`` gives ``numpy``); a global bound to something else is not a
    module; a name the function's globals lack is taken as a module's (the original's
    rule, so a function may use a module it never imports)."""
    import builtins
    func = getattr(function, "__func__", function)
    while hasattr(func, "func") and not hasattr(func, "__code__"):  # functools.partial
        func = func.func
    code = getattr(func, "__code__", None)
    if code is None:
        return []
    glob = getattr(func, "__globals__", {}) or {}
    names: set[str] = set()
    for name in _attribute_globals(code):
        if name in _RUNTIME_NAMES:
            continue
        value = glob.get(name, _MISSING)
        if isinstance(value, types.ModuleType):
            if value.__name__ != "__main__":
                names.add(value.__name__)
        elif value is _MISSING and not hasattr(builtins, name):
            names.add(name)
    return sorted(names)


_MISSING = object()
#: Globals a running task gives job functions (:mod:`.runtime`): not modules to import.
_RUNTIME_NAMES = frozenset(("Task", "this_name", "this_host", "this_master", "this_partition",
                            "this_inputs", "get", "put"))


def _attribute_globals(code: types.CodeType) -> set[str]:
    """Global names that the code (and code nested in it) reads an attribute of."""
    import dis
    found: set[str] = set()
    previous = None
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and previous is not None \
                and previous.opname == "LOAD_GLOBAL":
            found.add(str(previous.argval))
        if ins.opname not in ("CACHE", "EXTENDED_ARG"):
            previous = ins
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _attribute_globals(const)
    return found


def archive_name(module: str, path: str) -> str:
    """Where a module's source goes in the job home, relative to ``lib/``."""
    parts = module.split(".")
    if os.path.basename(path) == "__init__.py":
        return os.path.join(*parts, "__init__.py")
    return os.path.join(*parts[:-1], parts[-1] + ".py") if len(parts) > 1 else parts[0] + ".py"
