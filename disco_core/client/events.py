"""Showing a job's progress and events on the console while waiting (``show=True``).

``DISCO_EVENTS`` (or ``show``) chooses the format: ``json`` prints raw event lines,
``nocolor`` plain text, anything else plain text with ANSI colours on a terminal.
"""
from __future__ import annotations

import json
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
        self.colour = self.format not in ("nocolor", "json") and getattr(
            self.stream, "isatty", lambda: False)()

    def refresh(self) -> None:
        self.show_status()
        for self.offset, event in self.disco.events(self.name, self.offset):
            self.show_event(event)
        self.stream.flush()

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
        self.stream.write(text + "\n")
