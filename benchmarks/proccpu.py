"""CPU time of a local cluster's processes by kind, from ``/proc/<pid>/stat``.

:func:`snapshot` walks the process tree under the master and sums user + system CPU
seconds per kind: ``master``, ``node`` (the node processes), ``forkserver`` (the nodes'
fork servers themselves) and ``worker`` (live workers, plus the workers the fork servers
and nodes have reaped, which the kernel adds to their parent's ``cutime``/``cstime``).
The difference of two snapshots taken around a job, over its tasks, is its CPU per task.
Linux only.
"""
from __future__ import annotations

import os

TICK = os.sysconf("SC_CLK_TCK")
KINDS = ("master", "node", "forkserver", "worker")


def _stat(pid: int) -> tuple[int, float, float]:
    """(ppid, own CPU seconds, reaped children's CPU seconds) of ``pid``."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        text = f.read()
    fields = text[text.rindex(b")") + 2:].split()
    ppid = int(fields[1])
    own = (int(fields[11]) + int(fields[12])) / TICK
    reaped = (int(fields[13]) + int(fields[14])) / TICK
    return ppid, own, reaped


def _cmdline(pid: int) -> bytes:
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def _tree(root: int) -> dict[int, int]:
    """pid -> ppid of ``root`` and every process under it."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = _stat(int(name))[0]
            except (OSError, ValueError, IndexError):
                continue
    under = {root: parents.get(root, 0)}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in under and pid not in under:
                under[pid] = ppid
                grew = True
    return under


def snapshot(master: int) -> dict[str, float]:
    """CPU seconds so far per kind of the processes under the ``master`` pid."""
    totals = dict.fromkeys(KINDS, 0.0)
    for pid in _tree(master):
        try:
            _ppid, own, reaped = _stat(pid)
            cmd = _cmdline(pid)
        except (OSError, ValueError, IndexError):
            continue
        if pid == master:
            totals["master"] += own
        elif b"disco_core.node.forkserver" in cmd:
            totals["forkserver"] += own
            totals["worker"] += reaped
        elif b"disco_core.node" in cmd or b"disco-node" in cmd:
            totals["node"] += own
            totals["worker"] += reaped  # workers it started without the fork server
        else:
            totals["worker"] += own + reaped
    return totals


def per_task(before: dict[str, float], after: dict[str, float], tasks: int) -> str:
    """``master 1.05 ms  node 1.75 ms ...`` per task between two snapshots."""
    parts = ["%s %.2f" % (kind, 1000 * (after[kind] - before[kind]) / tasks) for kind in KINDS]
    total = sum(after[k] - before[k] for k in KINDS) * 1000 / tasks
    return "CPU ms per task: %s; total %.2f" % ("  ".join(parts), total)
