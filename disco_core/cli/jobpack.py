"""``disco job WORKER [INPUT ...]``: a job of any worker executable, built from flags.

The job pack is version 1 (the classic jobdict): ``-m`` / ``-r`` say which of the map and
reduce stages the job has (``nr_reduces`` 1, the default, makes the reduce one
``group_all`` task; a job with a map also gets the ``map_shuffle`` stage, which the worker
must handle too). The job home holds the worker under its file name, mode kept, and each
``-f PATH`` under its own name (a directory with everything in it). ``-D`` writes the pack
to stdout instead of submitting it (``disco job -D w.sh raw://x > pack; disco submit pack``).
With ``-v`` the jobdict, jobenvs, job home listing and job data are printed first.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..errors import DiscoError
from . import Command, Context


def jobhome(worker: str, paths: list[str]) -> bytes:
    """The job home: the worker and every extra path, each under its base name."""
    from ..fileutils import DiscoZipFile, files
    zf = DiscoZipFile()
    seen: dict[str, str] = {}
    for top in [worker] + paths:
        if not os.path.exists(top):
            raise DiscoError("cannot add %s to the job home: no such file or directory" % top)
        top = os.path.normpath(top)
        base = os.path.basename(top)
        if base in seen:
            raise DiscoError("%s and %s would both be %r in the job home: rename one"
                             % (seen[base], top, base))
        seen[base] = top
        for path in files(top):
            zf.write(path, os.path.join(base, os.path.relpath(path, top)) if path != top
                     else base)
    return zf.dumps()


def jobdata(value: str | None) -> bytes:
    """``-d DATA``: the bytes given, or ``@FILE``'s contents."""
    if not value:
        return b""
    if value.startswith("@"):
        try:
            with open(value[1:], "rb") as f:
                return f.read()
        except OSError as exc:
            raise DiscoError("cannot read the job data file %s: %s" % (value[1:], exc.strerror))
    return value.encode("utf-8")


def build(args: argparse.Namespace, ctx: Context) -> Any:
    from ..jobpack import VERSION1, JobPack, validate
    from ..util import reify
    if not os.path.isfile(args.worker):
        raise DiscoError("worker %s is not a file: give the path of an executable that "
                         "speaks the worker protocol" % args.worker)
    inputs = ctx.inputs(args.inputs)
    if not inputs:
        raise DiscoError("no inputs: give input URLs as arguments or on stdin")
    if args.nr_reduces < 1:
        raise DiscoError("--nr-reduces %d: give a positive number" % args.nr_reduces)
    base = os.path.basename(os.path.normpath(args.worker))
    jobdict = {"input": inputs, "worker": base,
               "map?": args.has_map, "reduce?": args.has_reduce,
               "nr_reduces": args.nr_reduces,
               "prefix": args.prefix or base.split(".")[0],
               "scheduler": {k: reify(v) for k, v in args.scheduler or []},
               "owner": args.owner or ctx.settings["DISCO_JOB_OWNER"]}
    jobenvs = dict(args.env or [])
    pack = JobPack(VERSION1, jobdict, jobenvs, jobhome(args.worker, args.file or []),
                   jobdata(args.data))
    validate(pack)  # the master's checks, before anything leaves this machine
    return pack


def job(args: argparse.Namespace, ctx: Context) -> int:
    pack = build(args, ctx)
    if getattr(args, "verbose", False):
        show(pack, sys.stderr if args.dump_jobpack else sys.stdout)
    if args.dump_jobpack:
        sys.stdout.flush()
        sys.stdout.buffer.write(pack.dumps())
        return 0
    print(ctx.disco.submit(pack.dumps()))
    return 0


def show(pack: Any, out: Any) -> None:
    import io
    import zipfile
    print("jobdict:", file=out)
    for item in pack.jobdict.items():
        print("\t%s\t%s" % item, file=out)
    print("jobenvs:", file=out)
    for item in pack.jobenvs.items():
        print("\t%s\t%s" % item, file=out)
    print("jobhome:", file=out)
    for name in zipfile.ZipFile(io.BytesIO(pack.jobhome)).namelist():
        print("\t%s" % name, file=out)
    print("jobdata:", file=out)
    print("\t%r" % pack.jobdata, file=out)


def job_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("worker", help="the worker executable (added to the job home)")
    p.add_argument("inputs", nargs="*", help="input URLs (stdin if none; a line of several "
                                             "URLs is one input's replicas)")
    p.add_argument("-m", "--has-map", action="store_true", help="the job has a map stage")
    p.add_argument("-r", "--has-reduce", action="store_true", help="the job has a reduce stage")
    p.add_argument("-n", "--nr-reduces", type=int, default=1,
                   help="number of reduces (default 1: one reduce task over all inputs)")
    p.add_argument("-o", "--owner", help="job owner (default DISCO_JOB_OWNER)")
    p.add_argument("-p", "--prefix", help="job name prefix (default the worker's name)")
    p.add_argument("-S", "--scheduler", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="scheduler option, e.g. -S max_cores 4")
    p.add_argument("-e", "--env", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="environment variable of the worker")
    p.add_argument("-f", "--file", action="append", metavar="PATH",
                   help="a file or directory to add to the job home")
    p.add_argument("-d", "--data", help="job data (@FILE reads it from FILE)")
    p.add_argument("-D", "--dump-jobpack", action="store_true",
                   help="write the job pack to stdout instead of submitting it")


def jobpack_commands() -> list[Any]:
    return [Command("job", "build a job pack from a worker executable and submit it "
                           "(print the job name)", job, job_arguments,
                    binary_stdout=lambda args: args.dump_jobpack)]
