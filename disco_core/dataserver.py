"""Serving data directories over HTTP, with HEAD and byte ranges: ``/<prefix>/<path>`` is
the file ``<directory>/<path>``. Core serves job data (``/disco/`` under ``DISCO_DATA``) on
every node's data server, and on the master for the node that shares its host and port;
a plugin that keeps data of its own on the nodes (a storage plugin's blobs) serves it the
same way, adding :func:`data_route` rules through the ``disco_node_routes`` hook."""
from __future__ import annotations

from typing import Any

import tornado.web


class DataHandler(tornado.web.StaticFileHandler):
    """Raw files, ``application/octet-stream``; 404 when missing, 403 outside the root."""

    def compute_etag(self) -> None:  # hashing whole data files would cost a full read
        return None

    def get_content_type(self) -> str:
        return "application/octet-stream"

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish({404: "Not found", 403: "Forbidden"}.get(status_code, self._reason))


def data_route(prefix: str, directory: str) -> tuple:
    """The rule serving ``directory`` under ``/<prefix>/``."""
    return (r"/%s/(.+)" % prefix, DataHandler, {"path": directory})


def data_routes(disco_data: str) -> list[tuple]:
    """Core's data routes: job data under ``/disco/``."""
    return [data_route("disco", disco_data)]
