"""``disco debug JOB [TASK]``: run one task of a job again here (:mod:`disco_core.client.debug`).

Without TASK the first failed task is replayed. It prints where the task ran, the folder
holding its files, and what it produced or the traceback; it exits with status 1 when the
replayed task raised. ``--pdb`` runs the task under pdb, stopping where the job's own
function for the stage starts and, post mortem, where an exception is raised.
"""
from __future__ import annotations

import argparse

from . import Command, Context


def debug(args: argparse.Namespace, ctx: Context) -> int:
    name = ctx.jobname(args.job)
    replay = ctx.disco.debug(name, args.task, pdb=args.pdb, workdir=args.workdir)
    if getattr(args, "verbose", False) and replay.details:
        replay.traceback = replay.details
    print(replay.report(most=args.records))
    return 0 if replay.ok else 1


def debug_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", help="job name, @ or @?TEXT")
    p.add_argument("task", nargs="?", help="stage:id, e.g. map:3 (default: the first failed)")
    p.add_argument("--pdb", action="store_true", help="run the task under pdb")
    p.add_argument("-d", "--workdir", help="folder for the task's files (default: a new "
                   "temporary one)")
    p.add_argument("-n", "--records", type=int, default=20,
                   help="records shown of each output (default 20)")


def debug_commands() -> list[Command]:
    return [Command("debug", "run one task of a job again here, to see what it does or step "
                    "through it with --pdb", debug, debug_arguments)]
