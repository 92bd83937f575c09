"""The master's REST API (``reference/rest-api.md``) and the nodes' WebSocket.

Handlers are thin: they parse the request, call the :class:`~.app.Master`, and write
JSON. Errors reach the user as JSON messages they can act on, with a 4xx status; a bug
in a handler is a 500 and never stops the master.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
from typing import Any

import tornado.iostream
import tornado.web
import tornado.websocket

from ..dataserver import data_routes
from ..errors import DiscoError, JobPackError, PluginError
from . import messages
from .submissions import SUBMISSION_HEADER, Upload, check_token

log = logging.getLogger("disco.master.api")
#: The largest body of a request that is not a job pack or an OOB value: JSON commands.
SMALL_BODY = 1 << 20


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

    async def send_file(self, path: str, chunk: int = 1 << 20) -> None:
        """The file as the body, a chunk at a time (a job pack can be a GiB)."""
        with open(path, "rb") as f:
            self.set_header("Content-Length", str(os.fstat(f.fileno()).st_size))
            while True:
                data = f.read(chunk)
                if not data:
                    break
                self.write(data)
                try:
                    await self.flush()
                except tornado.iostream.StreamClosedError:
                    return  # the reader went away
        self.finish()

class VersionHandler(APIHandler):
    def get(self) -> None:
        self.reply(self.master.version)


@tornado.web.stream_request_body
class SubmitHandler(APIHandler):
    """``POST /disco/job/new``: the body (a job pack) streams to a temporary file as it
    arrives; the reply is 200 ``["ok", name]`` or ``["error", "Job failed to start: ..."]``,
    413 past the size limit (by Content-Length before reading, else once the bytes read pass
    it), 403 when the cluster takes no new jobs."""

    upload: Upload | None = None
    submission: str | None = None
    failure: Exception | None = None  # a bad submission header, reported once the body came

    def prepare(self) -> None:
        master = self.master
        # the limit is ours to enforce (with a 413 the client can read), not Tornado's
        self.request.connection.set_max_body_size(1 << 62)
        length = self.request.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > master.max_jobpack:
            raise tornado.web.HTTPError(413, "Job packet too large")
        try:
            self.submission = check_token(self.request.headers.get(SUBMISSION_HEADER))
        except JobPackError as exc:
            self.submission = None
            self.failure = exc
        if not master.accepts(self.submission):
            raise tornado.web.HTTPError(403, "No new jobs should be submitted to this cluster.")
        self.upload = master.upload()

    def data_received(self, chunk: bytes) -> None:
        if self._finished or self.upload is None:
            return
        if not self.upload.write(chunk):
            self.reply("Job packet too large", 413)

    def on_connection_close(self) -> None:
        if self.upload is not None and not self._finished:
            self.upload.discard()
        super().on_connection_close()

    async def post(self, _path: str = "") -> None:
        upload, self.upload = self.upload, None
        if self._finished or upload is None:
            return
        path = upload.close()  # the master's now: a lost connection no longer deletes it
        if self.failure is not None:
            os.unlink(path)
            self.reply(["error", "Job failed to start: %s" % self.failure])
            return
        try:
            name = await self.master.submit(path, self.submission)
        except PermissionError as exc:
            self.reply(str(exc), 403)
            return
        except (JobPackError, PluginError, DiscoError) as exc:
            self.reply(["error", "Job failed to start: %s" % exc])
            return
        self.reply(["ok", name])


def is_job_name(name: Any) -> bool:
    """Whether ``name`` could name a job. Job names come from prefixes without '/' or '.', so
    a name with either is a path, never a job, and must not reach the file system."""
    return isinstance(name, str) and bool(name) and not any(c in name for c in "/.\\\0")


@tornado.web.stream_request_body
class CtrlHandler(APIHandler):
    """``/disco/ctrl/<op>``: GET queries and POST commands.

    Bodies are counted as they arrive: an OOB value (``oob_put``) streams to a file and may
    be as large as a job pack (``DISCO_MAX_JOBPACK_SIZE``); every other body is JSON of at
    most :data:`SMALL_BODY` bytes. Past its limit a request gets a 413 naming both, before
    its body is read when it says its length, else as soon as the bytes pass the limit."""

    body: bytearray | Upload | None = None
    limit = SMALL_BODY

    def prepare(self) -> None:
        op = self.path_args[0]
        self.request.connection.set_max_body_size(1 << 62)  # ours to enforce, with a reply
        to_file = op == "oob_put" and self.request.method == "POST"
        if to_file:
            self.limit = self.master.max_jobpack
        length = self.request.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > self.limit:
            raise tornado.web.HTTPError(413, self._too_large())
        self.body = self.master.upload() if to_file else bytearray()

    def _too_large(self) -> str:
        op = self.path_args[0]
        if op == "oob_put":
            return ("the OOB value is more than the %d bytes this master takes "
                    "(DISCO_MAX_JOBPACK_SIZE)" % self.limit)
        return ("the body of /disco/ctrl/%s is more than the %d bytes it takes (its commands "
                "are small JSON values)" % (op, self.limit))

    def data_received(self, chunk: bytes) -> None:
        if self._finished or self.body is None:
            return
        if isinstance(self.body, Upload):
            fits = self.body.write(chunk)
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

    # GET ------------------------------------------------------------------------------
    async def get(self, op: str) -> None:
        m = self.master
        if op == "joblist":
            self.reply(m.joblist())
        elif op == "jobinfo":
            self.reply(self.job().info())
        elif op == "taskinfo":
            job = self.job()
            try:
                task = job.find_task(self.get_query_argument("task", ""))
            except KeyError as exc:
                raise tornado.web.HTTPError(404, "%s", exc.args[0]) from None
            info = task.info()
            info.update({"disco_port": int(m.settings["DISCO_PORT"]),
                         "put_port": int(m.settings["DDFS_PUT_PORT"]),
                         "job_status": job.status})
            self.reply(info)
        elif op == "jobevents":
            job = self.job()
            num = self.int_argument("num", 10, 1)
            events = job.events.newest(num, self.get_query_argument("filter", ""))
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(json.dumps(events))
        elif op == "rawevents":
            job = self.job()
            offset = self.int_argument("offset", 0)
            rng = self.request.headers.get("Range", "")
            if rng.startswith("bytes="):
                start = rng[6:].split("-")[0].strip()
                if not start.isdigit():
                    raise tornado.web.HTTPError(400, "unsupported Range %r: give bytes=START-"
                                                % rng)
                offset = int(start)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(job.events.raw(offset))
        elif op == "parameters":
            name = self.get_query_argument("name", "")
            path = os.path.join(m.job_dir(name), "jobfile")
            if not is_job_name(name) or not os.path.isfile(path):
                raise tornado.web.HTTPError(404, "no job pack for job %r" % name)
            self.set_header("Content-Type", "application/octet-stream")
            await self.send_file(path)
        elif op == "counters":
            self.reply(self.job().counter_view())
        elif op == "get_stageresults":
            job = self.job()
            stage = self.get_query_argument("stage", "")
            if stage not in job.stage_results:
                raise tornado.web.HTTPError(404, "stage %r of job %s has not finished"
                                            % (stage, job.name))
            self.reply(job.stage_results[stage])
        elif op == "nodeinfo":
            self.reply(m.nodes.info())
        elif op == "load_config_table":
            self.reply(m.nodes.table)
        elif op == "get_blacklist":
            self.reply(m.nodes.blacklist)
        elif op == "get_gc_blacklist":
            self.reply(m.nodes.gc_blacklist)
        elif op == "get_settings":
            self.reply({"max_failure_rate": m.max_failure_rate,
                        "accept_new_jobs": m.accept_new_jobs})
        elif op == "plugins":
            self.reply([vars(p) for p in m.plugins.inventory(check_drivers=False)])
        elif op == "oob_list":
            self.job()
            self.reply(m.oob_list(self.get_query_argument("name")))
        elif op == "oob_get":
            self.job()
            try:
                data = m.oob_get(self.get_query_argument("name"), self.get_query_argument("key"))
            except KeyError:
                raise tornado.web.HTTPError(404, "Unknown key or jobname") from None
            self.set_header("Content-Type", "application/octet-stream")
            self.finish(data)
        else:
            raise tornado.web.HTTPError(404, "unknown operation %r" % op)

    # POST -----------------------------------------------------------------------------
    async def post(self, op: str) -> None:
        m = self.master
        if self._finished:
            return  # refused on the way in
        if op == "oob_put":
            body, self.body = self.body, None
            try:
                m.oob_put(self.get_query_argument("name"), self.get_query_argument("key"),
                          body)
            except KeyError:
                raise tornado.web.HTTPError(404, "unknown job") from None
            except DiscoError as exc:
                raise tornado.web.HTTPError(400, str(exc)) from None
            finally:
                if isinstance(body, Upload):
                    body.discard()  # a no-op once the master took the file
            self.reply("")
            return
        body = self.json_body()
        if op in ("kill_job", "purge_job", "clean_job"):
            if not isinstance(body, str):
                raise tornado.web.HTTPError(400, "expected a JSON job name")
            if body not in m.jobs and not is_job_name(body):
                raise tornado.web.HTTPError(400, "invalid job name %r: job names are not empty "
                                            "and have no '/' or '.'" % body)
            if op == "kill_job":
                self.job(body)
                m.kill(body)
            elif op == "clean_job":
                m.clean(body)
            else:
                m.purge(body)
            self.reply("")
        elif op == "get_results":
            if not (isinstance(body, list) and len(body) == 2 and isinstance(body[1], list)
                    and isinstance(body[0], (int, float)) and not isinstance(body[0], bool)
                    and all(isinstance(n, str) for n in body[1])):
                raise tornado.web.HTTPError(400, "expected [timeout_ms, [jobname, ...]]")
            timeout, names = body
            await m.wait_any(names, max(0.0, float(timeout or 0)) / 1000.0)
            self.reply([[name, m.results(name)] for name in names])
        elif op in ("blacklist", "whitelist", "gc_blacklist", "gc_whitelist"):
            if not isinstance(body, str):
                raise tornado.web.HTTPError(400, "expected a JSON host name")
            try:
                m.nodes.set_blacklisted(body, op in ("blacklist", "gc_blacklist"),
                                        gc=op.startswith("gc_"))
            except DiscoError as exc:
                raise tornado.web.HTTPError(400, str(exc)) from None
            m.kick()
            self.reply("")
        elif op == "save_config_table":
            if not isinstance(body, list):
                raise tornado.web.HTTPError(400, "invalid config")
            try:
                m.nodes.set_table(body)
            except DiscoError as exc:
                raise tornado.web.HTTPError(400, str(exc)) from None
            m.nodes.start_all()
            m.kick()
            self.reply("table saved!")
        elif op == "save_settings":
            if not isinstance(body, dict):
                raise tornado.web.HTTPError(400, "expected a JSON object of settings")
            try:
                if "max_failure_rate" in body:
                    m.max_failure_rate = int(body["max_failure_rate"])
                if "accept_new_jobs" in body:
                    m.accept_new_jobs = int(body["accept_new_jobs"])
            except ValueError as exc:
                raise tornado.web.HTTPError(400, "settings must be integers: %s" % exc) from None
            self.reply("Settings saved")
        else:
            raise tornado.web.HTTPError(404, "unknown operation %r" % op)


class NodeSocket(tornado.websocket.WebSocketHandler):
    """One node's connection: tasks go down, events and results come up."""

    def initialize(self, master: Any) -> None:
        self.master = master
        self.host = ""

    def check_origin(self, origin: str) -> bool:
        return True

    def open(self) -> None:
        secret = self.request.headers.get("X-Disco-Secret", "")
        host = self.get_query_argument("host", "")
        if not hmac.compare_digest(secret, self.master.secret):
            self.close(4001, "wrong cluster secret")
            return
        if host not in self.master.scheduler.nodes:
            self.close(4004, "%s is not in the node table" % host)
            return
        self.host = host
        # the node beside the master serves its routes on this loopback port (.nodeproxy)
        port = self.get_query_argument("data_port", "")
        self.data_port = int(port) if port.isdigit() and 0 < int(port) < 65536 else None
        self.set_nodelay(True)
        self.master.nodes.connected(host, self)

    def on_message(self, message: str | bytes) -> None:
        if not self.host or not self.master.nodes.current(self.host, self):
            return  # a session that another one replaced, or a node removed from the table
        try:
            msg = messages.parse(message)
        except messages.BadMessage as exc:
            log.warning("node %s sent a message the master ignores: %s", self.host, exc)
            return
        try:
            if msg["op"] == "hello":
                self.master.nodes.hello(self.host, self, msg["running"])
            else:
                self.master.on_node_message(self.host, msg)
        except Exception:
            log.exception("handling a message from node %s", self.host)

    def send(self, msg: dict) -> None:
        try:
            self.write_message(json.dumps(msg))
        except tornado.websocket.WebSocketClosedError:
            pass

    def on_close(self) -> None:
        if self.host:
            self.master.nodes.disconnected(self.host, self)


class TaskInputsHandler(APIHandler):
    """``GET /disco/node/inputs?job=J&taskid=N&runid=R``: the inputs of the running attempt
    of a task (``[[label, [url, ...]], ...]``), for the node that runs it when they are
    too many for the task message. Nodes only (the cluster secret); streamed in parts."""

    CHUNK = 2000  # inputs per write

    async def get(self) -> None:
        secret = self.request.headers.get("X-Disco-Secret", "")
        if not hmac.compare_digest(secret, self.master.secret):
            raise tornado.web.HTTPError(403, "only the cluster's nodes may read task inputs")
        try:
            job = self.get_query_argument("job")
            taskid, runid = int(self.get_query_argument("taskid")), \
                int(self.get_query_argument("runid"))
        except (ValueError, tornado.web.MissingArgumentError):
            raise tornado.web.HTTPError(400, "give job, taskid and runid (numbers)") from None
        owner = self.master.jobs.get(job)
        task = owner.tasks.get(taskid) if owner is not None else None
        if task is None or task.runid != runid or task.state != "running":
            raise tornado.web.HTTPError(404, "task %s run %s of job %s is not running"
                                        % (taskid, runid, job))
        inputs = [[inp.label, inp.urls] for inp in task.inputs]
        self.set_header("Content-Type", "application/json")
        self.write("[")
        for start in range(0, len(inputs), self.CHUNK):
            part = json.dumps(inputs[start:start + self.CHUNK])[1:-1]
            self.write(("," if start else "") + part)
            try:
                await self.flush()
            except tornado.iostream.StreamClosedError:
                return
        self.finish("]")


def routes(master: Any) -> list[tuple]:
    kw = {"master": master}
    s = master.settings
    return [
        (r"/disco/version", VersionHandler, kw),
        (r"/disco/job/(.*)", SubmitHandler, kw),
        (r"/disco/ctrl/(\w+)", CtrlHandler, kw),
        (r"/disco/node/connect", NodeSocket, kw),
        (r"/disco/node/inputs", TaskInputsHandler, kw),
    ] + data_routes(s["DISCO_DATA"])
