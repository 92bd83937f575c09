"""What a task costs besides its records: the job's inputs travel in its job data apart from
its functions, and a worker process decodes them once for the tasks of a job it runs, while
each task still gets ``(job, jobargs)`` of its own; scanning a job's functions for the globals
a task binds does not walk its inputs."""
import os

import pytest

from disco.core import Job, result_iterator
from disco_core.jobpack import JobPack
from disco_core.testing import running_cluster
from disco_core.worker import load_job
from disco_core.worker.classic import Worker


def mapper(line, params):
    yield line, 1


def pack_file(tmp_path, inputs, name="jobfile"):
    job = Job()
    jobargs = {"input": inputs, "map": mapper, "params": {"n": 1}}
    pack = JobPack(1, {"prefix": "Overhead", "worker": "worker", "owner": "tests@localhost",
                       "scheduler": {}}, {}, b"", Worker().jobdata(job, jobargs))
    path = tmp_path / name
    path.write_bytes(pack.dumps())
    return str(path)


def test_a_task_gets_the_jobs_inputs_in_jobargs(tmp_path):
    inputs = ["raw://%d" % i for i in range(1000)] + [["http://a/x", "http://b/x"]]
    _jobdict, _job, jobargs = load_job(pack_file(tmp_path, inputs))
    assert jobargs["input"] == inputs
    assert jobargs["map"].__name__ == "mapper" and jobargs["params"] == {"n": 1}


def test_the_inputs_are_decoded_once_per_process_and_job_file(tmp_path):
    path = pack_file(tmp_path, ["raw://%d" % i for i in range(1000)])
    _d, job1, args1 = load_job(path)
    _d, job2, args2 = load_job(path)
    assert args1["input"] == args2["input"]
    assert all(a is b for a, b in zip(args1["input"], args2["input"]))  # decoded once
    # each task's own objects: job and jobargs it may change without harm, and a list of
    # inputs that is shared only until a task changes it
    assert args1 is not args2 and job1 is not job2
    args1["input"].append("raw://extra")
    args1["params"]["n"] = 2
    _d, _job3, args3 = load_job(path)
    assert len(args3["input"]) == 1000 and args3["params"] == {"n": 1}


def test_another_job_file_has_its_own_inputs(tmp_path):
    one = pack_file(tmp_path, ["raw://a"], "one")
    two = pack_file(tmp_path, ["raw://b"], "two")
    assert load_job(one)[2]["input"] == ["raw://a"]
    assert load_job(two)[2]["input"] == ["raw://b"]
    assert load_job(one)[2]["input"] == ["raw://a"]


def test_job_data_of_one_pickle_still_loads(tmp_path):
    from disco_core.worker.task import jobdata
    pack = JobPack(1, {"prefix": "Old", "worker": "worker", "owner": "tests@localhost",
                       "scheduler": {}}, {}, b"", jobdata(Job(), {"input": ["raw://x"]}))
    path = tmp_path / "jobfile"
    path.write_bytes(pack.dumps())
    assert load_job(str(path))[2]["input"] == ["raw://x"]


def test_tasks_share_the_jobs_inputs_until_one_changes_them(tmp_path):
    inputs = ["raw://%d" % i for i in range(1000)]
    pack = JobPack(1, {"prefix": "Shared", "worker": "worker", "owner": "tests@localhost",
                       "scheduler": {}}, {}, b"", Worker().jobdata(Job(), {"input": inputs}))
    path = tmp_path / "jobfile"
    path.write_bytes(pack.dumps())
    first = load_job(str(path))[2]["input"]
    assert load_job(str(path))[2]["input"] is first  # no copy per task
    first.sort(key=len, reverse=True)
    second = load_job(str(path))[2]["input"]
    assert second is not first and second == inputs and first != inputs
    del second[:10]
    assert load_job(str(path))[2]["input"] == inputs
    assert isinstance(first, list)


def test_the_functions_a_task_binds_globals_in_are_not_its_inputs():
    inputs = ["raw://%d" % i for i in range(100)]
    found = Worker().job_functions(Job(), {"input": inputs, "map": mapper})
    assert mapper in found
    assert not any(isinstance(f, str) for f in found)


def inputs_seen(line, params):
    from disco_core.worker.task import active_task
    _job, jobargs = active_task().jobobjs
    jobargs["input"].append("raw://changed")  # the next task in this process must not see it
    yield line, (len(jobargs["input"]), os.getpid())


@pytest.mark.parametrize("n", [12])
def test_tasks_of_a_warm_worker_each_see_the_jobs_inputs_as_given(n):
    with running_cluster(hosts=[("127.0.0.2", 1)], extra_env={"DISCO_WORKER_IDLE": "30"}):
        job = Job().run(input=["raw://%d" % i for i in range(n)], map=inputs_seen)
        got = list(result_iterator(job.wait(timeout=120)))
        job.purge()
    assert sorted(line for line, _ in got) == sorted(str(i) for i in range(n))
    assert {seen for _line, (seen, _pid) in got} == {n + 1}
    pids = [pid for _line, (_seen, pid) in got]
    assert len(set(pids)) < n  # some process ran several tasks of the job


def test_a_tasks_paths_follow_its_fields():
    from disco_core.worker.task import Task
    task = Task(taskid=3, stage="map", group=(0, "h"), jobfile="/d/job/jobfile",
                jobname="j", host="h", started=1.0)
    first = task.path("out")
    assert first.startswith("/d/job/") and task.uid in first
    assert task.path("out") == first
    task.taskid = 4  # a task made again from another reply: its own directory
    assert task.path("out") != first and task.uid in task.path("out")
    task.jobfile = "/e/job/jobfile"
    assert task.path("out").startswith("/e/job/")
    assert task.taskpath in task.path("out")


def test_a_queued_task_holds_less_than_a_kilobyte_on_the_master(tmp_path):
    """The master's share of a job of many small tasks: its task, its input and the job's
    record of that input, measured with tracemalloc (a memory figure, not a timing)."""
    import gc
    import tracemalloc
    from disco_core.testing import RecordingActions, make_job
    n = 20000
    urls = ["raw://%d" % i for i in range(n)]
    actions = RecordingActions(hosts=["h1", "h2"])
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        job = make_job(actions, pipeline=[("map", "split", False),
                                          ("reduce", "group_label", False)],
                       inputs=urls, events_dir=str(tmp_path))
        job.start()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert sum(t.state == "queued" for t in job.tasks.values()) == n
    assert held / n < 1000, "%.0f bytes per queued task" % (held / n)


def test_a_nodes_batch_of_reports_is_checked_message_by_message():
    import json
    from disco_core.master import messages
    done = {"op": "done", "job": "j", "taskid": 1, "runid": 0,
            "outputs": [["data", 0, 3, ["raw://x"]]]}
    events = {"op": "events", "events": [["j", "h", "DONE: [map:1]"]]}
    msg = messages.parse(json.dumps({"op": "batch", "messages": [events, done]}))
    assert [m["op"] for m in msg["messages"]] == ["events", "done"]
    assert msg["messages"][1]["outputs"][0].urls == ["raw://x"]
    bad = dict(done, taskid="one")
    with pytest.raises(messages.BadMessage, match="taskid"):
        messages.parse(json.dumps({"op": "batch", "messages": [events, bad]}))
    for inner in ({"op": "hello", "session": "s", "running": []},
                  {"op": "batch", "messages": []}):
        with pytest.raises(messages.BadMessage, match="cannot be in a batch"):
            messages.parse(json.dumps({"op": "batch", "messages": [inner]}))
    with pytest.raises(messages.BadMessage, match="messages"):
        messages.parse(json.dumps({"op": "batch", "messages": "done"}))


def test_inputs_sent_with_the_task_need_no_input_request():
    from disco_core.worker.task import Task
    reply = {"taskid": 0, "stage": "map", "jobname": "j", "jobfile": "/x/jobfile",
             "inputs": [[1, "ok", 0, [[0, "raw://b"]]], [0, "ok", 0, [[0, "raw://a"]]]]}
    worker = Worker()
    worker.task = Task.from_reply(reply)
    assert worker.proto is None  # an INPUT request would fail: there is no node to ask
    got = worker.get_inputs()
    assert [(i.id, i.urls) for i in got] == [(0, ["raw://a"]), (1, ["raw://b"])]
    with pytest.raises(Exception, match="running task"):
        worker.get_inputs()  # they were the first call's; a later call asks the node


def test_each_task_gets_a_jobdict_of_its_own_from_a_job_file_read_before(tmp_path):
    path = pack_file(tmp_path, ["raw://%d" % i for i in range(10)])
    jobdict1, _job1, _args1 = load_job(path)
    jobdict1["prefix"] = "Changed"
    jobdict1["scheduler"]["max_cores"] = 1
    jobdict2, _job2, args2 = load_job(path)
    assert jobdict2["prefix"] == "Overhead" and jobdict2["scheduler"] == {}
    assert args2["params"] == {"n": 1} and args2["map"].__name__ == "mapper"


def test_a_job_file_written_again_is_read_again(tmp_path):
    path = pack_file(tmp_path, ["raw://a"])
    assert load_job(path)[2]["input"] == ["raw://a"]
    os.unlink(path)
    again = pack_file(tmp_path, ["raw://b", "raw://c"])
    assert again == path and load_job(path)[2]["input"] == ["raw://b", "raw://c"]
