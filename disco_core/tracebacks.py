"""Tracebacks as a job's author wants to read them: their own frames, with source lines.

A task that fails sends its whole Python traceback (``ERROR``/``FATAL``), and the master
keeps it as it came in the job's events and its kill reason. What a user is shown
(:class:`~disco_core.errors.JobError`, ``disco events``, ``wait(show=True)``, ``disco
debug``) is :func:`user_traceback` of that text:

* frames of the framework are left out: files of the ``disco_core`` and ``disco``
  packages, of plugin packages (``disco_plugin_*``) and the job home's ``disco_worker``
  launcher; so are the standard library frames the framework went through before it first
  called the user's code;
* a frame the node printed without its source line (a function defined in the client's
  ``__main__`` travels by value, so its file is only on the client) gets the line from
  this machine's copy of the file, when there is one.

Verbose views (``disco -v events``, ``JobError.details``, ``DISCO_DEBUG=trace``) show the
text with every frame, source lines filled in the same way.

Frames are recognised from the text alone (``  File "PATH", line N, in NAME`` and the
indented lines under it), so events of any job, or text a worker in another language sent,
go through unchanged when they hold no Python traceback.
"""
from __future__ import annotations

import linecache
import os
import re
import sysconfig
from typing import Iterable

FRAME = re.compile(r'^  File "(?P<path>.*)", line (?P<line>\d+), in (?P<name>.*)$')
HEADER = "Traceback (most recent call last):"
_STDLIB = re.compile(r"[/\\]lib(64)?[/\\]python3(\.\d+)?[/\\]")
_PACKAGES = re.compile(r"[/\\](site|dist)-packages[/\\]")
_DISCO_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "disco")
_STDLIB_DIRS = tuple(os.path.realpath(p) + os.sep for p in
                     {sysconfig.get_paths().get(k, "") for k in ("stdlib", "platstdlib")} if p)


def is_framework_file(path: str) -> bool:
    """Whether a traceback's file is Disco's own code (core, the ``disco`` package, a
    plugin package, or the job home's launcher) rather than the job's."""
    parts = re.split(r"[/\\]+", path)
    if parts and parts[-1] == "disco_worker":
        return True
    for i, part in enumerate(parts[:-1]):
        if part == "disco_core" or part.startswith("disco_plugin_"):
            return True
        if part == "disco" and os.path.isfile(os.path.join(_DISCO_DIR, *parts[i + 1:])):
            # the ``disco`` package, installed or next to ``disco_core`` (a user's own
            # folder called disco is not)
            parent = "/".join(parts[:i]) or "/"
            if i and parts[i - 1] in ("site-packages", "dist-packages") or \
                    os.path.isdir(os.path.join(parent, "disco_core")):
                return True
    return False


def is_stdlib_file(path: str) -> bool:
    """Whether a traceback's file is Python's standard library (on this machine or, by
    its shape, on a node)."""
    if path.startswith("<frozen "):
        return True
    if _PACKAGES.search(path) or is_framework_file(path):
        return False
    return path.startswith(_STDLIB_DIRS) or bool(_STDLIB.search(path))


class Frame:
    """One ``File ...`` entry of a traceback and the lines under it."""

    def __init__(self, header: str, path: str, line: int) -> None:
        self.header = header
        self.path = path
        self.line = line
        self.body: list[str] = []

    @property
    def framework(self) -> bool:
        return is_framework_file(self.path)

    @property
    def library(self) -> bool:
        return is_stdlib_file(self.path)

    def lines(self, fill: bool) -> list[str]:
        body = list(self.body)
        first = body[0] if body else ""
        has_source = first.startswith("    ") and first.strip().strip("^~") != ""
        if fill and not has_source:
            source = linecache.getline(self.path, self.line).strip() \
                if os.path.isfile(self.path) else ""
            if source:
                body.insert(0, "    " + source)
        return [self.header] + body


def _blocks(lines: list[str]) -> Iterable[tuple[str, list]]:
    """``("text", [line])`` and ``("traceback", [Frame, ...])`` pieces of the text."""
    i = 0
    while i < len(lines):
        if not lines[i].rstrip().endswith(HEADER):
            yield "text", [lines[i]]
            i += 1
            continue
        yield "text", [lines[i]]
        i += 1
        frames: list[Frame] = []
        while i < len(lines):
            m = FRAME.match(lines[i])
            if m:
                frames.append(Frame(lines[i], m.group("path"), int(m.group("line"))))
            elif frames and lines[i].startswith("  "):
                frames[-1].body.append(lines[i])
            else:
                break
            i += 1
        yield "traceback", frames


def _keep(frames: list[Frame]) -> list[Frame]:
    """The job's frames: no framework frame, and no library frame before the first frame
    of the job's own code (those are the framework's way into it)."""
    kept: list[Frame] = []
    reached = False
    for frame in frames:
        if frame.framework:
            continue
        if not reached and frame.library:
            continue
        reached = True
        kept.append(frame)
    return kept


def user_traceback(text: str, verbose: bool = False, fill: bool = True) -> str:
    """``text`` with every Python traceback in it reduced to the job's own frames (all
    frames with ``verbose``), source lines filled in from this machine's files (``fill``).
    A traceback left with no frame loses its ``Traceback ...`` line too: the error line
    after it is the whole story (a data error, a missing input)."""
    if HEADER not in text:
        return text
    out: list[str] = []
    joined = ""  # what preceded a traceback left with no frame, to go before its error line
    for kind, items in _blocks(text.split("\n")):
        if kind == "text":
            if joined:
                items = [joined + " " + items[0]]
                joined = ""
            out.extend(items)
            continue
        frames = items if verbose else _keep(items)
        if not frames and out and out[-1].rstrip().endswith(HEADER):
            joined = out.pop().rstrip()[:-len(HEADER)].rstrip()
        for frame in frames:
            out.extend(frame.lines(fill))
    if joined:
        out.append(joined)
    return "\n".join(out)


def user_events(data: str, verbose: bool = False) -> str:
    """Event log lines (``reference/rest-api.md``) with :func:`user_traceback` applied to
    each event's message; lines that are not events pass as they are."""
    import json
    out = []
    for line in data.splitlines(keepends=True):
        if HEADER in line:
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, list) and len(event) == 3 and isinstance(event[2], str):
                event[2] = user_traceback(event[2], verbose=verbose)
                line = json.dumps(event, ensure_ascii=False) + ("\n" if line.endswith("\n")
                                                                else "")
        out.append(line)
    return "".join(out)


def debug_setting(settings: object | None = None) -> bool:
    """Whether ``DISCO_DEBUG`` asks for every frame (``trace``)."""
    if settings is None:
        from .settings import DiscoSettings
        settings = DiscoSettings()
    try:
        value = settings["DISCO_DEBUG"]  # type: ignore[index]
    except KeyError:
        return False
    return str(value).strip().lower() == "trace"
