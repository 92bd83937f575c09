"""Serving job data (``/disco/<path>`` under DISCO_DATA) and DDFS data (``/ddfs/<path>``
under DDFS_DATA) over HTTP, with HEAD and byte ranges. Used by every node's data server,
and by the master for the node that shares its host and port."""
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


def data_routes(disco_data: str, ddfs_data: str) -> list[tuple]:
    return [(r"/disco/(.+)", DataHandler, {"path": disco_data}),
            (r"/ddfs/(.+)", DataHandler, {"path": ddfs_data})]
