"""Finding the modules a job needs that nodes may not have.

Job functions travel with cloudpickle: functions from ``__main__`` go by value, functions
from importable modules go by reference, so the node must be able to import those
modules. :func:`find_modules` scans the job's functions (their module, the globals their
code names, recursively through user modules) and returns the *user* modules among them:
those whose source lives outside the standard library and site-packages. Their sources
are shipped in the job home under ``lib/``, which is on the task's ``sys.path``.
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


def find_modules(objects: Iterable[Any], send_modules: bool = True,
                 job_path: str | None = None, recurse: bool = True,
                 exclude: Iterable[str] = ()) -> list[Any]:
    """The user modules the objects (job functions, classes) need, as the original's
    ``find_modules``: ``(module name, source path)`` pairs to ship in the job home, or, with
    ``send_modules=False``, their names only (for nodes that have the modules installed).

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
                found.update(find_modules([module]))
        elif include_sys:
            system.append(name)
    return sorted(found.items()) + sorted(set(system))


def parse_function(function: Any) -> list[str]:
    """The names of the modules a function's code uses: modules it names as globals, and
    the modules of the functions and classes it names."""
    names: set[str] = set()
    for obj in _referenced(function):
        module = obj if isinstance(obj, types.ModuleType) else _module_of(obj)
        if module is not None and module.__name__ != "__main__":
            names.add(module.__name__)
    own = _module_of(getattr(function, "__func__", function))
    if own is not None:
        names.discard(own.__name__)
    return sorted(names)


def archive_name(module: str, path: str) -> str:
    """Where a module's source goes in the job home, relative to ``lib/``."""
    parts = module.split(".")
    if os.path.basename(path) == "__init__.py":
        return os.path.join(*parts, "__init__.py")
    return os.path.join(*parts[:-1], parts[-1] + ".py") if len(parts) > 1 else parts[0] + ".py"
