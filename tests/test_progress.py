"""Waiting on a terminal shows a live progress bar per stage; elsewhere, plain lines."""
import io
import os
import pty
import select
import subprocess
import sys

from disco.core import Job
from disco_core.client.events import EventMonitor


def napping(line, params):
    import time
    time.sleep(0.4)
    yield line, 1


def count(iter, params):
    yield "n", sum(1 for _ in iter)


def on_a_terminal(cluster, *args, timeout=120):
    """What ``disco ARGS`` writes to a terminal (its stdout and stderr on one pty)."""
    exe = os.path.join(os.path.dirname(sys.executable), "disco")
    return run_on_a_terminal(cluster, [exe, *args], timeout)


def run_on_a_terminal(cluster, argv, timeout=120):
    """What ``argv`` writes to a terminal (its stdout and stderr on one pty)."""
    args = argv[1:]
    parent, child = pty.openpty()
    env = dict(os.environ, **cluster.env, COLUMNS="100")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=child,
                            stderr=child, env=env)
    os.close(child)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([parent], [], [], timeout)
            if not ready:
                raise AssertionError("%s printed nothing for %ss" % (args, timeout))
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # the child side closed: it exited
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(parent)
        proc.wait(timeout=30)
    return proc.returncode, out.decode(errors="replace")


def test_disco_wait_on_a_terminal_draws_a_bar_per_stage(disco_cluster):
    job = Job().run(input=["raw://%d" % i for i in range(5)], map=napping, reduce=count)
    code, out = on_a_terminal(disco_cluster, "wait", job.name)
    assert code == 0, out
    final = out.replace("\r", "\n")
    assert any(line.strip().startswith("map 100%") and "5/5 tasks" in line
               for line in final.split("\n")), out
    assert any(line.strip().startswith("reduce 100%") and "1/1 tasks" in line
               for line in final.split("\n")), out
    assert "0 failed" in out
    assert "READY: Job done" in out          # the events scroll above the bars
    assert "Status: [" not in out            # no plain status lines on a terminal
    assert "disco://" in out or "dir://" in out  # and the results, as ever, on stdout


def test_job_wait_show_on_a_terminal_draws_the_same_bars(disco_cluster):
    job = Job().run(input=["raw://%d" % i for i in range(3)], map=napping)
    script = ("import sys; from disco.core import Disco; "
              "Disco().wait(sys.argv[1], show=True, timeout=120)")
    code, out = run_on_a_terminal(disco_cluster, [sys.executable, "-c", script, job.name])
    assert code == 0, out
    lines = out.replace("\r", "\n").split("\n")
    assert any(line.strip().startswith("map 100%") and "3/3 tasks" in line
               and "0 failed" in line for line in lines), out
    assert "READY: Job done" in out and "Status: [" not in out


def test_disco_wait_q_shows_nothing_but_the_results(disco_cluster):
    job = Job().run(input=["raw://a"], map=napping)
    code, out = on_a_terminal(disco_cluster, "wait", "-q", job.name)
    assert code == 0
    assert "tasks" not in out and "READY" not in out
    assert "://" in out


def test_waiting_into_a_file_prints_plain_status_and_event_lines(disco_cluster):
    job = Job().run(input=["raw://a", "raw://b"], map=napping)
    stream = io.StringIO()
    monitor = EventMonitor(disco_cluster.disco, job.name, True, stream=stream)
    job.wait(timeout=120)
    monitor.refresh()
    monitor.close()
    text = stream.getvalue()
    assert "Status: [map_shuffle]" in text or "Status: [map]" in text
    assert "READY: Job done" in text
    assert "\r" not in text and "%|" not in text
