"""The ``disco`` command line against a real cluster."""
import json
import textwrap

import pytest

JOBS = textwrap.dedent("""
    from disco.job import Job

    class Count(Job):
        @staticmethod
        def map(line, params):
            for word in line.split():
                yield word, 1

        @staticmethod
        def reduce(iter, params):
            from disco.util import kvgroup
            for word, counts in kvgroup(sorted(iter)):
                yield word, sum(counts)

    class Profiled(Count):
        profile = True
    """)


@pytest.fixture
def jobdir(tmp_path):
    (tmp_path / "clijobs.py").write_text(JOBS)
    return str(tmp_path)


def run_job(cluster, jobdir, cls="clijobs.Count", *inputs):
    out = cluster.cli("run", cls, *(inputs or ["raw://b a b"]), cwd=jobdir)
    return out.stdout.strip()


def test_status_and_verbose_settings(disco_cluster):
    assert disco_cluster.cli("status").stdout.strip() == \
        "Master localhost:%d running" % disco_cluster.port
    out = disco_cluster.cli("-v").stdout
    assert "DISCO_PORT = %d" % disco_cluster.port in out
    assert "DISCO_HOME = %s" % disco_cluster.home in out
    assert disco_cluster.cli().stdout.strip() == "Disco master at %s" % disco_cluster.master


def test_run_wait_results_and_history(disco_cluster, jobdir):
    name = run_job(disco_cluster, jobdir)
    assert name.startswith("Count@")
    waited = disco_cluster.cli("wait", name).stdout.split()
    assert waited and waited[0].startswith("dir://")
    assert disco_cluster.cli("results", "@").stdout.split() == waited
    assert disco_cluster.cli("results", "@?Count").stdout.split() == waited
    # results read back with the Python API
    from disco.core import result_iterator
    assert list(result_iterator([waited])) == [("a", 1), ("b", 2)]
    jobs = disco_cluster.cli("jobs", "-S").stdout.splitlines()
    assert "%s\tready" % name in jobs
    info = json.loads(disco_cluster.cli("jobinfo", name).stdout)
    assert info["active"] == "ready"
    events = disco_cluster.cli("events", name).stdout
    assert "READY: Job done" in events


def test_run_with_options_and_stdin_job_names(disco_cluster, jobdir):
    name = run_job(disco_cluster, jobdir, "clijobs.Count", "raw://x y", "raw://y")
    out = disco_cluster.cli("wait", input=name + "\n").stdout
    assert out.strip().startswith("dir://")
    name2 = disco_cluster.cli("run", "-n", "Named", "--partitions", "2", "clijobs.Count",
                              "raw://q", cwd=jobdir).stdout.strip()
    assert name2.startswith("Named@")
    disco_cluster.cli("wait", name2)
    info = json.loads(disco_cluster.cli("jobinfo", name2).stdout)
    assert [s[0] for s in info["pipeline"]] == ["map", "map_shuffle", "reduce"]


def test_kill_and_purge(disco_cluster, jobdir):
    name = run_job(disco_cluster, jobdir)
    disco_cluster.cli("wait", name)
    disco_cluster.cli("purge", name)
    assert name not in disco_cluster.cli("jobs").stdout.split()
    bad = disco_cluster.cli("results", name, check=False)
    assert bad.returncode == 1 and "unknown job" in bad.stderr


def test_pstats(disco_cluster, jobdir):
    name = run_job(disco_cluster, jobdir, "clijobs.Profiled")
    disco_cluster.cli("wait", name)
    out = disco_cluster.cli("pstats", name, "-k", "cumulative").stdout
    assert "function calls" in out
    assert "map" in out


def test_plugins_lists_installed_plugins(disco_cluster):
    out = disco_cluster.cli("plugins").stdout
    for name in ("disco-plugin-raw", "disco-plugin-http", "disco-plugin-chain",
                 "disco-plugin-fair", "disco-plugin-locality"):
        assert name in out
    assert "BROKEN" not in out


def test_errors_are_one_line(disco_cluster):
    out = disco_cluster.cli("wait", "NoSuchJob@1:2:3", check=False)
    assert out.returncode == 1
    assert out.stderr.startswith("disco: ")
    assert "Traceback" not in out.stderr
    out = disco_cluster.cli("run", "nomodule.Nope", check=False)
    assert out.returncode == 1 and "cannot import job class" in out.stderr


def test_help_lists_commands(disco_cluster):
    out = disco_cluster.cli("--help").stdout
    for cmd in ("start", "stop", "restart", "status", "nodaemon", "run", "wait", "results",
                "events", "jobs", "jobinfo", "kill", "purge", "pstats", "plugins"):
        assert cmd in out

def test_help_command(disco_cluster):
    assert "usage: disco" in disco_cluster.cli("help").stdout
    assert "JOBCLASS" in disco_cluster.cli("help", "run").stdout.upper()


def test_nodaemon_restart_and_stop(tmp_path):
    """A second master in the foreground, then restart and stop through the CLI."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from disco_core.testing import Cluster, free_port
    cluster = Cluster(str(tmp_path / "home"), free_port())
    env = dict(os.environ, **cluster.env)
    exe = os.path.join(os.path.dirname(sys.executable), "disco")
    proc = subprocess.Popen([exe, "nodaemon"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if all(n["connected"] for n in cluster.disco.nodeinfo().values()):
                    break
            except Exception:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("nodaemon master did not come up")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "master http://localhost:%d started" % cluster.port in out
    # the daemon commands on the same home (stopped however the checks end)
    try:
        login = "Web UI: http://localhost:%d/?token=%s" % (cluster.port, cluster.token)
        assert cluster.cli("start").stdout.splitlines() == [
            "Master localhost:%d started" % cluster.port, login]  # the browser's login URL
        assert "already running" in cluster.cli("start", check=False).stderr
        assert cluster.cli("restart").stdout.splitlines() == [
            "Master localhost:%d stopped" % cluster.port,
            "Master localhost:%d started" % cluster.port, login]
        assert cluster.cli("stop").stdout.strip() == "Master localhost:%d stopped" % cluster.port
        assert cluster.cli("status").stdout.strip() == \
            "Master localhost:%d stopped" % cluster.port
    finally:
        cluster.cli("stop", check=False)
