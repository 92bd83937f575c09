"""The parser of plain command lines (:mod:`disco_core.cli.quick`) gives what argparse gives
for the ``ddfs`` commands' lines, and hands argparse every line it does not parse itself."""
import os
import subprocess
import sys

import pytest

from disco_core.cli import _fill, build_parser
from disco_core.cli.quick import parse
from disco_plugin_ddfs.cli import disco_command

CMDS = [disco_command()]

PLAIN = [
    ["ddfs", "ls"],
    ["ddfs", "ls", "-r", "data:", "logs:"],
    ["ddfs", "-t", "tok", "ls", "x:"],
    ["ddfs", "ls", "-t", "tok", "x:"],
    ["-M", "host", "ddfs", "cat", "data:a", "data:b"],
    ["ddfs", "cat", "-i", "-p", "data:"],
    ["ddfs", "cat", "-ip", "data:"],
    ["ddfs", "cat", "-j", "job@1"],
    ["ddfs", "xcat", "-R", "", "data:x"],
    ["ddfs", "xcat", "--reader=disco.worker.task_io.chain_reader", "data:x"],
    ["ddfs", "push", "-n", "3", "data:bigtxt", "a.txt", "b.txt"],
    ["ddfs", "push", "data:bigtxt", "a.txt", "-n", "2", "-F", "h1", "-F", "h2", "-u"],
    ["ddfs", "push", "-rx", "-z", "-I", "inc", "data:t", "dir"],
    ["ddfs", "chunk", "-S", "0.5", "data:c", "in.txt"],
    ["ddfs", "chunk", "data:c", "-", "--size", "2"],
    ["ddfs", "chtok", "-r", "data:x", "secret"],
    ["ddfs", "touch", "a", "b"],
    ["ddfs", "put", "data:x"],
    ["ddfs", "--verbose", "exists", "data:x"],
    ["ddfs", "setattr", "data:x", "key", "value with spaces"],
    ["ddfs", "drain", "node1"],
]

# argparse parses these itself: help, mistakes, abbreviations, what the quick parser leaves
ARGPARSE = [
    ["ddfs"],
    ["ddfs", "-h"],
    ["ddfs", "ls", "--help"],
    ["ddfs", "ls", "--recur"],
    ["ddfs", "cat", "--", "-odd"],
    ["ddfs", "push", "-n3", "data:x", "a"],
    ["ddfs", "push", "data:x", "a", "-n", "2", "b"],
    ["ddfs", "push", "-n", "many", "data:x", "a"],
    ["ddfs", "getattr", "data:x"],
    ["ddfs", "touch"],
    ["ddfs", "nosuchcommand"],
    ["ddfs", "ls", "-Q"],
]


def argparse_args(argv):
    return build_parser(CMDS).parse_args(argv)


def comparable(ns):
    return {k: v for k, v in vars(ns).items() if k != "_ddfs_parser"}


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_a_plain_line_gives_what_argparse_gives(argv):
    quick = parse(lambda p: _fill(p, CMDS), argv)
    assert quick is not None, "the quick parser left a plain line to argparse"
    assert comparable(quick) == comparable(argparse_args(argv))


@pytest.mark.parametrize("argv", ARGPARSE, ids=" ".join)
def test_any_other_line_is_left_to_argparse(argv):
    assert parse(lambda p: _fill(p, CMDS), argv) is None


def test_the_ddfs_command_parses_a_plain_line_without_importing_argparse(tmp_path):
    code = ("import sys; from disco_plugin_ddfs.cli import main; "
            "code = main(['exists', 'data:none']); "
            "print(code, 'argparse' in sys.modules)")
    env = dict(os.environ, DISCO_MASTER="http://127.0.0.1:9", DISCO_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.stdout.split() == ["1", "False"], out.stderr
    assert "127.0.0.1:9" in out.stderr  # the refused master is named
