"""The exceptions users see. Each message names the thing that went wrong and, where there
is one, the fix."""
from __future__ import annotations


class DiscoError(Exception):
    """Base of every Disco error."""


class JobError(DiscoError):
    """A job failed; ``str()`` is ``Job <name> failed: <message>``.

    When a task's failure ended the job, ``task`` (``"map:3"``), ``host``, ``input`` (the
    input URL it was reading, else its first) and ``inputs`` (every input's first URL) say
    where, ``traceback`` is the error the task sent reduced to the job's own frames, and
    ``details`` is the message with every frame of the framework too
    (:mod:`disco_core.tracebacks`); ``message`` is the short form unless
    ``DISCO_DEBUG=trace``. The other attributes are None (``details`` is ``message``)
    for a job that failed otherwise (killed, a timeout).
    """

    def __init__(self, job: object, message: str, details: str | None = None,
                 task: str | None = None, host: str | None = None, input: str | None = None,
                 inputs: list[str] | None = None, traceback: str | None = None) -> None:
        self.job = getattr(job, "name", job)
        self.message = message
        self.details = message if details is None else details
        self.task = task
        self.host = host
        self.input = input
        self.inputs = inputs
        self.traceback = traceback
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


class FatalError(DiscoError):
    """The job cannot run on any node: report FATAL and end the job."""
