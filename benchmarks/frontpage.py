#!/usr/bin/env python3
"""The seed's front-page word count, verbatim, against the same algorithm in plain Python.

    .venv/bin/python benchmarks/frontpage.py [--mb 64] [--runs 3] [--files 16] [--peer-nice 19]

1. Makes the text with ``make_corpus.py --mb MB`` (cached in ``benchmarks/data/``) and cuts
   it into ``--files`` input files at line boundaries (cached too), as ``wordcount.py`` does.
2. Starts a cluster under a temporary ``DISCO_HOME`` on a free port.
3. Alternates, ``--runs`` times: the front page's program as it is (map yields ``(word, 1)``
   per word; no combiner; one reduce doing ``kvgroup(sorted(iter))`` and summing), timed
   from ``Job().run()`` to the last result read; then the peer ``sort_python.py FILE`` on
   the whole file (list the pairs, ``sorted``, group; one process), timed as a whole process
   at the niceness of the cluster's workers (19; ``--peer-nice 0``: normal priority).
4. Prints every run, the medians, the ratio ours/peer against the target, both checksum
   lines (they must match, else the exit status is 1) and the cluster's peak memory.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from wordcount import (WORKER_NICE, MemorySampler, checksum, checksum_verdict, ensure_corpus,
                       ensure_splits, fmt_times, master_pid, print_ratios, run_process,
                       tree_cpu, warm_page_cache)

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "sort_python.py")
TARGET_RATIO = 0.8


# -- the front page's program, verbatim ---------------------------------------------------
def map(line, params):  # noqa: A001
    for word in line.split():
        yield word, 1


def reduce(iter, params):  # noqa: A002
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def run_ours(urls: list[str], sampler: MemorySampler) -> tuple[float, float, dict, int]:
    from disco.core import Job, result_iterator

    sampler.reset()
    cpu0 = tree_cpu(sampler.root)
    sampler.enabled.set()
    try:
        t0 = time.perf_counter()
        job = Job().run(input=urls, map=map, reduce=reduce)
        counts: dict = {}
        records = 0
        for word, count in result_iterator(job.wait()):
            counts[word] = counts.get(word, 0) + count
            records += 1
        elapsed = time.perf_counter() - t0
    finally:
        sampler.enabled.clear()
    time.sleep(0.3)  # let the fork server reap the last workers, so their CPU time shows
    cpu = tree_cpu(sampler.root) - cpu0
    job.purge()
    return elapsed, cpu, counts, records


def run_peer(path: str, nice: int) -> tuple[float, float, str, str]:
    return run_process([PEER, path], nice)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=64, help="corpus size in MB (default 64)")
    ap.add_argument("--runs", type=int, default=3, help="rounds of ours + peer (default 3)")
    ap.add_argument("--files", type=int, default=16, help="input files (default 16)")
    ap.add_argument("--peer-nice", type=int, default=WORKER_NICE,
                    help="niceness of the peer (default %d, that of the cluster's workers; "
                         "0: normal priority)" % WORKER_NICE)
    a = ap.parse_args()

    corpus = ensure_corpus(a.mb)
    parts = ensure_splits(corpus, a.files)
    mb = os.path.getsize(corpus) / 1e6
    warm_page_cache([corpus] + parts)
    urls = ["file://" + p for p in parts]

    from disco_core.testing import running_cluster

    print("python %s, %d cores; corpus %s (%.1f MB) in %d files; load average %.2f"
          % (sys.executable, os.cpu_count() or 0, os.path.relpath(corpus), mb, a.files,
             os.getloadavg()[0]), flush=True)
    ours: list[float] = []
    peer: list[float] = []
    ours_cpu: list[float] = []
    peer_cpu: list[float] = []
    rss: list[int] = []
    our_sums: set[str] = set()
    peer_sums: set[str] = set()
    problems: list[str] = []
    with running_cluster() as cluster:
        print("cluster at %s (DISCO_HOME %s)" % (cluster.master, cluster.home), flush=True)
        sampler = MemorySampler(master_pid())
        sampler.start()
        try:
            for i in range(1, a.runs + 1):
                t, cpu, counts, records = run_ours(urls, sampler)
                if records != len(counts):
                    problems.append("run %d: %d result records for %d distinct words"
                                    % (i, records, len(counts)))
                ours.append(t)
                ours_cpu.append(cpu)
                rss.append(sampler.peak_rss)
                our_sums.add(checksum(counts))
                del counts
                print("run %d ours: %.2f s (%.1f MB/s), CPU %.1f s; cluster peak RSS %.0f MB"
                      % (i, t, mb / t, cpu, sampler.peak_rss / 1e6), flush=True)
                t, cpu, head, line = run_peer(corpus, a.peer_nice)
                peer.append(t)
                peer_cpu.append(cpu)
                peer_sums.add(line)
                print("run %d peer: %.2f s (%.1f MB/s), CPU %.1f s   [%s]"
                      % (i, t, mb / t, cpu, head), flush=True)
        finally:
            sampler.stop()

    m_ours = statistics.median(ours)
    m_peer = statistics.median(peer)
    print()
    print("ours  (front page verbatim, Job().run() -> last result): %s s" % fmt_times(ours))
    print("peer  (sort_python.py, whole process, nice %d): %s s"
          % (a.peer_nice, fmt_times(peer)))
    print("median ours %.2f s, peer %.2f s" % (m_ours, m_peer))
    print("load average at the end %.2f (other work on the machine skews both)"
          % os.getloadavg()[0])
    print_ratios(ours, peer, TARGET_RATIO)
    print("CPU seconds (all processes): ours %s, peer %s"
          % (fmt_times(ours_cpu), fmt_times(peer_cpu)))
    print("cluster peak RSS (master + descendants): %.0f MB" % (max(rss) / 1e6))
    return checksum_verdict(our_sums, peer_sums, problems)


if __name__ == "__main__":
    sys.exit(main())
