"""Stage outputs and the five groupings that turn them into the next stage's tasks.

An output is *data* (one logical file with replicas, one label) or *dir* (an index file on
one host listing many local files with labels). Grouping rules (``reference/pipeline.md``):

=================  =====================================  =====================================
grouping           data output goes to group              dir output goes to
=================  =====================================  =====================================
split              its own ``(label, pick_host)``         one group per label: ``(l, dir_host)``
group_label        ``(label, none)``                      ``(l, none)`` for every label l in it
group_node_label   ``(label, pick_host)``                 ``(l, dir_host)`` for every label l
group_node         ``(0, pick_host)``                     ``(0, dir_host)``, label ``"all"``
group_all          ``(0, none)``                          ``(0, none)``, label ``"all"``
=================  =====================================  =====================================

The worker sees a data input with its own label, and a dir input with the group's label,
or ``"all"`` (every label in the index) for ``group_node`` and ``group_all``.

Groups are ordered by key and task ids follow that order, except for ``split``, whose
groups keep the order of the outputs (task ``n`` of a map stage reads input ``n``).
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..util import netloc_host


@dataclass(slots=True)
class Output:
    kind: str                      # "data" or "dir"
    label: int = 0                 # data outputs
    size: int = 0
    urls: list[str] = field(default_factory=list)
    host: str = ""                 # dir outputs: the host holding the index
    #: dir outputs: (label, size); a data output shares the empty tuple (one of 50,000
    #: map inputs or outputs need not hold an empty list of its own)
    labels: list[tuple[int, int]] | tuple = ()

    @classmethod
    def data(cls, label: int, size: int, urls: list[str]) -> "Output":
        return cls("data", label=label, size=size, urls=list(urls))

    @classmethod
    def dir(cls, host: str, url: str, labels: Iterable[tuple[int, int]]) -> "Output":
        # the host is one of a few node names: one string for all of a node's outputs
        return cls("dir", host=sys.intern(host), urls=[url], labels=sorted(labels))

    def hosts(self) -> list[str]:
        if self.kind == "dir":
            return [self.host]
        return [h for h in (netloc_host(u) for u in self.urls) if h]

    def to_json(self) -> list:
        if self.kind == "dir":
            return ["dir", self.host, self.urls[0], self.labels]
        return ["data", self.label, self.size, self.urls]

    @classmethod
    def from_json(cls, obj: list) -> "Output":
        if obj[0] == "dir":
            return cls.dir(obj[1], obj[2], [tuple(x) for x in obj[3]])
        return cls.data(obj[1], obj[2], obj[3])

    def result_urls(self) -> list[str]:
        return list(self.urls)


@dataclass(slots=True)
class TaskInput:
    """One input of a task as the worker sees it: a label and replica URLs."""

    label: Any
    urls: list[str]
    size: int = 0

    def hosts(self) -> list[str]:
        return [h for h in (netloc_host(u) for u in self.urls) if h]


GroupKey = tuple[int, str]


def _pick_host(out: Output, rng: random.Random) -> str:
    hosts = out.hosts()
    return rng.choice(hosts) if hosts else ""


def group_outputs(grouping: str, outputs: Iterable[Output],
                  rng: random.Random | None = None) -> list[tuple[GroupKey, list[TaskInput]]]:
    """The groups of a stage, ordered by key; each a list of task inputs."""
    rng = rng or random.Random()
    groups: dict[GroupKey, list[TaskInput]] = {}
    split: list[tuple[GroupKey, list[TaskInput]]] = []

    def add(key: GroupKey, inp: TaskInput) -> None:
        groups.setdefault(key, []).append(inp)

    for out in outputs:
        if out.kind == "data":
            if not out.urls:
                continue
            inp = TaskInput(out.label, out.urls, out.size)
            if grouping == "split":
                split.append(((out.label, _pick_host(out, rng)), [inp]))
            elif grouping == "group_label":
                add((out.label, ""), inp)
            elif grouping == "group_node_label":
                add((out.label, _pick_host(out, rng)), inp)
            elif grouping == "group_node":
                add((0, _pick_host(out, rng)), inp)
            elif grouping == "group_all":
                add((0, ""), inp)
            else:
                raise ValueError("unknown grouping %r" % grouping)
        else:
            if not out.labels:
                continue
            if grouping in ("group_node", "group_all"):
                key = (0, out.host if grouping == "group_node" else "")
                add(key, TaskInput("all", out.urls, sum(s for _, s in out.labels)))
                continue
            for label, size in out.labels:
                inp = TaskInput(label, out.urls, size)
                if grouping == "split":
                    split.append(((label, out.host), [inp]))
                elif grouping == "group_label":
                    add((label, ""), inp)
                elif grouping == "group_node_label":
                    add((label, out.host), inp)
                else:
                    raise ValueError("unknown grouping %r" % grouping)
    if grouping == "split":
        return split
    return sorted(groups.items(), key=lambda kv: kv[0])
