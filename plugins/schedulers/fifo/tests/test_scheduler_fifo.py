"""The fifo job policy against the scheduler contract, and its own promise: the oldest job
with work goes first."""
import pytest

from disco_core.testing import SchedulerContract, SchedulerSim


class TestFifoPolicy(SchedulerContract):
    policy = "fifo"
    kind = "job"


@pytest.fixture
def sim(tmp_path):
    return lambda nodes: SchedulerSim(nodes, "fifo", "locality", events_dir=str(tmp_path))


def test_the_oldest_job_takes_every_slot_it_can_use(sim):
    s = sim({"n1": 2, "n2": 2})
    young = s.job(["raw://y%d" % i for i in range(10)], started=20.0)
    old = s.job(["raw://o%d" % i for i in range(3)], started=10.0)
    s.schedule()
    assert (old.running, young.running) == (3, 1)


def test_jobs_finish_in_submission_order(sim):
    s = sim({"n1": 2})
    jobs = [s.job(["raw://%d-%d" % (j, i) for i in range(4)], started=float(j))
            for j in range(3)]
    finished = []
    for _ in range(100):
        s.schedule()
        running = s.running()
        if not running:
            break
        task = min(running, key=lambda t: t.started)
        s.finish(task.job, task.id)
        finished += [j.name for j in jobs if j.status == "ready" and j.name not in finished]
    assert finished == [j.name for j in jobs]
