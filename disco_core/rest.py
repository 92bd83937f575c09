"""The master's REST API at its plainest, for every part that talks to a master: a request
through the proxy with a clear error when nothing answers, and the out-of-band values that
tasks store as well as clients.

:class:`~disco_core.client.disco.Disco`, the client of the whole API, builds on it; the worker's
``Task.put`` and ``Task.get`` use it without importing the client.
"""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from . import access, comm
from .errors import CommError, DiscoError
from .settings import DiscoSettings
from .util import master_url


#: What an out-of-band key may hold (the original's DDFS-safe names).
OOB_KEY = re.compile(r"[A-Za-z0-9_\-@:]+")


def _name(job: Any) -> str:
    return getattr(job, "name", job)


class MasterClient:
    """One master's address (``master``, default DISCO_MASTER; through ``proxy``, default
    DISCO_PROXY) and the requests every client of it makes."""

    def __init__(self, master: str | None = None, settings: DiscoSettings | None = None,
                 proxy: str | None = None) -> None:
        self.settings = settings or DiscoSettings()
        self.proxy = proxy or self.settings["DISCO_PROXY"]
        self.master = master_url(master, self.settings)

    def __repr__(self) -> str:
        return "Disco master at %s" % self.master

    # -- plumbing -----------------------------------------------------------------------
    def request(self, url: str, data: Any = None, offset: int = 0, as_bytes: bool = False,
                method: str | None = None, headers: dict | None = None) -> Any:
        base = self.proxy.rstrip("/") if self.proxy else self.master
        headers = dict(headers or {})
        token = access.client_token(self.settings)
        if token:
            headers.setdefault(access.HEADER, token)
        if offset:
            headers["Range"] = "bytes=%d-" % offset
        try:
            body = comm.request(method or ("POST" if data is not None else "GET"), base + url,
                                data, headers)
        except CommError as exc:
            if exc.code is None and not self.proxy:
                raise CommError(self.unreachable(exc.msg), self.master) from None
            raise
        return body if as_bytes else body.decode("utf-8")

    def unreachable(self, reason: str) -> str:
        """What to say when nothing answers at the master's address."""
        return ("cannot reach the Disco master (%s): is it running? Start it with `disco start` "
                "on its host, or point DISCO_MASTER (disco -M) at a running master"
                % reason)

    def _json(self, url: str, data: Any = None) -> Any:
        payload = json.dumps(data) if data is not None else None
        return json.loads(self.request(url, payload))

    def oob_list(self, jobname: Any) -> list[str]:
        return self._json("/disco/ctrl/oob_list?name=%s" % _name(jobname))

    def oob_put(self, jobname: Any, key: str, value: bytes | str) -> None:
        """Store the out-of-band value ``key`` of a job (what a task's ``put`` does)."""
        if not isinstance(key, str) or not OOB_KEY.fullmatch(key):
            raise DiscoError("OOB key %r is not a safe name: use only letters, digits and "
                             "_-@:" % (key,))
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise DiscoError("OOB value for key %r must be bytes or str, got %s: pickle it "
                             "first" % (key, type(value).__name__))
        self.request("/disco/ctrl/oob_put?name=%s&key=%s" % (quote(_name(jobname)), quote(key)),
                     bytes(value))

    def oob_get(self, jobname: Any, key: str) -> bytes:
        try:
            return self.request("/disco/ctrl/oob_get?name=%s&key=%s" % (_name(jobname), key),
                                as_bytes=True)
        except CommError as exc:
            if exc.code == 404:
                raise DiscoError("Unknown key or jobname") from None
            raise
