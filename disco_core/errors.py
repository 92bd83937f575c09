"""The exceptions users see. Each message names the thing that went wrong and, where there
is one, the fix."""
from __future__ import annotations


class DiscoError(Exception):
    """Base of every Disco error."""


class JobError(DiscoError):
    """A job failed; ``str()`` is ``Job <name> failed: <message>``."""

    def __init__(self, job: object, message: str) -> None:
        self.job = getattr(job, "name", job)
        self.message = message
        super().__init__(job, message)

    def __str__(self) -> str:
        return "Job %s failed: %s" % (self.job, self.message)


class DataError(DiscoError):
    """A recoverable data access error: inside a task it makes the task retry elsewhere."""

    def __init__(self, msg: str, url: str, code: int | None = None) -> None:
        self.msg = msg
        self.url = url
        self.code = code
        super().__init__(msg, url, code)

    def __str__(self) -> str:
        s = "Unable to access resource (%s): %s" % (self.url, self.msg)
        return s + (" (%s)" % self.code if self.code is not None else "")


class CommError(DataError):
    """An HTTP or network error; ``code`` is the HTTP status or None."""


class CorruptRecords(DataError):
    """A record file is truncated or corrupt."""


class JobPackError(DiscoError):
    """A job pack is malformed; the message says which part."""


class ProtocolError(DiscoError):
    """A worker broke the worker protocol (framing or payload)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class PluginError(DiscoError):
    """A plugin is missing or failed to load; the message names the package to install."""
