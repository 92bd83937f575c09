#!/usr/bin/env python3
"""Round trip of a trivial job: the seed's front-page word count on a 1 KB input.

    .venv/bin/python benchmarks/latency.py [-n 20] [--warmup 2] [--master URL]

Makes the input with ``make_corpus.py --kb 1`` (cached in ``benchmarks/data/``), starts a
cluster under a temporary ``DISCO_HOME`` on a free port (or uses ``--master``; the input is
then given as a ``file://`` path, so the master's nodes must see this machine's files),
runs the job ``--warmup`` times untimed, then ``-n`` times timed from ``Job().run()`` to the
last result read with ``result_iterator``, and prints the median, p90, min and max against
the target.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
MAKE_CORPUS = os.path.join(HERE, "make_corpus.py")
TARGET = 0.1  # seconds, median round trip (the speed target; dask.bag takes ~0.45 s)


# -- the seed's front page ----------------------------------------------------------------
def map(line, params):  # noqa: A001
    for word in line.split():
        yield word, 1


def reduce(iter, params):  # noqa: A002
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def ensure_input(kb: float) -> str:
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, "text-%gKB.txt" % kb)
    if not os.path.exists(path):
        tmp = path + ".partial"
        subprocess.run([sys.executable, MAKE_CORPUS, "--kb", "%g" % kb, "-o", tmp], check=True)
        os.replace(tmp, path)
    return path


def one_job(master: str | None, url: str) -> tuple[float, list]:
    from disco.core import Job, result_iterator
    t0 = time.perf_counter()
    job = Job(master=master).run(input=[url], map=map, reduce=reduce)
    results = list(result_iterator(job.wait()))
    elapsed = time.perf_counter() - t0
    job.purge()
    return elapsed, results


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def measure(master: str | None, url: str, n: int, warmup: int) -> list[float]:
    expected = None
    for i in range(warmup):
        t, expected = one_job(master, url)
        print("warm-up %d: %.3f s" % (i + 1, t), flush=True)
    times = []
    for i in range(n):
        t, results = one_job(master, url)
        if expected is not None and results != expected:
            raise SystemExit("job %d gave different results" % (i + 1))
        expected = results
        times.append(t)
    print("runs (s): %s" % " ".join("%.3f" % t for t in times))
    print("%d results, %d words" % (len(expected or []), sum(c for _, c in expected or [])))
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=20, help="timed jobs (default 20)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed jobs first (default 2)")
    ap.add_argument("--kb", type=float, default=1, help="input size in KB (default 1)")
    ap.add_argument("--master", help="use this running master instead of starting one")
    a = ap.parse_args()

    url = "file://" + ensure_input(a.kb)
    print("python %s, %d cores; input %s; load average %.2f"
          % (sys.executable, os.cpu_count() or 0, url, os.getloadavg()[0]), flush=True)
    if a.master:
        times = measure(a.master, url, a.runs, a.warmup)
    else:
        from disco_core.testing import running_cluster
        with running_cluster() as cluster:
            print("cluster at %s (DISCO_HOME %s)" % (cluster.master, cluster.home), flush=True)
            times = measure(None, url, a.runs, a.warmup)
    med = statistics.median(times)
    print("median %.3f s  p90 %.3f s  min %.3f s  max %.3f s  (n=%d)"
          % (med, percentile(times, 90), min(times), max(times), len(times)))
    print("load average at the end %.2f" % os.getloadavg()[0])
    print("target: median <= %.2f s: %s" % (TARGET, "met" if med <= TARGET else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
