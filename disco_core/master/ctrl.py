"""``/disco/ctrl/<op>``: the master's control operations, one small function each, found by
method and name in the master's table (:class:`CtrlOps`, ``Master.ctrl_ops``).

An operation is ``async def op(handler, master, body) -> None``: ``handler`` is the
:class:`CtrlHandler` (query arguments, ``reply``, ``job``), ``master`` the
:class:`~.app.Master`, and ``body`` ``None`` for a GET, the JSON value of a POST's body, or,
for an operation registered with ``streams=True``, the :class:`~.submissions.Upload` its body
streamed to. It answers with ``handler.reply(...)`` (or ``handler.finish``) and refuses with
``tornado.web.HTTPError`` and a message the user can act on. A name no operation has gets
404 ``unknown operation 'NAME'``.

The built-in operations are the original's (``reference/rest-api.md``); more join through
:meth:`CtrlOps.register`, the way a plugin's operations will.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import tornado.web

from ..errors import DiscoError
from . import plugincheck
from .api import APIHandler, is_job_name
from .submissions import Upload

#: The largest body of a request that is not a job pack or an OOB value: JSON commands.
SMALL_BODY = 1 << 20

Operation = Callable[["CtrlHandler", Any, Any], Awaitable[None]]
METHODS = ("GET", "POST")


@dataclass(frozen=True)
class CtrlOp:
    """One entry of the table: the function, and whether the request's body streams to a
    file (up to DISCO_MAX_JOBPACK_SIZE; ``what`` names it in the 413) instead of being small
    JSON (up to :data:`SMALL_BODY`)."""

    fn: Operation
    streams: bool = False
    what: str = ""


class CtrlOps:
    """The operations ``/disco/ctrl/`` answers, by method and name. One per master: the
    master builds it with the built-in operations (:func:`core_ops`), and whatever runs in
    the master may add more before it serves (a name already taken is refused)."""

    def __init__(self) -> None:
        self._ops: dict[tuple[str, str], CtrlOp] = {}

    def register(self, method: str, name: str, fn: Operation, *, streams: bool = False,
                 what: str = "") -> None:
        """Answer ``method /disco/ctrl/name`` with ``fn`` (see the module's docstring)."""
        method = method.upper()
        if method not in METHODS:
            raise DiscoError("cannot register /disco/ctrl/%s for %r: the methods are %s"
                             % (name, method, ", ".join(METHODS)))
        if not name.isidentifier():
            raise DiscoError("cannot register /disco/ctrl/%r: an operation's name is letters, "
                             "digits and '_'" % (name,))
        if (method, name) in self._ops:
            raise DiscoError("%s /disco/ctrl/%s is registered already: choose another name"
                             % (method, name))
        self._ops[method, name] = CtrlOp(fn, streams, what)

    def get(self, method: str, name: str) -> CtrlOp | None:
        return self._ops.get((method.upper(), name))

    def names(self, method: str) -> list[str]:
        return sorted(name for m, name in self._ops if m == method.upper())


@tornado.web.stream_request_body
class CtrlHandler(APIHandler):
    """``/disco/ctrl/<op>``: GET queries and POST commands, each an entry of ``ops``.

    Bodies are counted as they arrive: an operation that streams its body (``oob_put``:
    an OOB value) writes it to a file and may take as much as a job pack
    (``DISCO_MAX_JOBPACK_SIZE``); every other body is JSON of at most :data:`SMALL_BODY`
    bytes. Past its limit a request gets a 413 naming both, before its body is read when it
    says its length, else as soon as the bytes pass the limit."""

    body: bytearray | Upload | None = None
    limit = SMALL_BODY

    def initialize(self, master: Any, ops: CtrlOps) -> None:
        super().initialize(master)
        self.ops = ops

    def prepare(self) -> None:
        self.op = self.ops.get(self.request.method or "", self.path_args[0])
        self.request.connection.set_max_body_size(1 << 62)  # ours to enforce, with a reply
        to_file = self.op is not None and self.op.streams
        if to_file:
            self.limit = self.master.max_jobpack
        length = self.request.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > self.limit:
            raise tornado.web.HTTPError(413, self._too_large())
        self.body = self.master.upload() if to_file else bytearray()

    def _too_large(self) -> str:
        op = self.path_args[0]
        if self.op is not None and self.op.streams:
            return ("%s is more than the %d bytes this master takes (DISCO_MAX_JOBPACK_SIZE)"
                    % (self.op.what or "the body of /disco/ctrl/%s" % op, self.limit))
        return ("the body of /disco/ctrl/%s is more than the %d bytes it takes (its commands "
                "are small JSON values)" % (op, self.limit))

    async def data_received(self, chunk: bytes) -> None:
        if self._finished or self.body is None:
            return
        if isinstance(self.body, Upload):
            fits = await self.body.write_async(chunk)
        else:
            fits = len(self.body) + len(chunk) <= self.limit
            if fits:
                self.body += chunk
        if not fits:
            self.body = None
            self.reply(self._too_large(), 413)

    def on_connection_close(self) -> None:
        if isinstance(self.body, Upload) and not self._finished:
            self.body.discard()
        super().on_connection_close()

    def json_body(self) -> Any:
        try:
            return json.loads(bytes(self.body or b"") or b'""')
        except ValueError:
            raise tornado.web.HTTPError(400, "the request body is not JSON") from None

    def int_argument(self, name: str, default: int, minimum: int = 0) -> int:
        text = self.get_query_argument(name, "") or str(default)
        try:
            value = int(text)
        except ValueError:
            raise tornado.web.HTTPError(400, "%s must be an integer, not %r" % (name, text)) \
                from None
        if value < minimum:
            raise tornado.web.HTTPError(400, "%s must be at least %d, not %d"
                                        % (name, minimum, value))
        return value

    def job(self, name: str | None = None) -> Any:
        name = name if name is not None else self.get_query_argument("name", "")
        try:
            return self.master.get_job(name)
        except KeyError:
            raise tornado.web.HTTPError(404, "unknown job %r" % name) from None

    def unknown(self, op: str) -> tornado.web.HTTPError:
        return tornado.web.HTTPError(404, "unknown operation %r" % op)

    async def get(self, op: str) -> None:
        if self.op is None:
            raise self.unknown(op)
        await self.op.fn(self, self.master, None)

    async def post(self, op: str) -> None:
        if self._finished:
            return  # refused on the way in
        if self.op is None:
            raise self.unknown(op)
        if self.op.streams:
            body, self.body = self.body, None
        else:
            body = self.json_body()
        await self.op.fn(self, self.master, body)


# -- GET: queries -------------------------------------------------------------------------
async def joblist(h: CtrlHandler, m: Any, _body: Any) -> None:
    h.reply(m.joblist())


async def jobinfo(h: CtrlHandler, m: Any, _body: Any) -> None:
    h.reply(h.job().info())


async def taskinfo(h: CtrlHandler, m: Any, _body: Any) -> None:
    job = h.job()
    try:
        task = job.find_task(h.get_query_argument("task", ""))
    except KeyError as exc:
        raise tornado.web.HTTPError(404, "%s", exc.args[0]) from None
    info = task.info()
    info.update({"disco_port": int(m.settings["DISCO_PORT"]),
                 "put_port": int(m.settings["DDFS_PUT_PORT"]),
                 "job_status": job.status})
    h.reply(info)


async def jobevents(h: CtrlHandler, m: Any, _body: Any) -> None:
    job = h.job()
    num = h.int_argument("num", 10, 1)
    events = await job.events.newest_async(num, h.get_query_argument("filter", ""))
    h.set_header("Content-Type", "text/plain; charset=utf-8")
    h.finish(json.dumps(events))


async def rawevents(h: CtrlHandler, m: Any, _body: Any) -> None:
    job = h.job()
    offset = h.int_argument("offset", 0)
    rng = h.request.headers.get("Range", "")
    if rng.startswith("bytes="):
        start = rng[6:].split("-")[0].strip()
        if not start.isdigit():
            raise tornado.web.HTTPError(400, "unsupported Range %r: give bytes=START-" % rng)
        offset = int(start)
    h.set_header("Content-Type", "text/plain; charset=utf-8")
    job.events.flush()
    await h.send_file(job.events.path, offset)


async def parameters(h: CtrlHandler, m: Any, _body: Any) -> None:
    name = h.get_query_argument("name", "")
    path = os.path.join(m.job_dir(name), "jobfile")
    if not is_job_name(name) or not os.path.isfile(path):
        raise tornado.web.HTTPError(404, "no job pack for job %r" % name)
    h.set_header("Content-Type", "application/octet-stream")
    await h.send_file(path)


async def get_stageresults(h: CtrlHandler, m: Any, _body: Any) -> None:
    job = h.job()
    stage = h.get_query_argument("stage", "")
    if stage not in job.stage_results:
        raise tornado.web.HTTPError(404, "stage %r of job %s has not finished"
                                    % (stage, job.name))
    h.reply(job.stage_results[stage])


async def counters(h: CtrlHandler, m: Any, _body: Any) -> None:
    """The job's counters: ``{"counters": accepted attempts', "running": running ones'}``."""
    h.reply(h.job().counter_view())


async def nodeinfo(h: CtrlHandler, m: Any, _body: Any) -> None:
    info = m.nodes.info()
    plugincheck.annotate_nodeinfo(info, m.scheduler.nodes, m.plugins.installed())
    h.reply(info)


async def load_config_table(h: CtrlHandler, m: Any, _body: Any) -> None:
    h.reply(m.nodes.table)


async def get_blacklist(h: CtrlHandler, m: Any, _body: Any) -> None:
    h.reply(m.nodes.blacklist)


async def get_gc_blacklist(h: CtrlHandler, m: Any, _body: Any) -> None:
    h.reply(m.nodes.gc_blacklist)


async def get_settings(h: CtrlHandler, m: Any, _body: Any) -> None:
    h.reply({"max_failure_rate": m.max_failure_rate, "accept_new_jobs": m.accept_new_jobs})


async def plugins(h: CtrlHandler, m: Any, _body: Any) -> None:
    entries = [dict(vars(p)) for p in m.plugins.inventory(check_drivers=False)]
    h.reply(plugincheck.annotate_plugins(entries, m.scheduler.nodes, m.plugins.installed()))


async def oob_list(h: CtrlHandler, m: Any, _body: Any) -> None:
    h.job()
    h.reply(m.oob_list(h.get_query_argument("name")))


async def oob_get(h: CtrlHandler, m: Any, _body: Any) -> None:
    h.job()
    try:
        path = m.oob_path(h.get_query_argument("name"), h.get_query_argument("key"))
    except KeyError:
        raise tornado.web.HTTPError(404, "Unknown key or jobname") from None
    h.set_header("Content-Type", "application/octet-stream")
    await h.send_file(path)


# -- POST: commands -----------------------------------------------------------------------
async def oob_put(h: CtrlHandler, m: Any, body: Any) -> None:
    try:
        m.oob_put(h.get_query_argument("name"), h.get_query_argument("key"), body)
    except KeyError:
        raise tornado.web.HTTPError(404, "unknown job") from None
    except DiscoError as exc:
        raise tornado.web.HTTPError(400, str(exc)) from None
    finally:
        if isinstance(body, Upload):
            body.discard()  # a no-op once the master took the file
    h.reply("")


def _job_name_body(m: Any, body: Any) -> str:
    if not isinstance(body, str):
        raise tornado.web.HTTPError(400, "expected a JSON job name")
    if body not in m.jobs and not is_job_name(body):
        raise tornado.web.HTTPError(400, "invalid job name %r: job names are not empty "
                                    "and have no '/' or '.'" % body)
    return body


async def kill_job(h: CtrlHandler, m: Any, body: Any) -> None:
    name = _job_name_body(m, body)
    h.job(name)
    m.kill(name)
    h.reply("")


async def clean_job(h: CtrlHandler, m: Any, body: Any) -> None:
    await m.clean(_job_name_body(m, body))
    h.reply("")


async def purge_job(h: CtrlHandler, m: Any, body: Any) -> None:
    await m.purge(_job_name_body(m, body))
    h.reply("")


async def get_results(h: CtrlHandler, m: Any, body: Any) -> None:
    if not (isinstance(body, list) and len(body) == 2 and isinstance(body[1], list)
            and isinstance(body[0], (int, float)) and not isinstance(body[0], bool)
            and all(isinstance(n, str) for n in body[1])):
        raise tornado.web.HTTPError(400, "expected [timeout_ms, [jobname, ...]]")
    timeout, names = body
    await m.wait_any(names, max(0.0, float(timeout or 0)) / 1000.0)
    h.reply([[name, m.results(name)] for name in names])


def _listing(blacklisted: bool, gc: bool) -> Operation:
    """``blacklist``, ``whitelist``, ``gc_blacklist`` or ``gc_whitelist`` a host."""
    async def op(h: CtrlHandler, m: Any, body: Any) -> None:
        if not isinstance(body, str):
            raise tornado.web.HTTPError(400, "expected a JSON host name")
        try:
            await m.nodes.set_blacklisted(body, blacklisted, gc=gc)
        except DiscoError as exc:
            raise tornado.web.HTTPError(400, str(exc)) from None
        m.kick()
        h.reply("")
    return op


async def save_config_table(h: CtrlHandler, m: Any, body: Any) -> None:
    if not isinstance(body, list):
        raise tornado.web.HTTPError(400, "invalid config")
    empty = h.get_query_argument("empty", "") in ("1", "true", "yes")
    try:
        await m.nodes.set_table(body, empty=empty)
    except DiscoError as exc:
        raise tornado.web.HTTPError(400, str(exc)) from None
    await m.nodes.start_all()
    m.kick()
    h.reply("table saved!")


async def save_settings(h: CtrlHandler, m: Any, body: Any) -> None:
    if not isinstance(body, dict):
        raise tornado.web.HTTPError(400, "expected a JSON object of settings")
    try:
        if "max_failure_rate" in body:
            m.max_failure_rate = int(body["max_failure_rate"])
        if "accept_new_jobs" in body:
            m.accept_new_jobs = int(body["accept_new_jobs"])
    except ValueError as exc:
        raise tornado.web.HTTPError(400, "settings must be integers: %s" % exc) from None
    h.reply("Settings saved")


def core_ops() -> CtrlOps:
    """A table with the original's operations."""
    ops = CtrlOps()
    for fn in (joblist, jobinfo, taskinfo, jobevents, rawevents, parameters, get_stageresults,
               nodeinfo, load_config_table, get_blacklist, get_gc_blacklist, get_settings,
               plugins, oob_list, oob_get, counters):
        ops.register("GET", fn.__name__, fn)
    ops.register("POST", "oob_put", oob_put, streams=True, what="the OOB value")
    for fn in (kill_job, clean_job, purge_job, get_results, save_config_table, save_settings):
        ops.register("POST", fn.__name__, fn)
    for name in ("blacklist", "whitelist", "gc_blacklist", "gc_whitelist"):
        ops.register("POST", name, _listing(name.endswith("blacklist"), name.startswith("gc_")))
    return ops
