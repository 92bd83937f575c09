"""``http://`` and ``https://`` inputs, streamed (chunked transfer encoding included)."""
from __future__ import annotations

from typing import Any, BinaryIO

from disco_core.comm import open_remote


class HTTPScheme:
    name = "http"

    def open(self, url: str, task: Any = None) -> BinaryIO:
        # A 404 or a refused connection raises CommError (a DataError): the worker tries
        # the next replica, then the task is retried elsewhere.
        return open_remote(url, retries=2)


scheme = HTTPScheme()
