"""The fair job policy against the scheduler contract, and its own promise: slots are
shared between jobs."""
import types

import pytest

from disco_core.testing import SchedulerContract, SchedulerSim


class TestFairPolicy(SchedulerContract):
    policy = "fair"
    kind = "job"


@pytest.fixture
def sim(tmp_path):
    return lambda nodes: SchedulerSim(nodes, "fair", "locality", events_dir=str(tmp_path))


def test_slots_are_shared_between_jobs(sim):
    s = sim({"n1": 4, "n2": 4})
    jobs = [s.job(["raw://%d-%d" % (j, i) for i in range(20)], started=float(j))
            for j in range(4)]
    s.schedule()
    assert [job.running for job in jobs] == [2, 2, 2, 2]


def test_a_new_job_gets_the_next_free_slots(sim):
    s = sim({"n1": 4})
    old = s.job(["raw://o%d" % i for i in range(20)], started=1.0)
    s.schedule()
    assert old.running == 4
    new = s.job(["raw://n%d" % i for i in range(20)], started=2.0)
    for _ in range(2):
        task = next(t for t in old.tasks.values() if t.state == "running")
        s.finish(old, task.id)
        s.schedule()
    assert (old.running, new.running) == (2, 2)


def test_a_lone_job_uses_the_whole_cluster(sim):
    s = sim({"n1": 3, "n2": 3})
    job = s.job(["raw://%d" % i for i in range(10)])
    s.schedule()
    assert job.running == 6


def test_alpha_comes_from_the_settings_and_deficits_are_forgotten():
    from disco_core.plugins import PluginHost
    from disco_core.settings import DiscoSettings
    cls = PluginHost().driver("scheduler", "fair")
    policy = cls(DiscoSettings(DISCO_SCHEDULER_ALPHA="0.5"), lambda: 4)
    assert policy.alpha == 0.5
    a = types.SimpleNamespace(name="a", running=4, started=1.0)
    b = types.SimpleNamespace(name="b", running=0, started=2.0)
    assert [j.name for j in policy.order([a, b], "n1")] == ["b", "a"]
    assert set(policy.deficit) == {"a", "b"}
    policy.order([b], "n1")
    assert set(policy.deficit) == {"b"}
