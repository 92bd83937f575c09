"""The job coordinator (disco_core.master.coordinator) driven event by event.

The coordinator is a pure state machine; :class:`disco_core.testing.RecordingActions`
stands in for the master's network side (queue, stop, retry, finished) and records what
the coordinator asked for."""
import pytest

from disco_core.master.pipeline import Output
from disco_core.testing import RecordingActions, event_messages, make_job

MAP_REDUCE = [("map", "split", False), ("reduce", "group_label", False)]


@pytest.fixture
def actions():
    return RecordingActions(hosts=["h1", "h2", "h3"])


@pytest.fixture
def job_of(actions, tmp_path):
    def make(**kw):
        kw.setdefault("events_dir", str(tmp_path))
        return make_job(actions, **kw)
    return make


def run(job, task, host):
    job.task_started(task, host)
    return task.runid


def done(job, task, *outputs):
    job.task_done(task, task.runid, task.host, list(outputs))


def fail(job, task, message="boom", kind="error"):
    job.task_failed(task, task.runid, task.host, kind, message)


def index(host, labels, name):
    return Output.dir(host, "dir://%s/disco/%s" % (host, name), labels)


def test_stages_advance_and_task_ids_continue(actions, job_of):
    job = job_of(pipeline=MAP_REDUCE, inputs=["raw://a", "raw://b", ["disco://h1/x", "disco://h2/x"]])
    job.start()
    maps = actions.tasks("queue")
    assert [t.key for t in maps] == ["map:0", "map:1", "map:2"]
    assert all(t.state == "queued" for t in maps)
    assert [t.group for t in maps[:2]] == [(0, "a"), (0, "b")]
    for task, host in zip(maps, ["h1", "h2", "h3"]):
        run(job, task, host)
    assert job.running == 3
    done(job, maps[0], index("h1", [(0, 10), (1, 20)], "m0"))
    done(job, maps[1], index("h2", [(1, 5)], "m1"))
    assert len(actions.of("queue")) == 3  # the reduce waits for the last map
    done(job, maps[2], index("h3", [(0, 1), (2, 2)], "m2"))
    reduces = actions.tasks("queue")[3:]
    assert [(t.key, t.group) for t in reduces] == [("reduce:3", (0, "")), ("reduce:4", (1, "")),
                                                   ("reduce:5", (2, ""))]
    assert [[(i.label, i.urls) for i in t.inputs] for t in reduces][1] == \
        [(1, ["dir://h1/disco/m0"]), (1, ["dir://h2/disco/m1"])]
    assert job.stage_results["map"] == [["dir://h1/disco/m0"], ["dir://h2/disco/m1"],
                                        ["dir://h3/disco/m2"]]
    for task in reduces:
        run(job, task, "h1")
    for n, task in enumerate(reduces):
        assert job.status == "active"
        done(job, task, Output.data(0, 1, ["disco://h1/disco/r%d" % n]))
    assert job.status == "ready"
    assert job.results == [["disco://h1/disco/r0"], ["disco://h1/disco/r1"],
                           ["disco://h1/disco/r2"]]
    assert actions.tasks("finished") == [job]
    assert job.running == 0
    messages = event_messages(job)
    assert messages[0] == "New job initialized!"
    assert "Stage map scheduled with 3 tasks" in messages
    assert any(m.startswith("Stage map finished in ") for m in messages)
    assert "Stage reduce scheduled with 3 tasks" in messages
    assert messages[-1].startswith("READY: Job done in ")
    assert "SYS: [map:1] Received results from h2" in messages


def test_tasks_are_bound_to_cluster_hosts_and_prefer_their_inputs(actions, job_of):
    job = job_of(pipeline=[("shuffle", "group_node", False)],
                 inputs=[index("h2", [(0, 1)], "a"), index("elsewhere", [(0, 1)], "b"),
                         Output.data(0, 1, ["disco://h1/x", "disco://h3/x", "http://web/x"])])
    job.start()
    by_group = {t.group[1]: t for t in actions.tasks("queue")}
    assert by_group["h2"].bound_host == "h2" and by_group["h2"].preferred == ["h2"]
    assert by_group["elsewhere"].bound_host == "" and not by_group["elsewhere"].preferred
    (replicated,) = [t for h, t in by_group.items() if h not in ("h2", "elsewhere")]
    assert replicated.group[1] in ("h1", "h3", "web")  # one replica's host, at random
    # bound only to a cluster node; preferred on every cluster node holding a replica
    assert replicated.bound_host == (replicated.group[1] if replicated.group[1] != "web" else "")
    assert replicated.preferred == ["h1", "h3"]


def test_retries_with_delays_until_the_failure_limit(actions, job_of):
    job = job_of(max_failures=3, retry=(2.0, 5.0, 0.0))
    job.start()
    (task,) = actions.tasks("queue")
    delays = []
    for n, host in enumerate(["h1", "h2", "h3"], 1):
        first_runid = run(job, task, host)
        fail(job, task, "oops %d" % n)
        assert task.state == "waiting" and task.failures == n
        assert job.status == "active" and job.running == 0
        _, retried, delay = actions.of("retry_later")[-1]
        assert retried is task
        delays.append(delay)
        job.requeue(task)
        assert task.state == "queued" and task.runid == first_runid + 1
        assert task.id == 0  # a re-run keeps its task id
    assert delays == [2.0, 4.0, 5.0]  # min(K * base, max), no jitter
    assert task.failed_hosts == {"h1", "h2", "h3"}
    messages = event_messages(job)
    assert "WARNING: [map:0] oops 2" in messages
    assert 'Task map:0 failed on "h2", 2nd failures so far. Sleeping 4.000 seconds before ' \
           'retrying.' in messages
    run(job, task, "h1")
    fail(job, task, "the last straw")
    assert job.status == "dead"
    assert job.reason == ("Task map:0 failed 4 times. At most 3 failures are allowed. "
                          "Input: raw://a. Last error (on h1): the last straw")
    assert "ERROR: " + job.reason in event_messages(job)
    assert actions.tasks("finished") == [job]
    assert len(actions.of("retry_later")) == 3
    assert actions.of("stop") == []  # the failed task is not running any more


def test_retry_jitter_is_bounded(actions, job_of):
    job = job_of(retry=(1.0, 60.0, 0.5), max_failures=100)
    job.start()
    (task,) = actions.tasks("queue")
    for n in range(1, 30):
        run(job, task, "h1")
        fail(job, task)
        delay = actions.of("retry_later")[-1][2]
        assert min(n, 60) <= delay <= min(n, 60) + 0.5
        job.requeue(task)


def test_a_retried_task_is_unbound(actions, job_of):
    job = job_of(pipeline=[("shuffle", "group_node", False)], inputs=[index("h1", [(0, 1)], "a")])
    job.start()
    (task,) = actions.tasks("queue")
    assert task.bound_host == "h1"
    run(job, task, "h1")
    fail(job, task)
    assert task.bound_host == "" and task.failed_hosts == {"h1"}


def test_fatal_kills_the_job_and_stops_the_other_tasks(actions, job_of):
    job = job_of(inputs=["raw://a", "raw://b", "raw://c"])
    job.start()
    t0, t1, t2 = actions.tasks("queue")
    run(job, t0, "h1")
    run(job, t1, "h2")
    fail(job, t0, "Traceback: ValueError", kind="fatal")
    assert job.status == "dead"
    assert job.reason == "Task map:0 failed on h1 (input: raw://a): Traceback: ValueError"
    assert actions.tasks("stop") == [t1]
    assert actions.of("retry_later") == []
    assert actions.tasks("finished") == [job]
    assert {t.state for t in (t0, t1, t2)} == {"dead"}
    assert job.running == 0
    messages = event_messages(job)
    assert "FATAL: [map:0] Traceback: ValueError" in messages
    assert "ERROR: " + job.reason in messages
    # reports arriving after the job died change nothing
    done(job, t1, Output.data(0, 1, ["disco://h2/x"]))
    fail(job, t1)
    assert job.status == "dead" and len(actions.of("finished")) == 1


def test_kill_stops_running_tasks_once(actions, job_of):
    job = job_of(pipeline=MAP_REDUCE, inputs=["raw://a", "raw://b"])
    job.start()
    t0, t1 = actions.tasks("queue")
    run(job, t0, "h1")
    job.kill()
    assert job.status == "dead" and job.reason == "Job killed"
    assert actions.tasks("stop") == [t0]
    assert actions.tasks("finished") == [job]
    assert t0.state == t1.state == "dead"
    assert "WARN: Job killed" in event_messages(job)
    assert not any(m.startswith("ERROR") for m in event_messages(job))
    job.kill("again")
    job.requeue(t1)
    assert len(actions.of("finished")) == 1 and len(actions.of("queue")) == 2
    assert job.reason == "Job killed"


def test_kill_after_the_job_finished_does_nothing(actions, job_of):
    job = job_of()
    job.start()
    (task,) = actions.tasks("queue")
    run(job, task, "h1")
    done(job, task)
    assert job.status == "ready"
    job.kill()
    assert job.status == "ready" and actions.of("stop") == []


def test_a_task_lost_with_its_node_is_retried_without_counting_a_failure(actions, job_of):
    job = job_of(max_failures=1)
    job.start()
    (task,) = actions.tasks("queue")
    run(job, task, "h2")
    job.node_lost(task, "h2")
    assert task.failures == 0 and task.lost == 1 and task.failed_hosts == {"h2"}
    assert actions.tasks("retry_later") == [task] and job.status == "active"
    assert ("WARNING: [map:0] node h2 went away while running the task; retrying it"
            in event_messages(job))
    job.requeue(task)
    run(job, task, "h3")
    fail(job, task, "its own failure")  # the one failure allowed
    assert task.failures == 1 and job.status == "active"
    job.requeue(task)
    run(job, task, "h1")
    job.node_lost(task, "h1")  # a task that loses node after node ends the job
    assert task.failures == 1 and job.status == "dead"
    assert job.reason.startswith("Task map:0 lost 2 nodes while it ran. At most 1 are "
                                 "allowed."), job.reason
    assert "node h1 went away" in job.reason and job.find_task().key == "map:0"
    # a node lost after the task ended does not count
    job2 = job_of(name="Other@0:0:1")
    job2.start()
    task2 = actions.tasks("queue")[-1]
    run(job2, task2, "h1")
    done(job2, task2)
    job2.node_lost(task2, "h1")
    assert job2.status == "ready" and task2.failures == 0 and task2.lost == 0


def test_stale_run_reports_are_ignored(actions, job_of):
    job = job_of(pipeline=MAP_REDUCE)
    job.start()
    (task,) = actions.tasks("queue")
    old = run(job, task, "h1")
    fail(job, task)
    job.requeue(task)
    run(job, task, "h2")
    assert task.runid == old + 1
    # the first run reports late: ignored
    job.task_done(task, old, "h1", [Output.data(0, 1, ["disco://h1/stale"])])
    job.task_failed(task, old, "h1", "fatal", "stale")
    assert task.state == "running" and job.status == "active" and task.failures == 1
    done(job, task, Output.data(0, 1, ["disco://h2/fresh"]))
    assert job.stage_results["map"] == [["disco://h2/fresh"]]
    # a report for a task that is not running (queued again, or done) is ignored too
    job.task_done(task, task.runid, "h2", [])
    assert job.stage_results["map"] == [["disco://h2/fresh"]]


def test_a_stage_without_groups_finishes_at_once(actions, job_of):
    job = job_of(pipeline=MAP_REDUCE + [("final", "group_all", False)], inputs=["raw://a"])
    job.start()
    (task,) = actions.tasks("queue")
    run(job, task, "h1")
    done(job, task)  # the map wrote nothing
    assert job.status == "ready" and job.results == []
    assert len(actions.of("queue")) == 1
    messages = event_messages(job)
    assert "Stage reduce scheduled with 0 tasks" in messages
    assert "Stage final scheduled with 0 tasks" in messages
    assert job.stages[1].finished and job.stages[2].finished
    assert actions.tasks("finished") == [job]


def test_an_empty_pipeline_returns_its_inputs(actions, job_of):
    job = job_of(pipeline=[], inputs=["raw://a", ["http://h1/x", "http://h2/x"]])
    job.start()
    assert job.status == "ready"
    assert job.results == [["raw://a"], ["http://h1/x", "http://h2/x"]]
    assert actions.tasks("finished") == [job] and actions.of("queue") == []
    assert job.info()["pipeline"] == []
    assert job.info()["results"] == ["raw://a", "http://h1/x", "http://h2/x"]


def test_no_inputs_at_all(actions, job_of):
    job = job_of(pipeline=MAP_REDUCE, inputs=[])
    job.start()
    assert job.status == "ready" and job.results == []


def test_info_counters(actions, job_of):
    job = job_of(pipeline=MAP_REDUCE, inputs=["raw://a", "raw://b", "raw://c", "raw://d"])
    job.start()
    t0, t1, t2, t3 = actions.tasks("queue")

    def rows():
        return job.info()["pipeline"]

    # [stage, pending (queued), waiting (for a retry), running, done, failed]
    assert rows() == [["map", 4, 0, 0, 0, 0], ["reduce", 0, 0, 0, 0, 0]]
    run(job, t0, "h1")
    run(job, t1, "h2")
    assert rows()[0] == ["map", 2, 0, 2, 0, 0]
    assert sorted(job.info()["hosts"]) == ["h1", "h2"]
    fail(job, t0)
    assert rows()[0] == ["map", 2, 1, 1, 0, 1]
    job.requeue(t0)
    assert rows()[0] == ["map", 3, 0, 1, 0, 1]
    done(job, t1, Output.data(1, 1, ["disco://h2/o1"]))
    assert rows()[0] == ["map", 3, 0, 0, 1, 1]
    for task in (t0, t2, t3):
        run(job, task, "h3")
        done(job, task, Output.data(1, 1, ["disco://h3/o%d" % task.id]))
    assert rows() == [["map", 0, 0, 0, 4, 1], ["reduce", 1, 0, 0, 0, 0]]
    (reduce,) = actions.tasks("queue")[5:]
    run(job, reduce, "h1")
    assert rows()[1] == ["reduce", 0, 0, 1, 0, 0]
    done(job, reduce, Output.data(0, 1, ["disco://h1/r"]))
    info = job.info()
    assert info["pipeline"] == [["map", 0, 0, 0, 4, 1], ["reduce", 0, 0, 0, 1, 0]]
    assert info["active"] == "ready"
    assert info["results"] == ["disco://h1/r"]
    assert info["inputs"] == ["raw://a", "raw://b", "raw://c", "raw://d"]
    assert info["owner"] == "tests@localhost" and info["worker"] == "worker"
    assert info["hosts"] == [] and info["reason"] == ""


def test_info_of_a_dead_job(actions, job_of):
    job = job_of(inputs=["raw://a", "raw://b"])
    job.start()
    t0, _ = actions.tasks("queue")
    run(job, t0, "h1")
    fail(job, t0, "bad", kind="fatal")
    info = job.info()
    assert info["active"] == "dead" and "bad" in info["reason"]
    assert info["pipeline"] == [["map", 0, 0, 0, 0, 1]]
    assert info["hosts"] == []


def test_event_log_is_written_to_disk(actions, job_of, tmp_path):
    job = job_of()
    job.start()
    (task,) = actions.tasks("queue")
    run(job, task, "h1")
    done(job, task)
    raw = job.events.raw().decode()
    assert "New job initialized!" in raw and "READY: Job done in" in raw


def test_task_descriptions_and_the_first_failed_task(actions, job_of):
    job = job_of(pipeline=MAP_REDUCE, inputs=["raw://a", ["disco://h1/x", "disco://h2/x"]])
    job.start()
    first, second = actions.tasks("queue")
    with pytest.raises(KeyError) as info:
        job.find_task()
    assert "no task of job Test@0:0:0 has failed: name one (map:0, map:1)" in str(info.value)
    run(job, second, "h1")
    fail(job, second, "Traceback ...\nValueError: x")
    job.requeue(second)
    run(job, second, "h2")
    done(job, second, index("h2", [(0, 3)], "m1"))
    assert job.find_task() is second  # it failed once, though it is done now
    described = job.find_task("map:1").info()
    assert described["hosts"] == ["h1", "h2"] and described["state"] == "done"
    assert described["error"] == {"kind": "error", "host": "h1",
                                  "message": "Traceback ...\nValueError: x"}
    assert described["inputs"] == [[0, ["disco://h1/x", "disco://h2/x"]]]
    assert described["group"] == [0, "h1"] or described["group"] == [0, "h2"]
    run(job, first, "h3")
    fail(job, first, "fatal one", kind="fatal")
    assert job.status == "dead" and job.find_task() is first  # the one that ended the job
    for bad in ("map:7", "reduce:0", "map", "x:y"):
        with pytest.raises(KeyError) as info:
            job.find_task(bad)
        assert "job Test@0:0:0 has no task %r" % bad in str(info.value)


def test_a_tasks_rarely_set_fields_read_their_defaults_until_set(actions, job_of):
    job = job_of(pipeline=MAP_REDUCE, inputs=["raw://a", "raw://b"])
    job.start()
    first, second = actions.tasks("queue")
    assert (first.lost, first.remade, first.old_outputs) == (0, 0, None)
    assert not first.only_on and not first.avoid and not first.awaiting
    assert first.rare is None and not hasattr(first, "__dict__")  # nothing held for them
    first.lost += 1
    first.former_urls = {"dir://h1/x"}
    assert (first.lost, first.former_urls, first.remade) == (1, {"dir://h1/x"}, 0)
    assert second.lost == 0 and second.rare is None  # each task its own


def test_a_started_job_still_tells_its_inputs_and_what_they_need(actions, job_of):
    from disco_core.master.plugincheck import needs_of
    inputs = ["raw://a", ["disco://h1/x", "disco://h2/x"], "rot13://b"]
    job = job_of(pipeline=MAP_REDUCE, inputs=inputs)
    job.start()  # the inputs' Outputs are let go once the tasks hold them
    assert job.info()["inputs"] == ["raw://a", "disco://h1/x", "disco://h2/x", "rot13://b"]
    assert needs_of(job).schemes == {"raw", "disco", "rot13"}
