"""Scheduling on a real cluster of two nodes (two worker slots each): how concurrent jobs
share the slots (``DISCO_SCHEDULER`` fair or fifo), a job's ``scheduler`` dict
(``max_cores``, ``force_local``, ``force_remote``), data locality, and the blacklist.

Who runs what is sampled from ``nodeinfo`` (each node's running tasks, by job) while the
jobs run, and read back from the tasks themselves (each says on which node it ran)."""
import json
import os
import time

import pytest

from disco.core import Disco, Job, result_iterator
from disco_core.settings import DiscoSettings
from disco_core.testing import running_cluster

A, B = "127.0.0.2", "127.0.0.3"
HOSTS = [(A, 2), (B, 2)]


def nap(line, params):
    import time
    time.sleep(params["sleep"])
    yield line, this_host()  # noqa: F821


def where_it_ran(line, params):
    import time
    time.sleep(params["sleep"])
    yield line.strip(), this_host()  # noqa: F821


def submit(n, sleep, name, **jobargs):
    return Job(name=name).run(input=["raw://%s%d" % (name, i) for i in range(n)], map=nap,
                              params={"sleep": sleep}, **jobargs)


def pending(jobname):
    """The job's map tasks waiting for a slot (later stages' tasks come after the maps)."""
    return Disco().jobinfo(jobname)["pipeline"][0][1]


def sample(jobs, until):
    """``(running tasks per job, queued tasks per job)`` every 0.1s until ``until()``; the
    queued counts are read after the running ones, so a job with work queued in a sample
    had work queued when its running tasks were counted too."""
    samples = []
    deadline = time.time() + 120
    while not until():
        assert time.time() < deadline, "the jobs did not finish"
        running = {job.name: 0 for job in jobs}
        for info in Disco().nodeinfo().values():
            for name in info.get("tasks", []):
                if name in running:
                    running[name] += 1
        queued = {job.name: pending(job.name) for job in jobs}
        samples.append((running, queued))
        time.sleep(0.1)
    return samples


def finished(*jobs):
    return lambda: all(Disco().jobinfo(j.name)["active"] != "active" for j in jobs)


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(hosts=HOSTS) as c:
        yield c


# -- sharing the slots between jobs -----------------------------------------------------

def test_fair_sharing_gives_two_busy_jobs_about_half_the_slots_each(cluster):
    first = submit(24, 0.5, "first")
    second = submit(24, 0.5, "second")
    samples = sample([first, second], finished(first, second))
    # until the first slot frees, the first job's tasks hold every slot: the sharing starts
    # with the second job's first task (no such task leaves ``both`` empty)
    start = next((i for i, (running, _queued) in enumerate(samples) if running[second.name]),
                 len(samples))
    both = [running for running, queued in samples[start:]
            if queued[first.name] and queued[second.name] and sum(running.values()) == 4]
    assert len(both) >= 5, samples
    share = sum(r[second.name] for r in both) / (4.0 * len(both))
    assert 0.3 <= share <= 0.7, (share, both)
    assert sum(1 for r in both if r[first.name] and r[second.name]) >= 0.8 * len(both), both
    for job in (first, second):
        assert len(list(result_iterator(job.wait(timeout=60)))) == 24


def test_fifo_runs_the_older_job_first():
    with running_cluster(hosts=HOSTS, extra_env={"DISCO_SCHEDULER": "fifo"}):
        first = submit(16, 0.5, "first")
        second = submit(4, 0.5, "second")
        samples = sample([first, second], finished(first, second))
        while_first_waits = [running for running, queued in samples if queued[first.name]]
        assert while_first_waits, samples
        assert all(r[second.name] == 0 for r in while_first_waits), [
            s for s in samples if s[0][second.name]]
        assert any(r[second.name] for r, _q in samples), samples  # and then the younger
        assert len(list(result_iterator(second.wait(timeout=60)))) == 4


def test_max_cores_caps_the_tasks_a_job_runs_at_once(cluster):
    capped = submit(8, 0.4, "capped", scheduler={"max_cores": 1})
    other = submit(12, 0.4, "other")
    samples = sample([capped, other], finished(capped, other))
    assert max(r[capped.name] for r, _q in samples) == 1, samples
    # the slots it does not take go to the other job
    assert max(r[other.name] for r, _q in samples) == 3, samples
    assert len(list(result_iterator(capped.wait(timeout=60)))) == 8


# -- where tasks run -------------------------------------------------------------------

def put_inputs(cluster, host, count, tag):
    """``count`` files in ``host``'s data directory; their ``disco://`` URLs."""
    data = DiscoSettings(cluster.env)["DISCO_DATA"]
    urls = []
    for i in range(count):
        rel = "%s/inputs/%s-%d.txt" % (host, tag, i)
        path = os.path.join(data, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("%s %s %d\n" % (host, tag, i))
        urls.append("disco://%s/disco/%s" % (host, rel))
    return urls


def ran_on(urls, **jobargs):
    """Run a map over ``urls``: ``{line: node it ran on}`` (each line names its file's host)."""
    jobargs.setdefault("params", {"sleep": 0.6})
    job = Job().run(input=urls, map=where_it_ran, **jobargs)
    return dict(result_iterator(job.wait(timeout=90)))


def test_tasks_run_where_their_data_is_when_that_node_has_a_free_slot(cluster):
    placed = ran_on(put_inputs(cluster, A, 2, "local") + put_inputs(cluster, B, 2, "local"))
    assert len(placed) == 4
    assert all(line.split()[0] == host for line, host in placed.items()), placed


def test_an_idle_node_takes_queued_work_reading_it_over_http(cluster):
    placed = ran_on(put_inputs(cluster, A, 8, "busy"))
    assert len(placed) == 8  # every file read, the other node's over HTTP
    on_b = [line for line, host in placed.items() if host == B]
    assert 2 <= len(on_b) <= 6, placed
    assert all(line.startswith(A) for line in placed)


def test_force_local_keeps_every_task_with_its_data(cluster):
    placed = ran_on(put_inputs(cluster, A, 6, "forcelocal"), scheduler={"force_local": True},
                    params={"sleep": 0.3})
    assert len(placed) == 6 and set(placed.values()) == {A}, placed


def test_force_remote_runs_every_task_away_from_its_data(cluster):
    placed = ran_on(put_inputs(cluster, A, 3, "remote") + put_inputs(cluster, B, 3, "remote"),
                    scheduler={"force_remote": True}, params={"sleep": 0.3})
    assert len(placed) == 6
    assert all(line.split()[0] != host for line, host in placed.items()), placed


def test_a_blacklisted_node_gets_no_tasks_until_it_is_whitelisted(cluster):
    disco = Disco()
    disco.blacklist(A)
    try:
        assert disco.nodeinfo()[A]["blacklisted"] is True
        # even tasks whose data is there run elsewhere, reading it over HTTP
        placed = ran_on(put_inputs(cluster, A, 4, "black") + ["raw://x", "raw://y"],
                        params={"sleep": 0.2})
        assert len(placed) == 6 and set(placed.values()) == {B}, placed
    finally:
        disco.whitelist(A)
    assert disco.nodeinfo()[A]["blacklisted"] is False
    placed = ran_on(put_inputs(cluster, A, 2, "white") + put_inputs(cluster, B, 2, "white"))
    assert set(placed.values()) == {A, B}, placed


def fails_on_a(line, params):
    import time
    from disco.error import DataError
    time.sleep(0.2)
    if this_host() == params["bad"]:  # noqa: F821
        raise DataError("this node cannot do it", line)
    yield line, this_host()  # noqa: F821


def test_a_node_that_keeps_failing_a_jobs_tasks_gets_no_more_of_them(cluster):
    job = Job().run(input=["raw://t%d" % i for i in range(10)], map=fails_on_a,
                    params={"bad": A})
    placed = dict(result_iterator(job.wait(timeout=90)))
    assert len(placed) == 10 and set(placed.values()) == {B}
    events = [e[2] for _o, e in job.events()]
    [listed] = [i for i, e in enumerate(events)
                if "node %s failed 3 task attempts of this job: it is blacklisted" % A in e]
    assert not any(e.endswith(" assigned to %s" % A) for e in events[listed:]), events
    failed_on_a = sum('failed on "%s"' % A in e for e in events)
    assert 3 <= failed_on_a <= 5, events  # (its two slots may have been running more)
    # jobinfo names the job's blacklist (REST, `disco jobinfo`, the job page's feed)
    info = Disco().jobinfo(job.name)
    assert info["blacklisted"] == [A] and info["node_failures"][A] >= 3, info
    shown = json.loads(cluster.cli("jobinfo", job.name).stdout)
    assert shown["blacklisted"] == [A]
    with cluster.urlopen("/disco/ui/job?name=" + job.name) as resp:
        assert json.load(resp)["info"]["blacklisted"] == [A]
    # the blacklist is the job's: other jobs' tasks still go there
    assert A in set(ran_on(["raw://o%d" % i for i in range(6)], params={"sleep": 0.5}).values())
