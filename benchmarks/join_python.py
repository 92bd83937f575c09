#!/usr/bin/env python3
"""A join of two CSV files on their first column, in plain Python on one process.

    python3 benchmarks/join_python.py A.csv B.csv

Reads A's rows into a dict (key -> value), then streams B's rows and joins each whose key
is in A: the dict join a user writes without a cluster. Prints elapsed seconds and the
checksum line of the joined rows (the one ``join.py`` computes from a job's results).
"""
import time

T0 = time.perf_counter()
import argparse  # noqa: E402
import csv  # noqa: E402


def checksum(joined):
    """``joined``: key -> (value in A, value in B), all str."""
    n = sk = sa = sb = mix = 0
    for k, (a, b) in joined.items():
        k, a, b = int(k), int(a), int(b)
        n += 1
        sk += k
        sa += a
        sb += b
        mix = (mix + k * (a + 1) * (2 * b + 1)) % 1000000007
    return "joined=%d keys=%d a=%d b=%d mix=%d" % (n, sk, sa, sb, mix)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    args = ap.parse_args()
    t1 = time.perf_counter()
    with open(args.a, newline="") as f:
        left = {row[0]: row[1] for row in csv.reader(f)}
    joined = {}
    with open(args.b, newline="") as f:
        for key, value in csv.reader(f):
            if key in left:
                joined[key] = (left[key], value)
    t2 = time.perf_counter()
    print("peer=join_python rows=%d job_s=%.3f elapsed_s=%.3f"
          % (len(joined), t2 - t1, time.perf_counter() - T0))
    print(checksum(joined))


if __name__ == "__main__":
    main()
