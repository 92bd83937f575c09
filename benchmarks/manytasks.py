#!/usr/bin/env python3
"""Many small tasks: a job of ``--tasks`` map tasks on ``raw://`` inputs plus one reduce.

    .venv/bin/python benchmarks/manytasks.py [--tasks 50000] [--runs 1] [--master URL]

Each input is ``raw://<i>``; the map yields ``(i % 100, i)``, the reduce sums per key. The
result is checked exactly (100 keys, each the sum of its numbers, computed here) and the
script exits with status 1 on a mismatch. Timed from ``Job().run()`` to the last result
read. After each job is purged, the script waits until the node has deleted the job's files
(printing how long that took), so the next job does not share the disk with it. Printed:
CPU ms per task of each kind of process (master, node, fork server, workers; see
``proccpu.py``; the node's includes deleting the job's files), tasks per second (map tasks
over the wall time), the master's RSS per queued task (its peak RSS while the first job
runs, sampled every ~20 ms, less its RSS before, over the tasks; later jobs reuse the memory
the first one freed, so only the first one counts), and the load average.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

TARGET = 1000.0  # map tasks per second
MEM_TARGET = 2048  # bytes of master RSS per queued task
KEYS = 100
PAGE = os.sysconf("SC_PAGE_SIZE")


def map(line, params):  # noqa: A001
    i = int(line)
    yield i % 100, i


def reduce(iter, params):  # noqa: A002
    from disco.util import kvgroup
    for key, values in kvgroup(sorted(iter)):
        yield key, sum(values)


def expected(n: int) -> dict[int, int]:
    sums = {k: 0 for k in range(min(KEYS, n))}
    for i in range(n):
        sums[i % KEYS] += i
    return sums


def master_pid() -> int:
    from disco_core.settings import DiscoSettings
    s = DiscoSettings()
    with open(os.path.join(s["DISCO_PID_DIR"], "%s.pid" % s["DISCO_NAME"])) as f:
        return int(f.read().strip())


def rss(pid: int) -> int:
    with open("/proc/%d/statm" % pid, "rb") as f:
        return int(f.read().split()[1]) * PAGE


class Peak(threading.Thread):
    """The peak RSS of one process, sampled every ``interval`` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.peak = max(self.peak, rss(self.pid))
            except OSError:
                return
            time.sleep(self.interval)


def one_job(master: str | None, n: int, pid: int | None) -> tuple[float, int, dict]:
    from disco.core import Job, result_iterator
    from proccpu import per_task, snapshot
    inputs = ["raw://%d" % i for i in range(n)]
    before = rss(pid) if pid else 0
    cpu = snapshot(pid) if pid else None
    peak = Peak(pid) if pid else None
    if peak:
        peak.start()
    t0 = time.perf_counter()
    job = Job(master=master).run(input=inputs, map=map, reduce=reduce)
    results = dict(result_iterator(job.wait()))
    elapsed = time.perf_counter() - t0
    if peak:
        peak.stopped.set()
        peak.join()
    job.purge()
    if pid:
        # the node deletes the job's files in the background: wait until it has, so that
        # the next job does not share the disk with deleting 50,000 task folders
        home = job_home(job.name)
        t1 = time.perf_counter()
        while os.path.exists(home) and time.perf_counter() - t1 < 600:
            time.sleep(0.1)
        print("purge: the node deleted the job's files in %.1f s" % (time.perf_counter() - t1),
              flush=True)
    if cpu is not None:
        time.sleep(0.5)  # the purged job's warm workers end, and their CPU is counted
        print(per_task(cpu, snapshot(pid), n + 1), flush=True)
    return elapsed, (peak.peak - before) if peak else 0, results


def job_home(name: str) -> str:
    """Where the one local node keeps the job's files (``DISCO_DATA/localhost/<hh>/<name>``)."""
    from disco_core.jobpack import hexhash
    from disco_core.settings import DiscoSettings
    return os.path.join(DiscoSettings()["DISCO_DATA"], "localhost", hexhash(name), name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=50000, help="map tasks (default 50000)")
    ap.add_argument("--runs", type=int, default=1, help="timed jobs (default 1)")
    ap.add_argument("--master", help="use this running master instead of starting one "
                    "(the master's memory is then not measured)")
    a = ap.parse_args()
    want = expected(a.tasks)
    print("python %s, %d cores; %d map tasks + 1 reduce; load average %.2f"
          % (sys.executable, os.cpu_count() or 0, a.tasks, os.getloadavg()[0]), flush=True)

    def measure(master: str | None, pid: int | None) -> tuple[list[float], list[int]]:
        times, mems = [], []
        for i in range(a.runs):
            t, mem, got = one_job(master, a.tasks, pid)
            if got != want:
                wrong = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
                raise SystemExit("run %d: wrong results for %d keys (first %r: %r, want %r)"
                                 % (i + 1, len(wrong), wrong[0], got.get(wrong[0]),
                                    want.get(wrong[0])))
            times.append(t)
            mems.append(mem)
            print("run %d: %.2f s  %.0f tasks/s  master RSS +%.1f MB (%.0f B per task)  "
                  "load average %.2f" % (i + 1, t, a.tasks / t, mem / 1e6, mem / a.tasks,
                                         os.getloadavg()[0]), flush=True)
        return times, mems

    if a.master:
        times, mems = measure(a.master, None)
    else:
        from disco_core.testing import running_cluster
        with running_cluster() as cluster:
            print("cluster at %s (DISCO_HOME %s)" % (cluster.master, cluster.home), flush=True)
            times, mems = measure(None, master_pid())
    med = statistics.median(times)
    rate = a.tasks / med
    print("results checked: %d keys, total %d" % (len(want), sum(want.values())))
    print("median %.2f s = %.0f tasks/s (n=%d)" % (med, rate, len(times)))
    if not a.master:
        per = mems[0] / a.tasks
        print("master RSS per queued task: %.0f B (target <= %d B: %s)"
              % (per, MEM_TARGET, "met" if per <= MEM_TARGET else "MISSED"))
    print("load average at the end %.2f" % os.getloadavg()[0])
    print("target: >= %.0f tasks/s: %s" % (TARGET, "met" if rate >= TARGET else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
