"""What a ``disco`` subcommand is (:class:`Command`) and the commands the installed plugins
give (:func:`commands`), core's own among them (:func:`core_commands`).

Every subcommand, core's included, comes from a plugin hook (``disco_cli_commands``);
:mod:`disco_core.cli` runs them and re-exports :class:`Command`, the name plugins use
(``disco_core.cli.Command``). Below the command line so that the contract suites of hook
plugins (:mod:`disco_core.hook_contracts`) and core's own commands find the commands the
same way the command line does: through the plugin host.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    import argparse

#: The distribution whose hooks are core's own (entry point ``core`` in group ``disco``).
CORE = "disco-core"


def _no_arguments(p: argparse.ArgumentParser) -> None:
    pass


def _text_stdout(args: argparse.Namespace) -> bool:
    return False


class Command:
    """A subcommand: ``name``, ``help``, ``run(args, ctx)`` (``ctx`` is the command line's
    :class:`disco_core.cli.Context`), ``arguments(parser)`` adding its arguments,
    ``aliases``, and ``binary_stdout(args)``: whether stdout carries binary data for these
    arguments (``-v`` then prints the settings on stderr, so the data stays whole).

    A plain class, not a dataclass: ``dataclasses`` (with ``inspect``) was a fifth of the
    imports of a short ``ddfs`` command."""

    __slots__ = ("name", "help", "run", "arguments", "aliases", "binary_stdout")

    def __init__(self, name: str, help: str, run: Callable[[argparse.Namespace, Any], Any],
                 arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments,
                 aliases: list[str] | None = None,
                 binary_stdout: Callable[[argparse.Namespace], bool] = _text_stdout) -> None:
        self.name, self.help, self.run, self.arguments = name, help, run, arguments
        self.aliases = list(aliases or [])
        self.binary_stdout = binary_stdout

    def _key(self) -> tuple:
        return (self.name, self.help, self.run, self.arguments, self.aliases,
                self.binary_stdout)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value, as before

    def __repr__(self) -> str:
        return "Command(name=%r, help=%r)" % (self.name, self.help)


def each_command() -> Iterator[tuple[str, Command]]:
    """``(plugin, command)`` for every command of every plugin, in the host's order. A
    plugin whose hook answers anything but a list of :class:`Command` is recorded as
    failing (``disco plugins``) and left out."""
    from .plugins import get_host  # here: a command that is given its commands needs no host
    host = get_host()
    for plugin, batch in host.each("disco_cli_commands"):
        try:
            batch = list(batch)
            if not all(isinstance(cmd, Command) for cmd in batch):
                raise TypeError("returned %r, not a list of disco_core.cli.Command" % (batch,))
        except Exception as exc:
            host.failed(plugin, "disco_cli_commands", exc)
            continue
        for cmd in batch:
            yield plugin, cmd


def commands() -> list[Command]:
    """The commands of the command line, by name: the first plugin to give a name has it."""
    found: dict[str, Command] = {}
    for _plugin, cmd in each_command():
        found.setdefault(cmd.name, cmd)
    return sorted(found.values(), key=lambda c: c.name)


def core_commands() -> list[Command]:
    """The commands core itself gives (none when core's hooks are disabled)."""
    return [cmd for plugin, cmd in each_command() if plugin == CORE]
