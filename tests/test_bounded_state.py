"""Bounded state: finished jobs leave the master's memory and file table, and what the
master says about them stays the same."""
from __future__ import annotations

import asyncio
import json
import os
import resource
import time

import pytest

from disco_core.client import Disco
from disco_core.client.job import Job
from disco_core.settings import DiscoSettings
from disco_core.testing import running_cluster


def word_map(line, params):
    for word in line.split():
        yield word, 1


def word_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def trivial_map(line, params):
    yield line, 1


def master_pid():
    s = DiscoSettings()
    with open(os.path.join(s["DISCO_PID_DIR"], "%s.pid" % s["DISCO_NAME"])) as f:
        return int(f.read())


def open_files(pid):
    fds = "/proc/%d/fd" % pid
    out = []
    for fd in os.listdir(fds):
        try:
            out.append(os.readlink(os.path.join(fds, fd)))
        except OSError:
            continue
    return out


def replies(disco, name):
    """Everything the REST API tells about a finished job."""
    def get(op, **query):
        args = "&".join("%s=%s" % kv for kv in query.items())
        return disco.request("/disco/ctrl/%s?%s" % (op, args))
    return {"jobinfo": json.loads(get("jobinfo", name=name)),
            "results": disco.results(name, timeout=0),
            "events": json.loads(get("jobevents", name=name, num=1000)),
            "filtered": json.loads(get("jobevents", name=name, num=5, filter="READY")),
            "rawevents": get("rawevents", name=name),
            "map": json.loads(get("get_stageresults", name=name, stage="map")),
            "reduce": json.loads(get("get_stageresults", name=name, stage="reduce")),
            "task": json.loads(get("taskinfo", name=name, task="map:0")),
            "joblist": [j for j in disco.joblist() if j[2] == name]}


@pytest.fixture(scope="module")
def keep_one():
    with running_cluster(extra_env={"DISCO_KEEP_FINISHED_JOBS": "1"}) as cluster:
        yield cluster


def test_a_finished_job_replies_the_same_once_it_left_memory(keep_one):
    disco = keep_one.disco
    first = Job().run(input=["raw://b a b", "raw://c a"], map=word_map, reduce=word_reduce)
    first.wait(timeout=60)
    before = replies(disco, first.name)
    later = [Job().run(input=["raw://x"], map=trivial_map) for _ in range(3)]
    for job in later:
        job.wait(timeout=60)
    after = replies(disco, first.name)
    assert after == before
    assert before["jobinfo"]["active"] == "ready" and before["results"][0] == "ready"
    assert "READY" in before["filtered"][0][2]
    names = [name for _, _, name in disco.joblist()]
    assert names[:4] == [job.name for job in reversed(later)] + [first.name]


def test_a_failed_job_names_its_failed_task_from_disk(keep_one):
    disco = keep_one.disco

    def broken(line, params):
        raise ValueError("no good")
    job = Job().run(input=["raw://x"], map=broken)
    with pytest.raises(Exception):
        job.wait(timeout=60)
    before = json.loads(disco.request("/disco/ctrl/taskinfo?name=%s" % job.name))
    for _ in range(2):
        Job().run(input=["raw://y"], map=trivial_map).wait(timeout=60)
    after = json.loads(disco.request("/disco/ctrl/taskinfo?name=%s" % job.name))
    assert after == before and after["error"]["message"]
    assert disco.results(job.name, timeout=0) == ("dead", [])
    disco.kill(job.name)  # finished long ago: nothing to do, and no error
    disco.purge(job.name)
    assert disco.results(job.name, timeout=0) == ("unknown job", [])
    assert job.name not in [name for _, _, name in disco.joblist()]


def test_a_finished_job_holds_no_open_file(keep_one):
    job = Job().run(input=["raw://z"], map=trivial_map)
    job.wait(timeout=60)
    # The finished job's record is written in a thread after the job ends: a
    # file held only while that write runs is let go within moments.
    deadline = time.monotonic() + 10
    while True:
        held = [path for path in open_files(master_pid()) if job.name in path]
        if not held or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert held == []


def test_the_master_keeps_a_bounded_number_of_finished_jobs(tmp_path):
    """Driven in-process: jobs with no stages finish as soon as they exist."""
    from disco_core.master.app import Master

    async def main():
        settings = DiscoSettings(DISCO_HOME=str(tmp_path), DISCO_SETTINGS_FILE="",
                                 DISCO_KEEP_FINISHED_JOBS=3)
        master = Master(settings)
        names = [await master.submit(no_stages("Bounded")) for _ in range(10)]
        return master, names
    master, names = asyncio.run(main())
    assert list(master.jobs) == names[-3:]
    assert [name for _, _, name in master.joblist()] == names[::-1]
    assert all(master.results(name) == ["ready", []] for name in names)


def no_stages(prefix):
    """The bytes of a job pack whose job has no stages (it is done as soon as it exists)."""
    import io
    import zipfile

    from disco_core.jobpack import JobPack
    home = io.BytesIO()
    with zipfile.ZipFile(home, "w") as z:
        z.writestr("worker", "#!/bin/sh\n")
    jobdict = {"prefix": prefix, "worker": "worker", "owner": "tests@here", "scheduler": {},
               "pipeline": [], "inputs": []}
    return JobPack(2, jobdict, {}, home.getvalue(), b"").dumps()


def limit_open_files(count):
    def preexec():
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))
    return preexec


def run_one_after_another(pack, count):
    """Run ``count`` jobs of ``pack`` on a cluster whose master may open 256 files; the
    failures, the first few of them."""
    with running_cluster(preexec=limit_open_files(256)) as cluster:
        with open("/proc/%d/limits" % master_pid()) as f:
            limits = [line.split()[3] for line in f if line.startswith("Max open files")]
        assert limits == ["256"]
        disco = Disco(cluster.master)
        failed = []
        for n in range(count):
            try:
                disco.wait(disco.submit(pack), poll_interval=30, timeout=60)
            except Exception as exc:
                failed.append((n, str(exc)[:300]))
                if len(failed) > 5:
                    break
        return failed


def test_two_thousand_jobs_on_a_master_with_256_open_files():
    """Each job once kept its event file open: on such a master every job from about the
    246th failed. These jobs have no stages, so they are done as soon as they exist."""
    assert run_one_after_another(no_stages("Many"), 2000) == []


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_two_thousand_map_jobs_on_a_master_with_256_open_files():
    """As above with a raw input and a trivial map each: about 20 minutes on two cores."""
    job = Job()
    pack = job.worker.jobpack(job, input=["raw://one"], map=trivial_map)
    assert run_one_after_another(pack, 2000) == []


def processes_of(home):
    """The processes whose environment names ``home`` as DISCO_HOME."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if b"DISCO_HOME=" + home.encode() in env:
            found.append(int(pid))
    return found


def test_a_cluster_whose_start_fails_leaves_nothing_behind(tmp_path):
    """With so few files ``disco start`` fails: the fixture says so, stops whatever it
    started and restores the environment."""
    home = str(tmp_path / "home")
    before = dict(os.environ)
    with pytest.raises(AssertionError, match="disco start failed"):
        with running_cluster(extra_env={"DISCO_HOME": home}, preexec=limit_open_files(10)):
            pass
    assert dict(os.environ) == before
    assert processes_of(home) == []


def test_a_chain_wait_ends_at_its_timeout(keep_one):
    from disco_core.client.job import JobChain
    from disco_core.errors import JobError

    def sleepy(line, params):
        import time
        time.sleep(60)
        yield line, 1
    job = Job()
    chain = JobChain({job: ["raw://slow"]})
    job.map = sleepy
    started = time.monotonic()
    with pytest.raises(JobError, match="Timeout"):
        chain.wait(poll_interval=0.1, timeout=1)
    assert time.monotonic() - started < 10
    keep_one.disco.kill(job.name)
    assert keep_one.disco.results(job.name, timeout=10000)[0] == "dead"
