"""The plugin host: hooks through pluggy, named drivers through stevedore.

Two ways in, each with one job:

* **Hooks**, entry-point group ``disco``: one cheap module of ``@hookimpl`` functions per
  plugin, imported when the host is built. A module that fails to import is skipped with a
  warning and listed as broken (``disco plugins``, ``/disco/ctrl/plugins``); with
  ``DISCO_RAISE_PLUGIN_ERRORS=1`` the failure is raised instead.
* **Named drivers**, groups ``disco.schemes``, ``disco.readers``, ``disco.writers``,
  ``disco.schedulers``, ``disco.volumes``: discovery is a scan of entry-point names; the
  import happens only when a name is used (:meth:`PluginHost.driver`).

Plugins can be disabled by distribution or entry-point name with
``DISCO_DISABLE_PLUGINS=name1,name2``. Core's own hooks are registered the same way a
third-party plugin's are (entry point ``core`` in group ``disco``).
"""
from __future__ import annotations

import importlib
import importlib.metadata as metadata
import logging
import os
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import PluginError
from .settings import register_defaults

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


def _dist_name(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else "?"


def _dist_version(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else "?"


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
        for plugin in plugins:
            self.pm.register(plugin)
        if entry_points:
            self._load_hook_entry_points()
        for defaults in self.pm.hook.disco_settings():
            if defaults:
                register_defaults(defaults)

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
                for mapping in getattr(self.pm.hook, hookname)():
                    registered[kind].update(mapping or {})
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
                from stevedore import driver as sd
                mgr = sd.DriverManager(DRIVER_GROUPS[kind], name, invoke_on_load=False,
                                       on_load_failure_callback=_reraise)
                cache[name] = mgr.driver
            except PluginError:
                raise
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
        return sorted(infos.values(), key=lambda i: i.name)


def _reraise(_manager: Any, ep: Any, exc: Exception) -> None:
    raise exc


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


def driver(kind: str, name: str) -> Any:
    return get_host().driver(kind, name)


def call_optional(obj: Any, name: str, *args: Any) -> Any:
    fn = getattr(obj, name, None)
    return fn(*args) if fn is not None else None


def import_object(dotted: str) -> Any:
    """``pkg.mod.attr`` or ``pkg.mod:attr`` -> the object (for -R/--reader and friends)."""
    if ":" in dotted:
        mod, _, attr = dotted.partition(":")
    else:
        mod, _, attr = dotted.rpartition(".")
    obj = importlib.import_module(mod)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
