"""The master's REST API (``reference/rest-api.md``) and the nodes' WebSocket: the routes.

The control operations (``/disco/ctrl/<op>``) are a table of their own (:mod:`.ctrl`); what
every handler shares is in :mod:`.api`.

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
from .api import APIHandler, is_job_name  # noqa: F401  (is_job_name: its former home)
from .ctrl import SMALL_BODY, CtrlHandler  # noqa: F401  (SMALL_BODY: its former home)
from .nodeproxy import NodeDataProxy
from .submissions import SUBMISSION_HEADER, Upload, check_token

log = logging.getLogger("disco.master.api")


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

    async def data_received(self, chunk: bytes) -> None:
        if self._finished or self.upload is None:
            return
        if not await self.upload.write_async(chunk):
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


class NodeSocket(tornado.websocket.WebSocketHandler):
    """One node's connection: tasks go down, events and results come up. It checks the
    cluster secret itself (the master's guard lets it through), so that a node without it
    is told why, records it as the node's problem, and stops."""

    checks_secret = True

    def initialize(self, master: Any) -> None:
        self.master = master
        self.host = ""

    def check_origin(self, origin: str) -> bool:
        return True

    def open(self) -> None:
        secret = self.request.headers.get("X-Disco-Secret", "")
        host = self.get_query_argument("host", "")
        if not hmac.compare_digest(secret, self.master.secret):
            self.master.nodes.refused(host, "node %s connected without the cluster secret "
                                      "(or with another cluster's): give it this master's "
                                      "DISCO_CLUSTER_SECRET" % host)
            self.close(4001, "wrong cluster secret")
            return
        if host not in self.master.scheduler.nodes:
            self.close(4004, "%s is not in the node table" % host)
            return
        version = self.get_query_argument("version", "")
        if version != self.master.version:
            why = ("node %s runs disco_core %s, the master %s: install disco_core %s there"
                   % (host, version or "of an unknown version", self.master.version,
                      self.master.version))
            self.master.nodes.refused(host, why)
            self.close(4009, "version mismatch: " + why)
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
                node = self.master.scheduler.nodes.get(self.host)
                if node is not None:  # what it has installed, for jobs' needs (.plugincheck)
                    node.plugins = msg["plugins"]
                self.master.nodes.hello(self.host, self, msg["running"])
            elif msg["op"] == "batch":
                for one in msg["messages"]:
                    try:
                        self.master.on_node_message(self.host, one)
                    except Exception:
                        log.exception("handling a message from node %s", self.host)
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
    """``GET /disco/node/inputs?job=J&taskid=N&runid=R[&start=S&end=E]``: the inputs of the
    running attempt of a task (``[[label, [url, ...]], ...]``; those from S to E, the new
    ones of an ``inputs`` message), for the node that runs it when they are too many for a
    message. Nodes only (the cluster secret); streamed in parts."""

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
        try:
            start = int(self.get_query_argument("start", "0"))
            end = int(self.get_query_argument("end", str(len(task.inputs))))
        except ValueError:
            raise tornado.web.HTTPError(400, "start and end are numbers") from None
        if not 0 <= start <= end <= len(task.inputs):
            raise tornado.web.HTTPError(400, "task %s run %s of job %s has %d inputs, not %d "
                                        "to %d" % (taskid, runid, job, len(task.inputs),
                                                   start, end))
        inputs = [[inp.label, inp.urls] for inp in task.inputs[start:end]]
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
        (r"/disco/ctrl/(\w+)", CtrlHandler, {"master": master, "ops": master.ctrl_ops}),
        (r"/disco/node/connect", NodeSocket, kw),
        (r"/disco/node/inputs", TaskInputsHandler, kw),
        # a node's data, for a client that reaches only the master (DISCO_PROXY)
        (r"/proxy/([^/]+)/([A-Z]+)/(.*)", NodeDataProxy, kw),
    ] + data_routes(s["DISCO_DATA"])
