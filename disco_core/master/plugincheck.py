"""Plugins checked cluster-wide: what each node has installed, against a job's needs and
against the master's own plugins.

Each node's ``hello`` says what it has installed (:meth:`~disco_core.plugins.PluginHost.
installed`: core's version, its plugin distributions with their versions, and the driver
names of each kind); the master keeps it as the node's ``plugins`` (:class:`~.scheduler.
NodeSlots`). A job needs what its job pack names (:func:`needs_of`): the scheme of each of
its inputs, and the distributions its jobdict lists in ``required_plugins``. A node that
lacks one of them gets none of the job's tasks (:class:`PluginCheck`); the job's events say
so once per node, and when no node that takes tasks has what the job needs, the stalled-job
events (:mod:`.stalled`) say that instead of the job waiting in silence.

``nodeinfo`` and the ``plugins`` op show per node what differs from the master
(:func:`differences`): plugins it lacks, plugins only it has, and other versions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from ..util import schemesplit


def canonical(name: str) -> str:
    """A distribution's name as packaging compares them (``My_Plugin.X`` is
    ``my-plugin-x``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Needs:
    """What a job needs of a node: input schemes and plugin distributions (canonical)."""

    schemes: frozenset[str] = frozenset()
    dists: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.schemes or self.dists)


def needs_of(job: Any) -> Needs:
    """What ``job`` needs of a node (computed once: a job's inputs and jobdict are fixed)."""
    needs = getattr(job, "_plugin_needs", None)
    if needs is None:
        schemes = set()
        for urls in getattr(job, "input_url_lists", ()):  # the job's inputs' URLs
            for url in urls:
                schemes.add(schemesplit(url)[0] or "file")
        required = job.jobdict.get("required_plugins") or []
        needs = Needs(frozenset(schemes), frozenset(canonical(d) for d in required))
        job._plugin_needs = needs
    return needs


def lacks(needs: Needs, installed: dict[str, Any] | None) -> list[str]:
    """What of ``needs`` a node with ``installed`` lacks, as words for an event (nothing
    when the node did not say what it has: a node is not refused on a guess)."""
    if installed is None or not needs:
        return []
    missing = ["the scheme %s://" % s for s in sorted(needs.schemes)
               if s not in installed["drivers"].get("scheme", ())]
    have = _canonical_dists(installed["dists"])
    missing += ["the plugin %s" % d for d in sorted(needs.dists) if d not in have]
    return missing


_dists_seen: dict[int, tuple[Any, frozenset[str]]] = {}


def _canonical_dists(dists: Any) -> frozenset[str]:
    """The canonical names of a node's distributions, made once per list a node sent (the
    scheduler asks for every task it places)."""
    seen = _dists_seen.get(id(dists))
    if seen is not None and seen[0] is dists:
        return seen[1]
    if len(_dists_seen) > 1024:  # lists of nodes that went away
        _dists_seen.clear()
    have = frozenset(canonical(d) for d in dists)
    _dists_seen[id(dists)] = (dists, have)
    return have


def differences(mine: dict[str, Any], theirs: dict[str, Any] | None) -> dict[str, Any]:
    """How a node's ``theirs`` differs from the master's ``mine``: ``missing`` (plugin
    distributions it lacks), ``extra`` (only it has: name -> version), ``versions`` (name ->
    its other version) and ``core`` (its other core version); empty when nothing differs,
    ``{"unknown": True}`` when the node did not say."""
    if theirs is None:
        return {"unknown": True}
    out: dict[str, Any] = {}
    a, b = mine["dists"], theirs["dists"]
    missing = sorted(set(a) - set(b))
    extra = {n: b[n] for n in sorted(set(b) - set(a))}
    versions = {n: b[n] for n in sorted(set(a) & set(b)) if a[n] != b[n]}
    if missing:
        out["missing"] = missing
    if extra:
        out["extra"] = extra
    if versions:
        out["versions"] = versions
    if theirs["core"] != mine["core"]:
        out["core"] = theirs["core"]
    return out


def describe(diff: dict[str, Any], master: dict[str, Any]) -> str:
    """One line for ``disco nodeinfo``: what a node's plugins lack or have otherwise."""
    if diff.get("unknown"):
        return "plugins: not reported yet"
    parts = []
    if diff.get("missing"):
        parts.append("lacks " + ", ".join(diff["missing"]))
    if diff.get("versions"):
        parts.append("other versions: " + ", ".join(
            "%s %s (master %s)" % (n, v, master["dists"].get(n, "?"))
            for n, v in diff["versions"].items()))
    if diff.get("extra"):
        parts.append("only here: " + ", ".join("%s %s" % kv for kv in diff["extra"].items()))
    if diff.get("core"):
        parts.append("core %s (master %s)" % (diff["core"], master["core"]))
    return "plugins: " + "; ".join(parts)


class PluginCheck:
    """Keeps a job's tasks off the nodes that lack what it needs, telling the job once per
    node why (the scheduler asks :meth:`allows` before it picks a job's task for a node)."""

    def __init__(self) -> None:
        self.told: dict[str, set[str]] = {}  # job name -> hosts its events named

    def allows(self, job: Any, node: Any) -> bool:
        installed = node.plugins
        if installed is None:
            return True
        needs = needs_of(job)
        if not needs:
            return True
        missing = lacks(needs, installed)
        if not missing:
            return True
        told = self.told.setdefault(job.name, set())
        if node.host not in told:
            told.add(node.host)
            job.events.add("master", "WARNING: no task of this job runs on node %s: it lacks "
                           "%s (install it there, or take the need out of the job)"
                           % (node.host, ", ".join(missing)))
        return False

    def forget(self, job: Any) -> None:
        self.told.pop(job.name, None)

    @staticmethod
    def why_none_fits(job: Any, nodes: Iterable[Any]) -> str | None:
        """Why no node that takes tasks now can run ``job``'s, when that is so because each
        lacks something the job needs; else None."""
        needs = needs_of(job)
        if not needs:
            return None
        why = []
        for node in nodes:
            if not node.available:
                continue
            missing = lacks(needs, node.plugins)
            if not missing:
                return None
            why.append("%s lacks %s" % (node.host, ", ".join(missing)))
        if not why:
            return None  # no node takes tasks: the stalled-job events say why already
        return ("no node that takes tasks has what this job needs (%s): install it on a "
                "node, or take the need out of the job" % "; ".join(why))


def annotate_nodeinfo(info: dict[str, dict], nodes: dict[str, Any],
                      master: dict[str, Any]) -> None:
    """Add ``plugins_differ`` to each connected node's ``nodeinfo`` entry whose plugins
    differ from the master's ``master``."""
    for host, entry in info.items():
        node = nodes.get(host)
        if node is None or not node.connected:
            continue
        diff = differences(master, node.plugins)
        if diff:
            entry["plugins_differ"] = diff


def annotate_plugins(entries: list[dict], nodes: dict[str, Any],
                     master: dict[str, Any]) -> list[dict]:
    """The ``plugins`` op's list with each plugin's ``nodes``: per connected node whose copy
    differs, ``"missing"`` or its other version; plugins only nodes have are added (with
    ``"master": false``)."""
    by_name = {e["name"]: e for e in entries}
    for entry in entries:
        entry["nodes"] = {}
        entry["master"] = True
    for host, node in sorted(nodes.items()):
        if not node.connected or node.plugins is None:
            continue
        diff = differences(master, node.plugins)
        for name in diff.get("missing", ()):
            if name in by_name:
                by_name[name]["nodes"][host] = "missing"
        for name, version in {**diff.get("versions", {}), **diff.get("extra", {})}.items():
            entry = by_name.get(name)
            if entry is None:
                entry = by_name[name] = {"name": name, "version": "", "hooks": [],
                                         "drivers": [], "error": "", "disabled": False,
                                         "failures": [], "master": False, "nodes": {}}
                entries.append(entry)
            entry["nodes"][host] = version
    return entries
