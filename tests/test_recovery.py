"""Outputs a later stage cannot read are made again (disco_core.master.recovery), driven
event by event through the job coordinator."""
import pytest

from disco_core.master.pipeline import Output
from disco_core.testing import RecordingActions, event_messages, make_job

MAP_REDUCE = [("map", "split", False), ("reduce", "group_label", False)]


@pytest.fixture
def actions():
    return RecordingActions(hosts=["h1", "h2", "h3"])


@pytest.fixture
def job(actions, tmp_path):
    return make_job(actions, pipeline=MAP_REDUCE, inputs=["raw://a", "raw://b"],
                    events_dir=str(tmp_path), max_failures=2)


def index(host, name):
    return Output.dir(host, "dir://%s/disco/%s" % (host, name), [(0, 1), (1, 1)])


def run(job, task, host):
    job.task_started(task, host)


def done(job, task, *outputs):
    job.task_done(task, task.runid, task.host, list(outputs))


def maps_done(job, actions):
    m0, m1 = actions.tasks("queue")[:2]
    run(job, m0, "h1")
    run(job, m1, "h2")
    done(job, m0, index("h1", "m0"))
    done(job, m1, index("h2", "m1"))
    return m0, m1, actions.tasks("queue")[2:]


def test_a_reader_of_lost_outputs_has_them_made_again_and_then_runs(job, actions):
    job.start()
    m0, m1, (r0, r1) = maps_done(job, actions)
    run(job, r0, "h1")
    lost = ["dir://h2/disco/m1"]
    job.task_failed(r0, r0.runid, "h1", "error", "cannot read m1", lost)
    assert r0.state == "waiting" and r0.failures == 0 and r0.awaiting == {m1.id}
    assert m1.state == "waiting" and m1.failed_hosts == {"h2"}
    assert actions.tasks("retry_later") == [m1]  # the map first; the reduce waits
    assert ("WARNING: [reduce:2] cannot read the outputs of map:1 (on h2): running it again"
            in event_messages(job))
    # the other reduce fails on the same output meanwhile: it waits too, no second rerun
    run(job, r1, "h3")
    job.task_failed(r1, r1.runid, "h3", "error", "cannot read m1", lost)
    assert actions.tasks("retry_later") == [m1] and r1.awaiting == {m1.id}
    job.requeue(m1)
    run(job, m1, "h3")
    done(job, m1, index("h3", "m1-again"))
    assert actions.tasks("retry_later")[1:] == [r0, r1]
    assert [inp.urls for inp in r0.inputs] == [["dir://h1/disco/m0"],
                                               ["dir://h3/disco/m1-again"]]
    assert job.stages[0].done == 2  # made again, not counted twice
    for task in (r0, r1):
        job.requeue(task)
        run(job, task, "h1")
        done(job, task, Output.data(task.group[0], 1, ["disco://h1/r%d" % task.id]))
    assert job.status == "ready"
    assert job.stage_results["map"] == [["dir://h1/disco/m0"], ["dir://h3/disco/m1-again"]]
    assert all(t.failures == 0 for t in job.tasks.values())


def test_lost_inputs_no_stage_made_count_as_a_failure(job, actions):
    job.start()
    _m0, _m1, (r0, _r1) = maps_done(job, actions)
    run(job, r0, "h1")
    job.task_failed(r0, r0.runid, "h1", "error", "cannot read it", ["raw://elsewhere"])
    assert r0.failures == 1 and actions.tasks("retry_later") == [r0]


def test_outputs_lost_again_and_again_end_the_job(job, actions):
    job.start()
    _m0, m1, (r0, _r1) = maps_done(job, actions)
    for n in range(2):  # made again max_failures times
        run(job, r0, "h1")
        url = m1.outputs[0].urls[0]
        job.task_failed(r0, r0.runid, "h1", "error", "cannot read", [url])
        assert m1.remade == n + 1 and r0.failures == 0
        job.requeue(m1)
        run(job, m1, "h3")
        done(job, m1, index("h3", "m1-%d" % n))
        job.requeue(r0)
    for n in range(3):  # then the reader's failures count, up to the limit
        run(job, r0, "h1")
        job.task_failed(r0, r0.runid, "h1", "error", "cannot read",
                        [m1.outputs[0].urls[0]])
        if job.status == "active":
            job.requeue(r0)
    assert job.status == "dead" and "Task reduce:2 failed 3 times" in job.reason


CONCURRENT = [("map", "split", False), ("reduce", "group_label", True)]


def test_lost_outputs_feeding_a_concurrent_stage_are_made_again(actions, tmp_path):
    job = make_job(actions, pipeline=CONCURRENT, inputs=["raw://a", "raw://b"],
                   events_dir=str(tmp_path), max_failures=2)
    job.start()
    m0, m1 = actions.tasks("queue")[:2]
    run(job, m0, "h1")
    run(job, m1, "h2")
    done(job, m0, index("h1", "m0"))  # the reduce starts on it while m1 still runs
    r0, r1 = actions.tasks("queue")[2:]
    run(job, r0, "h3")
    job.task_failed(r0, r0.runid, "h3", "error", "cannot read m0", ["dir://h1/disco/m0"])
    assert r0.state == "waiting" and r0.failures == 0 and r0.awaiting == {m0.id}
    assert m0.state == "waiting" and m0.failed_hosts == {"h1"}
    assert actions.tasks("retry_later") == [m0]
    assert m1.state == "running"  # a producer still running is left alone
    job.requeue(m0)
    run(job, m0, "h3")
    done(job, m0, index("h3", "m0-again"))
    assert actions.tasks("retry_later")[1:] == [r0]
    assert [inp.urls for inp in r0.inputs] == [["dir://h3/disco/m0-again"]]
    done(job, m1, index("h2", "m1"))  # the map stage ends: the reduce has all its inputs
    assert job.stages[0].finished and job.stages[0].done == 2
    assert [inp.urls for inp in r0.inputs] == [["dir://h3/disco/m0-again"],
                                               ["dir://h2/disco/m1"]]
    job.requeue(r0)
    for task in (r0, r1):
        if task.state != "running":
            run(job, task, "h2")
        done(job, task, Output.data(task.group[0], 1, ["disco://h2/r%d" % task.id]))
    assert job.status == "ready"
    assert all(t.failures == 0 for t in job.tasks.values())
