#!/usr/bin/env python3
"""DDFS throughput: ``ddfs push``, ``ddfs cat`` and ``ddfs chunk`` of one big file against
``cp`` and ``curl`` of the same bytes, side by side.

    .venv/bin/python benchmarks/ddfs.py [--mb 256] [--runs 3] [--setups one,four]

1. Makes the text with ``make_corpus.py --mb MB`` (cached in ``benchmarks/data/``).
2. For each setup, starts a cluster under a temporary ``DISCO_HOME`` on free ports, like the
   test suite does: ``one`` is one node (localhost) with one replica per blob, ``four`` is
   four nodes on 127.0.0.2-5 with three replicas. A plain HTTP server
   (``python -m http.server``) serves the file's folder on 127.0.0.1.
3. Alternates, ``--runs`` times, each timed as a whole process (interpreter start
   included, as a user sees it): ``cp FILE`` into the cluster's folder (same disk as the
   blobs), ``curl -o /dev/null`` of the file from the HTTP server, R ``curl -o`` of it at
   once into that folder (a push's peer: the same bytes over loopback stored in a file on
   the blobs' disk, once per replica, not fsynced), R ``dd`` writes of the
   file at once into that folder in 1 MB blocks, each fsynced (R the replica count: what
   the one disk of every node allows a push, which writes R replicas of it there as the
   nodes write blobs with ``DDFS_BLOB_SYNC=1``), ``ddfs push -n R TAG FILE``,
   ``ddfs cat TAG > /dev/null`` (checks every byte read against the file's size),
   ``ddfs chunk -n R TAG FILE``, and a job whose one map task reads the file's lines
   (``file://`` input, the word count's map reading without the counting), timed from
   ``Job().run()`` to its end. Then, on a second cluster of the setup whose nodes fsync
   every blob before answering (``DDFS_BLOB_SYNC=1``), ``--runs`` pushes alone.
4. Prints every run, the medians as MB/s and the ratios: push against the curls to disk
   and cat against curl to /dev/null (target >= 0.7; push against curl to /dev/null too,
   which stores nothing), chunk against the map task's reading (target >= 1.0), the
   synced push against the curls to disk and against the disk's bound for it (the
   fsynced ``dd`` writes); the same
   without the start of the ``ddfs`` command (the median time of ``ddfs ls`` of no tag:
   interpreter, imports, plugins, one request), which a small file cannot hide; and the
   load average before and after (other work on the machine skews every figure).

Every server it starts (clusters, the HTTP server) is stopped at the end, also when a step
fails or the run is interrupted.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
PUSH_CAT_TARGET = 0.7
CHUNK_TARGET = 1.0
SETUPS = {"one": ([("localhost", 1)], 1),
          "four": ([("127.0.0.%d" % i, 1) for i in range(2, 6)], 3)}

for path in (ROOT, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

from wordcount import ensure_corpus, warm_page_cache  # noqa: E402


def compile_modules() -> None:
    """Write the bytecode of the project's modules, as an install has it (an editable
    install has none, and with ``PYTHONDONTWRITEBYTECODE`` set every ``ddfs`` command
    would compile the modules it imports, some 50 ms each time)."""
    import compileall
    for folder in ("disco_core", "disco", "plugins"):
        compileall.compile_dir(os.path.join(ROOT, folder), quiet=1,
                               rx=re.compile(r"/(tests|\.venv)/"))


def read_lines(line, params):
    return ()


def timed(argv: list[str], stdout: Any = subprocess.DEVNULL) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(argv), proc.returncode,
                                                  proc.stderr.decode(errors="replace")))
    return elapsed


def free_port() -> int:
    from disco_core.testing import free_port as free
    return free()


@contextlib.contextmanager
def http_server(folder: str) -> Iterator[str]:
    """``python -m http.server`` on 127.0.0.1 serving ``folder``; its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                             "--directory", folder, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from disco_core.comm import host_is_up
        deadline = time.monotonic() + 20
        while not host_is_up("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the HTTP server did not start")
            time.sleep(0.05)
        yield "http://127.0.0.1:%d" % port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def parallel_writes(source: str, folder: str, n: int) -> float:
    """``n`` copies of ``source`` written at once into ``folder`` (the blobs' disk) as a node
    writes a blob: by ``dd`` in 1 MB blocks, fsynced at the end; the seconds until the last
    is on disk. With ``n`` the replica count it is what the disk allows a push: every
    replica of one disk's nodes is one such write."""
    targets = [os.path.join(folder, "dd-copy-%d" % i) for i in range(n)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["dd", "if=" + source, "of=" + t, "bs=1M", "conv=fsync",
                               "status=none"], stderr=subprocess.PIPE) for t in targets]
    errors = [p.communicate()[1] for p in procs]
    elapsed = time.perf_counter() - t0
    for t in targets:
        if os.path.exists(t):
            os.unlink(t)
    for proc, err in zip(procs, errors):
        if proc.returncode != 0:
            raise SystemExit("dd failed: %s" % err.decode(errors="replace"))
    return elapsed


def curls_to_disk(url: str, folder: str, n: int) -> float:
    """``n`` ``curl -o`` of ``url`` at once into ``folder`` (the blobs' disk): the bytes over
    loopback landing in a file, as a push's do, ``n`` times as a push of ``n`` replicas
    stores them; the seconds until the last ends (no fsync: a blob's PUT is answered from
    the page cache unless ``DDFS_BLOB_SYNC`` is on)."""
    targets = [os.path.join(folder, "curl-copy-%d" % i) for i in range(n)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-sS", "-o", t, url], stderr=subprocess.PIPE)
             for t in targets]
    errors = [p.communicate()[1] for p in procs]
    elapsed = time.perf_counter() - t0
    for t in targets:
        if os.path.exists(t):
            os.unlink(t)
    for proc, err in zip(procs, errors):
        if proc.returncode != 0:
            raise SystemExit("curl failed: %s" % err.decode(errors="replace"))
    return elapsed


def ddfs_cmd(*args: str) -> list[str]:
    return [os.path.join(BIN, "ddfs"), *args]


def cat_bytes(tag: str) -> float:
    """``ddfs cat TAG``, its output counted (not kept); the seconds it took."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(ddfs_cmd("cat", tag), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    got = 0
    assert proc.stdout is not None
    while True:
        data = proc.stdout.read1(1 << 20)
        if not data:
            break
        got += len(data)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.wait() != 0:
        raise SystemExit("ddfs cat %s failed: %s" % (tag, err.decode(errors="replace")))
    cat_bytes.last = got  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def map_read(path: str) -> float:
    from disco.core import Job
    t0 = time.perf_counter()
    job = Job().run(input=["file://" + path], map=read_lines)
    job.wait()
    elapsed = time.perf_counter() - t0
    job.purge()
    return elapsed


def run_setup(name: str, corpus: str, runs: int) -> dict[str, list[float]]:
    from disco.ddfs import DDFS
    from disco_core.testing import running_cluster
    hosts, replicas = SETUPS[name]
    size = os.path.getsize(corpus)
    times: dict[str, list[float]] = {k: [] for k in ("cp", "curl", "curl to disk", "disk",
                                                      "ddfs start",
                                                      "push", "cat", "chunk", "map read")}
    with running_cluster(hosts=hosts) as cluster, \
            http_server(os.path.dirname(corpus)) as web:
        print("setup %s: %d node(s) (%s), %d replica(s); cluster at %s"
              % (name, len(hosts), ", ".join(h for h, _ in hosts), replicas, cluster.master),
              flush=True)
        ddfs = DDFS()
        url = web + "/" + os.path.basename(corpus)
        copy = os.path.join(cluster.home, "cp-copy")
        n = str(replicas)
        for i in range(1, runs + 1):
            row = {}
            row["cp"] = timed(["cp", corpus, copy])
            os.unlink(copy)
            row["curl"] = timed(["curl", "-sS", "-o", "/dev/null", url])
            row["curl to disk"] = curls_to_disk(url, cluster.home, replicas)
            row["disk"] = parallel_writes(corpus, cluster.home, replicas)
            row["ddfs start"] = timed(ddfs_cmd("ls", "bench:none:"))
            tag = "bench:push:%d" % i
            row["push"] = timed(ddfs_cmd("push", "-n", n, tag, corpus))
            row["cat"] = cat_bytes(tag)
            if cat_bytes.last != size:  # type: ignore[attr-defined]
                raise SystemExit("ddfs cat gave %d bytes, the file has %d"
                                 % (cat_bytes.last, size))  # type: ignore[attr-defined]
            got = [len(r) for r in ddfs.blobs(tag)]
            if got != [replicas]:
                raise SystemExit("the pushed blob has %s replicas, not %d" % (got, replicas))
            ctag = "bench:chunk:%d" % i
            row["chunk"] = timed(ddfs_cmd("chunk", "-n", n, ctag, corpus))
            row["map read"] = map_read(corpus)
            ddfs.delete(tag)
            ddfs.delete(ctag)
            for key, value in row.items():
                times[key].append(value)
            print("  run %d: %s" % (i, "  ".join("%s %.2f s (%.0f MB/s)"
                                                 % (k, v, size / 1e6 / v)
                                                 for k, v in row.items())), flush=True)
    # the same pushes on a cluster whose nodes fsync each blob before answering
    times["push synced"] = []
    with running_cluster(hosts=hosts, extra_env={"DDFS_BLOB_SYNC": "1"}):
        ddfs = DDFS()
        for i in range(1, runs + 1):
            tag = "bench:push:synced:%d" % i
            elapsed = timed(ddfs_cmd("push", "-n", n, tag, corpus))
            got = [len(r) for r in ddfs.blobs(tag)]
            if got != [replicas]:
                raise SystemExit("the pushed blob has %s replicas, not %d" % (got, replicas))
            ddfs.delete(tag)
            times["push synced"].append(elapsed)
            print("  run %d with DDFS_BLOB_SYNC=1: push %.2f s (%.0f MB/s)"
                  % (i, elapsed, size / 1e6 / elapsed), flush=True)
    times["replicas"] = [replicas]
    return times


def report(name: str, times: dict[str, list[float]], size: int) -> list[str]:
    mb = size / 1e6
    med = {k: statistics.median(v) for k, v in times.items() if k != "replicas"}
    rate = {k: mb / v for k, v in med.items()}
    print("setup %s, medians of %d runs:" % (name, len(times["cp"])))
    for key, value in med.items():
        print("  %-12s %6.2f s  %7.1f MB/s   (runs: %s)" % (
            key, value, rate[key], " ".join("%.2f" % t for t in times[key])))
    missed = []
    for key, base, target in (("push", "curl to disk", PUSH_CAT_TARGET),
                              ("cat", "curl", PUSH_CAT_TARGET),
                              ("chunk", "map read", CHUNK_TARGET)):
        ratio = rate[key] / rate[base]
        ok = ratio >= target
        print("  %s / %s = %.2f (target >= %.1f): %s" % (key, base, ratio, target,
                                                       "met" if ok else "MISSED"))
        if not ok:
            missed.append("%s %s" % (name, key))
    print("  push / curl = %.2f (curl to /dev/null: the bytes over loopback stored nowhere), "
          "push / cp = %.2f, cat / cp = %.2f" % (rate["push"] / rate["curl"],
                                                 rate["push"] / rate["cp"],
                                                 rate["cat"] / rate["cp"]))
    print("  with DDFS_BLOB_SYNC=1 (each blob fsynced before the PUT is answered): push %.0f "
          "MB/s = %.2f x curl to disk; push synced / disk = %.2f: the disk takes %d fsynced dd "
          "writes of the file at once at %.0f MB/s each (%.2f s), the most a synced push of "
          "%d replicas on it can do (%.2f x curl to disk)"
          % (rate["push synced"], rate["push synced"] / rate["curl to disk"],
             rate["push synced"] / rate["disk"], times["replicas"][0], rate["disk"],
             med["disk"], times["replicas"][0], rate["disk"] / rate["curl to disk"]))
    start = med["ddfs start"]
    moved = {k: mb / max(med[k] - start, 1e-3) for k in ("push", "cat", "chunk")}
    print("  without the ddfs command's start (%.2f s, the median of `ddfs ls`): push %.0f "
          "MB/s = %.2f x curl to disk, cat %.0f "
          "MB/s = %.2f x curl, chunk %.0f MB/s = %.2f x map read"
          % (start, moved["push"], moved["push"] / rate["curl to disk"], moved["cat"],
             moved["cat"] / rate["curl"], moved["chunk"], moved["chunk"] / rate["map read"]))
    return missed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=256, help="file size in MB (default 256)")
    ap.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--setups", default="one,four",
                    help="one (1 node, 1 replica), four (4 loopback nodes, 3 replicas)")
    a = ap.parse_args()
    setups = [s for s in a.setups.split(",") if s]
    for s in setups:
        if s not in SETUPS:
            ap.error("unknown setup %r: give one, four or one,four" % s)
    if shutil.which("curl") is None:
        ap.error("curl is not installed (apt-get install curl)")
    corpus = ensure_corpus(a.mb)
    compile_modules()
    size = os.path.getsize(corpus)
    warm_page_cache([corpus])
    print("python %s, %d cores; file %s (%.1f MB); load average %s"
          % (sys.executable, os.cpu_count() or 0, os.path.relpath(corpus), size / 1e6,
             " ".join("%.2f" % x for x in os.getloadavg())), flush=True)
    results = {s: run_setup(s, corpus, a.runs) for s in setups}
    print()
    missed = []
    for s in setups:
        missed += report(s, results[s], size)
    print("load average at the end %s (other work on the machine skews every figure)"
          % " ".join("%.2f" % x for x in os.getloadavg()))
    print("targets missed: %s" % (", ".join(missed) if missed else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
