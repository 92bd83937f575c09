"""Serving data directories over HTTP, with HEAD and byte ranges: ``/<prefix>/<path>`` is
the file ``<directory>/<path>``. Core serves job data (``/disco/`` under ``DISCO_DATA``) on
every node's data server, and on the master for the node that shares its host and port;
a plugin that keeps data of its own on the nodes (a storage plugin's blobs) serves it the
same way, adding :func:`data_route` rules through the ``disco_node_routes`` hook.

A node's web app is a :class:`LimitedApplication`: its routes serve reads, so a request
body is taken whole only up to :data:`MAX_BODY`; a route that takes large bodies streams
them (``@tornado.web.stream_request_body``) and raises its own limit
(``self.request.connection.set_max_body_size``) as it prepares."""
from __future__ import annotations

from typing import Any, Callable

import tornado.web

#: The largest body a route of a :class:`LimitedApplication` takes whole (bytes).
MAX_BODY = 64 << 10


class DataHandler(tornado.web.StaticFileHandler):
    """Raw files, ``application/octet-stream``; 404 when missing, 403 outside the root."""

    def compute_etag(self) -> None:  # hashing whole data files would cost a full read
        return None

    def get_content_type(self) -> str:
        return "application/octet-stream"

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish({404: "Not found", 403: "Forbidden"}.get(status_code, self._reason))


class KeyedDataHandler(DataHandler):
    """A :class:`DataHandler` that answers only requests ``allowed`` lets through (a node's
    job data once the node listens beyond loopback: the cluster's data key or the master's
    token, :func:`disco_core.access.data_allowed`)."""

    def initialize(self, path: str, default_filename: str | None = None,
                   allowed: Callable[[Any], bool] | None = None) -> None:
        super().initialize(path, default_filename)
        self.allowed = allowed

    def prepare(self) -> None:
        if self.allowed is not None and not self.allowed(self.request.headers):
            self.set_status(401)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("this node serves job data only to requests with the cluster's data "
                        "key (X-Disco-Data-Key, which its tasks have in DISCO_DATA_KEY) or the "
                        "master's token (X-Disco-Token)")


def data_route(prefix: str, directory: str,
               allowed: Callable[[Any], bool] | None = None) -> tuple:
    """The rule serving ``directory`` under ``/<prefix>/``; with ``allowed``, only to
    requests whose headers it accepts (:class:`KeyedDataHandler`)."""
    if allowed is not None:
        return (r"/%s/(.+)" % prefix, KeyedDataHandler, {"path": directory, "allowed": allowed})
    return (r"/%s/(.+)" % prefix, DataHandler, {"path": directory})


def data_routes(disco_data: str, allowed: Callable[[Any], bool] | None = None) -> list[tuple]:
    """Core's data routes: job data under ``/disco/`` (to requests ``allowed`` accepts)."""
    return [data_route("disco", disco_data, allowed)]


@tornado.web.stream_request_body
class TooLarge(tornado.web.RequestHandler):
    """A 413 naming the route's limit, sent before any of the body is read."""

    def initialize(self, limit: int) -> None:
        self.limit = limit

    def prepare(self) -> None:
        self.set_status(413)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("the body of %s %s is %s bytes, more than the %d this server's route takes "
                    "whole (it serves reads)" % (self.request.method, self.request.path,
                                                 self.request.headers.get("Content-Length"),
                                                 self.limit))

    def data_received(self, chunk: bytes) -> None:  # never kept
        pass


class LimitedApplication(tornado.web.Application):
    """An application whose routes take a body whole only up to ``max_body`` bytes (a
    larger ``Content-Length`` gets a :class:`TooLarge` 413; a larger chunked body is cut
    off by the server, listening with this limit); a streaming route sets its own."""

    def __init__(self, rules: list, max_body: int = MAX_BODY, **settings: Any) -> None:
        super().__init__(rules, **settings)
        self.max_body = max_body

    def find_handler(self, request: Any, **kwargs: Any) -> Any:
        delegate = super().find_handler(request, **kwargs)
        length = request.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > self.max_body \
                and not getattr(delegate.handler_class, "_stream_request_body", False):
            return self.get_handler_delegate(request, TooLarge, {"limit": self.max_body})
        return delegate

    def listen(self, port: int, address: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("max_body_size", self.max_body)
        return super().listen(port, address=address, **kwargs)
