"""The test suite's own hygiene: every wait in a test is bounded.

A job, a process or an event that never finishes must fail its test within that test's
time, not hold the run until CI's limit. pytest-timeout bounds each test as a whole; this
check makes every ``.wait(...)`` call in the tests (jobs, clients, processes, events) name
its own ``timeout``, or sit inside ``asyncio.wait_for``, so a hang says where it was.
"""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def suite_files():
    yield from (ROOT / "tests").rglob("*.py")
    yield from ROOT.glob("plugins/*/*/tests/**/*.py")


def unbounded_waits(source: str) -> list[tuple[int, str]]:
    """(line, call) for each ``.wait(...)`` call with no ``timeout`` keyword that is not
    the awaitable of an ``asyncio.wait_for``."""
    tree = ast.parse(source)
    bounded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "wait_for":
            bounded.update(id(arg) for arg in node.args[:1])
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "wait" and id(node) not in bounded
                and not any(k.arg == "timeout" for k in node.keywords)):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_check_sees_an_unbounded_wait_and_lets_a_bounded_one_pass():
    source = ("job.wait()\n"
              "job.wait(timeout=60)\n"
              "proc.wait(5)\n"
              "await asyncio.wait_for(event.wait(), 10)\n")
    assert unbounded_waits(source) == [(1, "job.wait()"), (3, "proc.wait(5)")]


def test_every_wait_in_the_tests_has_a_timeout():
    offenders = []
    for path in sorted(suite_files()):
        for line, call in unbounded_waits(path.read_text()):
            offenders.append("%s:%d: %s" % (path.relative_to(ROOT), line, call))
    assert not offenders, ("give these waits a timeout= (a hang should fail its test "
                           "fast and say where):\n" + "\n".join(offenders))
