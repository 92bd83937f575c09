"""A job on a cluster with no node that can run a task says so in its events, at once and
every 30 s while it waits, and goes on when a node is back: with no node in the node table,
every node blacklisted, every node down. Units of the master's reminder, then real clusters
through the Python API (``job.wait(show=True)``) and ``disco wait``."""
import os
import subprocess
import time

import pytest

from disco_core.client import Job
from disco_core.errors import JobError
from disco_core.master.stalled import REPEAT, StalledJobs
from disco_core.testing import SchedulerSim, event_messages, running_cluster, wait_for


def warnings_of(job):
    return [m for m in event_messages(job) if "no task of this job can start" in m]


def test_a_job_with_no_node_is_told_at_once_then_every_30_seconds(tmp_path):
    s = SchedulerSim({}, events_dir=str(tmp_path))
    job = s.job(["raw://a"])
    stalled = StalledJobs(s.sched)
    stalled.check(now=100.0)
    [first] = warnings_of(job)
    assert "no node in the node table" in first and "disco config set" in first
    for now in (101.0, 110.0, 100.0 + REPEAT - 0.5):
        stalled.check(now=now)
    assert len(warnings_of(job)) == 1
    stalled.check(now=100.0 + REPEAT)
    assert len(warnings_of(job)) == 2
    assert REPEAT == 30.0


def test_blacklisted_and_down_nodes_are_named(tmp_path):
    s = SchedulerSim({"n1": 1, "n2": 1}, events_dir=str(tmp_path))
    stalled = StalledJobs(s.sched, grace=5.0)
    for node in s.sched.nodes.values():
        node.blacklisted = True
    job = s.job(["raw://a"])
    stalled.check(now=0.0)
    assert "every node is blacklisted" in warnings_of(job)[-1]
    assert "disco whitelist" in warnings_of(job)[-1]
    for node in s.sched.nodes.values():  # back: the job runs and nothing more is said
        node.blacklisted = False
    stalled.check(now=1.0)
    assert len(warnings_of(job)) == 1
    for node in s.sched.nodes.values():
        node.connected = False
    stalled.check(now=2.0)
    stalled.check(now=6.9)  # a node restarting is no news
    assert len(warnings_of(job)) == 1
    stalled.check(now=7.0)
    assert "every node is down" in warnings_of(job)[-1]
    s.sched.nodes["n1"].blacklisted = True
    stalled.check(now=40.0)
    assert "every node is down or blacklisted" in warnings_of(job)[-1]


def test_jobs_with_nothing_queued_or_a_usable_node_are_not_told(tmp_path):
    s = SchedulerSim({"n1": 1}, events_dir=str(tmp_path))
    stalled = StalledJobs(s.sched)
    job = s.job(["raw://a"])
    stalled.check(now=0.0)
    s.schedule()  # the task runs: nothing is queued when the node goes
    s.sched.nodes["n1"].connected = False
    stalled.check(now=100.0)
    assert warnings_of(job) == []


@pytest.fixture(scope="module")
def cluster():
    with running_cluster() as c:
        yield c


@pytest.fixture
def disco(cluster):
    d = cluster.disco
    cores = d.nodeinfo()["localhost"]["max_workers"]
    yield d
    if "localhost" in d.nodeinfo():
        d.whitelist("localhost")
    d.set_config([["localhost", str(cores)]])


def words(line, params):
    return [(w, 1) for w in line.split()]


def test_an_empty_table_is_named_at_once(disco, capsys):
    disco.set_config([], empty=True)
    submitted = time.time()
    job = Job(name="NoNodes").run(input=["raw://a b"], map=words)
    wait_for(lambda: "no node in the node table" in disco.rawevents(job.name).decode(),
             timeout=10)
    assert time.time() - submitted < 5
    with pytest.raises(JobError, match="Timeout"):
        job.wait(show="nocolor", timeout=1)
    assert "no node in the node table: add nodes" in capsys.readouterr().err
    disco.set_config([["localhost", "2"]])
    assert sorted(disco.result_iterator(job.wait(timeout=120))) == [("a", 1), ("b", 1)]
    assert len([e for e in disco.rawevents(job.name).decode().splitlines()
                if "no task of this job can start" in e]) == 1


def test_job_wait_show_prints_the_reason(disco, capsys):
    disco.blacklist("localhost")
    job = Job(name="AllBlacklisted").run(input=["raw://a"], map=words)
    with pytest.raises(JobError, match="Timeout"):
        job.wait(show="nocolor", timeout=4)
    err = capsys.readouterr().err
    assert "every node is blacklisted" in err and "disco whitelist HOST" in err
    disco.whitelist("localhost")
    assert list(disco.result_iterator(job.wait(timeout=120))) == [("a", 1)]


def test_disco_wait_shows_every_node_down_then_the_results(disco, cluster):
    disco.set_config([["nx01", "1"]])  # a host that is not there: its node never connects
    job = Job(name="AllDown").run(input=["raw://x"], map=words)
    env = dict(os.environ, **cluster.env, DISCO_EVENTS="nocolor")
    waiting = subprocess.Popen([os.path.join(cluster.bindir, "disco"), "wait", job.name],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        wait_for(lambda: "every node is down" in disco.rawevents(job.name).decode(),
                 timeout=30)
        time.sleep(2.5)  # a poll of `disco wait` prints it
        disco.set_config([["localhost", "1"]])
        out, err = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode == 0, err
    assert "every node is down (disco nodeinfo says why)" in err
    assert out.strip()  # the result URLs, once the node is back
    assert list(disco.result_iterator(out.split())) == [("x", 1)]
