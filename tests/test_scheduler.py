"""The scheduler core (disco_core.master.scheduler) with the real policy plugins, loaded by
name through the plugin host as the master loads them: locality placement, fifo and fair
job policies, failed hosts, stealing, max_cores."""
import pytest

from disco_core.master.pipeline import Output
from disco_core.master.scheduler import TaskQueue
from disco_core.plugins import PluginHost
from disco_core.settings import DiscoSettings
from disco_core.testing import SchedulerSim, event_messages

HOST = PluginHost()


@pytest.fixture
def sim(tmp_path):
    return lambda nodes, **kw: SchedulerSim(nodes, events_dir=str(tmp_path), host=HOST, **kw)


def on(host, name="x"):
    return "disco://%s/disco/%s" % (host, name)


def test_policies_load_by_name_through_the_plugin_host():
    for name in ("fair", "fifo", "locality"):
        cls = HOST.driver("scheduler", name)
        assert cls.name == name
    assert {"fair", "fifo", "locality"} <= set(HOST.names("scheduler"))


def test_locality_runs_tasks_where_their_data_is(sim):
    s = sim({"h1": 1, "h2": 1, "h3": 1})
    s.job([on("h3", "a"), on("h1", "b"), on("h2", "c")])
    got = s.schedule()
    assert sorted((tid, host) for _, tid, host in got) == [(0, "h3"), (1, "h1"), (2, "h2")]


def test_locality_prefers_bound_and_preferred_tasks_over_older_ones(sim):
    s = sim({"h1": 1, "h2": 1})
    s.sched.nodes["h1"].connected = False
    # group_label gives no group host: the replicated input is preferred on h2, not bound
    job = s.job(["raw://anywhere", Output.data(0, 1, [on("h2"), on("h9")])],
                pipeline=[("reduce", "group_label", False)])
    job2 = s.job(["raw://first", on("h2", "mine")])
    assert [t.preferred for t in job.tasks.values()] == [["h2"]]
    assert job2.tasks[0].bound_host == "" and job2.tasks[1].bound_host == "h2"
    got = s.schedule()
    assert got == [("J1@0:0:1", 0, "h2")]  # job 1 is older; its one task prefers h2
    s.finish(job, 0)
    assert s.schedule() == [("J2@0:0:2", 1, "h2")]  # bound here, though task 0 is older
    s.finish(job2, 1)
    assert s.schedule() == [("J2@0:0:2", 0, "h2")]  # then a task that may run anywhere


def test_unbound_tasks_run_on_nodes_without_local_work(sim):
    s = sim({"h1": 2, "h2": 2})
    job = s.job(["raw://a", "raw://b", on("h1", "c"), "raw://d"])
    got = s.schedule()
    assert len(got) == 4
    assert [host for _, tid, host in got if tid == 2] == ["h1"]
    assert sorted(host for _, _, host in got) == ["h1", "h1", "h2", "h2"]
    assert job.running == 4


def test_tasks_bound_to_a_busy_or_absent_node_move_to_an_idle_one(sim):
    s = sim({"h1": 1, "h2": 1, "h3": 1})
    s.sched.nodes["h3"].connected = False
    job = s.job([on("h1", "a"), on("h1", "b"), on("h3", "c")])
    got = s.schedule()
    assert sorted((tid, host) for _, tid, host in got) == [(0, "h1"), (1, "h2")]
    s.finish(job, 1)
    assert [(tid, host) for _, tid, host in s.schedule()] == [(2, "h2")]


def test_bound_tasks_wait_for_their_free_node_before_being_stolen(sim):
    s = sim({"h1": 2, "h2": 1})
    s.job([on("h1", "a"), on("h1", "b")])
    got = s.schedule()
    assert sorted(host for _, _, host in got) == ["h1", "h1"]


def test_reruns_avoid_failed_hosts_until_every_host_failed(sim):
    s = sim({"h1": 1, "h2": 1})
    job = s.job([on("h1")])
    assert s.schedule() == [("J1@0:0:1", 0, "h1")]
    s.fail(job, 0)
    # h1 is free and first in line, but the task failed there
    assert s.schedule() == [("J1@0:0:1", 0, "h2")]
    s.fail(job, 0)
    assert job.tasks[0].failed_hosts == {"h1", "h2"}
    # every available host failed: start over anywhere
    got = s.schedule()
    assert len(got) == 1 and got[0][1] == 0


def test_a_rerun_waits_for_a_busy_host_rather_than_the_failed_one(sim):
    s = sim({"h1": 1, "h2": 1})
    job = s.job([on("h1", "a"), on("h2", "b")])
    assert len(s.schedule()) == 2
    s.fail(job, 0)
    assert s.schedule() == []  # h1 is free but failed; h2 is busy with task 1
    s.finish(job, 1)
    assert s.schedule() == [("J1@0:0:1", 0, "h2")]


def test_disconnected_and_blacklisted_nodes_get_nothing(sim):
    s = sim({"h1": 4, "h2": 4})
    s.sched.nodes["h1"].blacklisted = True
    s.sched.nodes["h2"].connected = False
    s.job(["raw://a", on("h1")])
    assert s.schedule() == []
    s.sched.nodes["h2"].connected = True
    assert sorted(tid for _, tid, _ in s.schedule()) == [0, 1]


def test_fifo_gives_every_slot_to_the_oldest_job(sim):
    s = sim({"h1": 2, "h2": 1}, policy="fifo")
    young = s.job(["raw://y%d" % i for i in range(5)], started=200.0)
    old = s.job(["raw://o%d" % i for i in range(2)], started=100.0)
    got = s.schedule()
    assert [name for name, _, _ in got].count(old.name) == 2
    assert [name for name, _, _ in got].count(young.name) == 1
    assert got[0][0] == old.name and got[1][0] == old.name


def test_fifo_order_is_by_start_time():
    policy = HOST.driver("scheduler", "fifo")(DiscoSettings(), lambda: 4)

    class J:
        def __init__(self, name, started):
            self.name, self.started, self.running = name, started, 0
    jobs = [J("c", 3.0), J("a", 1.0), J("b", 2.0)]
    assert [j.name for j in policy.order(jobs, "h1")] == ["a", "b", "c"]


def test_fair_spreads_slots_between_jobs(sim):
    s = sim({"h1": 3, "h2": 3})
    jobs = [s.job(["raw://%d-%d" % (j, i) for i in range(10)], started=float(j))
            for j in range(3)]
    got = s.schedule()
    assert len(got) == 6
    assert [j.running for j in jobs] == [2, 2, 2]
    # a finished task's slot goes to the job that lost it, not to the oldest
    s.finish(jobs[2], next(t.id for t in jobs[2].tasks.values() if t.state == "running"))
    assert [name for name, _, _ in s.schedule()] == [jobs[2].name]
    assert [j.running for j in jobs] == [2, 2, 2]


def test_fair_gives_all_slots_to_a_lone_job(sim):
    s = sim({"h1": 2, "h2": 2})
    job = s.job(["raw://%d" % i for i in range(10)])
    assert len(s.schedule()) == 4 and job.running == 4


def test_fifo_and_fair_differ_on_the_same_load(sim):
    results = {}
    for policy in ("fifo", "fair"):
        s = sim({"h1": 4}, policy=policy)
        a = s.job(["raw://a%d" % i for i in range(8)], started=1.0)
        b = s.job(["raw://b%d" % i for i in range(8)], started=2.0)
        s.schedule()
        results[policy] = (a.running, b.running)
    assert results == {"fifo": (4, 0), "fair": (2, 2)}


def test_max_cores_caps_a_jobs_running_tasks(sim):
    s = sim({"h1": 3, "h2": 3}, policy="fifo")
    capped = s.job(["raw://%d" % i for i in range(10)], max_cores=2, started=1.0)
    other = s.job(["raw://o%d" % i for i in range(10)], started=2.0)
    s.schedule()
    assert capped.running == 2 and other.running == 4
    done_id = next(t.id for t in capped.tasks.values() if t.state == "running")
    s.finish(capped, done_id)
    got = s.schedule()
    assert [name for name, _, _ in got] == [capped.name]
    assert capped.running == 2


def test_force_local_keeps_tasks_with_their_data_while_its_node_is_there(sim):
    s = sim({"h1": 1, "h2": 1})
    job = s.job([on("h1", "a"), on("h1", "b")], scheduler={"force_local": True})
    # without the flag h2 would take the second task (see above); with it, the task waits
    assert s.schedule() == [(job.name, 0, "h1")]
    s.finish(job, 0)
    assert s.schedule() == [(job.name, 1, "h1")]
    # its node gone, the task runs where it can rather than never
    other = s.job([on("h1", "c")], scheduler={"force_local": True})
    s.sched.nodes["h1"].connected = False
    assert s.schedule() == [(other.name, 0, "h2")]


def test_force_remote_runs_tasks_away_from_their_data(sim):
    s = sim({"h1": 2, "h2": 2})
    job = s.job([on("h1", "a"), on("h2", "b"), on("h1", "c")],
                scheduler={"force_remote": True})
    placed = {tid: host for _, tid, host in s.schedule()}
    assert placed == {0: "h2", 1: "h1", 2: "h2"}
    assert all(t.bound_host == "" and not t.preferred for t in job.tasks.values())
    # a one-node cluster still runs them
    one = sim({"h1": 1})
    lone = one.job([on("h1", "a")], scheduler={"force_remote": True})
    assert one.schedule() == [(lone.name, 0, "h1")]


def test_force_local_wins_when_both_are_given(sim):
    s = sim({"h1": 1, "h2": 1})
    job = s.job([on("h1", "a")], scheduler={"force_local": True, "force_remote": True})
    assert s.schedule() == [(job.name, 0, "h1")]


def test_a_node_that_keeps_failing_a_jobs_tasks_is_blacklisted_for_that_job(sim):
    s = sim({"h1": 1, "h2": 1}, policy="fifo")
    job = s.job(["raw://%d" % i for i in range(6)], started=1.0)
    job.node_failure_limit = 2
    for _ in range(2):
        s.schedule()
        on_h1 = next(t for t in s.running() if t.host == "h1")
        s.fail(job, on_h1.id)
    assert job.blacklisted_hosts == {"h1"}
    assert any("node h1 failed 2 task attempts of this job: it is blacklisted for this job"
               in m for m in event_messages(job))
    for _ in range(6):
        for _name, _tid, host in s.schedule():
            assert host == "h2"
        for task in s.running():
            if task.job is job:
                s.finish(job, task.id)
    assert job.status == "ready"
    # another job's tasks still go there
    other = s.job(["raw://o"], started=2.0)
    assert [host for _, _, host in s.schedule()] == ["h1"] and other.running == 1
    # with no other node left the job's tasks go there too
    s.finish(other, 0)
    later = s.job(["raw://l%d" % i for i in range(4)], started=3.0)
    later.blacklisted_hosts.add("h1")
    s.sched.nodes["h2"].connected = False
    assert [host for _, _, host in s.schedule()] == ["h1"]
    # and the last node of a cluster is never blacklisted
    lone = sim({"h1": 1})
    stuck = lone.job(["raw://a", "raw://b"])
    stuck.node_failure_limit = 1
    lone.schedule()
    lone.fail(stuck, 0)
    assert stuck.blacklisted_hosts == set() and len(lone.schedule()) == 1


def test_finished_jobs_leave_the_scheduler(sim):
    s = sim({"h1": 1})
    job = s.job(["raw://a"])
    s.schedule()
    s.finish(job, 0)
    assert job.status == "ready"
    assert job.name not in s.sched.jobs and job.name not in s.sched.queues
    assert s.schedule() == []


def test_a_killed_jobs_queued_tasks_are_dropped(sim):
    s = sim({"h1": 1})
    job = s.job(["raw://a", "raw://b"])
    s.schedule()
    job.kill()
    assert s.sched.nodes["h1"].running == set()
    other = s.job(["raw://c"])
    assert s.schedule() == [(other.name, 0, "h1")]


def test_tasks_of_every_stage_are_scheduled(sim):
    s = sim({"h1": 2, "h2": 2})
    job = s.job(["raw://a", "raw://b"], pipeline=[("map", "split", False),
                                                 ("reduce", "group_label", False)])
    for _, tid, host in s.schedule():
        s.finish(job, tid, [Output.dir(host, "dir://%s/disco/m%d" % (host, tid),
                                       [(0, 1), (1, 1)])])
    got = s.schedule()
    assert sorted(tid for _, tid, _ in got) == [2, 3]


# -- TaskQueue --------------------------------------------------------------------------

class T:
    def __init__(self, name, bound="", preferred=()):
        self.name, self.bound_host, self.preferred = name, bound, list(preferred)
        self.state = "queued"

    def __repr__(self):
        return self.name


def test_task_queue_indexes():
    q = TaskQueue()
    a, b, c, d = T("a"), T("b", bound="h1"), T("c", preferred=["h1", "h2"]), T("d", bound="h2")
    for t in (a, b, c, d):
        q.push(t)
    assert len(q) == 4
    anything = lambda t: True  # noqa: E731
    assert q.pop_host("h2", anything) is c and c.state == "assigned"
    assert q.pop_host("h2", anything) is d
    assert q.pop_host("h2", anything) is None
    assert q.pop_any(anything) is a  # bound tasks never come from pop_any
    assert q.pop_any(anything) is None
    assert len(q) == 1
    assert q.pop_bound_elsewhere("h2", lambda other: False, anything) is None
    assert q.pop_bound_elsewhere("h2", lambda other: other == "h1", anything) is b
    assert len(q) == 0


def test_task_queue_skips_refused_tasks_without_losing_their_place():
    q = TaskQueue()
    tasks = [T("t%d" % i) for i in range(5)]
    for t in tasks:
        q.push(t)
    odd = lambda t: int(t.name[1]) % 2 == 1  # noqa: E731
    assert q.pop_any(odd) is tasks[1]
    assert q.pop_any(odd) is tasks[3]
    assert q.pop_any(odd) is None
    assert [q.pop_any(lambda t: True) for _ in range(3)] == [tasks[0], tasks[2], tasks[4]]


def test_task_queue_ignores_tasks_no_longer_queued():
    q = TaskQueue()
    a, b = T("a", preferred=["h1"]), T("b")
    q.push(a)
    q.push(b)
    a.state = "dead"
    assert q.pop_host("h1", lambda t: True) is None
    assert q.pop_any(lambda t: True) is b


def test_a_stale_report_keeps_the_new_attempts_slot(sim):
    s = sim({"h1": 1, "h2": 1})
    job = s.job([on("h1")])
    assert s.schedule() == [("J1@0:0:1", 0, "h1")]
    old_runid = job.tasks[0].runid
    s.fail(job, 0)
    assert s.schedule() == [("J1@0:0:1", 0, "h2")]
    # h1's late reports of the attempt it no longer runs change nothing
    assert not s.finish(job, 0, runid=old_runid, host="h1")
    assert not s.fail(job, 0, runid=old_runid, host="h1")
    assert not s.finish(job, 0, host="h1")  # right run id, wrong host
    assert [t.id for t in s.sched.nodes["h2"].running] == [0]
    assert job.tasks[0].state == "running" and job.tasks[0].failures == 1
    assert s.finish(job, 0)
    assert not s.sched.nodes["h2"].running
