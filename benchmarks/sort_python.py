#!/usr/bin/env python3
"""Word count by sorting, in plain Python on one process: the front page's algorithm.

    python3 benchmarks/sort_python.py FILE

What the seed's front-page program does, without a cluster: list the ``(word, 1)`` pairs
of every line, ``sorted`` them, group equal words with ``itertools.groupby`` and sum each
group. Prints elapsed seconds and the common checksum line (the one ``mp_python.py``
prints).
"""
import time

T0 = time.perf_counter()
import argparse  # noqa: E402
from itertools import groupby  # noqa: E402
from operator import itemgetter  # noqa: E402


def checksum(counts):
    vals = counts.values()
    return "distinct=%d total=%d sumsq=%d max=%d" % (
        len(counts), sum(vals), sum(v * v for v in vals), max(vals, default=0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    a = ap.parse_args()
    t1 = time.perf_counter()
    pairs = []
    append = pairs.append
    with open(a.path, encoding="utf-8") as f:
        for line in f:
            for word in line.split():
                append((word, 1))
    t2 = time.perf_counter()
    counts = {}
    for word, group in groupby(sorted(pairs), key=itemgetter(0)):
        counts[word] = sum(v for _, v in group)
    t3 = time.perf_counter()
    print("peer=sort_python pairs=%d list_s=%.3f sort_group_s=%.3f job_s=%.3f elapsed_s=%.3f"
          % (len(pairs), t2 - t1, t3 - t2, t3 - t1, time.perf_counter() - T0))
    print(checksum(counts))


if __name__ == "__main__":
    main()
