"""What a job tells its submitter, seen through ``disco submit`` / ``wait`` / ``events``: a job
built for another Python than the nodes run, and the classic worker's progress messages."""
import json
import re
import sys
import textwrap

import pytest

JOBS = textwrap.dedent("""
    from disco.job import Job

    class Chatty(Job):
        status_interval = 2

        @staticmethod
        def map(line, params):
            yield line, 1

        @staticmethod
        def reduce(iter, params):
            for k, v in iter:
                yield k, v

    class Quiet(Chatty):
        status_interval = 0
    """)


@pytest.fixture(scope="module")
def jobdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("jobs")
    (path / "eventjobs.py").write_text(JOBS)
    return str(path)


def messages(cluster, name):
    """The lines of a job's event messages (a task's messages may share one event: the
    worker coalesces what a task says within a moment)."""
    return [re.sub(r"^MSG: \[\w+:\d+\] ", "", text)
            for line in cluster.cli("events", name).stdout.splitlines()
            for text in json.loads(line)[2].splitlines()]


def test_another_python_is_refused_naming_both_versions(disco_cluster, tmp_path):
    from disco_core.client import Job
    from disco_core.errors import JobError
    job = Job(name="OtherPython")
    pack = job.worker.jobpack(job, input=["raw://x"], map=lambda line, params: [(line, 1)])
    assert pack.jobdict["python_version"] == "%d.%d" % sys.version_info[:2]
    pack.jobdict["python_version"] = "2.7"
    path = tmp_path / "pack"
    path.write_bytes(pack.dumps())
    name = disco_cluster.cli("submit", str(path)).stdout.strip()
    here = "%d.%d" % sys.version_info[:2]
    out = disco_cluster.cli("wait", name, check=False)
    assert out.returncode == 1
    line = out.stderr.strip()
    assert len(out.stderr.splitlines()) == 1
    assert name in line
    assert "built with Python 2.7" in line and "runs Python %s" % here in line
    assert "run the client with Python %s" % here in line
    # the Python API says the same
    with pytest.raises(JobError) as err:
        disco_cluster.disco.wait(name, timeout=120)
    assert "Python 2.7" in str(err.value) and "Python %s" % here in str(err.value)
    # and it is fatal at once: the task is tried once, not retried on and on
    said = messages(disco_cluster, name)
    assert sum(m.startswith("FATAL: [map:0] the job was built with Python 2.7") for m in said) == 1
    assert sum(m == "map:0 assigned to localhost" for m in said) == 1
    assert json.loads(disco_cluster.cli("jobinfo", name).stdout)["active"] == "dead"


def test_status_interval_progress_messages(disco_cluster, jobdir):
    lines = "raw://" + "\n".join("abcde")
    name = disco_cluster.cli("run", "eventjobs.Chatty", lines, cwd=jobdir).stdout.strip()
    disco_cluster.cli("wait", name)
    said = messages(disco_cluster, name)
    events = disco_cluster.cli("events", name).stdout
    assert "MSG: [map:0] 2 entries mapped" in events
    mapped = [m for m in said if m.endswith("entries mapped")]
    reduced = [m for m in said if m.endswith("entries reduced")]
    # every two entries, then the total
    assert mapped == ["2 entries mapped", "4 entries mapped", "5 entries mapped"]
    assert reduced == ["2 entries reduced", "4 entries reduced", "5 entries reduced"]
    quiet = disco_cluster.cli("run", "eventjobs.Quiet", lines, cwd=jobdir).stdout.strip()
    disco_cluster.cli("wait", quiet)
    assert not [m for m in messages(disco_cluster, quiet) if "entries" in m]
