"""The ``lines`` reader: a text input as ``str`` lines (newlines kept)."""
from __future__ import annotations

from typing import Any, Iterator

from disco_core.worker.dataio import text_stream


def lines(fd: Any, size: Any = None, url: str = "", params: Any = None) -> Iterator[str]:
    if not hasattr(fd, "encoding"):
        fd = text_stream(fd)
    try:
        yield from fd
    finally:
        close = getattr(fd, "close", None)
        if close is not None:
            close()
