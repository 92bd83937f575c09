#!/usr/bin/env python3
"""The master's dispatch alone: 200 simulated nodes of 8 slots, tasks that finish at once.

    .venv/bin/python benchmarks/dispatch.py [--nodes 200] [--slots 8] [--tasks 100000]

In-process, driving the master's real parts: a real :class:`Scheduler` with the real
``fair`` policy and ``locality`` placement (loaded through the plugin host, as the master
loads them), a real journaled job coordinator (:class:`JournaledJob`, its journal written and
fsynced by the real :class:`JournalWriter`, its events by a real :class:`EventLog`, both
under a temporary directory), and the master's dispatch step for each task: the attempt
started and its ``run`` message built and JSON-encoded as the master sends it. Each node
"finishes" its tasks at once: the ``done`` message a node would send is JSON-encoded, parsed
by the master's :func:`messages.parse`, checked with :func:`current_attempt`, the slot freed
and the task done, as the master's report handling does. What is not measured: the
WebSocket frames and the Tornado loop (see ``manytasks.py`` for the whole path).

Printed: tasks dispatched (and finished) per second, the time to make the job's tasks, and
the memory of the queued tasks per 10,000: in the first run the process's RSS after the
job's tasks are made less before (later runs reuse freed memory), in the later runs the
Python heap they take (``tracemalloc``, while the job's tasks are made).
The script checks that every task ran once and exits with status 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

TARGET = 10000.0  # tasks dispatched per second
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE


def one_run(nodes: int, slots: int, tasks: int, trace: bool) -> dict:
    from disco_core.master.app import task_inputs
    from disco_core.master.events import EventLog
    from disco_core.master.journal import JournaledJob, JournalWriter
    from disco_core.master.messages import current_attempt, parse
    from disco_core.master.pipeline import Output
    from disco_core.master.scheduler import NodeSlots, Scheduler
    from disco_core.plugins import PluginHost
    from disco_core.settings import DiscoSettings

    home = tempfile.mkdtemp(prefix="disco-dispatch-")
    plugins = PluginHost()
    settings = DiscoSettings()
    hosts = ["node%03d" % i for i in range(nodes)]

    def cores() -> int:
        return nodes * slots

    policy = plugins.driver("scheduler", "fair")(settings, cores)
    placement = plugins.driver("scheduler", "locality")(settings, cores)
    running: list = []
    jobs: dict = {}
    url = "http://master:8989"

    def dispatch(task, node) -> None:  # Master.dispatch, without the socket
        job = task.job
        job.task_started(task, node.host)
        message = {"op": "run", "job": job.name, "taskid": task.id, "runid": task.runid,
                   "stage": task.stage, "grouping": task.grouping,
                   "group": [task.group[0], task.group[1]], "inputs": task_inputs(task),
                   "inputs_done": task.inputs_done,
                   "jobpack": "%s/disco/ctrl/parameters?name=%s" % (url, job.name)}
        json.dumps(message)
        running.append(task)

    sched = Scheduler(policy, placement, dispatch)
    for host in hosts:
        node = NodeSlots(host, slots)
        node.connected = True
        sched.nodes[host] = node

    class Actions:  # the master's side of the coordinator: queue into the scheduler
        def queue(self, task) -> None:
            sched.queue(task)

        def stop(self, task) -> None:
            sched.task_ended(task)

        def retry_later(self, task, delay) -> None:
            raise SystemExit("a task failed in the benchmark: %r" % (task,))

        def inputs(self, task, inputs, done) -> None:
            pass

        def finished(self, job) -> None:
            sched.remove_job(job)

        def cluster_hosts(self) -> set:
            return set(hosts)

    writer = JournalWriter()
    name = "Dispatch@0:0:0"
    jobdir = os.path.join(home, name)
    os.makedirs(jobdir)
    jobdict = {"owner": "bench@localhost", "worker": "worker", "scheduler": {}}
    import tracemalloc
    if trace:
        tracemalloc.start()
    before = rss()
    t0 = time.perf_counter()
    inputs = [Output.data(0, 0, ["raw://%d" % i]) for i in range(tasks)]
    job = JournaledJob(name, jobdict, [("map", "split", False)], inputs,
                       EventLog(os.path.join(jobdir, "events")), Actions(), 100,
                       (0.0, 0.0, 0.0))
    jobs[name] = job
    sched.add_job(job)
    job.begin(writer, jobdir)
    job.start()
    made = time.perf_counter() - t0
    queued_rss = rss() - before
    heap = tracemalloc.get_traced_memory()[0] if trace else 0
    tracemalloc.stop()

    done_count = 0
    t1 = time.perf_counter()
    while job.status == "active":
        if not sched.schedule() and not running:
            raise SystemExit("nothing was dispatched, yet the job is active")
        batch, running[:] = list(running), []
        for task in batch:  # every node reports at once
            raw = json.dumps({"op": "done", "job": name, "taskid": task.id, "runid": task.runid,
                              "outputs": [["data", 0, 1, ["raw://%d" % task.id]]],
                              "counters": {}})
            msg = parse(raw)
            current = current_attempt(jobs, task.host, msg["job"], msg["taskid"], msg["runid"])
            if current is None:
                raise SystemExit("a done report was taken as stale")
            sched.task_ended(current)
            job.task_done(current, msg["runid"], current.host, msg["outputs"], msg["counters"])
            done_count += 1
    elapsed = time.perf_counter() - t1
    writer.close()
    job.events.close()
    if job.status != "ready" or done_count != tasks:
        raise SystemExit("the job ended %s after %d of %d tasks" % (job.status, done_count, tasks))
    return {"elapsed": elapsed, "made": made, "rss": queued_rss, "heap": heap}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--tasks", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print("python %s; %d nodes x %d slots, %d tasks; load average %.2f"
          % (sys.executable, a.nodes, a.slots, a.tasks, os.getloadavg()[0]), flush=True)
    rates, mems, heaps = [], [], []
    for i in range(a.runs):
        r = one_run(a.nodes, a.slots, a.tasks, trace=i > 0)
        rate = a.tasks / r["elapsed"]
        rates.append(rate)
        mems.append(r["rss"])
        heaps.append(r["heap"])
        mem = ("RSS +%.1f MB" % (r["rss"] / a.tasks * 1e4 / 1e6) if i == 0 else
               "heap %.1f MB (traced)" % (r["heap"] / a.tasks * 1e4 / 1e6))
        print("run %d: %.2f s = %.0f tasks/s dispatched and finished; tasks made in %.2f s; "
              "queued tasks: %s per 10,000; load average %.2f"
              % (i + 1, r["elapsed"], rate, r["made"], mem, os.getloadavg()[0]), flush=True)
    med = statistics.median(rates)
    print("median %.0f tasks/s; memory per 10,000 queued tasks: %.1f MB RSS (first run)%s"
          % (med, mems[0] / a.tasks * 1e4 / 1e6,
             ", %.1f MB heap" % (statistics.median(heaps[1:]) / a.tasks * 1e4 / 1e6)
             if len(heaps) > 1 else ""))
    print("load average at the end %.2f" % os.getloadavg()[0])
    print("target: >= %.0f tasks/s: %s" % (TARGET, "met" if med >= TARGET else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
