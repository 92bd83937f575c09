"""The original's ``disco.schemes`` on top of the scheme plugins.

Each module ``disco.schemes.scheme_<name>`` has ``open(url, task=None)`` (a binary stream
of the data, from the scheme plugin ``name``) and ``input_stream(fd, size, url, params)``
(the same data as an input stream function: a text stream whose ``.buffer`` is the bytes,
its size and the URL, as :func:`~disco_core.worker.task_io.task_input_stream` gives).
:func:`import_scheme` finds the module of a URL's scheme; a scheme with a plugin but no
module of its own (``tag://`` from a storage plugin, a user's scheme) gets one made from
the plugin, and a scheme with no plugin raises the plugin host's
:class:`~disco_core.errors.PluginError`, which names the package to install.
"""
from __future__ import annotations

import importlib
import re
import threading
import types
from typing import Any, BinaryIO, Iterator

from .. import plugins
from .dataio import expand as _expand
from .dataio import input_view, open_url, read_index as _read_index, scheme_of
from .task import Task, active_task

PACKAGE = "disco.schemes"
_MODULE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_made: dict[str, types.ModuleType] = {}
_lock = threading.Lock()


def _active_task() -> Task | None:
    return active_task()


class SchemeModule:
    """The functions of ``disco.schemes.scheme_<name>``, backed by the scheme plugin."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def driver(self) -> Any:
        return plugins.driver("scheme", self.name)

    def open(self, url: str, task: Task | None = None) -> BinaryIO:
        """A binary stream of the data at ``url`` (``.size`` is its length when known)."""
        return self.driver.open(url, task)

    def input_stream(self, fd: Any, size: Any, url: str, params: Any = None) -> tuple:
        """``url`` opened for the running task: a text stream, its size and the URL."""
        binary = self.open(url, _active_task())
        return input_view(binary, url), getattr(binary, "size", None), url

    def function(self, attr: str) -> "SchemeFunction":
        """The plugin's function ``attr`` (an output stream, say), looked up when called."""
        return SchemeFunction(self.name, attr)

    def __reduce__(self) -> Any:
        return (type(self), (self.name,))

    def __repr__(self) -> str:
        return "<disco.schemes.scheme_%s>" % self.name


class SchemeFunction:
    """A function of a scheme plugin, as a module of ``disco.schemes`` names it (e.g.
    ``scheme_redis.redis_output_stream``): resolved through the plugin host when called, so
    importing the module needs no plugin, and pickled by name, so a job pack carries the
    name and the node's plugin does the work. Its signature is the plugin function's, which
    input and output chains read to decide whether to pass ``params``."""

    def __init__(self, scheme: str, attr: str) -> None:
        self.scheme = scheme
        self.attr = attr
        self.__name__ = attr
        self.__qualname__ = attr

    @property
    def function(self) -> Any:
        fn = getattr(plugins.driver("scheme", self.scheme), self.attr, None)
        if fn is None:
            from ..errors import PluginError
            raise PluginError("the %s:// scheme plugin has no %s(): upgrade the plugin that "
                              "handles %s://" % (self.scheme, self.attr, self.scheme))
        return fn

    @property
    def __signature__(self) -> Any:
        import inspect
        return inspect.signature(self.function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __reduce__(self) -> Any:
        return (SchemeFunction, (self.scheme, self.attr))

    def __repr__(self) -> str:
        return "<disco.schemes.scheme_%s.%s>" % (self.scheme, self.attr)


class DirSchemeModule(SchemeModule):
    """``dir://`` index files: lines ``<label> <url> <size>`` naming record files.

    ``input_stream`` gives the *records* of the files the index lists (read with
    ``chain_reader``): all of them, or, in a task grouped by label (``group_label``,
    ``group_node_label``), those of the task's label, as the original filtered them.
    ``open`` streams the bytes of every listed file in turn.
    """

    def read_index(self, url: str, task: Task | None = None) -> list[tuple[int, str, int]]:
        """``(label, url, size)`` of each line of the index."""
        return _read_index(url, task)

    def expand(self, url: str, label: Any = "all", task: Task | None = None) -> list[str]:
        """The URLs the index lists for ``label`` (every URL for ``"all"``)."""
        return _expand(url, label, task)

    def input_stream(self, fd: Any, size: Any, url: str, params: Any = None) -> Iterator[Any]:
        task = _active_task()
        label: Any = "all"
        if task is not None and task.grouping in ("group_label", "group_node_label"):
            label = task.group_label
        return self._records(self.expand(url, label, task), task, params)

    @staticmethod
    def _records(urls: list[str], task: Task | None, params: Any) -> Iterator[Any]:
        from .task_io import chain_reader
        for url in urls:
            stream = open_url(url, task)
            yield from chain_reader(stream, getattr(stream, "size", None), url, params)


def module(name: str, package: str = PACKAGE) -> Any:
    """The module of scheme ``name``: ``<package>.scheme_<name>`` when there is one, else a
    module made from the scheme plugin. No plugin for ``name``: PluginError."""
    plugins.driver("scheme", name)  # the helpful error when no plugin handles the scheme
    if _MODULE_NAME.fullmatch(name):
        modname = "%s.scheme_%s" % (package, name)
        try:
            return importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                raise
    with _lock:
        made = _made.get(name)
        if made is None:
            scheme = SchemeModule(name)
            made = types.ModuleType("%s.scheme_%s" % (package, name),
                                    "Inputs of the %s:// scheme plugin." % name)
            made.open = scheme.open  # type: ignore[attr-defined]
            made.input_stream = scheme.input_stream  # type: ignore[attr-defined]
            _made[name] = made
        return made


def import_scheme(url: str) -> Any:
    """The ``disco.schemes.scheme_<scheme>`` module of ``url`` (no scheme: ``file``)."""
    return module(scheme_of(url))


def input_stream(stream: Any, size: Any, url: str, params: Any = None) -> Any:
    """``url`` opened through its scheme's ``input_stream``."""
    return import_scheme(url).input_stream(stream, size, url, params)


def open(url: str, task: Task | None = None) -> BinaryIO:  # noqa: A001
    """A binary stream of the data at ``url``, through its scheme."""
    return import_scheme(url).open(url, task)


def open_chain(url: str, task: Task | None = None) -> Iterator[Any]:
    """The records of ``url`` (a file of the internal format, e.g. a job result, or a
    ``dir://`` index of them), read with ``chain_reader``."""
    from .task_io import chain_reader
    stream = open(url, task)
    return chain_reader(stream, getattr(stream, "size", None), url, None)
