"""What a running task knows about itself (the TASK reply) and its inputs (INPUT replies).

:class:`Task` is also the original's ``disco.task.Task``: besides the TASK reply's fields it
gives ``group_label``, ``group_host``, ``uid``, ``jobpath``, ``taskpath``, ``jobpack``,
``jobobjs``, paths and URLs of the task's files (``path``, ``output_path``, ``output``,
``url``) and out-of-band values (``get``, ``put``). Build one with keyword arguments; the
fields are not in the original's positional order.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import cloudpickle

from ..atomicfile import AtomicFile
from ..errors import DiscoError
from ..jobpack import hexhash
from ..rest import MasterClient

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def jobdata(*objs: Any) -> bytes:
    """The job data of a job pack: ``objs`` pickled with cloudpickle (a job's ``(job,
    jobargs)``, as the worker pickles them), so functions defined anywhere travel.

    Functions that travel by value keep the name of the file they were defined in (plain
    cloudpickle renames it ``<dynamic-code>``), so a task's traceback names the user's file
    and line, and the client can show that line and stop there in a debugger."""
    import io
    buf = io.BytesIO()
    _pickler()(buf, protocol=5).dump(objs)
    return buf.getvalue()


_PICKLER: Any = None


def _pickler() -> Any:
    global _PICKLER
    if _PICKLER is None:
        import collections
        import types

        base = cloudpickle.Pickler.dispatch_table
        reduce_code = base[types.CodeType]

        def keep_filename(code: types.CodeType) -> Any:
            make, args = reduce_code(code)[:2]
            args = tuple(code.co_filename if a == "<dynamic-code>" else a for a in args)
            return make, args

        class Pickler(cloudpickle.Pickler):
            dispatch_table = collections.ChainMap({types.CodeType: keep_filename}, base)

        _PICKLER = Pickler
    return _PICKLER


class Group(tuple):
    """A task's group, ``(label, host)`` as the worker protocol sends it.

    ``str(group)`` (and ``format``) is the original's ``"<label>-<host>"`` string, so
    ``"{}".format(task.group)`` gives what the original's ``task.group`` held. Mind that
    ``"%s" % task.group`` formats the pair as two arguments: write ``"%s" % (task.group,)``
    or use ``task.group_str``.
    """

    __slots__ = ()

    def __new__(cls, pair: Any = (0, "")) -> "Group":
        items = tuple(pair)
        if len(items) != 2:
            raise DiscoError("a task group is a (label, host) pair, got %r" % (pair,))
        return super().__new__(cls, items)

    @property
    def label(self) -> Any:
        return self[0]

    @property
    def host(self) -> str:
        return self[1]

    def __str__(self) -> str:
        return "%s-%s" % (self[0], self[1])


class TaskOutput(tuple):
    """``(path, type, label)`` of an output file of a task, as the original's
    ``task.output()`` returned it, plus its ``url`` and the open ``file`` (written as
    ``<path>.partial`` and renamed into place by ``close()``)."""

    def __new__(cls, path: str, typ: str, label: int, url: str) -> "TaskOutput":
        return super().__new__(cls, (path, typ, label))

    def __init__(self, path: str, typ: str, label: int, url: str) -> None:
        self.url = url
        self._file: Any = None

    def __getnewargs__(self) -> tuple:  # type: ignore[override]
        return (self[0], self[1], self[2], self.url)

    @property
    def path(self) -> str:
        return self[0]

    @property
    def type(self) -> str:
        return self[1]

    @property
    def label(self) -> int:
        return self[2]

    @property
    def file(self) -> Any:
        """The output file, opened for writing on first use."""
        if self._file is None:
            self._file = AtomicFile(self.path, sync=None)
        return self._file

    def close(self) -> None:
        """Finish the file: it appears under :attr:`path` (and :attr:`url`) complete."""
        if self._file is not None:
            self._file.close()


@dataclass
class Task:
    taskid: int = -1
    master: str = ""
    disco_port: int = 8989
    put_port: int = 8990
    ddfs_data: str = ""
    disco_data: str = ""
    stage: str = ""
    grouping: str = ""
    group: Any = (0, "")
    jobfile: str = ""
    jobname: str = ""
    host: str = ""
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not isinstance(self.group, Group):
            self.group = Group(self.group)

    @classmethod
    def from_reply(cls, reply: dict) -> "Task":
        known = {k: v for k, v in reply.items() if k in cls.__dataclass_fields__}
        task = cls(**known)
        task.group = Group(task.group)
        if isinstance(reply.get("inputs"), list):  # sent with the task: no INPUT needed
            task.__dict__["sent_inputs"] = reply["inputs"]
        return task

    @property
    def group_label(self) -> Any:
        return self.group[0]

    @property
    def group_host(self) -> str:
        return self.group[1]

    @property
    def group_str(self) -> str:
        return "%s-%s" % (self.group[0], self.group[1])

    @property
    def safe_group(self) -> str:
        """The group as it appears in file names: only ``[A-Za-z0-9_.@-]``."""
        return _UNSAFE.sub("_", self.group_str)

    @property
    def jobhome(self) -> str:
        return os.path.dirname(self.jobfile)

    @property
    def jobpath(self) -> str:
        """The job home relative to ``DISCO_DATA``: ``<host>/<hh>/<jobname>``."""
        return os.path.join(self.host, hexhash(self.jobname), self.jobname)

    @cached_property
    def jobpack(self) -> Any:
        """The job's :class:`~disco_core.jobpack.JobPack`, loaded from :attr:`jobfile`."""
        from ..jobpack import JobPack
        with open(self.jobfile, "rb") as f:
            return JobPack.load(f)

    @cached_property
    def jobobjs(self) -> tuple[Any, dict]:
        """``(job, jobargs)`` unpickled from the job data (a copy of the running job's)."""
        from .jobfile import load_job
        _jobdict, job, jobargs = load_job(self.jobfile)
        return job, jobargs

    @property
    def uid(self) -> str:
        return "%s-%s-%d-%x-%d" % (self.stage, self.safe_group, self.taskid,
                                   int(self.started * 1e6) & 0xFFFFFFFF, os.getpid())

    @property
    def taskpath(self) -> str:
        """The task's own directory, relative to the job home."""
        return self._dirs()[1]

    def path(self, name: str) -> str:
        return os.path.join(self._dirs()[2], name)

    def _dirs(self) -> tuple:
        """``(key, taskpath, its absolute path)``, made once while the fields they come
        from stay as they are (a task asks for the paths of its files at every output)."""
        key = (self.stage, self.group, self.taskid, self.started, self.jobfile, os.getpid())
        dirs = self.__dict__.get("_dirs_made")
        if dirs is None or dirs[0] != key:
            uid = self.uid
            rel = os.path.join(hexhash(uid), uid)
            dirs = self.__dict__["_dirs_made"] = (key, rel, os.path.join(self.jobhome, rel))
        return dirs

    def makedirs(self) -> str:
        path = os.path.join(self.jobhome, self.taskpath)
        os.makedirs(path, exist_ok=True)
        return path

    def output_filename(self, label: int) -> str:
        if not isinstance(label, int):
            raise ValueError("output labels must be integers, got %r" % (label,))
        return "%s-%s-%d" % (self.stage, self.safe_group, label)

    def output_path(self, label: int) -> str:
        return self.path(self.output_filename(label))

    def output(self, label: int | None = None, typ: str = "disco") -> TaskOutput:
        """The output file of ``label`` (None: label 0, the output of an unpartitioned task):
        ``(path, typ, label)``, with ``.url`` and ``.file`` to write to. ``typ`` is the
        output's type as the original named them (``disco`` or ``part`` for data, ``dir``
        for an index), so the URL is ``dir://`` for ``dir`` and ``disco://`` otherwise.
        The worker reports the files its output chain writes; a file made here is the
        task's own, to hand on by its URL."""
        if label is None:
            label = 0
        path = self.output_path(label)
        return TaskOutput(path, typ, label, self.url(path, "dir" if typ == "dir" else "disco"))

    def relpath(self, abspath: str) -> str:
        return os.path.relpath(abspath, self.jobhome)

    def url(self, relpath: str, scheme: str = "disco") -> str:
        """The URL other nodes use for a file in this task's job home (``relpath`` is
        relative to the job home; a path from :meth:`path` is taken as well)."""
        if os.path.isabs(relpath):
            rel = self.relpath(relpath)
            if rel == os.pardir or rel.startswith(os.pardir + os.sep):
                raise DiscoError("%s is not in the job home %s of task %s: only its files "
                                 "have URLs" % (relpath, self.jobhome, self.uid))
            relpath = rel
        return "%s://%s/disco/%s/%s/%s/%s" % (scheme, self.host, self.host,
                                              hexhash(self.jobname), self.jobname, relpath)

    def put(self, key: str, value: bytes | str) -> None:
        """Store an out-of-band value of this job under ``key`` (a DDFS-safe name:
        ``[A-Za-z0-9_-@:]``); ``Disco.oob_get`` and the other tasks' :meth:`get` read it."""
        MasterClient(self.master).oob_put(self.jobname, key, value)

    def get(self, key: str, job: str | None = None) -> bytes:
        """An out-of-band value of this job (or of ``job``)."""
        return MasterClient(self.master).oob_get(job or self.jobname, key)


@dataclass
class Input:
    """One input of a task: an id, a label (int or ``"all"``) and replicas in order."""

    id: int
    label: Any
    replicas: list[tuple[int, str]]

    @property
    def urls(self) -> list[str]:
        return [url for _, url in self.replicas]


_active_task: Task | None = None


def active_task() -> Task | None:
    """The task this process is running (None outside a task)."""
    return _active_task


def set_active_task(task: Task | None) -> Task | None:
    """Make ``task`` the one :func:`active_task` gives (the task process does, and a task
    replayed in the client's process); the one it gave before."""
    global _active_task
    previous, _active_task = _active_task, task
    return previous
