"""Node routes on the master's port, for the node beside the master.

Every node serves its data and the routes plugins add (``disco_node_routes``) on
``HOST:DISCO_PORT``. The node on the master's own host and port cannot listen there, so it
serves them on a loopback port of its own (it names the port when it connects, as
``data_port``) and the master hands on to it every request that none of the master's routes
take. A one-machine cluster thus serves a plugin's node routes where a client expects them.
"""
from __future__ import annotations

from typing import Any

import tornado.httpclient
import tornado.web

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

    def initialize(self, master: Any) -> None:
        self.master = master

    async def _forward(self) -> None:
        port = local_data_port(self.master)
        if port is None:
            raise tornado.web.HTTPError(404)
        req = self.request
        headers = {k: v for k, v in req.headers.get_all() if k.lower() not in HOP_HEADERS}
        body = req.body if req.method in ("POST", "PUT", "PATCH") else None
        if body is None and req.method in ("DELETE", "OPTIONS"):
            body = req.body or None
        request = tornado.httpclient.HTTPRequest(
            "http://127.0.0.1:%d%s" % (port, req.uri), method=req.method, headers=headers,
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
