"""Job commands: ``run``, ``wait``, ``results``, ``events``, ``jobs``, ``jobinfo``, ``kill``,
``purge``, ``pstats``, ``jobdict``, ``stageresults``, ``nodeinfo``, ``config``, ``deref``,
``plugins``, ``oob``, ``submit``, ``master_version``, ``client_version``, ``test``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import DiscoError
from . import Command, Context


def print_results(results: list) -> None:
    for result in results:
        if isinstance(result, (list, tuple)):
            print("\t".join(result))
        else:
            print(result)


def _reify(value: str) -> Any:
    from ..util import reify
    return reify(value)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from ..plugins import import_object
    sys.path.insert(0, os.getcwd())
    try:
        cls = import_object(args.jobclass)
    except (ImportError, AttributeError, ValueError) as exc:
        raise DiscoError("cannot import job class %r: %s (give module.JobClass, with the module "
                         "importable from the current directory)" % (args.jobclass, exc)) from None
    job = cls(name=args.name, settings=ctx.settings) if args.name else cls(settings=ctx.settings)
    jobargs: dict[str, Any] = {}
    if args.input:
        jobargs["input"] = args.input
    if args.map:
        jobargs["map"] = _reify(args.map)
    if args.reduce:
        jobargs["reduce"] = _reify(args.reduce)
    for key in ("save", "profile", "partitions"):
        value = getattr(args, key)
        if value is not None:
            jobargs[key] = _reify(value)
    if args.scheduler:
        jobargs["scheduler"] = {k: _reify(v) for k, v in args.scheduler}
    if args.param:
        from ..worker import Params
        jobargs["params"] = Params(**{k: _reify(v) for k, v in args.param})
    job.run(**jobargs)
    print(job.name)
    return 0


def run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobclass", help="module.JobClass")
    p.add_argument("input", nargs="*", help="input URLs")
    p.add_argument("-n", "--name", help="job name prefix")
    p.add_argument("-m", "--map", help="map function (dotted name)")
    p.add_argument("-r", "--reduce", help="reduce function (dotted name)")
    p.add_argument("--save", help="save results (True/False)")
    p.add_argument("--profile", help="profile the tasks (True/False)")
    p.add_argument("--partitions", help="number of partitions")
    p.add_argument("-S", "--scheduler", nargs=2, action="append", metavar=("KEY", "VALUE"))
    p.add_argument("-P", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"))


def jobs_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobs", nargs="*", help="job names, @ or @?TEXT (stdin if none)")


def job_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", help="job name, @ or @?TEXT")


def wait(args: argparse.Namespace, ctx: Context) -> int:
    """Results of each job once it is done; meanwhile on a terminal a progress bar per stage
    and the events (``-q``: neither; ``DISCO_EVENTS`` chooses them elsewhere too)."""
    show: Any = None
    if args.quiet:
        show = ""
    elif sys.stderr.isatty():
        show = ctx.settings["DISCO_EVENTS"] or True
    for name in ctx.jobnames(args.jobs):
        print_results(ctx.disco.wait(name, show=show))
    return 0


def counters(args: argparse.Namespace, ctx: Context) -> int:
    """``NAME VALUE`` lines of the job's counters; while it runs, the running attempts'
    counts follow in a second column (``+N running``)."""
    view = ctx.disco.counters(ctx.jobname(args.job), running=True)
    done, running = view["counters"], view["running"]
    names = sorted(set(done) | set(running))
    if not names:
        print("(no counters)", file=sys.stderr)
    width = max((len(n) for n in names), default=0)
    for name in names:
        line = "%-*s %s" % (width, name, _number(done.get(name, 0)))
        if name in running:
            line += "  +%s running" % _number(running[name])
        print(line)
    return 0


def _number(n: Any) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def wait_arguments(p: argparse.ArgumentParser) -> None:
    jobs_arg(p)
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars or events on a terminal")


def results(args: argparse.Namespace, ctx: Context) -> int:
    for name in ctx.jobnames(args.jobs):
        status, res = ctx.disco.results(name, timeout=0)
        if status == "unknown job":
            raise DiscoError("unknown job %s" % name)
        print_results(res)
    return 0


def events(args: argparse.Namespace, ctx: Context) -> int:
    """The event log, tracebacks in it reduced to the job's own frames (every frame with
    ``-v`` or ``DISCO_DEBUG=trace``), source lines filled in from this machine's files."""
    from ..tracebacks import debug_setting, user_events
    data = ctx.disco.rawevents(ctx.jobname(args.job), args.offset)
    verbose = getattr(args, "verbose", False) or debug_setting(ctx.settings)
    sys.stdout.write(user_events(data.decode("utf-8", "replace"), verbose=verbose))
    return 0


def jobs(args: argparse.Namespace, ctx: Context) -> int:
    for _start, status, name in ctx.disco.joblist():
        print("%s\t%s" % (name, status) if args.status else name)
    return 0


def jobinfo(args: argparse.Namespace, ctx: Context) -> int:
    print(json.dumps(ctx.disco.jobinfo(ctx.jobname(args.job)), indent=2))
    return 0


def kill(args: argparse.Namespace, ctx: Context) -> int:
    for name in ctx.jobnames(args.jobs):
        ctx.disco.kill(name)
    return 0


def purge(args: argparse.Namespace, ctx: Context) -> int:
    for name in ctx.jobnames(args.jobs):
        ctx.disco.purge(name)
    return 0


def pstats(args: argparse.Namespace, ctx: Context) -> int:
    stats = ctx.disco.profile_stats(ctx.jobname(args.job), stream=sys.stdout)
    stats.sort_stats(*(args.sort_stats or ["cumulative"])).print_stats()
    return 0


def jobdict(args: argparse.Namespace, ctx: Context) -> int:
    name = ctx.jobname(args.job)
    print(name)
    for key, value in ctx.disco.jobpack(name).jobdict.items():
        print("\t%s\t%s" % (key, value))
    return 0


def stageresults(args: argparse.Namespace, ctx: Context) -> int:
    print_results(ctx.disco.stageresults(ctx.jobname(args.job), args.stage))
    return 0


def nodeinfo(args: argparse.Namespace, ctx: Context) -> int:
    from ..master.plugincheck import describe
    from ..plugins import get_host
    for host, info in ctx.disco.nodeinfo().items():
        print("%s\t%s" % (host, info))
        if info.get("plugins_differ"):  # what the node lacks or has otherwise than the master
            print("\t%s" % describe(info["plugins_differ"], get_host().installed()))
    return 0


def config(args: argparse.Namespace, ctx: Context) -> int:
    """Print the node table; ``config set [FILE]`` replaces it with the rows of FILE (or
    stdin), ``HOST CORES`` per line as printed (``#`` starts a comment); a table with no
    rows only with ``--empty``."""
    if args.words and args.words[0] == "set" and len(args.words) <= 2:
        rows = read_table(args.words[1] if len(args.words) == 2 else None)
        if not rows and not args.empty:
            raise DiscoError("the node table to set has no rows: with no node no job can run; "
                             "to mean it, run disco config set --empty")
        ctx.disco.set_config(rows, empty=args.empty)
        print("table saved!")
        return 0
    if args.words or args.empty:
        raise DiscoError("usage: disco config | disco config set [--empty] [FILE]")
    for row in ctx.disco.get_config():
        print("\t".join(row))
    return 0


def read_table(path: str | None) -> list[list[str]]:
    where = path or "stdin"
    try:
        text = open(path).read() if path else sys.stdin.read()
    except OSError as exc:
        raise DiscoError("cannot read the node table %s: %s" % (where, exc.strerror)) from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise DiscoError("line %d of %s: %r is not 'HOST CORES'" % (number, where, line))
        rows.append(words)
    return rows


def deref(args: argparse.Namespace, ctx: Context) -> int:
    """Each input with its ``dir://`` indexes replaced by the URLs they list, one input per
    line, replicas tab-separated; ``-r`` makes every URL one other hosts can fetch."""
    from ..util import urlresolve
    from ..worker.inputlist import inputexpand
    fix = urlresolve if args.resolve else (lambda url: url)
    for given in ctx.inputs(args.urls, job_mode=args.job_mode):
        for item in inputexpand(given):
            replicas = item if isinstance(item, (list, tuple)) else [item]
            print("\t".join(fix(url) for url in replicas))
    return 0


def deref_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("urls", nargs="*", help="input URLs (stdin if none)")
    p.add_argument("-r", "--resolve", action="store_true",
                   help="print http URLs (what other hosts can fetch)")
    job_mode(p)


def job_mode(p: argparse.ArgumentParser) -> None:
    p.add_argument("-j", "--job-mode", action="store_true",
                   help="the arguments are job names, standing for their results")


def plugins(args: argparse.Namespace, ctx: Context) -> int:
    from ..plugins import get_host
    infos = get_host().inventory()
    broken = 0
    for info in infos:
        state = "disabled" if info.disabled else ("BROKEN" if info.error else "ok")
        provides = ", ".join(info.drivers + (["hooks"] if info.hooks else []))
        print("%-28s %-8s %-8s %s" % (info.name, info.version, state, provides))
        if info.error:
            broken += 1
            print("    %s" % info.error)
        for text in info.failures:
            print("    failed: %s" % text)
    if broken:
        print("%d plugin(s) failed to load" % broken)
    try:
        remote = ctx.disco.plugins()
    except (DiscoError, OSError):
        return 0  # no master running: what is installed here is all there is to say
    failing = [p for p in remote if p.get("failures")]
    if failing:
        print("plugins that failed in the master %s:" % ctx.disco.master)
        for info in failing:
            for text in info["failures"]:
                print("    %s: %s" % (info["name"], text))
    differ = [p for p in remote if p.get("nodes")]
    if differ:  # a plugin a node lacks, has in another version, or alone has
        print("plugins that differ on the nodes from the master's:")
        for info in differ:
            print("    %s %s: %s" % (info["name"], info.get("version") or "(not in the master)",
                                     ", ".join("%s %s" % (host, state) for host, state
                                               in sorted(info["nodes"].items()))))
    return 0


def oob(args: argparse.Namespace, ctx: Context) -> int:
    words = args.words
    if words and words[0] == "get":
        if len(words) != 3:
            raise DiscoError("usage: disco oob get KEY JOB")
        sys.stdout.buffer.write(ctx.disco.oob_get(ctx.jobname(words[2]), words[1]))
        return 0
    if len(words) != 1:
        raise DiscoError("usage: disco oob JOB | disco oob get KEY JOB")
    for key in ctx.disco.oob_list(ctx.jobname(words[0])):
        print(key)
    return 0


def submit(args: argparse.Namespace, ctx: Context) -> int:
    if not args.file:
        print(ctx.disco.submit(sys.stdin.buffer.read()))
        return 0
    try:
        f = open(args.file, "rb")
    except OSError as exc:
        raise DiscoError("cannot read the job pack %s: %s" % (args.file, exc.strerror)) from None
    with f:  # streamed from the file, not read into memory first
        print(ctx.disco.submit(f))
    return 0


def master_version(args: argparse.Namespace, ctx: Context) -> int:
    print(ctx.disco.master_version())
    return 0


def client_version(args: argparse.Namespace, ctx: Context) -> int:
    from .. import __version__
    print(__version__)
    return 0


def test(args: argparse.Namespace, ctx: Context) -> int:
    """Run ``disco.test`` test modules against the cluster (all ``test_*.py`` if none named)."""
    import glob
    from ..testcase import TestRunner
    directory = os.path.abspath(args.directory)
    if not os.path.isdir(directory):
        raise DiscoError("no test directory %s: give one with -d DIR" % directory)
    sys.path.insert(0, directory)
    names = args.names or sorted(os.path.basename(path)[:-3] for path in
                                 glob.glob(os.path.join(directory, "test_*.py")))
    if not names:
        raise DiscoError("no test_*.py modules in %s" % directory)
    result = TestRunner(ctx.settings).run(*names)
    return 0 if result.wasSuccessful() else 1


def test_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--directory", default="tests",
                   help="where the test modules are (default ./tests)")
    p.add_argument("names", nargs="*", help="test_module or test_module.TestCaseClass")


def job_commands() -> list[Any]:
    def offset(p: argparse.ArgumentParser) -> None:
        job_arg(p)
        p.add_argument("-o", "--offset", type=int, default=0, help="byte offset")

    def status_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("-S", "--status", action="store_true", help="show each job's status")

    def sort_keys(p: argparse.ArgumentParser) -> None:
        job_arg(p)
        p.add_argument("-k", "--sort-stats", action="append", help="pstats sort key")

    def stage(p: argparse.ArgumentParser) -> None:
        job_arg(p)
        p.add_argument("-S", "--stage", default="map", help="stage name (default map)")

    def oob_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("words", nargs="+", help="JOB, or get KEY JOB")

    def words(p: argparse.ArgumentParser) -> None:
        p.add_argument("words", nargs="*", help="nothing, or set [FILE]")

    def config_arguments(p: argparse.ArgumentParser) -> None:
        words(p)
        p.add_argument("--empty", action="store_true",
                       help="with set: save a table with no rows (no job runs until nodes "
                            "are added)")

    def file_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("file", nargs="?", help="job pack file (stdin if none)")

    return [
        Command("run", "run a job class: print the job name", run, run_arguments),
        Command("wait", "wait for jobs; print their results", wait, wait_arguments),
        Command("results", "print the result URLs of jobs", results, jobs_arg),
        Command("events", "print a job's event log", events, offset),
        Command("jobs", "list jobs, newest first", jobs, status_flag),
        Command("jobinfo", "print a job's status, stages and results", jobinfo, job_arg),
        Command("counters", "print a job's counters (live while it runs)", counters,
                job_arg),
        Command("kill", "kill jobs", kill, jobs_arg),
        Command("purge", "kill jobs and delete all their data", purge, jobs_arg),
        Command("pstats", "print a profiled job's statistics", pstats, sort_keys),
        Command("jobdict", "print a job's jobdict", jobdict, job_arg),
        Command("stageresults", "print the results of one stage of a job", stageresults, stage),
        Command("nodeinfo", "print the nodes' state", nodeinfo),
        Command("config", "print the node table, or set it (config set [FILE])", config,
                config_arguments),
        Command("deref", "print the URLs that dir:// inputs list", deref, deref_arguments),
        Command("plugins", "list installed plugins and any that failed to load", plugins),
        Command("oob", "list a job's out-of-band keys, or get one", oob, oob_args),
        Command("submit", "submit a job pack file", submit, file_arg),
        Command("master_version", "print the master's version", master_version),
        Command("client_version", "print this library's version", client_version),
        Command("test", "run disco.test test cases against the cluster", test, test_arguments),
    ]
