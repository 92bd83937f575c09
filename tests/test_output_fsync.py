"""Which files are fsynced: a task's outputs only with DISCO_FSYNC_OUTPUTS on (off by
default: they survive any killed process, and the master makes lost intermediate outputs
again), every other atomic file always. Observed with strace on real processes."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from disco.core import Job, result_iterator
from disco_core.atomicfile import outputs_synced
from disco_core.testing import running_cluster

needs_strace = pytest.mark.skipif(shutil.which("strace") is None,
                                  reason="strace is not installed (apt-get install strace)")

WRITE = textwrap.dedent("""
    import sys
    from disco_core.atomicfile import AtomicFile
    sync = {"default": True, "task": None}[sys.argv[2]]
    with AtomicFile(sys.argv[1], sync=sync) as f:
        f.write(b"x" * 1000)
""")


def fsyncs(tmp_path, kind, env):
    path = str(tmp_path / ("out-%s-%s" % (kind, env.get("DISCO_FSYNC_OUTPUTS"))))
    full = dict(os.environ)
    full.pop("DISCO_FSYNC_OUTPUTS", None)
    full.update(env)
    trace = str(tmp_path / "trace")
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync", "-o", trace,
                    sys.executable, "-c", WRITE, path, kind], env=full, check=True)
    with open(path, "rb") as f:
        assert f.read() == b"x" * 1000  # complete under its name either way
    assert not os.path.exists(path + ".partial")
    with open(trace) as f:
        return sum(line.split()[1].startswith(("fsync(", "fdatasync(")) for line in f
                   if len(line.split()) > 1)


@needs_strace
def test_a_task_output_is_fsynced_only_when_the_setting_says(tmp_path):
    assert fsyncs(tmp_path, "task", {"DISCO_FSYNC_OUTPUTS": "0"}) == 0
    assert fsyncs(tmp_path, "task", {"DISCO_FSYNC_OUTPUTS": "off"}) == 0
    assert fsyncs(tmp_path, "task", {"DISCO_FSYNC_OUTPUTS": "1"}) == 1
    assert fsyncs(tmp_path, "task", {}) == 1  # outside a task, where no node set it


@needs_strace
def test_other_atomic_files_are_fsynced_whatever_the_setting(tmp_path):
    assert fsyncs(tmp_path, "default", {"DISCO_FSYNC_OUTPUTS": "0"}) == 1


def test_outputs_synced_reads_the_flag_as_settings_do():
    assert outputs_synced({}) is True
    for off in ("0", "no", "off", "false", "", " Off "):
        assert outputs_synced({"DISCO_FSYNC_OUTPUTS": off}) is False
    for on in ("1", "yes", "on", "true"):
        assert outputs_synced({"DISCO_FSYNC_OUTPUTS": on}) is True


def policy(line, params):
    from disco_core.atomicfile import outputs_synced
    yield line, outputs_synced()


@pytest.mark.parametrize("env,want", [({}, False), ({"DISCO_FSYNC_OUTPUTS": "1"}, True)])
def test_tasks_follow_the_nodes_setting(env, want):
    with running_cluster(hosts=[("127.0.0.2", 1)], extra_env=env):
        job = Job().run(input=["raw://a", "raw://b"], map=policy)
        got = sorted(result_iterator(job.wait(timeout=120)))
        assert got == [("a", want), ("b", want)]
        job.purge()
