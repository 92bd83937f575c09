"""Telling when an event loop was held up: the master's and the nodes' loops must never block.

Nothing on the master's or a node's loop may wait for a disk, a process or a name server:
such work runs in a thread, or the loop is told when it is done. Should something block
anyway, :class:`LoopWatch` says so in the log, with how long, so it can be found: a timer that
wakes every :data:`TICK` seconds and finds itself more than :data:`HELD_UP` seconds late.
"""
from __future__ import annotations

import asyncio
import logging

#: Seconds between two looks at the clock.
TICK = 0.5
#: Seconds late a look may be before the loop counts as held up (and the log says so).
HELD_UP = 1.0


class LoopWatch:
    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK
            await asyncio.sleep(TICK)
            late = loop.time() - due
            if late > HELD_UP:
                self.log.warning("%s was held up for %.1fs: something blocked its loop",
                                 self.what, late)
