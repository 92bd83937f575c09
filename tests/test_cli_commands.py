"""The ``disco`` commands that inspect and steer jobs and the cluster, through the real command
on a real cluster: kill, jobdict, stageresults, nodeinfo, config, submit, deref, job."""
import ast
import io
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

from disco_core.jobpack import JobPack
from disco_core.testing import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPPER = os.path.join(ROOT, "contrib", "sh-worker", "upper.sh")
DISCO = os.path.join(os.path.dirname(sys.executable), "disco")

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

    class Sleepy(Job):
        @staticmethod
        def map(line, params):
            import time
            time.sleep(120)
            yield line, 1
    """)


@pytest.fixture(scope="module")
def jobdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("jobs")
    (path / "cmdjobs.py").write_text(JOBS)
    return str(path)


@pytest.fixture(scope="module")
def counted(disco_cluster, jobdir):
    """A finished word count: (name, its results)."""
    name = disco_cluster.cli("run", "cmdjobs.Count", "raw://b a b", "raw://c",
                             cwd=jobdir).stdout.strip()
    return name, disco_cluster.cli("wait", name).stdout.split()


def status(cluster, name):
    for line in cluster.cli("jobs", "-S").stdout.splitlines():
        job, state = line.split("\t")
        if job == name:
            return state
    return None


def test_kill(disco_cluster, jobdir):
    name = disco_cluster.cli("run", "cmdjobs.Sleepy", "raw://zzz", cwd=jobdir).stdout.strip()
    wait_for(lambda: "tasks" in disco_cluster.cli("nodeinfo").stdout, timeout=60)
    assert status(disco_cluster, name) == "active"
    disco_cluster.cli("kill", "@?Sleepy")
    assert status(disco_cluster, name) == "dead"
    out = disco_cluster.cli("wait", name, check=False)
    assert out.returncode == 1 and name in out.stderr and "killed" in out.stderr.lower()
    # its worker is gone too: no task is left running on the node
    wait_for(lambda: "tasks" not in disco_cluster.cli("nodeinfo").stdout, timeout=60)
    unknown = disco_cluster.cli("kill", "NoSuchJob@1:2:3", check=False)
    assert unknown.returncode == 1 and "NoSuchJob@1:2:3" in unknown.stderr


def test_jobdict(disco_cluster, counted):
    name, _results = counted
    lines = disco_cluster.cli("jobdict", name).stdout.splitlines()
    assert lines[0] == name
    entries = dict(line[1:].split("\t", 1) for line in lines[1:])
    assert entries["prefix"] == "Count"
    assert entries["map?"] == "True" and entries["reduce?"] == "True"
    assert ast.literal_eval(entries["input"]) == ["raw://b a b", "raw://c"]
    assert set(entries) >= {"worker", "owner", "scheduler", "nr_reduces"}
    assert disco_cluster.cli("jobdict", "@?Count").stdout.splitlines()[0].startswith("Count@")


def test_stageresults(disco_cluster, counted):
    name, results = counted
    maps = disco_cluster.cli("stageresults", name).stdout.splitlines()
    assert len(maps) >= 1 and all(line.startswith("dir://") for line in maps)
    reduced = disco_cluster.cli("stageresults", name, "-S", "reduce").stdout.split()
    assert reduced == results
    bad = disco_cluster.cli("stageresults", name, "-S", "nosuchstage", check=False)
    assert bad.returncode == 1 and "nosuchstage" in bad.stderr


def test_nodeinfo_and_config(disco_cluster):
    lines = disco_cluster.cli("nodeinfo").stdout.splitlines()
    assert len(lines) == 1
    host, info = lines[0].split("\t", 1)
    assert host == "localhost"
    info = ast.literal_eval(info)
    assert info["connected"] is True and info["blacklisted"] is False
    cores = info["max_workers"]
    assert cores >= 1
    assert disco_cluster.cli("config").stdout.splitlines() == ["localhost\t%d" % cores]


def test_deref(disco_cluster, counted, tmp_path):
    name, results = counted
    urls = disco_cluster.cli("deref", *results).stdout.splitlines()
    assert urls and all(u.startswith("disco://localhost/") for u in urls)
    # job mode: the job names stand for their results
    assert disco_cluster.cli("deref", "-j", name).stdout.splitlines() == urls
    assert disco_cluster.cli("deref", "-j", "@?Count").stdout.splitlines() == urls
    # stdin, mixed with inputs that are not indexes (kept as they are)
    out = disco_cluster.cli("deref", input="%s\nraw://x\nraw://r1 raw://r2\n" % results[0])
    assert out.stdout.splitlines() == urls + ["raw://x", "raw://r1\traw://r2"]
    # -r: URLs every host can fetch, and they serve the data
    http = disco_cluster.cli("deref", "-r", *results).stdout.splitlines()
    assert all(u.startswith("http://localhost:") for u in http)
    from disco_core.client import comm
    assert all(comm.download(u) for u in http)
    from disco.core import result_iterator
    assert sorted(result_iterator(urls)) == [("a", 1), ("b", 2), ("c", 1)]


def test_job_of_a_shell_worker(disco_cluster):
    """upper.sh ignores the stage it is given; a reduce-only v1 job (nr_reduces 1) is one
    group_all task over the input."""
    name = disco_cluster.cli("job", "-r", "-p", "Shout", UPPER,
                             "raw://hello\nworld").stdout.strip()
    assert name.startswith("Shout@")
    results = disco_cluster.cli("wait", name).stdout.split()
    from disco.core import result_iterator
    assert list(result_iterator(results, reader=None)) == ["HELLO\n", "WORLD\n"]
    events = disco_cluster.cli("events", name).stdout
    assert "upper-cased 12 bytes" in events
    lines = disco_cluster.cli("jobdict", name).stdout.splitlines()
    assert "\tworker\tupper.sh" in lines and "\treduce?\tTrue" in lines
    # the prefix defaults to the worker's name; inputs come from stdin too
    name = disco_cluster.cli("job", "-r", UPPER, input="raw://quiet\n").stdout.strip()
    assert name.startswith("upper@")
    results = disco_cluster.cli("wait", name).stdout.split()
    assert list(result_iterator(results, reader=None)) == ["QUIET\n"]


def test_job_dump_and_submit(disco_cluster, tmp_path):
    extra = tmp_path / "conf"
    (extra / "sub").mkdir(parents=True)
    (extra / "sub" / "a.txt").write_text("A")
    data = tmp_path / "data.bin"
    data.write_bytes(b"\x00payload")
    args = ["job", "-m", "-r", "-n", "3", "-o", "me@here", "-S", "max_cores", "2",
            "-e", "GREETING", "hi", "-f", str(extra), "-d", "@%s" % data, "-D", UPPER,
            "raw://one", "raw://two"]
    before = disco_cluster.cli("jobs").stdout
    proc = subprocess.run([DISCO, *args], capture_output=True,
                          env=dict(os.environ, **disco_cluster.env))
    assert proc.returncode == 0, proc.stderr
    pack = JobPack.loads(proc.stdout)
    assert pack.version == 1
    assert pack.jobdict == {"input": ["raw://one", "raw://two"], "worker": "upper.sh",
                            "map?": True, "reduce?": True, "nr_reduces": 3, "prefix": "upper",
                            "scheduler": {"max_cores": 2}, "owner": "me@here"}
    assert pack.jobenvs == {"GREETING": "hi"}
    assert pack.jobdata == b"\x00payload"
    home = zipfile.ZipFile(io.BytesIO(pack.jobhome))
    assert sorted(home.namelist()) == ["conf/sub/a.txt", "upper.sh"]
    assert home.read("conf/sub/a.txt") == b"A"
    assert (home.getinfo("upper.sh").external_attr >> 16) & 0o111
    # nothing was submitted by -D
    assert disco_cluster.cli("jobs").stdout == before
    # the dumped pack submits as it is, from a file or stdin
    path = tmp_path / "pack"
    path.write_bytes(proc.stdout)
    name = disco_cluster.cli("submit", str(path)).stdout.strip()
    assert name.startswith("upper@")
    disco_cluster.cli("kill", name)
    # -v lists what went into the pack
    proc = subprocess.run([DISCO, "job", "-v", "-D", "-r", UPPER, "raw://x"],
                          capture_output=True, env=dict(os.environ, **disco_cluster.env))
    shown = proc.stderr.decode()
    assert "jobdict:" in shown and "\tupper.sh" in shown and "jobdata:" in shown
    assert "DISCO_PORT = %d" % disco_cluster.port in shown
    assert JobPack.loads(proc.stdout).jobdict["input"] == ["raw://x"]  # the pack stays whole


def test_submit_from_stdin_and_bad_packs(disco_cluster, tmp_path):
    pack = JobPack(1, {"input": ["raw://ok"], "worker": "upper.sh", "map?": False,
                       "reduce?": True, "nr_reduces": 1, "prefix": "Piped", "owner": "t",
                       "scheduler": {}}, {}, _home(), b"").dumps()
    path = tmp_path / "pack"
    path.write_bytes(pack)
    with open(path, "rb") as f:
        proc = subprocess.run([DISCO, "submit"], stdin=f, capture_output=True, text=True,
                              env=dict(os.environ, **disco_cluster.env))
    assert proc.returncode == 0, proc.stderr
    name = proc.stdout.strip()
    assert name.startswith("Piped@")
    from disco.core import result_iterator
    results = disco_cluster.cli("wait", name).stdout.split()
    assert list(result_iterator(results, reader=None)) == ["OK\n"]
    (tmp_path / "junk").write_bytes(b"not a job pack")
    bad = disco_cluster.cli("submit", str(tmp_path / "junk"), check=False)
    assert bad.returncode == 1 and "invalid header" in bad.stderr
    assert len(bad.stderr.splitlines()) == 1


def test_job_bad_input(disco_cluster, tmp_path):
    out = disco_cluster.cli("job", str(tmp_path / "missing.sh"), "raw://x", check=False)
    assert out.returncode == 1 and "missing.sh is not a file" in out.stderr
    out = disco_cluster.cli("job", "-n", "0", UPPER, "raw://x", check=False)
    assert out.returncode == 1 and "--nr-reduces 0" in out.stderr
    out = disco_cluster.cli("job", "-p", "bad.prefix", UPPER, "raw://x", check=False)
    assert out.returncode == 1 and "invalid prefix" in out.stderr
    out = disco_cluster.cli("job", "-d", "@%s" % (tmp_path / "nodata"), UPPER, "raw://x",
                            check=False)
    assert out.returncode == 1 and "nodata" in out.stderr
    out = disco_cluster.cli("job", UPPER, input="", check=False)
    assert out.returncode == 1 and "no inputs" in out.stderr


def test_help_shows_the_reference_commands(disco_cluster):
    out = disco_cluster.cli("help").stdout
    for cmd in ("config", "deref", "events", "job", "jobdict", "jobs", "kill", "purge",
                "results", "wait", "stageresults", "nodeinfo", "oob", "pstats", "run",
                "submit", "client_version", "master_version", "start", "stop", "restart",
                "status", "nodaemon", "test"):
        assert "\n    %s " % cmd in out, cmd
    assert "--job-mode" in disco_cluster.cli("help", "deref").stdout
    assert "--dump-jobpack" in disco_cluster.cli("help", "job").stdout


def _home():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("upper.sh")
        info.external_attr = 0o755 << 16
        with open(UPPER, "rb") as f:
            z.writestr(info, f.read())
    return buf.getvalue()



def test_usage_errors_are_one_line(disco_cluster):
    out = disco_cluster.cli("frobnicate", check=False)
    assert out.returncode == 1
    assert out.stderr == "disco: unrecognized command: frobnicate (`disco help` lists the " \
                         "commands)\n"
    out = disco_cluster.cli("events", check=False)
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1
    assert "required: job" in out.stderr and "disco events -h" in out.stderr
    out = disco_cluster.cli("jobs", "--no-such-option", check=False)
    assert out.returncode == 1 and "--no-such-option" in out.stderr
