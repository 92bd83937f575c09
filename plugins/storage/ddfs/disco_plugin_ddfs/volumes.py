"""Local-directory volumes, the default ``disco.volumes`` driver (``local``).

A node keeps its blobs under ``DDFS_DATA/<host>/vol0, vol1, ...`` (``vol0`` is made when
there is none; mount or link more disks as ``vol1``, ...). The ``<host>`` level lets several
nodes share a machine and a ``DDFS_DATA`` (the original nested the same way in its
local-cluster mode); a blob's URL names it, ``disco://HOST/ddfs/HOST/volN/blob/<hh>/<name>``,
so a task on that node reads the file directly (``DDFS_DATA/HOST/volN/...``) and any other
host reads it over HTTP.

Inside a volume: ``blob/<hh>/<name>`` (mode 0400) and its checksum
``sums/<hh>/<name>`` (``crc32:<hex>`` of the bytes; ``blake2b:<hex>`` for blobs stored
before, still checked), written before the blob becomes visible; uploads in progress are
``blob/<hh>/!partial-<ts>.<name>``. The checksum finds bytes that rotted on disk; CRC-32
does that at several times the speed of a cryptographic hash, which guarded nothing more
here (whoever can rewrite a blob can rewrite its checksum beside it).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import zlib
from typing import Any

from .names import hexhash

#: The checksum of new blobs.
CHECKSUM = "crc32"


class CRC32:
    """``zlib.crc32`` with a hash object's ``update`` and ``hexdigest``."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: Any) -> None:
        self.value = zlib.crc32(data, self.value)

    def hexdigest(self) -> str:
        return "%08x" % self.value


CHECKSUMS = {"crc32": CRC32, "blake2b": hashlib.blake2b}


def new_hash(name: str = CHECKSUM) -> Any:
    """A hash object of the checksum ``name`` (KeyError when there is none such)."""
    return CHECKSUMS[name]()


class LocalVolumes:
    """The volumes of one node: directories ``vol<N>`` under ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root

    def volumes(self) -> list[str]:
        """The volume names, ``vol0`` made if there is none."""
        os.makedirs(self.root, exist_ok=True)
        names = sorted((n for n in os.listdir(self.root)
                        if n.startswith("vol") and n[3:].isdigit()
                        and os.path.isdir(os.path.join(self.root, n))),
                       key=lambda n: int(n[3:]))
        if not names:
            os.makedirs(os.path.join(self.root, "vol0"), exist_ok=True)
            names = ["vol0"]
        return names

    def free(self, volume: str) -> int:
        return shutil.disk_usage(os.path.join(self.root, volume)).free

    def choose(self) -> str:
        """The volume a new blob goes to: the one with the most free space."""
        return max(self.volumes(), key=self.free)

    def relpath(self, volume: str, objname: str, kind: str = "blob") -> str:
        return os.path.join(volume, kind, hexhash(objname), objname)

    def path(self, volume: str, objname: str, kind: str = "blob") -> str:
        return os.path.join(self.root, self.relpath(volume, objname, kind))

    def find(self, objname: str) -> str | None:
        """The volume holding blob ``objname``, if any."""
        for volume in self.volumes():
            if os.path.exists(self.path(volume, objname)):
                return volume
        return None

    def drop_partials(self) -> list[str]:
        """Delete the uploads a previous node process left unfinished (at start, when no
        upload can be in progress); the paths deleted."""
        dropped = []
        for volume in self.volumes():
            blobs = os.path.join(self.root, volume, "blob")
            if not os.path.isdir(blobs):
                continue
            for sub in os.listdir(blobs):
                subdir = os.path.join(blobs, sub)
                for name in os.listdir(subdir) if os.path.isdir(subdir) else ():
                    if name.startswith("!partial-"):
                        os.unlink(os.path.join(subdir, name))
                        dropped.append(os.path.join(subdir, name))
        return dropped

    def space(self) -> tuple[int, int]:
        """``(free, used)`` bytes over every volume's file system."""
        free = used = 0
        for volume in self.volumes():
            usage = shutil.disk_usage(os.path.join(self.root, volume))
            free += usage.free
            used += usage.used
        return free, used
