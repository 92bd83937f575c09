"""Node routes on the master's port, for the node beside the master.

Every node serves its data and the routes plugins add (``disco_node_routes``) on
``HOST:DISCO_PORT``. The node on the master's own host and port cannot listen there, so it
serves them on a loopback port of its own (it names the port when it connects, as
``data_port``) and the master hands on to it every request that none of the master's routes
take. A one-machine cluster thus serves a plugin's node routes where a client expects them.

A client that can reach only the master (``DISCO_PROXY``, a tunnel to the master's port, say)
asks for a node's data as ``/proxy/<host>[:<port>]/<METHOD>/<path>``
(:class:`NodeDataProxy`): the master hands the request on to that node of its node table,
``http://<host>:<port, default DISCO_PORT>/<path>``, and the reply back.
"""
from __future__ import annotations

from typing import Any

import tornado.httpclient
import tornado.web

from .. import access

#: The largest body handed on from the node (Tornado's client stops at 100 MB by default,
#: and a DDFS blob is often bigger).
MAX_BODY = 1 << 40
_clients: dict[int, Any] = {}

#: Headers not handed on either way (they describe one hop, not the resource).
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate", "content-length", "host"}


def _client() -> Any:
    """The HTTP client of this process's loop that takes bodies up to :data:`MAX_BODY`."""
    import asyncio

    import tornado.simple_httpclient
    key = id(asyncio.get_running_loop())
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = tornado.simple_httpclient.SimpleAsyncHTTPClient(
            force_instance=True, max_body_size=MAX_BODY)
    return client


def local_data_port(master: Any) -> int | None:
    """The loopback port of the connected node that serves its routes behind the master."""
    for conn in list(master.nodes.connections.values()):
        port = getattr(conn, "data_port", None)
        if port:
            return port
    return None


class NodeRouteProxy(tornado.web.RequestHandler):
    """The master's default handler: a request no master route takes goes to the node
    beside the master; with no such node connected, it is a plain 404."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")

    #: Request headers not handed on (besides :data:`HOP_HEADERS`).
    kept_back: set[str] = set()

    def initialize(self, master: Any) -> None:
        self.master = master

    def target(self) -> str | None:
        """The URL the request goes to; None for a 404."""
        port = local_data_port(self.master)
        return None if port is None else "http://127.0.0.1:%d%s" % (port, self.request.uri)

    async def _forward(self, *_path_args: str) -> None:
        url = self.target()
        if self._finished:  # refused, saying why
            return
        if url is None:
            raise tornado.web.HTTPError(404)
        req = self.request
        dropped = HOP_HEADERS | self.kept_back
        headers = {k: v for k, v in req.headers.get_all() if k.lower() not in dropped}
        body = req.body if req.method in ("POST", "PUT", "PATCH") else None
        if body is None and req.method in ("DELETE", "OPTIONS"):
            body = req.body or None
        request = tornado.httpclient.HTTPRequest(
            url, method=req.method, headers=headers,
            body=body, allow_nonstandard_methods=True, follow_redirects=False,
            decompress_response=False, request_timeout=3600,
            header_callback=self._header_line, streaming_callback=self._chunk)
        self._status: int | None = None
        try:
            await _client().fetch(request, raise_error=False)
        except Exception as exc:  # the node went away half-way
            if not self._headers_written:
                raise tornado.web.HTTPError(502, "the local node did not answer: %s", exc) \
                    from None
        self.finish()

    def _header_line(self, line: str) -> None:
        line = line.strip()
        if line.startswith("HTTP/"):
            parts = line.split(" ", 2)
            self.clear()
            self.set_status(int(parts[1]), parts[2] if len(parts) > 2 else None)
        elif ":" in line:
            name, value = line.split(":", 1)
            if name.strip().lower() not in HOP_HEADERS:
                self.add_header(name.strip(), value.strip())

    def _chunk(self, data: bytes) -> Any:
        self.write(data)
        return self.flush()  # the node's next piece waits until this one is sent

    get = head = post = put = delete = options = patch = _forward  # type: ignore[assignment]


class NodeDataProxy(NodeRouteProxy):
    """``/proxy/<host>[:<port>]/<METHOD>/<path>``: a request for a node's server, handed on
    (see the module docstring). Only nodes of the node table are reached, the method must be
    the one the path names (``GET`` serves ``HEAD`` too), and the master's token, which the
    client showed, does not go on to the node."""

    kept_back = {access.HEADER.lower(), "cookie"}

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(message)

    def target(self) -> str | None:
        spec, method, _ = self.path_args
        host, _, port = spec.partition(":")
        req = self.request
        path = req.path.split("/", 4)[4]  # as the client quoted it
        if method != req.method and not (method == "GET" and req.method == "HEAD"):
            self._refuse(400, "/proxy/%s/%s/... names the method %s but the request is a %s: "
                         "use the same method" % (spec, method, method, req.method))
            return None
        if host not in self.master.scheduler.nodes:
            self._refuse(404, "%s is not a node of this cluster's node table: the proxy "
                         "reaches the nodes only" % host)
            return None
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            self._refuse(400, "%r is not a host or host:port" % spec)
            return None
        disco_port = int(self.master.settings["DISCO_PORT"])
        port_no = int(port) if port else disco_port
        query = "?" + req.query if req.query else ""
        conn = self.master.nodes.connections.get(host)
        local = getattr(conn, "data_port", None)
        if port_no == disco_port and local:  # the node beside the master, behind it
            return "http://127.0.0.1:%d/%s%s" % (local, path, query)
        address = "127.0.0.1" if host == "localhost" else host
        return "http://%s:%d/%s%s" % (address, port_no, path, query)
