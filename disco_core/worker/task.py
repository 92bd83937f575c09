"""What a running task knows about itself (the TASK reply) and its inputs (INPUT replies)."""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from ..jobpack import hexhash

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]")


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

    @classmethod
    def from_reply(cls, reply: dict) -> "Task":
        known = {k: v for k, v in reply.items() if k in cls.__dataclass_fields__}
        task = cls(**known)
        task.group = tuple(task.group)
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
    def uid(self) -> str:
        return "%s-%s-%d-%x-%d" % (self.stage, self.safe_group, self.taskid,
                                   int(self.started * 1e6) & 0xFFFFFFFF, os.getpid())

    @property
    def taskpath(self) -> str:
        """The task's own directory, relative to the job home."""
        return os.path.join(hexhash(self.uid), self.uid)

    def path(self, name: str) -> str:
        return os.path.join(self.jobhome, self.taskpath, name)

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

    def relpath(self, abspath: str) -> str:
        return os.path.relpath(abspath, self.jobhome)

    def url(self, relpath: str, scheme: str = "disco") -> str:
        """The URL other nodes use for a file in this task's job home."""
        return "%s://%s/disco/%s/%s/%s/%s" % (scheme, self.host, self.host,
                                              hexhash(self.jobname), self.jobname, relpath)


@dataclass
class Input:
    """One input of a task: an id, a label (int or ``"all"``) and replicas in order."""

    id: int
    label: Any
    replicas: list[tuple[int, str]]

    @property
    def urls(self) -> list[str]:
        return [url for _, url in self.replicas]
