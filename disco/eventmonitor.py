"""``disco.eventmonitor``: print a job's status line and new events (what ``wait(show=...)``
uses). ``EventMonitor(job, format=None, poll_interval=2)``: ``format`` defaults to
``DISCO_EVENTS`` (``json``, ``nocolor``, or anything else for colours on a terminal); each
``refresh()`` prints what happened since the last one."""
from __future__ import annotations

from typing import Any

from disco_core.client import Disco
from disco_core.client.events import EventMonitor as _EventMonitor
from disco_core.settings import DiscoSettings


class EventMonitor(_EventMonitor):
    def __init__(self, job: Any, format: Any = None, poll_interval: float = 2,
                 stream: Any = None) -> None:
        disco = getattr(job, "disco", None) or Disco()
        if format is None:
            format = DiscoSettings()["DISCO_EVENTS"] or "nocolor"
        super().__init__(disco, getattr(job, "name", job), format, stream)
        self.job = job
        self.poll_interval = poll_interval

    @property
    def isactive(self) -> bool:
        """Whether the job is still running."""
        return self.disco.results(self.name, timeout=0)[0] == "active"


__all__ = ["EventMonitor"]
