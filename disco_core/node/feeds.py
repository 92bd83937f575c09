"""The ``inputs`` messages of one running attempt of a concurrent stage's task, once one
of them names its inputs by reference (``inputs_ref``: too many for a WebSocket message,
fetched from the master's ``/disco/node/inputs`` in a thread): every message is applied
in the order it came, those after a reference once its inputs are in. A reference that
cannot be fetched ends the attempt with an error (the master retries it with all its
inputs) instead of letting the worker go on without them."""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class InputFeed:
    """The messages of ``run`` (a :class:`~.runner.TaskRun`) waiting for their turn."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.waiting: deque[dict] = deque()

    def take(self, msg: dict) -> None:
        if "inputs_ref" not in msg and not isinstance(msg.get("inputs"), list):
            raise ValueError("an inputs message has neither inputs nor inputs_ref")
        self.waiting.append(msg)
        if len(self.waiting) == 1:
            asyncio.ensure_future(self._apply())

    async def _apply(self) -> None:
        run = self.run
        loop = asyncio.get_running_loop()
        while self.waiting and not run.killed:
            msg = self.waiting[0]
            inputs = msg.get("inputs")
            if "inputs_ref" in msg:
                try:
                    inputs = await loop.run_in_executor(None, run.node.fetch_inputs,
                                                        msg["inputs_ref"])
                except Exception as exc:
                    self.waiting.clear()
                    run.feed_failure = ("node %s could not fetch the task's new inputs from "
                                        "the master: %s: %s" % (run.node.host,
                                                                type(exc).__name__, exc))
                    run.inputs_done = True  # releases the worker's INPUT long poll
                    run.inputs_changed.set()
                    run.kill_worker()
                    return
            self.waiting.popleft()
            if not run.killed:
                run.add_inputs(inputs, msg["done"])
