"""Parsing a plain command line without :mod:`argparse`, for a plugin's own command
(``ddfs ls``) whose start is much of its time: argparse, with the gettext, locale and shutil
it loads and the parsers it builds, was a third of a short ``ddfs`` command's imports.

The commands' ``arguments(parser)`` functions run against a :class:`Recorder`, which notes
what they add. A command line that uses only what the notes describe, plainly, is parsed
here into the namespace argparse would give; anything else (``-h``, a mistake, an
abbreviated option, ``--``, a value that starts with ``-``, positionals split by options,
an argparse feature the recorder does not know) gives None, and argparse parses it: its
help and its errors stay the command's.
"""
from __future__ import annotations

import types
from typing import Any, Callable

#: ``argparse.SUPPRESS``: a default that leaves the name out of the namespace.
SUPPRESS = "==SUPPRESS=="
_ACTIONS = ("store", "store_true", "append")
_KEYWORDS = {"action", "default", "type", "help", "metavar", "nargs", "dest"}


def suppress(parser: Any) -> str:
    """The default that leaves a name out of ``parser``'s namespace: argparse tells its own
    by identity."""
    if isinstance(parser, Recorder):
        return SUPPRESS
    import argparse
    return argparse.SUPPRESS


class Unsupported(Exception):
    """The command line, or a command's arguments, needs argparse itself."""


class Namespace(types.SimpleNamespace):
    """What ``argparse.Namespace`` is to a command: attributes, ``in``, ``vars()``."""

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__


class _Argument:
    def __init__(self, names: tuple[str, ...], kw: dict) -> None:
        if set(kw) - _KEYWORDS or kw.get("action", "store") not in _ACTIONS:
            raise Unsupported("argument options %s" % sorted(kw))
        self.action = kw.get("action", "store")
        self.type: Callable | None = kw.get("type")
        self.nargs = kw.get("nargs")
        self.strings = [n for n in names if n.startswith("-")]
        if self.strings:
            if self.nargs is not None or len(self.strings) != len(names):
                raise Unsupported("an option with nargs")
            longs = [n for n in names if n.startswith("--")]
            self.dest = kw.get("dest") or (longs[0] if longs else names[0]).lstrip("-") \
                .replace("-", "_")
            default = False if self.action == "store_true" else None
        else:
            if len(names) != 1 or self.nargs not in (None, "*", "+") \
                    or self.action != "store":
                raise Unsupported("a positional of this kind")
            self.dest = names[0]
            default = None
        self.default = kw.get("default", default)
        if isinstance(self.default, str) and self.type is not None \
                and self.default != SUPPRESS:
            self.default = self.type(self.default)

    def convert(self, value: str) -> Any:
        if self.type is None:
            return value
        try:
            return self.type(value)
        except (TypeError, ValueError):
            raise Unsupported("a value argparse would refuse") from None


class _Subcommands:
    def __init__(self, dest: str | None) -> None:
        self.dest = dest
        self.parsers: dict[str, Recorder] = {}

    def add_parser(self, name: str, help: str | None = None, description: str | None = None,
                   aliases: list[str] | tuple = ()) -> "Recorder":
        rec = Recorder()
        for each in (name, *aliases):
            self.parsers[each] = rec
        return rec


class Recorder:
    """Takes what a command's ``arguments(parser)`` adds, as far as :func:`parse` can
    parse it; anything else raises :class:`Unsupported`."""

    def __init__(self) -> None:
        self.arguments: list[_Argument] = []
        self.options: dict[str, _Argument] = {}
        self.defaults: dict[str, Any] = {}
        self.sub: _Subcommands | None = None

    def add_argument(self, *names: str, **kw: Any) -> None:
        arg = _Argument(names, kw)
        if not arg.strings and self.sub is not None:
            raise Unsupported("positionals beside subcommands")
        self.arguments.append(arg)
        for string in arg.strings:
            self.options[string] = arg

    def add_subparsers(self, dest: str | None = None, metavar: str | None = None,
                       help: str | None = None) -> _Subcommands:
        if self.sub is not None or any(not a.strings for a in self.arguments):
            raise Unsupported("subcommands beside positionals")
        self.sub = _Subcommands(dest)
        return self.sub

    def set_defaults(self, **kw: Any) -> None:
        self.defaults.update(kw)

    def __getattr__(self, name: str) -> Any:
        raise Unsupported("parser.%s" % name)


def _value(arg: _Argument, args: list[str], i: int) -> str:
    if i >= len(args) or args[i].startswith("-"):
        raise Unsupported("an option without its value")
    return args[i]


def _apply(arg: _Argument, value: Any, ns: Namespace) -> None:
    if arg.action == "store_true":
        setattr(ns, arg.dest, True)
    elif arg.action == "append":
        setattr(ns, arg.dest, list(getattr(ns, arg.dest, None) or []) + [arg.convert(value)])
    else:
        setattr(ns, arg.dest, arg.convert(value))


def _positionals(rec: Recorder, given: list[str], ns: Namespace) -> None:
    """Assign the strings to the positionals as argparse's greedy match does."""
    wanted = [a for a in rec.arguments if not a.strings]
    least = [0 if a.nargs == "*" else 1 for a in wanted]
    if len(given) < sum(least):
        raise Unsupported("missing arguments")
    start = 0
    for k, arg in enumerate(wanted):
        if arg.nargs is None:
            setattr(ns, arg.dest, arg.convert(given[start]))
            start += 1
            continue
        take = len(given) - start - sum(least[k + 1:])
        if not take and arg.nargs == "*":
            value = arg.default if arg.default is not None else []
        else:
            value = [arg.convert(s) for s in given[start:start + take]]
        setattr(ns, arg.dest, value)
        start += take
    if start != len(given):
        raise Unsupported("more arguments than the command takes")


def _parse(rec: Recorder, args: list[str], ns: Namespace) -> None:
    for arg in rec.arguments:
        if arg.strings and arg.default != SUPPRESS and not hasattr(ns, arg.dest):
            setattr(ns, arg.dest, arg.default)
    for key, value in rec.defaults.items():
        if not hasattr(ns, key):
            setattr(ns, key, value)
    given: list[str] = []
    closed = False  # an option came after the positionals: argparse takes no more of them
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            raise Unsupported("--")
        if a.startswith("-") and a != "-":
            closed = bool(given)
            if a.startswith("--"):
                name, eq, value = a.partition("=")
                arg = rec.options.get(name)
                if arg is None or (eq and arg.action == "store_true"):
                    raise Unsupported("an option argparse knows better")
                if arg.action != "store_true" and not eq:
                    i += 1
                    value = _value(arg, args, i)
                _apply(arg, value, ns)
            else:
                arg = rec.options.get(a[:2])
                if arg is None:
                    raise Unsupported("an unknown option")
                if arg.action != "store_true":
                    if len(a) > 2:
                        raise Unsupported("a value joined to its option")
                    i += 1
                    _apply(arg, _value(arg, args, i), ns)
                else:
                    for flag in [a[:2]] + ["-" + c for c in a[2:]]:
                        each = rec.options.get(flag)
                        if each is None or each.action != "store_true":
                            raise Unsupported("joined options that are not all flags")
                        _apply(each, None, ns)
        elif rec.sub is not None:
            sub = rec.sub.parsers.get(a)
            if sub is None:
                raise Unsupported("an unknown subcommand")
            if rec.sub.dest:
                setattr(ns, rec.sub.dest, a)
            inner = Namespace()
            _parse(sub, args[i + 1:], inner)
            for key, value in vars(inner).items():
                setattr(ns, key, value)
            return
        else:
            if closed:
                raise Unsupported("positionals split by options")
            given.append(a)
        i += 1
    if rec.sub is not None:
        raise Unsupported("no subcommand: argparse says what to do")
    _positionals(rec, given, ns)


def parse(fill: Callable[[Any], Any], args: list[str]) -> Namespace | None:
    """The namespace argparse would give for ``args`` with the parser ``fill(parser)``
    builds, or None when argparse itself must parse them (or say what is wrong)."""
    rec = Recorder()
    try:
        fill(rec)
        ns = Namespace()
        _parse(rec, list(args), ns)
    except Unsupported:
        return None
    return ns
