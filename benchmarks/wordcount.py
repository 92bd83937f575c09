#!/usr/bin/env python3
"""Word count on a one-machine cluster against plain Python on two processes, side by side.

    .venv/bin/python benchmarks/wordcount.py [--mb 256] [--runs 3] [--peer-nice 19]

1. Makes the text with ``make_corpus.py --mb MB`` (cached in ``benchmarks/data/``) and cuts
   it into ``--files`` input files at line boundaries (cached too).
2. Starts a cluster under a temporary ``DISCO_HOME`` on a free port (master, local node,
   fork server, one worker per core), like the test suite does.
3. Alternates, ``--runs`` times: our job (the seed's map, ``combiner=sum_combiner``,
   ``reduce=sum_reduce``, ``partitions=2``, the files as ``file://`` inputs, results read
   with ``result_iterator``), timed from ``Job().run()`` to the last result read; then the
   peer ``mp_python.py FILE --procs 2`` on the whole file, timed as a whole process and run
   at the niceness of the cluster's workers (19), so that other work on the machine slows
   both alike (``--peer-nice 0``: normal priority).
4. Prints every run, the medians, MB/s, the ratio ours/peer against the target, the
   checksum line of both (they must match, else the exit status is 1), and the cluster's
   peak memory: the RSS (and PSS) summed over the master and all its descendants, sampled
   from /proc every ~50 ms while our jobs run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
MAKE_CORPUS = os.path.join(HERE, "make_corpus.py")
PEER = os.path.join(HERE, "mp_python.py")
TARGET_RATIO = 0.9
WORKER_NICE = 19  # nodes run task workers at nice 19 (disco_core/node)

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


# -- the job (the seed's map; combiner and reduce from disco.worker.classic.func) ---------
def map(line, params):  # noqa: A001
    for word in line.split():
        yield word, 1


def checksum(counts):
    """The peer's checksum line (mp_python.py, pure_python.py), from a key -> count dict."""
    vals = counts.values()
    return "distinct=%d total=%d sumsq=%d max=%d" % (
        len(counts), sum(vals), sum(v * v for v in vals), max(vals, default=0))


# -- inputs -------------------------------------------------------------------------------
def ensure_corpus(mb: float) -> str:
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, "text-%gMB.txt" % mb)
    if not os.path.exists(path):
        print("making %s with make_corpus.py --mb %g ..." % (os.path.relpath(path), mb),
              flush=True)
        tmp = path + ".partial"
        subprocess.run([sys.executable, MAKE_CORPUS, "--mb", "%g" % mb, "-o", tmp], check=True)
        os.replace(tmp, path)
    return path


def line_bounds(path: str, size: int, n: int) -> list[int]:
    """n+1 offsets cutting the file into n pieces at line starts."""
    bounds = [0]
    with open(path, "rb") as f:
        for i in range(1, n):
            f.seek(max(size * i // n, bounds[-1]))
            if f.tell() > 0:
                f.seek(f.tell() - 1)
                f.readline()
            bounds.append(min(f.tell(), size))
    bounds.append(size)
    return bounds


def ensure_splits(corpus: str, n: int) -> list[str]:
    """``n`` files holding the corpus cut at line boundaries (cached next to it)."""
    folder = "%s.split%d" % (os.path.splitext(corpus)[0], n)
    names = [os.path.join(folder, "part-%02d.txt" % i) for i in range(n)]
    stamp = os.path.join(folder, ".complete")
    if os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(corpus):
        return names
    print("splitting into %d files at line boundaries ..." % n, flush=True)
    os.makedirs(folder, exist_ok=True)
    size = os.path.getsize(corpus)
    bounds = line_bounds(corpus, size, n)
    with open(corpus, "rb") as src:
        for i, name in enumerate(names):
            src.seek(bounds[i])
            left = bounds[i + 1] - bounds[i]
            with open(name, "wb") as out:
                while left > 0:
                    buf = src.read(min(left, 16 << 20))
                    if not buf:
                        break
                    out.write(buf)
                    left -= len(buf)
    assert sum(os.path.getsize(p) for p in names) == size
    with open(stamp, "w"):
        pass
    return names


def warm_page_cache(paths: list[str]) -> None:
    for path in paths:
        with open(path, "rb") as f:
            while f.read(16 << 20):
                pass


# -- memory of the cluster ----------------------------------------------------------------
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def process_tree(root: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def _rss(pid: int) -> int:
    with open("/proc/%d/statm" % pid, "rb") as f:
        return int(f.read().split()[1]) * PAGE


def _pss(pid: int) -> int:
    with open("/proc/%d/smaps_rollup" % pid, "rb") as f:
        for line in f:
            if line.startswith(b"Pss:"):
                return int(line.split()[1]) * 1024
    return 0


class MemorySampler(threading.Thread):
    """Peak summed RSS/PSS of a process tree, sampled every ``interval`` s while enabled."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.enabled = threading.Event()
        self.stopped = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.peak_procs = 0
        self.samples = 0

    def reset(self) -> None:
        self.peak_rss = self.peak_pss = 0
        self.peak_procs = 0

    def sample(self) -> None:
        rss = pss = 0
        pids = process_tree(self.root)
        for pid in pids:
            try:
                rss += _rss(pid)
                pss += _pss(pid)
            except (OSError, ValueError, IndexError):
                pass  # the process ended between the listing and the read
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_procs = max(self.peak_procs, len(pids))
        self.samples += 1

    def run(self) -> None:
        while not self.stopped.is_set():
            if self.enabled.wait(0.2):
                self.sample()
                time.sleep(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        self.enabled.clear()


def master_pid() -> int:
    from disco_core.settings import DiscoSettings
    s = DiscoSettings()
    with open(os.path.join(s["DISCO_PID_DIR"], "%s.pid" % s["DISCO_NAME"])) as f:
        return int(f.read().strip())


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds used by a process tree: its processes, and the children they reaped."""
    total = 0
    for pid in process_tree(root):
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / TICK


def children_cpu() -> float:
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# -- the two contenders -------------------------------------------------------------------
def run_ours(urls: list[str], sampler: MemorySampler) -> tuple[float, float, dict, int]:
    from disco.core import Job, result_iterator
    from disco.worker.classic.func import sum_combiner, sum_reduce

    sampler.reset()
    cpu0 = tree_cpu(sampler.root)
    sampler.enabled.set()
    try:
        t0 = time.perf_counter()
        job = Job().run(input=urls, map=map, combiner=sum_combiner, reduce=sum_reduce,
                        partitions=2)
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


def run_peer(path: str, procs: int, nice: int) -> tuple[float, float, str, str]:
    return run_process([PEER, path, "--procs", str(procs)], nice)


def run_process(argv: list[str], nice: int) -> tuple[float, float, str, str]:
    """Run a peer script with this interpreter at niceness ``nice``: its wall and CPU
    seconds, and the first and last lines it printed (a SystemExit if it fails)."""
    def lower_priority() -> None:
        if nice:
            os.nice(nice)
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          preexec_fn=lower_priority)
    elapsed = time.perf_counter() - t0
    cpu = children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit("the peer failed (%d):\n%s" % (proc.returncode, proc.stderr))
    lines = proc.stdout.strip().splitlines()
    return elapsed, cpu, lines[0], lines[-1]


def print_ratios(ours: list[float], peer: list[float], target: float) -> None:
    """The ratio of the medians against ``target``, and the ratio of each round."""
    ratio = statistics.median(ours) / statistics.median(peer)
    print("ratio ours/peer %.2f (median ours / median peer; target <= %.2f): %s"
          % (ratio, target, "met" if ratio <= target else "MISSED"))
    paired = [o / p for o, p in zip(ours, peer)]
    print("ratio per round: %s (median %.2f)" % (fmt_times(paired), statistics.median(paired)))


def checksum_verdict(our_sums: set[str], peer_sums: set[str], problems: list[str]) -> int:
    """Print both sides' checksums and the problems found; the exit status (1 unless every
    run of ours gave the peer's one checksum and nothing was wrong)."""
    for s in sorted(our_sums):
        print("ours  checksum: %s" % s)
    for s in sorted(peer_sums):
        print("peer  checksum: %s" % s)
    for problem in problems:
        print("ERROR: %s" % problem)
    if len(our_sums) == 1 and our_sums == peer_sums:
        print("checksums match")
        return 1 if problems else 0
    print("CHECKSUMS DIFFER")
    return 1


def fmt_times(times: list[float]) -> str:
    return " ".join("%.2f" % t for t in times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=256, help="corpus size in MB (default 256)")
    ap.add_argument("--runs", type=int, default=3, help="rounds of ours + peer (default 3)")
    ap.add_argument("--files", type=int, default=16, help="input files (default 16)")
    ap.add_argument("--procs", type=int, default=2, help="peer processes (default 2)")
    ap.add_argument("--peer-nice", type=int, default=WORKER_NICE,
                    help="niceness of the peer (default %d, that of the cluster's workers, so "
                         "both get the same share of a busy machine; 0: normal priority)"
                    % WORKER_NICE)
    a = ap.parse_args()

    corpus = ensure_corpus(a.mb)
    parts = ensure_splits(corpus, a.files)
    size = os.path.getsize(corpus)
    mb = size / 1e6
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
    peer_job: list[float] = []
    rss: list[int] = []
    pss: list[int] = []
    our_sums: set[str] = set()
    problems: list[str] = []
    peer_sums: set[str] = set()
    with running_cluster() as cluster:
        print("cluster at %s (DISCO_HOME %s)" % (cluster.master, cluster.home), flush=True)
        sampler = MemorySampler(master_pid())
        sampler.start()
        try:
            for i in range(1, a.runs + 1):
                t, cpu, counts, records = run_ours(urls, sampler)
                if records != len(counts):
                    problems.append("run %d: %d result records for %d distinct words (a word "
                                    "came out of more than one reduce)" % (i, records, len(counts)))
                ours.append(t)
                ours_cpu.append(cpu)
                rss.append(sampler.peak_rss)
                pss.append(sampler.peak_pss)
                our_sums.add(checksum(counts))
                del counts
                print("run %d ours: %.2f s (%.1f MB/s), CPU %.1f s; cluster peak RSS %.0f MB, "
                      "PSS %.0f MB, %d processes"
                      % (i, t, mb / t, cpu, sampler.peak_rss / 1e6, sampler.peak_pss / 1e6,
                         sampler.peak_procs), flush=True)
                t, cpu, head, line = run_peer(corpus, a.procs, a.peer_nice)
                peer.append(t)
                peer_cpu.append(cpu)
                peer_sums.add(line)
                fields = dict(f.split("=", 1) for f in head.split() if "=" in f)
                peer_job.append(float(fields.get("job_s", "nan")))
                print("run %d peer: %.2f s (%.1f MB/s), CPU %.1f s   [%s]"
                      % (i, t, mb / t, cpu, head), flush=True)
        finally:
            sampler.stop()

    m_ours = statistics.median(ours)
    m_peer = statistics.median(peer)
    print()
    print("ours  (Job().run() -> last result): %s s" % fmt_times(ours))
    print("peer  (mp_python.py --procs %d, whole process, nice %d): %s s"
          % (a.procs, a.peer_nice, fmt_times(peer)))
    print("peer  (its own job_s, pool only): %s s" % fmt_times(peer_job))
    print("median ours %.2f s = %.1f MB/s" % (m_ours, mb / m_ours))
    print("median peer %.2f s = %.1f MB/s" % (m_peer, mb / m_peer))
    print("load average at the end %.2f (other work on the machine skews both)"
          % os.getloadavg()[0])
    print_ratios(ours, peer, TARGET_RATIO)
    print("CPU seconds (all processes): ours %s, peer %s; median ratio %.2f"
          % (fmt_times(ours_cpu), fmt_times(peer_cpu),
             statistics.median(ours_cpu) / statistics.median(peer_cpu)))
    print("cluster peak memory (master + descendants): RSS %.0f MB, PSS %.0f MB "
          "(max over runs; %d samples)" % (max(rss) / 1e6, max(pss) / 1e6, sampler.samples))
    return checksum_verdict(our_sums, peer_sums, problems)


if __name__ == "__main__":
    sys.exit(main())
