"""The plugin host: hooks through pluggy, named drivers through entry points.

Two ways in, each with one job:

* **Hooks**, entry-point group ``disco``: one cheap module of ``@hookimpl`` functions per
  plugin, imported when the host is built. A module that fails to import is skipped with a
  warning and listed as broken (``disco plugins``, ``/disco/ctrl/plugins``); with
  ``DISCO_RAISE_PLUGIN_ERRORS=1`` the failure is raised instead.
* **Named drivers**, groups ``disco.schemes``, ``disco.readers``, ``disco.writers``,
  ``disco.schedulers``, ``disco.volumes``: discovery is a scan of entry-point names; the
  import happens only when a name is used (:meth:`PluginHost.driver`), through stevedore's
  :class:`~stevedore.named.NamedExtensionManager`, restricted to the very entry point the
  scan kept: a disabled distribution's entry point of the same name is never the one
  loaded, and two distributions offering one name are not an error (the first one wins).

Core calls hooks through :meth:`PluginHost.call` / :meth:`PluginHost.acall`: each
implementation on its own, so one that raises is logged under its plugin's name, listed by
``disco plugins`` (``/disco/ctrl/plugins``), and the others, and the caller, go on.

Plugins can be disabled by distribution or entry-point name with
``DISCO_DISABLE_PLUGINS=name1,name2``. Core's own hooks are registered the same way a
third-party plugin's are (entry point ``core`` in group ``disco``).
"""
from __future__ import annotations

import asyncio
import importlib.metadata as metadata
import inspect
import logging
import os
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import pluggy

from . import hookspecs
from .errors import PluginError
from .settings import register_defaults
from .util import import_object  # noqa: F401  (its former home; cli and plugins use it)

log = logging.getLogger("disco.plugins")

HOOK_GROUP = "disco"
DRIVER_GROUPS = {
    "scheme": "disco.schemes",
    "reader": "disco.readers",
    "writer": "disco.writers",
    "scheduler": "disco.schedulers",
    "volume": "disco.volumes",
}
_REGISTER_HOOKS = {
    "scheme": "disco_register_schemes",
    "reader": "disco_register_readers",
    "writer": "disco_register_writers",
    "scheduler": "disco_register_schedulers",
}


@dataclass
class PluginInfo:
    """One installed plugin distribution as ``disco plugins`` shows it."""

    name: str
    version: str
    hooks: list[str] = field(default_factory=list)
    drivers: list[str] = field(default_factory=list)
    error: str = ""
    disabled: bool = False
    failures: list[str] = field(default_factory=list)


def _dist_name(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else "?"


def _dist_version(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else "?"


#: How many failures of one plugin the host remembers (the newest; the count is kept).
FAILURES_KEPT = 5

#: ``on_error(plugin, what, exc)``: told about a plugin's failure besides the host's record.
OnError = Callable[[str, str, BaseException], None]


def install_hint(kind: str, name: str) -> str:
    return "pip install disco-plugin-%s" % name


class PluginHost:
    """Owns the pluggy manager and the driver registries of one process."""

    def __init__(self, plugins: Iterable[Any] = (), entry_points: bool = True,
                 disabled: Iterable[str] | None = None, strict: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        if disabled is None:
            disabled = [d.strip() for d in os.environ.get("DISCO_DISABLE_PLUGINS", "").split(",")]
        self.disabled = {d for d in disabled if d}
        if strict is None:
            strict = os.environ.get("DISCO_RAISE_PLUGIN_ERRORS", "").strip().lower() not in (
                "", "0", "no", "off", "false")
        self.strict = strict
        self.use_entry_points = entry_points
        self.broken: dict[str, str] = {}      # plugin (distribution) name -> reason
        self._lock = threading.RLock()
        self._drivers: dict[str, dict[str, Any]] = {kind: {} for kind in DRIVER_GROUPS}
        self._registered: dict[str, dict[str, Any]] | None = None
        self._ep_cache: dict[str, dict[str, metadata.EntryPoint]] = {}
        self._dists: dict[str, str] = {}      # pluggy plugin name -> distribution
        self.failures: dict[str, list[str]] = {}  # plugin -> its newest failures
        self.failure_counts: dict[str, int] = {}
        for plugin in plugins:
            self.pm.register(plugin)
        if entry_points:
            self._load_hook_entry_points()
        for name, defaults in self.each("disco_settings"):
            try:
                register_defaults(defaults)
            except Exception as exc:
                self.failed(name, "disco_settings", exc)

    # -- hooks ------------------------------------------------------------------------
    @property
    def hook(self) -> Any:
        return self.pm.hook

    def _load_hook_entry_points(self) -> None:
        for ep in metadata.entry_points(group=HOOK_GROUP):
            dist = _dist_name(ep)
            if ep.name in self.disabled or dist in self.disabled:
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not stop the process
                self._broken(dist, "cannot import %s: %s: %s" % (ep.value, type(exc).__name__, exc))
                continue
            if self.pm.is_registered(module):
                continue
            try:
                self.pm.register(module, name=ep.name)
            except Exception as exc:
                self._broken(dist, "cannot register %s: %s" % (ep.value, exc))
                continue
            self._dists[ep.name] = dist

    # -- guarded hook calls ---------------------------------------------------------------
    def plugin_name(self, impl: Any) -> str:
        """The name a failure of a hook implementation is shown under: its distribution,
        else (a plugin registered in process) its module or class."""
        if impl.plugin_name in self._dists:
            return self._dists[impl.plugin_name]
        plugin = impl.plugin
        if inspect.ismodule(plugin):
            return plugin.__name__
        if not impl.plugin_name.isdigit():  # registered with a name of its own
            return impl.plugin_name
        cls = plugin if inspect.isclass(plugin) else type(plugin)
        return "%s.%s" % (cls.__module__, cls.__qualname__)

    def each(self, hookname: str, on_error: OnError | None = None,
             **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """``(plugin, result)`` of every implementation of a hook, in pluggy's order, each
        called on its own: one that raises is recorded (:meth:`failed`) and skipped, and
        the others still run. ``None`` results are left out. Hook wrappers are not called
        (no hook of :mod:`.hookspecs` is meant to be wrapped)."""
        hook = getattr(self.pm.hook, hookname)
        for impl in reversed(hook.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            name = self.plugin_name(impl)
            try:
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:
                self.failed(name, hookname, exc, on_error)
                continue
            if result is not None:
                yield name, result

    def call(self, hookname: str, on_error: OnError | None = None, **kwargs: Any) -> list:
        """The results of a hook, guarded as :meth:`each`. An awaitable result (an ``async``
        implementation) is scheduled on the running loop and its error, if any, recorded
        the same way; it is not among the results."""
        results = []
        for name, result in self.each(hookname, on_error, **kwargs):
            if inspect.isawaitable(result):
                self._schedule(name, hookname, result, on_error)
            else:
                results.append(result)
        return results

    async def acall(self, hookname: str, on_error: OnError | None = None,
                    **kwargs: Any) -> list:
        """:meth:`call`, awaiting each awaitable result in turn (errors recorded)."""
        results = []
        for name, result in self.each(hookname, on_error, **kwargs):
            if inspect.isawaitable(result):
                try:
                    result = await result
                except Exception as exc:
                    self.failed(name, hookname, exc, on_error)
                    continue
                if result is None:
                    continue
            results.append(result)
        return results

    def routes(self, hookname: str, **kwargs: Any) -> list[tuple]:
        """The Tornado rules plugins add through a routes hook. A plugin whose rules
        Tornado refuses (a bad pattern, not a handler, not a list) is recorded as failed
        and its rules are left out: the server starts with the others."""
        import tornado.web
        rules: list[tuple] = []
        for name, extra in self.each(hookname, **kwargs):
            try:
                extra = list(extra)
                tornado.web.Application(extra)  # what the real application would refuse
            except Exception as exc:
                self.failed(name, hookname, exc)
                continue
            rules.extend(extra)
        return rules

    def _schedule(self, name: str, hookname: str, awaitable: Any,
                  on_error: OnError | None) -> None:
        try:
            future = asyncio.ensure_future(awaitable)
        except RuntimeError as exc:  # no running loop: the coroutine can never run
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            self.failed(name, hookname, exc, on_error)
            return

        def done(fut: asyncio.Future) -> None:
            if not fut.cancelled() and fut.exception() is not None:
                self.failed(name, hookname, fut.exception(), on_error)  # type: ignore[arg-type]
        future.add_done_callback(done)

    def failed(self, plugin: str, what: str, exc: BaseException,
               on_error: OnError | None = None) -> None:
        """Record that ``plugin`` failed in ``what`` (a hook or a driver's method): logged
        with the plugin's name (the traceback the first time), kept for ``disco plugins``,
        and passed to ``on_error``. With ``DISCO_RAISE_PLUGIN_ERRORS`` it is raised."""
        if self.strict:
            raise exc
        text = "%s raised %s: %s" % (what, type(exc).__name__, exc)
        with self._lock:
            count = self.failure_counts.get(plugin, 0) + 1
            self.failure_counts[plugin] = count
            kept = self.failures.setdefault(plugin, [])
            first = text not in kept
            if first:
                kept.append(text)
                del kept[:-FAILURES_KEPT]
        if first:
            log.error("plugin %s failed: %s", plugin, text, exc_info=exc)
        else:
            log.debug("plugin %s failed again (%d): %s", plugin, count, text)
        if on_error is not None:
            try:
                on_error(plugin, what, exc)
            except Exception:
                log.exception("reporting the failure of plugin %s", plugin)

    def _broken(self, dist: str, reason: str) -> None:
        if self.strict:
            raise PluginError("plugin %s failed to load: %s" % (dist, reason))
        self.broken[dist] = reason
        # One warning (printed once to stderr, which the master and nodes log); the same
        # text through logging as well would show every `disco` command saying it twice.
        warnings.warn("disco plugin %s is broken and was skipped: %s" % (dist, reason),
                      RuntimeWarning, stacklevel=3)
        log.debug("plugin %s is broken and was skipped: %s", dist, reason)

    # -- named drivers ----------------------------------------------------------------
    def _registered_drivers(self) -> dict[str, dict[str, Any]]:
        if self._registered is None:
            registered: dict[str, dict[str, Any]] = {kind: {} for kind in DRIVER_GROUPS}
            for kind, hookname in _REGISTER_HOOKS.items():
                for name, mapping in self.each(hookname):
                    if isinstance(mapping, dict):
                        registered[kind].update(mapping)
                    else:
                        self.failed(name, hookname, TypeError(
                            "returned %s, not a dict of {name: driver}"
                            % type(mapping).__name__))
            self._registered = registered
        return self._registered

    def register_driver(self, kind: str, name: str, driver: Any) -> None:
        """Add a driver in process (what the ``disco_register_*`` hooks do, for scripts)."""
        self._registered_drivers()[kind][name] = driver
        self._drivers[kind].pop(name, None)

    def _entry_points(self, kind: str) -> dict[str, metadata.EntryPoint]:
        """Entry points of a driver kind, scanned once per host (installs need a restart)."""
        if not self.use_entry_points:
            return {}
        cached = self._ep_cache.get(kind)
        if cached is not None:
            return cached
        eps = {}
        for ep in metadata.entry_points(group=DRIVER_GROUPS[kind]):
            if ep.name in self.disabled or _dist_name(ep) in self.disabled:
                continue
            eps.setdefault(ep.name, ep)
        self._ep_cache[kind] = eps
        return eps

    def driver_owner(self, kind: str, name: str) -> str:
        """Who a failure of the driver ``name`` is shown under: its distribution when it
        came from an entry point, else ``kind:name`` (a driver registered in process)."""
        if name not in self._registered_drivers()[kind]:
            ep = self._entry_points(kind).get(name)
            if ep is not None:
                return _dist_name(ep)
        return "%s:%s" % (kind, name)

    def names(self, kind: str) -> list[str]:
        """Every known driver name of a kind, without importing any of them."""
        return sorted(set(self._registered_drivers()[kind]) | set(self._entry_points(kind)))

    def driver(self, kind: str, name: str) -> Any:
        """The driver ``name`` of ``kind``, imported on first use."""
        cache = self._drivers[kind]
        try:
            return cache[name]
        except KeyError:
            pass
        with self._lock:
            if name in cache:
                return cache[name]
            registered = self._registered_drivers()[kind]
            if name in registered:
                cache[name] = registered[name]
                return cache[name]
            ep = self._entry_points(kind).get(name)
            if ep is None:
                raise PluginError(self.unknown_message(kind, name))
            try:
                cache[name] = _load_driver(DRIVER_GROUPS[kind], ep)
            except Exception as exc:
                raise PluginError("the %s plugin %r (%s, from %s) failed to load: %s: %s"
                                  % (kind, name, ep.value, _dist_name(ep),
                                     type(exc).__name__, exc)) from exc
            return cache[name]

    def unknown_message(self, kind: str, name: str) -> str:
        known = ", ".join(self.names(kind)) or "none"
        if kind == "scheme":
            return ("no plugin handles '%s://': %s; known: %s"
                    % (name, install_hint(kind, name), known))
        return "no %s plugin named %r: %s; known: %s" % (kind, name, install_hint(kind, name),
                                                          known)

    # -- inventory ----------------------------------------------------------------------
    def inventory(self, check_drivers: bool = True) -> list[PluginInfo]:
        """Installed plugin distributions, what they provide, and what is broken."""
        infos: dict[str, PluginInfo] = {}

        def info(ep: metadata.EntryPoint) -> PluginInfo:
            name = _dist_name(ep)
            if name not in infos:
                infos[name] = PluginInfo(name, _dist_version(ep),
                                         disabled=name in self.disabled)
            return infos[name]

        for ep in metadata.entry_points(group=HOOK_GROUP):
            item = info(ep)
            item.hooks.append(ep.value)
            if ep.name in self.disabled:
                item.disabled = True
        for kind, group in DRIVER_GROUPS.items():
            for ep in metadata.entry_points(group=group):
                item = info(ep)
                item.drivers.append("%s:%s" % (kind, ep.name))
                if check_drivers and not item.disabled and not item.error:
                    try:
                        ep.load()
                    except Exception as exc:
                        item.error = "cannot import %s: %s: %s" % (ep.value, type(exc).__name__,
                                                                   exc)
        for name, reason in self.broken.items():
            if name in infos:
                infos[name].error = reason
        for name, texts in list(self.failures.items()):
            if name not in infos:  # a plugin registered in process, not installed
                infos[name] = PluginInfo(name, "?", hooks=["(in process)"])
            count = self.failure_counts.get(name, len(texts))
            infos[name].failures = list(texts) + (
                ["... %d failure(s) in all" % count] if count > len(texts) else [])
        return sorted(infos.values(), key=lambda i: i.name)

    def installed(self) -> dict[str, Any]:
        """What this process can use, as a node tells the master when it connects (the
        master compares it with its own, :mod:`disco_core.master.plugincheck`): core's
        version, each enabled plugin distribution that loaded with its version, and the
        driver names of each kind. Nothing is imported. Read once per host: reading every
        distribution's metadata takes tens of milliseconds, and the master's ``nodeinfo``
        (which every ``ddfs cat`` asks for) gives it on each request."""
        from . import __version__
        known = self.__dict__.get("_installed")
        if known is None:
            dists = {info.name: info.version for info in self.inventory(check_drivers=False)
                     if not info.disabled and not info.error
                     and info.hooks != ["(in process)"]}
            known = self.__dict__["_installed"] = {
                "core": __version__, "dists": dists,
                "drivers": {kind: self.names(kind) for kind in DRIVER_GROUPS}}
        return {"core": known["core"], "dists": dict(known["dists"]),
                "drivers": {kind: list(names) for kind, names in known["drivers"].items()}}


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, built on first use."""
    global _host
    if _host is None:
        with _host_lock:
            if _host is None:
                _host = PluginHost()
    return _host


def set_host(host: PluginHost | None) -> PluginHost | None:
    """Replace the process-wide host (tests build one with chosen plugins); returns the old."""
    global _host
    old, _host = _host, host
    return old


def _load_driver(group: str, chosen: metadata.EntryPoint) -> Any:
    """Load one entry point of a driver group through stevedore, and only that one: the
    manager is told the name, and skips every other entry point of that name (another
    distribution's, or a disabled one's) before importing anything."""
    from stevedore.named import NamedExtensionManager

    class OneDriver(NamedExtensionManager):
        def _load_one_plugin(self, ep: metadata.EntryPoint, *args: Any, **kwargs: Any) -> Any:
            if (ep.name, ep.value) != (chosen.name, chosen.value):
                return None
            return super()._load_one_plugin(ep, *args, **kwargs)

    failures: list[BaseException] = []
    manager = OneDriver(group, names=[chosen.name], name_order=True,
                        on_load_failure_callback=lambda _m, _ep, exc: failures.append(exc))
    if failures:
        raise failures[0]
    if not manager.extensions:  # stevedore's cache did not list it: load it directly
        return chosen.load()
    return manager.extensions[0].plugin


def driver(kind: str, name: str) -> Any:
    return get_host().driver(kind, name)


def call_optional(obj: Any, name: str, *args: Any) -> Any:
    fn = getattr(obj, name, None)
    return fn(*args) if fn is not None else None
