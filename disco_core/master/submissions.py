"""Job submissions on their way in: request bodies streamed to disk, and retries recognised.

A job pack can be up to ``DISCO_MAX_JOBPACK_SIZE`` bytes (1 GiB, as the original), so the
master never holds one in memory: :class:`Upload` writes the request body to a temporary
file in ``<DISCO_MASTER_ROOT>/.incoming/`` as it arrives, counting bytes, and the master
renames the file into place as the job's ``jobfile`` once the pack is valid.

A client whose connection drops after it sent a pack cannot know whether the master got it,
so it sends the pack again. To keep that from making a second job, the client names each
submission with a token of its own (the ``X-Disco-Submission`` header, reused on every retry
of the same pack) and :class:`Submissions` remembers recent tokens (the newest
``MAX_REMEMBERED``, for ``REMEMBER_SECONDS``): a repeat gets the first one's job name, also
while the first is still being set up. Packs sent without a token (the original's clients)
are each a new job, as they were.
"""
from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from collections import OrderedDict

from ..errors import JobPackError
from ..jobpack import SUBMISSION_HEADER

TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,128}")
MAX_REMEMBERED = 10000
REMEMBER_SECONDS = 3600.0


def check_token(token: str | None) -> str | None:
    """The submission token of a request (``None`` if it sent none); a malformed one is a
    :class:`JobPackError` naming the header."""
    if not token:
        return None
    if not TOKEN.fullmatch(token):
        raise JobPackError("invalid %s header %r: use 1 to 128 letters, digits, '_' or '-'"
                           % (SUBMISSION_HEADER, token[:200]))
    return token


class Upload:
    """A request body being written to a temporary file in ``directory``; ``write`` returns
    False (and drops the file) once more than ``limit`` bytes came."""

    def __init__(self, directory: str, limit: int) -> None:
        os.makedirs(directory, exist_ok=True)
        fd, self.path = tempfile.mkstemp(prefix="jobpack-", suffix=".partial", dir=directory)
        self.file = os.fdopen(fd, "wb")
        self.limit = limit
        self.size = 0

    def write(self, chunk: bytes) -> bool:
        if self.file.closed:
            return False
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            return False
        self.file.write(chunk)
        return True

    async def write_async(self, chunk: bytes) -> bool:
        """:meth:`write`, the bytes written in a thread: a disk that is slow to take them
        (writeback throttling of a GiB pack) holds up this request, not the loop."""
        if self.file.closed:
            return False
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            return False
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.file.write, chunk)
        except ValueError:  # discarded meanwhile (the client went away)
            return False
        return True

    def close(self) -> str:
        """The path of the complete body (the caller owns the file from now on)."""
        self.file.close()
        return self.path

    def discard(self) -> None:
        self.file.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def clear_incoming(directory: str) -> None:
    """Drop the uploads a previous master process left half-written."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name.endswith(".partial"):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


class Submissions:
    """Recent submission tokens and what became of each: a future of the job name."""

    def __init__(self, max_count: int = MAX_REMEMBERED,
                 max_age: float = REMEMBER_SECONDS) -> None:
        self.max_count = max_count
        self.max_age = max_age
        self._recent: OrderedDict[str, tuple[float, asyncio.Future]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._recent)

    def get(self, token: str | None) -> asyncio.Future | None:
        """The submission of ``token`` if it is recent: done with the job name, or still
        being set up."""
        self._expire()
        entry = self._recent.get(token) if token else None
        return entry[1] if entry is not None else None

    def start(self, token: str) -> asyncio.Future:
        self._expire()
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._recent[token] = (time.monotonic(), fut)
        while len(self._recent) > self.max_count:
            self._recent.popitem(last=False)
        return fut

    def done(self, fut: asyncio.Future, name: str) -> None:
        if not fut.done():
            fut.set_result(name)

    def failed(self, token: str, fut: asyncio.Future, exc: BaseException) -> None:
        """A submission that made no job is forgotten, so a retry tries again; those
        waiting for it get its error."""
        if self._recent.get(token, (0, None))[1] is fut:
            del self._recent[token]
        if not fut.done():
            fut.set_exception(exc)
            fut.exception()  # retrieved: nobody else need be waiting

    def _expire(self) -> None:
        limit = time.monotonic() - self.max_age
        while self._recent:
            token, (started, fut) = next(iter(self._recent.items()))
            if started >= limit or not fut.done():
                break
            del self._recent[token]
