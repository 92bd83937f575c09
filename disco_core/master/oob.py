"""Jobs' out-of-band values: the files tasks ``put`` and clients ``get`` by key.

Each job's values live in its directory on the master (``<job dir>/oob/<key>``); a value is
written beside its place and renamed into it, so a reader never sees half of one.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from ..errors import DiscoError
from .submissions import Upload


class OobStore:
    """The OOB values of the jobs whose directory ``job_dir(name)`` gives; ``get_job(name)``
    raises a :class:`KeyError` for a job the master does not know."""

    def __init__(self, job_dir: Callable[[str], str], get_job: Callable[[str], Any]) -> None:
        self.job_dir = job_dir
        self.get_job = get_job

    def dir(self, name: str) -> str:
        return os.path.join(self.job_dir(name), "oob")

    def put(self, name: str, key: str, value: bytes | Upload) -> None:
        """Store a value: bytes, or an upload taken over (renamed into place)."""
        try:
            self.get_job(name)
            if not key or "/" in key or key.startswith("."):
                raise DiscoError("invalid OOB key %r: a key is a non-empty name without '/' "
                                 "that does not start with '.'" % key)
        except (KeyError, DiscoError):
            if isinstance(value, Upload):
                value.discard()
            raise
        path = os.path.join(self.dir(name), key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(value, Upload):
            os.replace(value.close(), path)
            return
        with open(path + ".partial", "wb") as f:
            f.write(value)
        os.replace(path + ".partial", path)

    def keys(self, name: str) -> list[str]:
        path = self.dir(name)
        if not os.path.isdir(path):
            return []
        return sorted(k for k in os.listdir(path) if not k.endswith(".partial"))

    def path(self, name: str, key: str) -> str:
        """The file of a value (a :class:`KeyError` if there is none)."""
        path = os.path.join(self.dir(name), key)
        if "/" in key or not os.path.isfile(path):
            raise KeyError(key)
        return path
