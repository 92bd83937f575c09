"""What every handler of the master's REST API shares: the master it serves (through
``initialize``), JSON replies, JSON error messages a person can act on, streamed files, and
the check that a name could be a job's before it reaches the file system.
"""
from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import tornado.iostream
import tornado.web


class APIHandler(tornado.web.RequestHandler):
    def initialize(self, master: Any) -> None:
        self.master = master

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")

    def reply(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif status_code >= 500:
            message = "Internal server error: %s" % (exc or self._reason)
        else:
            message = self._reason
        self.finish(json.dumps(message))

    async def send_file(self, path: str, offset: int = 0, chunk: int = 1 << 20) -> None:
        """The file from ``offset`` on as the body, as long as it is now, a chunk at a time
        (a job pack can be a GiB), each read in a thread (the loop never waits for a disk)."""
        loop = asyncio.get_running_loop()
        with open(path, "rb") as f:
            left = max(0, os.fstat(f.fileno()).st_size - offset)
            self.set_header("Content-Length", str(left))
            f.seek(offset)
            while left:
                data = await loop.run_in_executor(None, f.read, min(chunk, left))
                if not data:
                    break
                left -= len(data)
                self.write(data)
                try:
                    await self.flush()
                except tornado.iostream.StreamClosedError:
                    return  # the reader went away
        self.finish()


def is_job_name(name: Any) -> bool:
    """Whether ``name`` could name a job. Job names come from prefixes without '/' or '.', so
    a name with either is a path, never a job, and must not reach the file system."""
    return isinstance(name, str) and bool(name) and not any(c in name for c in "/.\\\0")
