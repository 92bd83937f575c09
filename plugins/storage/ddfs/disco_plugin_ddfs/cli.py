"""The ``ddfs`` commands (``reference/cli.md`` section 3), as ``disco ddfs COMMAND`` and as
the ``ddfs`` command of this plugin. Tags are names or ``tag://`` URLs; inputs come from
the arguments or, when there are none, from stdin (a line of several words is one blob's
replicas). ``-t TOKEN`` sets the token of every request."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from disco_core.cli import Context

if TYPE_CHECKING:
    import argparse

SUBCOMMANDS: list[tuple[str, str, Callable, Callable]] = []


def command(help: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None
            ) -> Callable:
    def register(fn: Callable) -> Callable:
        SUBCOMMANDS.append((fn.__name__.rstrip("_"), help, fn, arguments))
        return fn
    return register


def _ddfs(ctx: Context) -> Any:
    from .client import DDFS
    return DDFS(settings=ctx.settings)


def _tags(args: argparse.Namespace, ctx: Context, ddfs: Any) -> list[str]:
    """The tag arguments (stdin when none); with ``-p`` each is a prefix of tag names."""
    given = list(getattr(args, "tags", None) or [])
    if not given and not sys.stdin.isatty():
        given = [w for line in sys.stdin for w in line.split()]
    if getattr(args, "prefix_mode", False):
        return [name for prefix in given for name in ddfs.list(prefix)]
    return given


def _print_replicas(replicas: Iterable) -> None:
    for item in replicas:
        print("\t".join([item] if isinstance(item, str) else item))


def tag_args(p: argparse.ArgumentParser, ignore: bool = True) -> None:
    p.add_argument("tags", nargs="*", metavar="TAG", help="tags (stdin if none)")
    p.add_argument("-p", "--prefix-mode", action="store_true",
                   help="the arguments are prefixes of tag names")
    if ignore:
        p.add_argument("-i", "--ignore-missing", action="store_true",
                       help="skip tags that do not exist")


def one_tag(p: argparse.ArgumentParser) -> None:
    p.add_argument("tag", metavar="TAG")


def tag_attr(p: argparse.ArgumentParser) -> None:
    p.add_argument("tag", metavar="TAG")
    p.add_argument("attr", metavar="ATTR")


def tag_urls(p: argparse.ArgumentParser) -> None:
    p.add_argument("tag", metavar="TAG")
    p.add_argument("urls", nargs="*", metavar="URL", help="replica lists (stdin if none)")


def read_args(p: argparse.ArgumentParser, reader: str | None) -> None:
    p.add_argument("urls", nargs="*", metavar="URL", help="tags or URLs (stdin if none)")
    p.add_argument("-R", "--reader", default=reader, help="reader (a dotted name)")
    p.add_argument("-T", "--stream", default="disco.worker.task_io.default_stream",
                   help="input stream (a dotted name)")
    p.add_argument("-i", "--ignore-missing", action="store_true",
                   help="skip tags that do not exist and inputs that cannot be read")
    p.add_argument("-p", "--prefix-mode", action="store_true",
                   help="the arguments are prefixes of tag names")
    p.add_argument("-j", "--job-mode", action="store_true",
                   help="the arguments are job names, standing for their results")


def placement_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--replicas", type=int, default=None, help="replicas of each blob")
    p.add_argument("-F", "--forceon", action="append", default=[], metavar="HOST",
                   help="store a replica on HOST (repeatable)")


# -- reading tags -------------------------------------------------------------------------
@command("print the user attributes of a tag, key TAB value", one_tag)
def attrs(args: argparse.Namespace, ctx: Context) -> int:
    for key, value in sorted(_ddfs(ctx).attrs(args.tag).items()):
        print("%s\t%s" % (key, value))
    return 0


@command("print the replicas of every blob the tags reach", tag_args)
def blobs(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    for tag in _tags(args, ctx, ddfs):
        _print_replicas(ddfs.blobs(tag, ignore_missing=args.ignore_missing))
    return 0


@command("print True if the tag exists (exit 0), else False (exit 1)", one_tag)
def exists(args: argparse.Namespace, ctx: Context) -> int:
    if _ddfs(ctx).exists(args.tag):
        print("True")
        return 0
    print("False", file=sys.stderr)
    return 1


def find_args(p: argparse.ArgumentParser) -> None:
    tag_args(p)
    p.add_argument("-w", "--warn-missing", action="store_true", help="say which tags are missing")


@command("walk the tag graph: print the path of each tag it reaches", find_args)
def find(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    for tag in _tags(args, ctx, ddfs):
        for path, subtags, _blobs in ddfs.walk(tag, ignore_missing=args.ignore_missing):
            if subtags is None or (not subtags and not _blobs and args.warn_missing
                                   and not ddfs.exists(path[-1])):
                print("Tag not found: %s" % "\t".join(path))
            else:
                print("\t".join(path))
    return 0


@command("print a tag", one_tag)
def get(args: argparse.Namespace, ctx: Context) -> int:
    print(_ddfs(ctx).get(args.tag))
    return 0


@command("print the value of an attribute of a tag", tag_attr)
def getattr_(args: argparse.Namespace, ctx: Context) -> int:
    print(_ddfs(ctx).getattr(args.tag, args.attr))
    return 0


def ls_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("prefixes", nargs="*", metavar="PREFIX", help="prefixes of tag names")
    p.add_argument("-r", "--recursive", action="store_true", help="list each tag's blobs too")


@command("list the tags whose names start with the prefixes (all tags if none)", ls_args)
def ls(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    for prefix in args.prefixes or [""]:
        for name in ddfs.list(prefix):
            print(name)
            if args.recursive:
                _print_replicas(ddfs.blobs(name))
                print()
    return 0


@command("print each tag's fields (but its urls), tab-separated", tag_args)
def stat(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    for tag in _tags(args, ctx, ddfs):
        obj = ddfs.get(tag)
        print("\t".join("%s: %s" % (k, obj[k]) for k in sorted(obj) if k != "urls"))
    return 0


@command("print the urls of each tag, replicas tab-separated", tag_args)
def urls(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    for tag in _tags(args, ctx, ddfs):
        _print_replicas(ddfs.urls(tag))
    return 0


# -- data ---------------------------------------------------------------------------------
def _inputs(args: argparse.Namespace, ctx: Context, ddfs: Any = None,
            reader: Any = None) -> Iterator[list[str]]:
    """The inputs to read: URLs as given, tags expanded to their blobs (after the others);
    ``ddfs`` and its ``reader`` those of the command (new ones when not given: each reader
    asks the master which nodes are down)."""
    from .client import canonizetag
    ddfs = ddfs or _ddfs(ctx)
    given = ctx.inputs(args.urls, job_mode=args.job_mode)
    if args.prefix_mode:
        given = ["tag://%s" % n for p in given for n in ddfs.list(p)]
    plain, tags = [], []
    for item in given:
        first = item if isinstance(item, str) else item[0]
        is_tag = isinstance(item, str) and ("://" not in item and "/" not in item
                                            or item.startswith("tag://"))
        (tags if is_tag else plain).append(item if not is_tag else canonizetag(first))
    reader = reader or ddfs.reader()
    for item in plain:
        yield [item] if isinstance(item, str) else list(item)
    for tag in tags:  # a blob's replicas on nodes the master knows are down go last
        for replicas in ddfs.blobs(tag, ignore_missing=args.ignore_missing):
            yield reader.order(replicas)


@command("print the raw bytes of URLs, tags' blobs (after the URLs) or jobs' results",
         lambda p: read_args(p, None))
def cat(args: argparse.Namespace, ctx: Context) -> int:
    from disco_core.comm import open_local
    from disco_core.errors import CommError, DataError

    from .copying import Output
    ddfs = _ddfs(ctx)
    reader = ddfs.reader()  # one for the command: the master is asked once which nodes are down
    with Output(sys.stdout.buffer) as out:
        for replicas in _inputs(args, ctx, ddfs, reader):
            try:
                if len(replicas) == 1 and "://" not in replicas[0] \
                        or replicas[0].startswith("file://"):
                    conn = open_local(replicas[0])
                else:
                    conn = reader.open(replicas)
            except (CommError, DataError) as exc:
                if args.ignore_missing:
                    continue
                raise DataError(str(exc), replicas[0]) from None
            with conn:
                out.copy(conn)
        out.flush()
    return 0


@command("print the records of URLs, tags or jobs' results, fields tab-separated",
         lambda p: read_args(p, "disco.worker.task_io.chain_reader"))
def xcat(args: argparse.Namespace, ctx: Context) -> int:
    from disco_core.client.results import result_iterator
    from disco_core.plugins import import_object
    reader = import_object(args.reader) if args.reader else None
    stream = import_object(args.stream)
    stream = tuple(stream) if isinstance(stream, (list, tuple)) else (stream,)
    for record in result_iterator(list(_inputs(args, ctx)), reader=reader,
                                  input_stream=stream):
        fields = record if isinstance(record, (tuple, list)) else (record,)
        print("\t".join(_text(f) for f in fields))
    return 0


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\n")
    return str(value).rstrip("\n")


def push_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("tag", metavar="TAG")
    p.add_argument("files", nargs="*", metavar="FILE", help="files (stdin names if none)")
    placement_args(p)
    p.add_argument("-r", "--recursive", action="store_true", help="push directories' files")
    p.add_argument("-x", "--tarballs", action="store_true", help="push each member of tars")
    p.add_argument("-z", "--compress", action="store_true", help="gzip tar members (_gz)")
    p.add_argument("-I", "--include", default=None, help="only tar members naming this")
    p.add_argument("-E", "--exclude", default=None, help="no tar members naming this")
    p.add_argument("-u", "--update", action="store_true", help="only blobs new to the tag")
    p.add_argument("-d", "--delayed", action="store_true", help="a delayed tag update")


@command("store files as blobs and tag them", push_args)
def push(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    files = args.files or [line.strip() for line in sys.stdin if line.strip()]
    items: list[Any] = []
    for path in files:
        if os.path.isdir(path):
            if not args.recursive:
                print("%s is a directory (not pushing)." % path)
                continue
            for root, _dirs, fnames in os.walk(path):
                items.extend(os.path.join(root, f) for f in sorted(fnames))
        elif args.tarballs:
            for name, buf, _size in ddfs.tarblobs(path, compress=args.compress,
                                                  include=args.include, exclude=args.exclude):
                print("extracted %s" % name)
                items.append((buf, name))
        elif os.path.isfile(path):
            items.append(path)
        else:
            from disco_core.errors import DiscoError
            raise DiscoError("cannot push %s: no such file" % path)
    print("pushing...")
    ddfs.push(args.tag, items, replicas=args.replicas, forceon=args.forceon,
              update=args.update, delayed=args.delayed)
    return 0


def chunk_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("tag", metavar="TAG")
    read_args(p, None)
    placement_args(p)
    p.add_argument("-u", "--update", action="store_true", help="only blobs new to the tag")
    p.add_argument("-d", "--delayed", action="store_true", help="a delayed tag update")
    p.add_argument("-S", "--size", type=float, default=64.0, help="chunk size in MB")
    p.add_argument("-Z", "--max-record-size", type=float, default=1.0,
                   help="largest record in MB")


@command("cut inputs into chunks of records, store them as blobs and tag them", chunk_args)
def chunk(args: argparse.Namespace, ctx: Context) -> int:
    from disco_core.plugins import import_object
    ddfs = _ddfs(ctx)
    import tempfile
    inputs: list[Any] = []
    spools = []
    for item in ctx.inputs(args.urls, job_mode=args.job_mode):
        if item == "-":  # stdin's lines, through a file
            spool = tempfile.NamedTemporaryFile(prefix="stdin-", suffix=".txt")
            spool.write(sys.stdin.buffer.read())
            spool.flush()
            spools.append(spool)
            inputs.append("file://" + spool.name)
        elif isinstance(item, str) and "://" not in item and "/" in item:
            inputs.append("file://" + os.path.abspath(item))
        elif isinstance(item, str) and "://" not in item:
            inputs.extend(ddfs.blobs(item, ignore_missing=args.ignore_missing))
        else:
            inputs.append(item)
    stream = import_object(args.stream)
    stream = tuple(stream) if isinstance(stream, (list, tuple)) else (stream,)
    reader = import_object(args.reader) if args.reader else None
    mb = 1024 ** 2
    _reply, blobs = ddfs.chunk(args.tag, inputs, replicas=args.replicas, forceon=args.forceon,
                               update=args.update, delayed=args.delayed,
                               chunk_size=args.size * mb,
                               max_record_size=args.max_record_size * mb,
                               input_stream=stream, reader=reader)
    for spool in spools:
        spool.close()
    for replicas in blobs:
        print("created: %s" % "\t".join(replicas))
    return 0


# -- writing tags -------------------------------------------------------------------------
def chtok_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("tag", metavar="TAG")
    p.add_argument("newtoken", metavar="TOKEN")
    p.add_argument("-r", "--read", action="store_true", help="set the read token")
    p.add_argument("-w", "--write", action="store_true", help="set the write token")


@command("set the read and/or write token of a tag", chtok_args)
def chtok(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    both = not args.read and not args.write
    if args.read or both:
        ddfs.setattr(args.tag, "ddfs:read-token", args.newtoken)
    if args.write or both:
        ddfs.setattr(args.tag, "ddfs:write-token", args.newtoken)
    return 0


def cp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")


@command("copy the urls of one tag to another (replacing its urls)", cp_args)
def cp(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    ddfs.put(args.dst, ddfs.urls(args.src))
    return 0


@command("delete an attribute of a tag", tag_attr)
def delattr_(args: argparse.Namespace, ctx: Context) -> int:
    _ddfs(ctx).delattr(args.tag, args.attr)
    return 0


def _replicas(args: argparse.Namespace, ctx: Context) -> list[list[str]]:
    return [[u] if isinstance(u, str) else list(u) for u in ctx.inputs(args.urls)]


@command("replace the urls of a tag (each argument or stdin line one replica list)", tag_urls)
def put(args: argparse.Namespace, ctx: Context) -> int:
    _ddfs(ctx).put(args.tag, _replicas(args, ctx))
    return 0


@command("delete tags", lambda p: tag_args(p, ignore=False))
def rm(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    for tag in _tags(args, ctx, ddfs):
        print(ddfs.delete(tag))
    return 0


def setattr_args(p: argparse.ArgumentParser) -> None:
    tag_attr(p)
    p.add_argument("value", metavar="VALUE")


@command("set an attribute of a tag", setattr_args)
def setattr_(args: argparse.Namespace, ctx: Context) -> int:
    _ddfs(ctx).setattr(args.tag, args.attr, args.value)
    return 0


@command("append urls to a tag (each argument or stdin line one replica list)", tag_urls)
def tag(args: argparse.Namespace, ctx: Context) -> int:
    _ddfs(ctx).tag(args.tag, _replicas(args, ctx))
    return 0


@command("create tags (an empty append)", lambda p: p.add_argument("tags", nargs="+"))
def touch(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    for name in args.tags:
        ddfs.tag(name, [])
    return 0


# -- the commands -------------------------------------------------------------------------
def _arguments(p: argparse.ArgumentParser, only: str | None = None) -> None:
    """The subcommands' parsers (``only``: that one's alone, for a command line that names
    it: building all of them is much of a short command's time)."""
    from disco_core.cli import _global_options
    sub = p.add_subparsers(dest="ddfs_command", metavar="COMMAND")
    for name, help_, run, arguments in sorted(SUBCOMMANDS):
        if only is not None and name != only:
            continue
        sp = sub.add_parser(name, help=help_, description=help_)
        _global_options(sp, suppress=True)
        arguments(sp)
        sp.set_defaults(_ddfs_run=run)
    p.set_defaults(_ddfs_parser=p)


def _run(args: argparse.Namespace, ctx: Context) -> int:
    run = getattr(args, "_ddfs_run", None)
    if run is None:
        args._ddfs_parser.print_help()
        return 0
    return run(args, ctx)


def _binary(args: argparse.Namespace) -> bool:
    return getattr(args, "_ddfs_run", None) in (cat,)


def disco_command(only: str | None = None) -> Any:
    """The ``disco ddfs`` command (a :class:`disco_core.cli.Command`); ``only``: knowing
    that one subcommand alone."""
    from disco_core.cli import Command
    return Command("ddfs", "the Disco Distributed Filesystem (ddfs COMMAND -h for help)",
                   _run, lambda p: _arguments(p, only), binary_stdout=_binary)


def main(argv: list[str] | None = None) -> int:
    """``ddfs ARGS`` is ``disco ddfs ARGS``, run knowing the ``ddfs`` command alone (no
    plugin host to build, no other plugin imported) unless that could change the outcome:
    ``-v`` prints every plugin's settings, and ``DISCO_DISABLE_PLUGINS`` may disable DDFS."""
    from disco_core.cli import main as disco_main
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "help":
        argv = argv[1:] + ["--help"]
    whole = _verbose(argv) or os.environ.get("DISCO_DISABLE_PLUGINS", "").strip(" ,")
    only = None if whole else [disco_command(_subcommand(argv))]
    return disco_main(["ddfs"] + argv, prog="ddfs", only=only)


def _verbose(argv: list[str]) -> bool:
    """Whether the arguments may ask for ``-v`` (alone, among other short flags, or an
    abbreviation of ``--verbose``)."""
    return any(a.startswith("--v") or a[:1] == "-" and a[1:2] != "-" and "v" in a
               for a in argv)


#: The global options that take a value (``_global_options``).
_VALUED = ("-s", "-t", "-M")
_VALUED_LONG = ("--settings", "--token", "--master")


def _subcommand(argv: list[str]) -> str | None:
    """The subcommand the arguments name, if it is one of ours (else None: every parser
    is built, for the help or the error)."""
    args = iter(argv)
    for arg in args:
        if arg in _VALUED or (arg.startswith("--") and "=" not in arg and len(arg) > 2
                              and any(long.startswith(arg) for long in _VALUED_LONG)):
            next(args, None)
        elif arg.startswith("-"):
            if arg == "--":
                return None
            continue
        else:
            return arg if any(arg == name for name, *_ in SUBCOMMANDS) else None
    return None


def entry() -> None:
    sys.exit(main())


from . import upkeep_cli  # noqa: E402,F401 (drain, fsck, scrub, gc: registered on import)
