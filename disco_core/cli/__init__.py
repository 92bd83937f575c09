"""The ``disco`` command line. Every subcommand, core's included, comes from a plugin hook
(``disco_cli_commands``), so a plugin adds commands the same way core does: a list of
:class:`Command` (defined in :mod:`disco_core.commands`, re-exported here).

Global options go anywhere: ``-h``, ``-s FILE`` (settings file), ``-v`` (print the settings
in force; tracebacks on error), ``-t TOKEN``, ``-M MASTER``. Job arguments accept the
history shortcuts ``@`` (the newest job) and ``@?TEXT`` (the newest job whose name
contains TEXT). Inputs come from the arguments or, if there are none, from stdin, one per
line (:meth:`Context.inputs`). Errors print one line and exit with status 1.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from ..commands import Command, commands
from ..errors import DiscoError
from .quick import suppress as _suppress

if TYPE_CHECKING:
    import argparse


class Context:
    """What a command needs: settings, the master client, job-name resolution."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._disco = None
        from ..settings import DiscoSettings
        self.settings = DiscoSettings()

    @property
    def disco(self) -> Any:
        if self._disco is None:
            from ..client import Disco
            self._disco = Disco(settings=self.settings)
        return self._disco

    def jobname(self, spec: str) -> str:
        """Resolve ``@`` and ``@?TEXT`` against the master's job list."""
        if spec == "@" or spec.startswith("@?"):
            jobs = self.disco.joblist()
            for _start, _status, name in jobs:
                if spec == "@" or spec[2:] in name:
                    return name
            raise DiscoError("no job matches %r" % spec)
        return spec

    def jobnames(self, specs: list[str]) -> list[str]:
        if not specs:
            specs = [line.strip() for line in sys.stdin if line.strip()]
        return [self.jobname(s) for s in specs]

    def inputs(self, args: list[str], job_mode: bool = False) -> list[Any]:
        """Inputs given as arguments, else one per line of stdin (a line of several
        words is one input's replicas). In job mode (``-j``) the arguments are job names,
        each standing for the job's results (waited for)."""
        if job_mode:
            return [r for name in self.jobnames(args) for r in self.disco.wait(name)]
        if args:
            return list(args)
        found: list[Any] = []
        for line in sys.stdin:
            words = line.split()
            if words:
                found.append(words[0] if len(words) == 1 else words)
        return found


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = _suppress(parser) if suppress else None
    parser.add_argument("-s", "--settings", metavar="FILE", default=default,
                        help="settings file (sets DISCO_SETTINGS_FILE)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        default=_suppress(parser) if suppress else False,
                        help="print the settings in force; show tracebacks on error")
    parser.add_argument("-t", "--token", default=default, help="DDFS read and write token")
    parser.add_argument("-M", "--master", default=default, help="the master (host or URL)")


class UsageError(DiscoError):
    """The command line itself is wrong (an unknown command, a missing argument)."""


def _parser_class() -> type:
    """:class:`Parser`, made when first needed (argparse is imported only then)."""
    global _Parser
    if _Parser is None:
        import argparse

        class Parser(argparse.ArgumentParser):
            """Usage errors are one line and status 1, like every other error of the
            command."""

            def error(self, message: str) -> Any:
                import re
                m = re.match(r"argument COMMAND: invalid choice: '(.*?)'", message)
                if m:
                    raise UsageError("unrecognized command: %s (`disco help` lists the "
                                     "commands)" % m.group(1))
                raise UsageError("%s (see `%s -h`)" % (message, self.prog))
        _Parser = Parser
    return _Parser


_Parser: type | None = None


def __getattr__(name: str) -> Any:
    if name == "Parser":
        return _parser_class()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _fill(parser: Any, cmds: list[Command]) -> Any:
    """``parser`` with the global options and a subcommand for each of ``cmds``."""
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in cmds:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, aliases=cmd.aliases)
        _global_options(p, suppress=True)
        cmd.arguments(p)
        p.set_defaults(_command=cmd)
    return parser


def build_parser(cmds: list[Command]) -> argparse.ArgumentParser:
    return _fill(_parser_class()(prog="disco", description="Control a Disco cluster."), cmds)


def apply_globals(args: argparse.Namespace) -> None:
    if getattr(args, "settings", None):
        if not os.path.isfile(args.settings):
            raise DiscoError("settings file %s does not exist" % args.settings)
        os.environ["DISCO_SETTINGS_FILE"] = args.settings
    if getattr(args, "token", None):
        os.environ["DDFS_READ_TOKEN"] = os.environ["DDFS_WRITE_TOKEN"] = args.token
    master = getattr(args, "master", None)
    if master:
        if ":" not in master.split("://")[-1]:
            from ..settings import DiscoSettings
            master = "%s:%s" % (master, DiscoSettings()["DISCO_PORT"])
        if "://" not in master:
            master = "http://" + master
        os.environ["DISCO_MASTER"] = master


def main(argv: list[str] | None = None, prog: str = "disco",
         only: list[Command] | None = None) -> int:
    """Run a command line; ``prog`` is the name errors are printed under (a plugin's own
    command runs its subcommands through here, under its own name). ``only``: the
    commands to know, instead of every plugin's (a plugin's own command, which then starts
    without building the plugin host)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "help":  # `disco help [COMMAND]`
        argv = argv[1:] + ["--help"]
    try:
        cmds = commands() if only is None else list(only)
    except Exception as exc:  # e.g. a broken plugin with DISCO_RAISE_PLUGIN_ERRORS=1
        if "-v" in argv or "--verbose" in argv:
            raise
        print("%s: %s" % (prog, exc), file=sys.stderr)
        return 1
    args: Any = None
    if only is not None:  # a plain command line of a plugin's command, without argparse
        from .quick import parse
        args = parse(lambda p: _fill(p, cmds), argv)
    if args is None:
        try:
            args = build_parser(cmds).parse_args(argv)
        except UsageError as exc:
            print("%s: %s" % (prog, exc), file=sys.stderr)
            return 1
    verbose = getattr(args, "verbose", False)
    try:
        apply_globals(args)
        ctx = Context(args)
        cmd = getattr(args, "_command", None)
        if verbose:
            out = sys.stderr if cmd is not None and cmd.binary_stdout(args) else sys.stdout
            for name in ctx.settings.names:
                print("%s = %s" % (name, ctx.settings[name]), file=out)
        if cmd is None:
            if not verbose:
                print(ctx.disco)
            return 0
        result = cmd.run(args, ctx)
        return int(result or 0)
    except KeyboardInterrupt:
        return 1
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if verbose:
            raise
        print("%s: %s" % (prog, exc), file=sys.stderr)
        return 1


def entry() -> None:
    sys.exit(main())
