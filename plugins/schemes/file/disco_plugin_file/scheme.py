"""``file://PATH`` and scheme-less paths: a file on the node that runs the task."""
from __future__ import annotations

import os
import socket
from typing import Any, BinaryIO

from disco_core.errors import DataError


def path_of(url: str) -> str:
    if url.startswith("file://"):
        return url[len("file://"):]
    return url


class FileScheme:
    name = "file"

    def open(self, url: str, task: Any = None) -> BinaryIO:
        path = path_of(url)
        host = getattr(task, "host", None) or socket.gethostname()
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise DataError("no such file on %s" % host, url) from None
        except IsADirectoryError:
            raise DataError("is a directory, not a file, on %s" % host, url) from None
        except PermissionError:
            raise DataError("permission denied on %s" % host, url) from None
        f.size = os.fstat(f.fileno()).st_size  # type: ignore[attr-defined]
        return f


scheme = FileScheme()
