"""A job's journal (disco_core.master.journal) replayed (disco_core.master.restore.play)
brings a new coordinator to the state the journaled one was in; a journal cut short by a
crash replays to an earlier state of the same job. And the node lock (disco_core.nodelock)
lets one process at a time hold a node's data root."""
import os

import pytest

from disco_core import nodelock
from disco_core.master.events import EventLog
from disco_core.master.journal import JOURNAL, JournaledJob, JournalWriter, read
from disco_core.master.pipeline import Output
from disco_core.master.restore import Replaying, Silent, play
from disco_core.testing import RecordingActions

HOSTS = ["h1", "h2", "h3"]
PIPELINE = [("map", "split", False), ("reduce", "group_node", False)]
JOBDICT = {"owner": "tests@localhost", "worker": "worker", "scheduler": {}}


def replicas(name):
    return Output.data(0, 0, ["disco://%s/%s" % (h, name) for h in HOSTS])


def new_job(tmp_path, name="Journaled@5a1:1:1"):
    writer = JournalWriter()
    jobdir = str(tmp_path / name)
    events = EventLog(os.path.join(jobdir, "events"))
    job = JournaledJob(name, JOBDICT, PIPELINE, [replicas("in%d" % i) for i in range(6)],
                       events, RecordingActions(hosts=HOSTS), 3, (1.0, 5.0, 1.0))
    job.begin(writer, jobdir)
    return job, writer, jobdir


def run_it(job):
    """Maps on their hosts (one fails once and runs again), outputs with replicas (so the
    reduce's grouping by node draws from the job's random choices)."""
    job.start()
    maps = list(job.stage_tasks[0])
    for i, task in enumerate(maps):
        job.task_started(task, HOSTS[i % 3])
    first = maps[1]
    job.task_failed(first, first.runid, first.host, "error", "flaky")
    job.requeue(first)
    job.task_started(first, "h3")
    for i, task in enumerate(maps):
        out = Output.data(i % 2, 10, ["disco://%s/out%d" % (h, i) for h in HOSTS[:2]])
        job.task_done(task, task.runid, task.host, [out], {"records": i})
    return job


def replayed(job, jobdir, entries=None):
    entries = read(os.path.join(jobdir, JOURNAL)) if entries is None else entries
    again = JournaledJob(job.name, JOBDICT, PIPELINE,
                         [Output.from_json(o) for o in entries[0][2]], Silent(),
                         Replaying(set(HOSTS)), 3, (1.0, 5.0, 1.0))
    play(again, entries[1:])
    return again


def state(job):
    return {"status": job.status, "counters": job.counters,
            "stage_results": job.stage_results, "stats": [vars(s)["done"] for s in job.stages],
            "tasks": [(t.key, t.group, t.state, t.runid, t.host, t.hosts, t.failures,
                       t.bound_host, [i.urls for i in t.inputs], [o.to_json() for o in t.outputs])
                      for t in sorted(job.tasks.values(), key=lambda t: t.id)]}


def test_a_replayed_journal_gives_the_same_job(tmp_path):
    job, writer, jobdir = new_job(tmp_path)
    run_it(job)
    writer.close()
    assert job.stage_index == 1 and job.stage_tasks[1]
    again = replayed(job, jobdir)
    assert state(again) == state(job)
    assert [a[:4] + a[5:] for a in again.attempts] == [a[:4] + a[5:] for a in job.attempts]


def test_a_failure_naming_inputs_it_could_not_read_replays_the_same(tmp_path):
    """A reduce that could not read a map's outputs has that map run again (recovery);
    the journal keeps which inputs were lost, so the replay makes the same choice."""
    job, writer, jobdir = new_job(tmp_path)
    run_it(job)
    reduce = job.stage_tasks[1][0]
    job.task_started(reduce, "h1")
    lost = [u for inp in reduce.inputs for u in inp.urls][:1]
    job.task_failed(reduce, reduce.runid, "h1", "error", "cannot read", lost)
    writer.close()
    assert any(t.old_outputs is not None for t in job.stage_tasks[0])
    entry = read(os.path.join(jobdir, JOURNAL))[-1]
    assert entry[0] == "failed" and entry[6] == lost
    again = replayed(job, jobdir)
    assert state(again) == state(job)
    assert [t.state for t in again.stage_tasks[0]] == [t.state for t in job.stage_tasks[0]]


def test_a_journal_cut_anywhere_replays_to_an_earlier_state(tmp_path):
    job, writer, jobdir = new_job(tmp_path)
    run_it(job)
    writer.close()
    entries = read(os.path.join(jobdir, JOURNAL))
    full = {t.key: t for t in job.tasks.values()}
    for cut in range(1, len(entries) + 1):
        again = replayed(job, jobdir, entries[:cut])
        for task in again.tasks.values():
            assert task.group == full[task.key].group
            if task.state == "done":
                assert task.outputs == full[task.key].outputs
        assert sum(t.state == "done" for t in again.tasks.values()) == \
            sum(e[0] == "done" for e in entries[:cut])


def test_a_torn_last_line_is_left_out(tmp_path):
    job, writer, jobdir = new_job(tmp_path)
    run_it(job)
    writer.close()
    path = os.path.join(jobdir, JOURNAL)
    whole = read(path)
    with open(path, "a") as f:
        f.write('["done", 3, 0, "h1", [["data"')
    assert read(path) == whole


def test_a_killed_job_replays_dead(tmp_path):
    job, writer, jobdir = new_job(tmp_path)
    job.start()
    job.task_started(job.stage_tasks[0][0], "h1")
    job.kill("Job killed by its owner")
    writer.close()
    again = replayed(job, jobdir)
    assert (again.status, again.reason) == ("dead", "Job killed by its owner")


def test_one_process_at_a_time_holds_a_node_lock(tmp_path):
    path = nodelock.lock_path(str(tmp_path), "localhost")
    assert nodelock.holder(path) is None
    fd = nodelock.acquire(path, {"pid": os.getpid(), "master": "http://m:1"})
    try:
        assert nodelock.holder(path) == {"pid": os.getpid(), "master": "http://m:1"}
        with pytest.raises(nodelock.NodeLocked) as err:
            nodelock.acquire(path, {"pid": 1})
        assert "pid %d" % os.getpid() in str(err.value) and path in str(err.value)
    finally:
        os.close(fd)
    assert nodelock.holder(path) is None
    os.close(nodelock.acquire(path, {"pid": 2}))  # free again once its holder let go


def test_synced_waits_until_the_lines_given_before_are_on_disk(tmp_path):
    import asyncio
    path = str(tmp_path / JOURNAL)
    gone = str(tmp_path / "gone" / JOURNAL)
    writer = JournalWriter()

    async def main():
        for i in range(200):
            writer.append(path, ["run", i, 1, "h", 0.0])
        await writer.synced(path)
        assert len(read(path)) == 200  # all of them, without waiting any further
        writer.append(gone, ["job", 0.0, []])
        with pytest.raises(OSError, match="gone"):
            await writer.synced(gone)
        writer.close()
        with pytest.raises(OSError, match="stopping"):
            await writer.synced(path)
    asyncio.run(main())
