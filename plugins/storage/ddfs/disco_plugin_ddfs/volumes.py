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
``blob/<hh>/!partial-<ts>.<name>``; ``verified/<hh>/<name>`` records when a reader last
found the blob intact (so the tasks and HTTP readers of one blob hash it once a minute, not
once each). The checksum finds bytes that rotted on disk; CRC-32 does that at several times
the speed of a cryptographic hash, which guarded nothing more here (whoever can rewrite a
blob can rewrite its checksum beside it).

A volume whose directory cannot be listed, whose ``blob`` directory is not one, or whose
file system is read-only or full (or whose last write failed) is *bad*: new blobs go to the other
volumes, and the node reports it (``/ddfs/space``, the master's nodeinfo, its log) while
it goes on serving the others.
"""
from __future__ import annotations

import collections
import errno
import hashlib
import io
import hmac
import logging
import os
import shutil
import time
import zlib
from typing import Any

from disco_core.errors import DataError

from .names import hexhash

log = logging.getLogger("disco.ddfs.volumes")
#: The checksum of new blobs.
CHECKSUM = "crc32"
#: A volume with less free space than this is full (bad for new blobs).
FULL = 1 << 20
#: How long a write failure keeps a volume bad (seconds), unless a check clears it sooner.
FAILED_FOR = 60.0
#: The errors of a write that make its volume bad.
VOLUME_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS)
#: How long a blob found intact is read without hashing it again (seconds), unless its
#: file changed.
VERIFIED_FOR = 60.0


def _fast_crc32() -> Any:
    """ISA-L's ``crc32`` (the same CRC as zlib's, computed some 40 times faster with the
    CPU's carry-less multiply) when ``isal`` is installed, else zlib's: at zlib's ~1 GB/s
    the hash of an upload took longer than receiving it."""
    try:
        from isal.isal_zlib import crc32
    except ImportError:
        return zlib.crc32
    return crc32


crc32 = _fast_crc32()


class CRC32:
    """``crc32`` (zlib's CRC) with a hash object's ``update`` and ``hexdigest``."""

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: Any) -> None:
        self.value = crc32(data, self.value)

    def hexdigest(self) -> str:
        return "%08x" % self.value


CHECKSUMS = {"crc32": CRC32, "blake2b": hashlib.blake2b}


def new_hash(name: str = CHECKSUM) -> Any:
    """A hash object of the checksum ``name`` (KeyError when there is none such)."""
    return CHECKSUMS[name]()


def read_checksum(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except (OSError, ValueError):
        return None


def file_checksum(path: str, name: str = CHECKSUM) -> str:
    """``NAME:HEX``, the checksum ``name`` of the file's bytes."""
    h = new_hash(name)
    with open(path, "rb") as f:
        while True:
            data = f.read(1 << 20)
            if not data:
                break
            h.update(data)
    return "%s:%s" % (name, h.hexdigest())


def checksum_like(path: str, expected: str) -> str:
    """The file's checksum in the kind ``expected`` names (``crc32:...``, ``blake2b:...``);
    a kind this node does not know gives a text that matches nothing."""
    name = expected.partition(":")[0]
    if name not in CHECKSUMS:
        return "(no checksum %r known)" % name
    return file_checksum(path, name)


def _beside(blob: str, kind: str) -> str:
    """``volN/<kind>/<hh>/<name>`` for the blob file ``volN/blob/<hh>/<name>``."""
    hh = os.path.dirname(blob)
    volume = os.path.dirname(os.path.dirname(hh))
    return os.path.join(volume, kind, os.path.basename(hh), os.path.basename(blob))


def _file_key(path: str) -> str:
    st = os.stat(path)
    return "%d %d %d" % (st.st_ino, st.st_size, st.st_mtime_ns)


_verified: "collections.OrderedDict[str, tuple[str, float]]" = collections.OrderedDict()
_VERIFIED_MAX = 4096


def recently_verified(blob: str) -> bool:
    """Whether the blob was found intact less than :data:`VERIFIED_FOR` seconds ago (by
    this process or, through ``verified/``, by any other) and has not changed since."""
    try:
        key = _file_key(blob)
    except OSError:
        return False
    entry = _verified.get(blob)
    if entry is not None and entry[0] == key and time.monotonic() - entry[1] <= VERIFIED_FOR:
        return True
    mark = _beside(blob, "verified")
    try:
        with open(mark, encoding="ascii") as f:
            recorded = f.read().strip()
        age = time.time() - os.stat(mark).st_mtime
    except (OSError, ValueError):
        return False
    return recorded == key and 0 <= age <= VERIFIED_FOR


def mark_verified(blob: str) -> None:
    try:
        key = _file_key(blob)
    except OSError:
        return
    _verified[blob] = (key, time.monotonic())
    _verified.move_to_end(blob)
    while len(_verified) > _VERIFIED_MAX:
        _verified.popitem(last=False)
    mark = _beside(blob, "verified")
    try:
        os.makedirs(os.path.dirname(mark), exist_ok=True)
        tmp = "%s.%d" % (mark, os.getpid())
        with open(tmp, "w", encoding="ascii") as f:
            f.write(key)
        os.replace(tmp, mark)
    except OSError:  # a read-only or failing volume: the check is just not remembered
        pass


def verify(blob: str) -> None:
    """Check a blob file against its recorded checksum (cheaply: see
    :func:`recently_verified`); a :class:`DataError` naming it when they differ. A blob
    without a recorded checksum passes (there is nothing to check it against)."""
    expected = read_checksum(_beside(blob, "sums"))
    if expected is None or recently_verified(blob):
        return
    try:
        actual = checksum_like(blob, expected)
    except FileNotFoundError:
        raise  # not here: the caller reads it elsewhere
    except OSError as exc:
        raise DataError("cannot read blob %s: %s" % (os.path.basename(blob),
                                                     exc.strerror or exc), blob) from None
    if not hmac.compare_digest(actual, expected):
        log.error("blob %s is corrupt: its checksum is %s, %s was recorded",
                  blob, actual, expected)
        raise DataError("blob %s is corrupt on this node (checksum mismatch): read another "
                        "replica" % os.path.basename(blob), blob)
    mark_verified(blob)


def open_verified(blob: str) -> "io.BufferedReader":
    """The blob file open for reading, once it is found intact (:func:`verify`)."""
    verify(blob)
    f = open(blob, "rb")
    f.size = os.fstat(f.fileno()).st_size  # type: ignore[attr-defined]
    return f


class LocalVolumes:
    """The volumes of one node: directories ``vol<N>`` under ``root``."""

    open_verified = staticmethod(open_verified)
    #: Bytes each volume may hold (``DDFS_VOLUME_CAPACITY``), 0 for no such limit: when
    #: set, a volume's use is the bytes of its own files against it, not its file system's
    #: (for nodes that share a disk, as several nodes of one machine do).
    capacity = 0

    def __init__(self, root: str) -> None:
        self.root = root
        self.failed: dict[str, tuple[str, float]] = {}  # volume -> (why, when)
        self.reported: dict[str, str] = {}  # the bad volumes last logged

    def volumes(self) -> list[str]:
        """The volume names (bad ones too), ``vol0`` made if there is none."""
        os.makedirs(self.root, exist_ok=True)
        names = sorted((n for n in os.listdir(self.root)
                        if n.startswith("vol") and n[3:].isdigit()
                        and (os.path.isdir(os.path.join(self.root, n))
                             or os.path.islink(os.path.join(self.root, n)))),
                       key=lambda n: int(n[3:]))
        if not names:
            os.makedirs(os.path.join(self.root, "vol0"), exist_ok=True)
            names = ["vol0"]
        return names

    def problem(self, volume: str, failures: bool = True) -> str | None:
        """Why the volume is bad, or None when it is good (``failures``: a recent write
        failure counts)."""
        path = os.path.join(self.root, volume)
        try:
            os.listdir(path)
            blobs = os.path.join(path, "blob")
            if os.path.lexists(blobs):
                os.listdir(blobs)
            stat = os.statvfs(path)
        except OSError as exc:
            return "unreadable: %s" % (exc.strerror or exc)
        if stat.f_flag & os.ST_RDONLY:
            return "read-only"
        free = stat.f_bavail * stat.f_frsize
        if free < FULL:
            return "full: %d bytes free" % free
        failed = self.failed.get(volume)
        if failed is not None and failures:
            if time.monotonic() - failed[1] <= FAILED_FOR:
                return failed[0]
            del self.failed[volume]
        return None

    def write_failed(self, volume: str, exc: OSError) -> None:
        """A write to the volume failed for a reason of the volume's (full, read-only, an
        I/O error; not a file too large for a limit of the process): for
        :data:`FAILED_FOR` seconds new blobs go to other volumes when there are any."""
        if exc.errno not in VOLUME_ERRORS:
            return
        self.failed[volume] = ("a write failed: %s" % (exc.strerror or exc), time.monotonic())
        self.bad()

    def bad(self) -> dict[str, str]:
        """``{volume: why}`` of the bad volumes; a change is logged."""
        out = {}
        for volume in self.volumes():
            why = self.problem(volume)
            if why is not None:
                out[volume] = why
        for volume, why in out.items():
            if self.reported.get(volume) != why:
                log.error("volume %s of %s is bad (%s): new blobs go to the other volumes",
                          volume, self.root, why)
        for volume in set(self.reported) - set(out):
            log.warning("volume %s of %s is good again", volume, self.root)
        self.reported = out
        return out

    def good(self) -> list[str]:
        bad = self.bad()
        return [v for v in self.volumes() if v not in bad]

    def free(self, volume: str) -> int:
        return shutil.disk_usage(os.path.join(self.root, volume)).free

    def choose(self) -> str:
        """The volume a new blob goes to: the good one with the most free space, else one
        whose only fault is a recent write failure (an OSError when every volume is
        unreadable or full)."""
        good = self.good()
        if not good:
            good = [v for v in self.volumes() if self.problem(v, failures=False) is None]
        if not good:
            raise OSError("no usable volume in %s (bad: %s)" % (
                self.root, "; ".join("%s %s" % kv for kv in self.bad().items())))
        return max(good, key=self.free)

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
        for volume in self.good():
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
        """``(free, used)`` bytes over the good volumes' file systems, or against
        :attr:`capacity` when it is set (a bad volume takes no blobs: its space does not
        count)."""
        free = used = 0
        for volume in self.good():
            if self.capacity:
                mine = _bytes_under(os.path.join(self.root, volume))
                free += max(0, self.capacity - mine)
                used += mine
                continue
            try:
                usage = shutil.disk_usage(os.path.join(self.root, volume))
            except OSError:
                continue
            free += usage.free
            used += usage.used
        return free, used


def _bytes_under(top: str) -> int:
    """The bytes of the files under ``top``."""
    total = 0
    for folder, _dirs, files in os.walk(top):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass  # gone meanwhile
    return total
