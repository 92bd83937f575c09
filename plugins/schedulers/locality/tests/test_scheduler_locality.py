"""The locality placement against the scheduler contract, and its own promise: tasks run
where their data is, and no slot idles while work waits."""
import pytest

from disco_core.master.pipeline import Output
from disco_core.testing import SchedulerContract, SchedulerSim


class TestLocalityPlacement(SchedulerContract):
    policy = "locality"
    kind = "placement"


@pytest.fixture
def sim(tmp_path):
    return lambda nodes: SchedulerSim(nodes, "fifo", "locality", events_dir=str(tmp_path))


def on(host, name):
    return "disco://%s/disco/%s" % (host, name)


def test_bound_tasks_run_on_their_node(sim):
    s = sim({"n1": 2, "n2": 2, "n3": 2})
    s.job([on("n3", "a"), on("n1", "b"), on("n2", "c"), on("n3", "d"), on("n1", "e")])
    placed = {tid: host for _, tid, host in s.schedule()}
    assert placed == {0: "n3", 1: "n1", 2: "n2", 3: "n3", 4: "n1"}


def test_preferred_hosts_first_then_anything(sim):
    s = sim({"n1": 1, "n2": 1})
    # group_all has no group host: the task is preferred on its inputs' nodes, not bound
    job = s.job([Output.data(0, 1, [on("n2", "x")])], pipeline=[("all", "group_all", False)])
    (task,) = job.tasks.values()
    assert task.bound_host == "" and task.preferred == ["n2"]
    assert [host for _, _, host in s.schedule()] == ["n2"]


def test_work_moves_to_idle_nodes_only_when_its_node_is_busy(sim):
    s = sim({"n1": 1, "n2": 1})
    job = s.job([on("n1", "a"), on("n1", "b"), on("n1", "c")])
    placed = sorted((tid, host) for _, tid, host in s.schedule())
    assert placed == [(0, "n1"), (1, "n2")]
    s.finish(job, 0)
    assert [(tid, host) for _, tid, host in s.schedule()] == [(2, "n1")]


def test_tasks_of_a_disconnected_node_run_elsewhere(sim):
    s = sim({"n1": 1, "n2": 1})
    s.sched.nodes["n1"].connected = False
    s.job([on("n1", "a")])
    assert [host for _, _, host in s.schedule()] == ["n2"]


def test_a_task_preferred_on_a_busy_node_runs_elsewhere(sim):
    s = sim({"n1": 1, "n2": 1})
    job = s.job([on("n2", "busy"), Output.data(0, 1, [on("n2", "x")])],
                pipeline=[("all", "group_label", False)])
    other = s.job([on("n2", "first")], started=0.0)  # older: fifo serves it first
    assert sorted(s.schedule()) == [(job.name, 0, "n1"), (other.name, 0, "n2")]


def test_a_rerun_does_not_wait_for_the_node_where_it_failed(sim):
    s = sim({"n1": 1, "n2": 1})
    job = s.job([Output.data(0, 1, [on("n2", "x")])], pipeline=[("all", "group_all", False)])
    assert [host for _, _, host in s.schedule()] == ["n2"]
    s.fail(job, 0)
    # n2 is free again, but the task failed there: n1 runs it
    assert [host for _, _, host in s.schedule()] == ["n1"]
