"""Showing a job's progress and events on the console while waiting (``show=True``).

``DISCO_EVENTS`` (or ``show``) chooses the format: ``json`` prints raw event lines,
``nocolor`` plain text, anything else plain text with ANSI colours on a terminal.

On a terminal (and not ``json``) the status is a live progress bar per stage (tasks done of
all, running, failed), drawn with tqdm, the events scrolling above the bars; elsewhere (a
file, a pipe) it is the original's ``Status: [stage] ...`` lines, one each time it changes.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any

COLOURS = {"READY": "\033[32m", "FATAL": "\033[31m", "ERROR": "\033[31m",
           "WARNING": "\033[33m", "WARN": "\033[33m", "MSG": "\033[36m", "DONE": "\033[32m"}
RESET = "\033[0m"


class EventMonitor:
    def __init__(self, disco: Any, jobname: str, format: Any = True, stream: Any = None) -> None:
        self.disco = disco
        self.name = jobname
        self.format = format if isinstance(format, str) else ""
        self.stream = stream or sys.stderr
        self.offset = 0
        self.status = ""
        tty = getattr(self.stream, "isatty", lambda: False)()
        self.colour = self.format not in ("nocolor", "json") and tty
        self.bars: dict[str, Any] | None = {} if tty and self.format != "json" else None

    def refresh(self) -> None:
        if self.bars is not None:
            self.show_bars()
        else:
            self.show_status()
        for self.offset, event in self.disco.events(self.name, self.offset):
            self.show_event(event)
        self.stream.flush()

    def close(self) -> None:
        """The bars' last state stays on the terminal, below the events."""
        if self.bars:
            for bar in self.bars.values():
                bar.close()
            self.bars = {}

    def size(self) -> tuple[int, int]:
        """The terminal's columns and rows (``COLUMNS`` and ``LINES`` first); 100 x 24 where
        it says none, as a fresh pseudo-terminal does (tqdm would then draw nothing)."""
        try:
            columns, rows = os.get_terminal_size(self.stream.fileno())
        except (AttributeError, OSError, ValueError):
            columns, rows = 0, 0
        for name, default in (("COLUMNS", 100), ("LINES", 24)):
            value = os.environ.get(name, "")
            if value.isdigit() and int(value) > 0:
                if name == "COLUMNS":
                    columns = int(value)
                else:
                    rows = int(value)
        return columns if columns > 0 else 100, rows if rows > 0 else 24

    def show_bars(self) -> None:
        from tqdm import tqdm
        try:
            info = self.disco.jobinfo(self.name)
        except Exception:
            return
        assert self.bars is not None
        for stage, pending, waiting, running, done, failed in info.get("pipeline", []):
            total = pending + waiting + running + done
            bar = self.bars.get(stage)
            if bar is None:
                if not total:
                    continue  # not started yet
                columns, rows = self.size()
                bar = tqdm(total=total, desc=stage, unit="task", file=self.stream,
                           position=len(self.bars), leave=True, ncols=columns, nrows=rows,
                           bar_format="{desc:>12} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}"
                           " tasks [{elapsed}<{remaining}]{postfix}")
                self.bars[stage] = bar
            if bar.total != total:
                bar.total = total
            bar.set_postfix_str("%d running, %d failed" % (running, failed), refresh=False)
            bar.update(done - bar.n)

    def show_status(self) -> None:
        try:
            info = self.disco.jobinfo(self.name)
        except Exception:
            return
        for stage, pending, waiting, running, done, failed in info.get("pipeline", []):
            if done < pending + waiting + running + done or stage == info["pipeline"][-1][0]:
                line = ("Status: [%s] %d pending, %d waiting, %d running, %d done, %d failed"
                        % (stage, pending, waiting, running, done, failed))
                if line != self.status:
                    self.status = line
                    self.stream.write(line + "\n")
                break

    def show_event(self, event: tuple) -> None:
        if self.format == "json":
            self.stream.write(json.dumps(list(event)) + "\n")
            return
        from ..tracebacks import debug_setting, user_traceback
        timestamp, host, message = event
        message = user_traceback(message,
                                 verbose=debug_setting(getattr(self.disco, "settings", None)))
        text = "%s %-12s %s" % (timestamp, host, message)
        if self.colour:
            tag = message.split(":", 1)[0]
            colour = COLOURS.get(tag, "")
            if colour:
                text = colour + text + RESET
        if self.bars:
            from tqdm import tqdm
            tqdm.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
