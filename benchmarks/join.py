#!/usr/bin/env python3
"""A join of two 1M-row CSV files on their key: a job against the plain-Python dict join.

    .venv/bin/python benchmarks/join.py [--rows 1000000] [--runs 3] [--partitions 2]

1. Makes the inputs with ``make_corpus.py --csv ROWS --seed 1`` and ``--seed 2`` (rows
   ``i,v``; cached in ``benchmarks/data/``).
2. Starts a cluster under a temporary ``DISCO_HOME`` on a free port.
3. Alternates, ``--runs`` times: the job a user writes (the two files as ``file://`` inputs,
   the ``csv`` reader plugin's rows through a ``map_reader`` that tags each with its file's
   side, a map yielding ``(key, (side, value))``, a reduce doing ``kvgroup(sorted(iter))``
   and yielding the keys found on both sides), timed from ``Job().run()`` to the last result
   read; then the peer ``join_python.py A B`` (a dict of A's rows, B's rows streamed
   through it; one process), timed as a whole process at the niceness of the cluster's
   workers (19; ``--peer-nice 0``: normal priority).
4. Prints every run, the medians, the ratio ours/peer against the target and both checksum
   lines (they must match, else the exit status is 1).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from wordcount import (WORKER_NICE, checksum_verdict, fmt_times, master_pid, print_ratios,
                       run_process, tree_cpu)

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
MAKE_CORPUS = os.path.join(HERE, "make_corpus.py")
PEER = os.path.join(HERE, "join_python.py")
TARGET_RATIO = 1.0

sys.path.insert(0, HERE)
from join_python import checksum  # noqa: E402


# -- the job, as a user writes it ---------------------------------------------------------
def tagged_csv(fd, size, url, params):
    """The csv reader plugin's rows, each with the side (0: the left file) it comes from."""
    from disco.worker.task_io import csv_reader
    side = 0 if url.endswith(params["left"]) else 1
    for row in csv_reader(fd, size, url):
        yield side, row


def join_map(entry, params):
    side, (key, value) = entry
    yield key, (side, value)


def join_reduce(iter, params):
    from disco.util import kvgroup
    for key, values in kvgroup(sorted(iter)):
        sides = dict(values)
        if len(sides) == 2:
            yield key, (sides[0], sides[1])


def ensure_csv(rows: int, seed: int) -> str:
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, "join-%d-seed%d.csv" % (rows, seed))
    if not os.path.exists(path):
        tmp = path + ".partial"
        subprocess.run([sys.executable, MAKE_CORPUS, "--csv", str(rows), "--seed", str(seed),
                        "-o", tmp], check=True)
        os.replace(tmp, path)
    return path


def run_ours(urls: list[str], left: str, partitions: int, root: int
             ) -> tuple[float, float, dict, int]:
    from disco.core import Job, result_iterator
    cpu0 = tree_cpu(root)
    t0 = time.perf_counter()
    job = Job().run(input=urls, map_reader=tagged_csv, map=join_map, reduce=join_reduce,
                    partitions=partitions, params={"left": left})
    joined: dict = {}
    records = 0
    for key, pair in result_iterator(job.wait()):
        joined[key] = pair
        records += 1
    elapsed = time.perf_counter() - t0
    time.sleep(0.3)  # let the fork server reap the last workers, so their CPU time shows
    cpu = tree_cpu(root) - cpu0
    job.purge()
    return elapsed, cpu, joined, records


def run_peer(a: str, b: str, nice: int) -> tuple[float, float, str, str]:
    return run_process([PEER, a, b], nice)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1000000, help="rows a file (default 1M)")
    ap.add_argument("--runs", type=int, default=3, help="rounds of ours + peer (default 3)")
    ap.add_argument("--partitions", type=int, default=2, help="reduces (default 2)")
    ap.add_argument("--peer-nice", type=int, default=WORKER_NICE,
                    help="niceness of the peer (default %d, that of the cluster's workers; "
                         "0: normal priority)" % WORKER_NICE)
    a = ap.parse_args()
    left, right = ensure_csv(a.rows, 1), ensure_csv(a.rows, 2)
    urls = ["file://" + left, "file://" + right]

    from disco_core.testing import running_cluster

    print("python %s, %d cores; %s and %s (%d rows each); load average %.2f"
          % (sys.executable, os.cpu_count() or 0, os.path.relpath(left),
             os.path.relpath(right), a.rows, os.getloadavg()[0]), flush=True)
    ours: list[float] = []
    peer: list[float] = []
    ours_cpu: list[float] = []
    peer_cpu: list[float] = []
    our_sums: set[str] = set()
    peer_sums: set[str] = set()
    problems: list[str] = []
    with running_cluster() as cluster:
        print("cluster at %s (DISCO_HOME %s)" % (cluster.master, cluster.home), flush=True)
        root = master_pid()
        for i in range(1, a.runs + 1):
            t, cpu, joined, records = run_ours(urls, os.path.basename(left), a.partitions,
                                               root)
            if records != len(joined):
                problems.append("run %d: %d result records for %d keys (a key came out of "
                                "more than one reduce)" % (i, records, len(joined)))
            ours.append(t)
            ours_cpu.append(cpu)
            our_sums.add(checksum(joined))
            del joined
            print("run %d ours: %.2f s, CPU %.1f s" % (i, t, cpu), flush=True)
            t, cpu, head, line = run_peer(left, right, a.peer_nice)
            peer.append(t)
            peer_cpu.append(cpu)
            peer_sums.add(line)
            print("run %d peer: %.2f s, CPU %.1f s   [%s]" % (i, t, cpu, head), flush=True)

    m_ours = statistics.median(ours)
    m_peer = statistics.median(peer)
    print()
    print("ours  (Job().run() -> last result): %s s" % fmt_times(ours))
    print("peer  (join_python.py, whole process, nice %d): %s s"
          % (a.peer_nice, fmt_times(peer)))
    print("median ours %.2f s, peer %.2f s" % (m_ours, m_peer))
    print("load average at the end %.2f (other work on the machine skews both)"
          % os.getloadavg()[0])
    print_ratios(ours, peer, TARGET_RATIO)
    print("CPU seconds (all processes): ours %s, peer %s"
          % (fmt_times(ours_cpu), fmt_times(peer_cpu)))
    return checksum_verdict(our_sums, peer_sums, problems)


if __name__ == "__main__":
    sys.exit(main())
