"""Job packs (the binary a client submits) and job names, as the original defined them.

Layout: a 128-byte header (magic ``0xd5c0``, version 1 or 2, four big-endian u32 section
offsets, zero padding), then the jobdict (JSON), the jobenvs (JSON object), the jobhome
(a ZIP) and the jobdata (opaque bytes). :func:`validate` gives the master's error
messages (``invalid header``, ``jobpack missing key 'k'``, ``invalid prefix``, ...);
:func:`check_file` gives the same for a pack in a file, reading only its header, jobdict
and jobenvs into memory (the master's way: a pack can be a GiB).
Version-1 (classic) jobdicts are turned into pipelines by :func:`pipeline_of`.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import posixpath
import re
import struct
import time
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

from .errors import JobPackError

MAGIC = 0xD5C0
VERSION1 = 0x0001
VERSION2 = 0x0002
HEADER_FORMAT = "!IIIII"
HEADER_SIZE = 128

#: A Python job's worker: the launcher script its job home holds under this name. Nodes know
#: it by its mark (and may fork the worker from a warm interpreter instead of running it);
#: the client's task replay by the same mark.
LAUNCHER = "disco_worker"
LAUNCHER_MARK = "# disco-python-worker"
LAUNCHER_SOURCE = """#!/usr/bin/env python3
%s: the Python worker; nodes may fork it from a warm interpreter instead of running this.
import os, sys
lib = os.path.join(os.getcwd(), "lib")  # the job's modules: first on the path once the worker
sys.path[:] = [p for p in sys.path if os.path.abspath(p) != lib]  # has imported its own
from disco_core.worker import main
main()
""" % LAUNCHER_MARK

GROUPINGS = ("split", "group_label", "group_node", "group_node_label", "group_all")
MAX_CORES = 2 ** 31
# Job names go into file names, URLs and DDFS tag names (disco:results:<job>), so a prefix is
# ASCII letters, digits, '_', '-' (and ':', '@', which job names have anyway), and short
# enough that the name fits in one 255-byte path component.
PREFIX_CHARS = re.compile(r"[A-Za-z0-9_\-:@]+")
MAX_PREFIX = 200
# The jobdict and jobenvs are parsed in the master's memory (the rest of a pack never is).
MAX_DICTS = 256 << 20
# The request header naming one submission of a pack: a client's own token, sent again with
# each retry of the same POST, so the master makes one job of it (master/submissions.py).
SUBMISSION_HEADER = "X-Disco-Submission"


_MAGIC_WORD = MAGIC << 16


@dataclass
class JobPack:
    version: int
    jobdict: dict
    jobenvs: dict
    jobhome: bytes
    jobdata: bytes

    # the original's class attributes: MAGIC is the header word's upper half
    MAGIC: ClassVar[int] = _MAGIC_WORD
    HEADER_FORMAT: ClassVar[str] = HEADER_FORMAT
    HEADER_SIZE: ClassVar[int] = HEADER_SIZE

    def dumps(self) -> bytes:
        return b"".join(self.parts())

    def parts(self) -> list[bytes]:
        """The pack's bytes in five pieces (header, jobdict, jobenvs, jobhome, jobdata), to
        send one after the other without joining a copy of the job data."""
        jobdict = json.dumps(self.jobdict).encode("utf-8")
        jobenvs = json.dumps(self.jobenvs).encode("utf-8")
        off_envs = HEADER_SIZE + len(jobdict)
        off_home = off_envs + len(jobenvs)
        off_data = off_home + len(self.jobhome)
        header = self.header((HEADER_SIZE, off_envs, off_home, off_data), version=self.version)
        return [header, jobdict, jobenvs, self.jobhome, self.jobdata]

    @classmethod
    def header(cls, offsets: Any, magic: int = _MAGIC_WORD, version: int = VERSION1,
               header_format: str = HEADER_FORMAT, header_size: int = HEADER_SIZE) -> bytes:
        """The 128-byte header for the four section offsets (jobdict, jobenvs, jobhome,
        jobdata)."""
        head = struct.pack(header_format, magic + version, *offsets)
        return head + b"\0" * (header_size - len(head))

    @classmethod
    def offsets(cls, jobfile: BinaryIO, total_len: int | None = None) -> list[int]:
        """The section offsets of the pack in ``jobfile`` (checked: magic, header size,
        increasing offsets that fit the file)."""
        jobfile.seek(0)
        head = jobfile.read(HEADER_SIZE)
        if total_len is None:
            jobfile.seek(0, 2)
            total_len = jobfile.tell()
        return list(offsets(head, total_len)[1])

    @classmethod
    def loads(cls, data: bytes) -> "JobPack":
        version, (o1, o2, o3, o4) = offsets(data)
        jobdict = _json_section(data[o1:o2], "jobdict")
        jobenvs = _json_section(data[o2:o3], "jobenvs") if o3 > o2 else {}
        return cls(version, jobdict, jobenvs, data[o3:o4], data[o4:])

    @classmethod
    def load(cls, fd: BinaryIO) -> "JobPack":
        return cls.loads(fd.read())


def offsets(data: bytes, total_len: int | None = None) -> tuple[int, tuple[int, int, int, int]]:
    """The version and section offsets from a pack (or its header and ``total_len``)."""
    total = len(data) if total_len is None else total_len
    if len(data) < HEADER_SIZE:
        raise JobPackError("invalid header: the job pack is %d bytes, shorter than its "
                           "128-byte header" % len(data))
    word, o1, o2, o3, o4 = struct.unpack(HEADER_FORMAT, data[:struct.calcsize(HEADER_FORMAT)])
    magic, version = word >> 16, word & 0xFFFF
    if magic != MAGIC:
        raise JobPackError("invalid header: bad magic 0x%04x (expected 0xd5c0); "
                           "is this a Disco job pack?" % magic)
    problem = _offsets_problem(o1, o2, o3, o4, total)
    if problem:
        raise JobPackError("invalid header: section offsets %r: %s" % ([o1, o2, o3, o4], problem))
    if version not in (VERSION1, VERSION2):
        raise JobPackError("unsupported version '%d'" % version)
    return version, (o1, o2, o3, o4)


def _offsets_problem(o1: int, o2: int, o3: int, o4: int, total: int) -> str:
    """What is wrong with the four section offsets of a ``total``-byte pack ('' if nothing)."""
    if o1 != HEADER_SIZE:
        return "the jobdict offset is %d, it must be 128 (right after the header)" % o1
    if o2 <= o1:
        return "the jobenvs offset %d must be after the jobdict offset %d" % (o2, o1)
    if o3 < o2:
        return "the jobhome offset %d is before the jobenvs offset %d" % (o3, o2)
    if o4 < o3:
        return "the jobdata offset %d is before the jobhome offset %d" % (o4, o3)
    if total < o4:
        return ("the pack is %d bytes, shorter than its jobdata offset %d (was it cut short "
                "on the way?)" % (total, o4))
    return ""


def _require(jobdict: dict, key: str) -> Any:
    if key not in jobdict:
        raise JobPackError("jobpack missing key '%s'" % key)
    return jobdict[key]


def validate(pack: JobPack) -> None:
    """Raise :class:`JobPackError` with the master's message if the pack is unusable."""
    _check_fields(pack.version, pack.jobdict, pack.jobenvs,
                  lambda worker: _check_jobhome(io.BytesIO(pack.jobhome), len(pack.jobhome),
                                                worker))


def _check_fields(version: int, d: Any, jobenvs: Any, check_home: Any) -> None:
    """The jobdict and jobenvs checks, then ``check_home(worker)``: that the job home holds
    the worker (last, as it is the one check that reads more than the two JSON sections)."""
    if not isinstance(d, dict):
        raise JobPackError("invalid jobdict: expected a JSON object, got %s" % type(d).__name__)
    if not isinstance(jobenvs, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in jobenvs.items()):
        raise JobPackError("invalid jobenvs: expected a JSON object of strings")
    prefix = _require(d, "prefix")
    if not isinstance(prefix, str) or not prefix or "/" in prefix or "." in prefix:
        raise JobPackError("invalid prefix %r: use letters, digits and _ only" % (prefix,))
    if not PREFIX_CHARS.fullmatch(prefix):
        bad = sorted({c for c in prefix if not PREFIX_CHARS.fullmatch(c)})
        raise JobPackError("invalid prefix %r: %s not allowed; use letters, digits, _ and - only"
                           % (prefix, ", ".join(repr(c) for c in bad)))
    if len(prefix) > MAX_PREFIX:
        raise JobPackError("invalid prefix: %d characters long, at most %d are allowed"
                           % (len(prefix), MAX_PREFIX))
    worker = _require(d, "worker")
    if not isinstance(worker, str) or not worker:
        raise JobPackError("invalid worker %r: give a path inside the job home" % (worker,))
    if not isinstance(_require(d, "owner"), str):
        raise JobPackError("invalid owner: expected a string")
    scheduler = _require(d, "scheduler")
    if not isinstance(scheduler, dict):
        raise JobPackError("invalid scheduler: expected an object like {\"max_cores\": 4}")
    max_cores = scheduler.get("max_cores", MAX_CORES)
    if not isinstance(max_cores, int) or max_cores < 1:
        raise JobPackError("invalid scheduler max_cores %r: give a positive integer" % (max_cores,))
    for flag in ("force_local", "force_remote"):
        if not isinstance(scheduler.get(flag, False), bool):
            raise JobPackError("invalid scheduler %s %r: give true or false"
                               % (flag, scheduler[flag]))
    required = d.get("required_plugins", [])
    if not (isinstance(required, list) and all(isinstance(r, str) and r for r in required)):
        raise JobPackError("invalid required_plugins %r: give a list of plugin distribution "
                           "names as `disco plugins` lists them" % (required,))
    if not isinstance(d.get("save_results", False), bool):
        raise JobPackError("invalid_job_save_results: save_results must be true or false")
    save_info = d.get("save_info", "ddfs")
    if not (isinstance(save_info, str) and len(save_info) >= 4
            and save_info.startswith(("ddfs", "hdfs"))):
        raise JobPackError("invalid_job_save_info: %r must start with ddfs or hdfs" % (save_info,))
    if version == VERSION2:
        pipeline = _require(d, "pipeline")
        names = set()
        if not isinstance(pipeline, list):
            raise JobPackError("invalid pipeline: expected a list of [stage, grouping, concurrent]")
        for stage in pipeline:
            if not (isinstance(stage, list) and len(stage) in (2, 3) and isinstance(stage[0], str)):
                raise JobPackError("invalid pipeline stage %r: expected "
                                   "[name, grouping, concurrent]"
                                   % (stage,))
            if stage[1] not in GROUPINGS:
                raise JobPackError("invalid grouping %r in stage %r: use one of %s"
                                   % (stage[1], stage[0], ", ".join(GROUPINGS)))
            if stage[0] in names:
                raise JobPackError("repeated_pipeline_stages: stage %r appears twice" % stage[0])
            names.add(stage[0])
        inputs = _require(d, "inputs")
        if not isinstance(inputs, list) or not all(
                isinstance(i, list) and len(i) == 3 and isinstance(i[0], int)
                and isinstance(i[1], int) and isinstance(i[2], list) and i[2]
                and all(isinstance(u, str) for u in i[2]) for i in inputs):
            raise JobPackError("invalid_job_inputs: expected [[label, size_hint, [url, ...]], ...] "
                               "with at least one URL per input")
    else:
        inputs = _require(d, "input")
        if not isinstance(inputs, list) or not all(
                isinstance(i, str)
                or (isinstance(i, list) and i and all(isinstance(u, str) for u in i))
                for i in inputs):
            raise JobPackError("invalid_job_inputs: 'input' must be a list of URLs or of "
                               "lists of replica URLs")
        nr = _require(d, "nr_reduces")
        if not isinstance(nr, int) or nr < 0:
            raise JobPackError("invalid nr_reduces %r: give a non-negative integer" % (nr,))
        for key in ("map?", "reduce?", "reduce_shuffle?"):
            if not isinstance(d.get(key, False), bool):
                raise JobPackError("invalid %s: expected true or false" % key)
    check_home(worker)


def _check_jobhome(jobhome: BinaryIO, size: int, worker: str) -> None:
    """The job home (``size`` bytes in ``jobhome``) must be a ZIP archive holding the worker
    (nodes unpack and run it)."""
    try:
        with zipfile.ZipFile(jobhome) as z:
            names = {posixpath.normpath(n) for n in z.namelist() if not n.endswith("/")}
    except Exception as exc:  # any way a ZIP can be corrupt
        raise JobPackError("invalid jobhome: not a ZIP archive (%d bytes: %s)"
                           % (size, exc)) from None
    path = posixpath.normpath(worker)
    if path.startswith(("/", "../")) or path == "..":
        raise JobPackError("invalid worker %r: give a path inside the job home" % (worker,))
    if path not in names:
        some = sorted(names)[:10]
        raise JobPackError("the worker %r is not in the job home (it holds %s%s)"
                           % (worker, ", ".join(some) or "nothing",
                              " ..." if len(names) > len(some) else ""))


@dataclass
class PackHead:
    """A pack on disk as the master keeps it in memory: the header and the two JSON sections.
    The job home and the job data stay in the file (``offsets[2]:offsets[3]`` and
    ``offsets[3]:size``)."""
    version: int
    jobdict: dict
    jobenvs: dict
    offsets: tuple[int, int, int, int]
    size: int


def check_file(f: BinaryIO) -> PackHead:
    """The head of the pack in the open file ``f``, validated as :func:`validate` does, with
    only the header, jobdict and jobenvs read into memory (the job home's ZIP directory is
    read in place)."""
    f.seek(0, 2)
    size = f.tell()
    f.seek(0)
    version, (o1, o2, o3, o4) = offsets(f.read(HEADER_SIZE), size)
    if o3 - o1 > MAX_DICTS:
        raise JobPackError("the jobdict and jobenvs are %d bytes, at most %d are allowed: put "
                           "large values in the job data or the job home" % (o3 - o1, MAX_DICTS))
    f.seek(o1)
    jobdict = _json_section(f.read(o2 - o1), "jobdict")
    jobenvs = _json_section(f.read(o3 - o2), "jobenvs") if o3 > o2 else {}
    _check_fields(version, jobdict, jobenvs,
                  lambda worker: _check_jobhome(_Window(f, o3, o4), o4 - o3, worker))
    return PackHead(version, jobdict, jobenvs, (o1, o2, o3, o4), size)


def jobhome_file(f: BinaryIO, head: PackHead) -> BinaryIO:
    """The job home (a ZIP) of the pack in the open file ``f`` whose head is ``head``, read
    in place as a file of its own."""
    return io.BufferedReader(_Window(f, head.offsets[2], head.offsets[3]))


def _json_section(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise JobPackError("invalid %s: not JSON (%s)" % (what, exc)) from None


class _Window(io.RawIOBase):
    """The bytes ``start:end`` of a seekable file, as a file of their own."""

    def __init__(self, f: BinaryIO, start: int, end: int) -> None:
        self.f, self.start, self.end, self.pos = f, start, end, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self.pos, self.end - self.start)[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, b: Any) -> int:
        n = max(0, min(len(b), self.end - self.start - self.pos))
        self.f.seek(self.start + self.pos)
        data = self.f.read(n)
        b[:len(data)] = data
        self.pos += len(data)
        return len(data)


def pipeline_of(pack: JobPack) -> list[tuple[str, str, bool]]:
    """The job's pipeline; version-1 jobdicts become the classic stages."""
    d = pack.jobdict
    if pack.version == VERSION2:
        return [(s[0], s[1], bool(s[2]) if len(s) > 2 else False) for s in d["pipeline"]]
    has_map, has_reduce = d.get("map?", False), d.get("reduce?", False)
    single = d.get("nr_reduces") == 1
    stages: list[tuple[str, str, bool]] = []
    if has_map:
        stages += [("map", "split", False), ("map_shuffle", "group_node", False)]
    if has_reduce:
        stages.append(("reduce", "group_all" if single else "group_label", False))
        if not single and d.get("reduce_shuffle?", False):
            stages.append(("reduce_shuffle", "group_node", False))
    return stages


def inputs_of(pack: JobPack) -> list[tuple[int, int, list[str]]]:
    """The job's inputs as ``(label, size_hint, [replica urls])``."""
    d = pack.jobdict
    if pack.version == VERSION2:
        return [(i[0], i[1], list(i[2])) for i in d["inputs"]]
    return [(0, 0, [i] if isinstance(i, str) else list(i)) for i in d["input"]]


@functools.lru_cache(maxsize=4096)  # a node asks for its jobs' names at every task
def hexhash(name: str) -> str:
    """The two-hex-digit fan-out directory of a name (first byte of its md5)."""
    return hashlib.md5(name.encode("utf-8")).hexdigest()[:2]


def job_name(prefix: str, now: float | None = None) -> str:
    """``prefix@M:S:U`` from the Erlang-style timestamp, each part lowercase hex."""
    now = time.time() if now is None else now
    micro = int(round(now * 1e6))
    secs, usec = divmod(micro, 1000000)
    mega, secs = divmod(secs, 1000000)
    return "%s@%x:%x:%x" % (prefix, mega, secs, usec)


#: Beside a job file in a node's job home: the jobdict without the job's inputs, which a
#: task reads instead of parsing the whole jobdict (a job of 50,000 inputs has a jobdict of
#: megabytes, and every task would parse it).
SMALL_JOBDICT = ".jobdict"
_BULKY_KEYS = ("input", "inputs")


def task_jobdict(jobfile: str) -> dict:
    """What a task needs of its job's jobdict: every key but the job's inputs, from the
    node's small copy beside the job file when there is one (:data:`SMALL_JOBDICT`)."""
    small = os.path.join(os.path.dirname(jobfile), SMALL_JOBDICT)
    try:
        with open(small) as f:
            return json.load(f)
    except (OSError, ValueError):
        pass
    with open(jobfile, "rb") as f:
        head = f.read(HEADER_SIZE)
        _version, (o1, o2, _o3, _o4) = offsets(head, os.fstat(f.fileno()).st_size)
        jobdict = json.loads(f.read(o2 - o1))
    return {k: v for k, v in jobdict.items() if k not in _BULKY_KEYS}


def write_small_jobdict(home: str, jobdict: dict) -> None:
    """Write the :data:`SMALL_JOBDICT` of a job home (what a node does when it unpacks one)."""
    path = os.path.join(home, SMALL_JOBDICT)
    with open(path + ".partial", "w") as f:
        json.dump({k: v for k, v in jobdict.items() if k not in _BULKY_KEYS}, f)
    os.replace(path + ".partial", path)
