"""``disco plugin new KIND NAME [-d DIR]``: a new plugin distribution, ready to install.

It writes ``DIR/disco-plugin-NAME/`` (DIR: the current folder) from the templates shipped
in :mod:`disco_core` (``disco_core/templates/plugin/<kind>/``, with the files of
``common/`` for every kind): a ``pyproject.toml`` with the plugin's entry points, the
package ``disco_plugin_NAME`` with a working example of the kind, a README, and tests that
subclass the kind's contract suite from :mod:`disco_core.testing` and run a job on a real
cluster. In the templates, ``PACKAGE`` in a path is the package's name, ``NAME`` the
plugin's, and ``${name}``, ``${dist}``, ``${package}``, ``${summary}`` ... in a ``.tmpl``
file are filled in (``string.Template``).
"""
from __future__ import annotations

import argparse
import os
import re
import string
import tomllib
from importlib import resources
from typing import Any

from ..commands import Command, core_commands
from ..errors import DiscoError

KINDS = {
    "scheme": "an input scheme NAME:// (driver group disco.schemes)",
    "reader": "a reader and a writer of records (disco.readers, disco.writers)",
    "scheduler": "a job policy for DISCO_SCHEDULER (disco.schedulers)",
    "command": "a subcommand `disco NAME` (hook disco_cli_commands)",
    "routes": "master routes /NAME/... (hook disco_master_routes)",
    "volume": "where a node's blobs go on its disks (driver group disco.volumes)",
}
ALIASES = {"writer": "reader", "policy": "scheduler", "cli": "command", "subcommand": "command",
           "route": "routes", "volumes": "volume"}
NOT_YET: dict[str, str] = {}  # kinds named but without a template yet, and why
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SCHEME = re.compile(r"[a-z][a-z0-9]*")


def _templates() -> Any:
    return resources.files("disco_core").joinpath("templates", "plugin")


def kind_of(kind: str) -> str:
    kind = ALIASES.get(kind, kind)
    if kind in NOT_YET:
        raise DiscoError("no template for %s plugins: %s" % (kind, NOT_YET[kind]))
    if kind not in KINDS:
        raise DiscoError("unknown plugin kind %r: use one of %s" % (kind, ", ".join(KINDS)))
    return kind


def check_name(kind: str, name: str) -> None:
    if kind == "scheme" and not _SCHEME.fullmatch(name):
        raise DiscoError("%r cannot be a URL scheme: use lower-case letters and digits, "
                         "starting with a letter (e.g. mystore)" % name)
    if not _NAME.fullmatch(name):
        raise DiscoError("%r is not a plugin name: use lower-case letters, digits and _, "
                         "starting with a letter (e.g. mystore)" % name)
    if kind == "command" and name in {c.name for c in core_commands()}:
        raise DiscoError("%r is one of core's commands: give the new command another "
                         "name" % name)


def values(kind: str, name: str) -> dict[str, str]:
    from .. import __version__
    major, minor = (int(p) for p in __version__.split(".")[:2])
    fields = {"kind": kind, "name": name, "dist": "disco-plugin-%s" % name.replace("_", "-"),
              "package": "disco_plugin_%s" % name,
              "core_requirement": "disco-core>=%d.%d,<%d.%d" % (major, minor, major, minor + 1)}
    meta = tomllib.loads(_templates().joinpath(kind, "template.toml").read_text("utf-8"))
    for key, text in meta.items():
        fields[key] = string.Template(text).substitute(fields).strip("\n")
    return fields


def _files(folder: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for item in folder.iterdir():
        rel = prefix + item.name
        if item.is_dir():
            found += _files(item, rel + "/")
        elif item.name.endswith(".tmpl"):
            found.append((rel[:-len(".tmpl")], item))
    return found


def new_plugin(kind: str, name: str, directory: str = ".") -> str:
    """Write the plugin ``name`` of ``kind`` under ``directory``; its folder."""
    kind = kind_of(kind)
    check_name(kind, name)
    fields = values(kind, name)
    target = os.path.join(os.path.abspath(directory), fields["dist"])
    if os.path.exists(target):
        raise DiscoError("%s already exists: remove it or give another name or -d DIR"
                         % target)
    files = dict(_files(_templates().joinpath("common")))
    files.update(_files(_templates().joinpath(kind)))  # a kind's file wins over common's
    for rel, source in sorted(files.items()):
        rel = rel.replace("PACKAGE", fields["package"]).replace("NAME", name)
        path = os.path.join(target, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        text = string.Template(source.read_text("utf-8")).substitute(fields)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return target


def plugin(args: argparse.Namespace, ctx: Any) -> int:
    target = new_plugin(args.kind, args.name, args.dir)
    print("Made %s (%s) in %s" % (os.path.basename(target), KINDS[kind_of(args.kind)],
                                  target))
    print("Next: cd %s && pip install -e '.[test]' && pytest" % target)
    return 0


def plugin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["new"], help="new: make a new plugin")
    parser.add_argument("kind", metavar="KIND",
                        help="; ".join("%s: %s" % kv for kv in KINDS.items()))
    parser.add_argument("name", metavar="NAME", help="the plugin's name (disco-plugin-NAME)")
    parser.add_argument("-d", "--dir", default=".",
                        help="where to make its folder (default: here)")


def authoring_commands() -> list[Command]:
    return [Command("plugin", "make a new plugin: plugin new KIND NAME (KIND: %s)"
                    % ", ".join(KINDS), plugin, plugin_arguments)]
