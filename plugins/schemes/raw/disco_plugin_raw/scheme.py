"""``raw://DATA``: the bytes after ``raw://`` are the input itself; ``url://...``: the whole
URL string (``url://`` included) is the input, for jobs whose records are the URLs."""
from __future__ import annotations

import io
from typing import Any


class RawScheme:
    """Opens ``raw://`` URLs; the data is the URL's text as UTF-8."""

    name = "raw"
    text = True  # the data is text: str lines whatever DISCO_TEXT_INPUTS says

    def open(self, url: str, task: Any = None) -> io.BytesIO:
        if not url.startswith("raw://"):
            raise ValueError("not a raw:// URL: %r" % url)
        data = url[len("raw://"):].encode("utf-8")
        stream = io.BytesIO(data)
        stream.size = len(data)  # type: ignore[attr-defined]
        return stream


class UrlScheme:
    """Opens ``url://`` URLs; the data is the URL string itself as UTF-8, so a job reading
    ``url://example.com/a`` gets the one line ``url://example.com/a``."""

    name = "url"
    text = True

    def open(self, url: str, task: Any = None) -> io.BytesIO:
        if not url.startswith("url://"):
            raise ValueError("not a url:// URL: %r" % url)
        data = url.encode("utf-8")
        stream = io.BytesIO(data)
        stream.size = len(data)  # type: ignore[attr-defined]
        return stream


scheme = RawScheme()
url = UrlScheme()
