"""A master that survives a restart: finished jobs and the node table are still there after
``disco restart`` or ``kill -9``, a job running when the master was killed finishes with the
exact result running again only what had not finished, and the node the killed master left
running is adopted, never twinned."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from disco.core import Job, result_iterator
from disco_core.settings import DiscoSettings
from disco_core.master import purgedlist
from disco_core.testing import running_cluster, wait_for
from test_node_sessions import FakeNode, finish


def master_pid(cluster):
    settings = DiscoSettings(cluster.env)
    with open(os.path.join(settings["DISCO_PID_DIR"], "%s.pid" % settings["DISCO_NAME"])) as f:
        return int(f.read())


def kill_master(cluster):
    """``kill -9`` the master, and wait until it is gone."""
    pid = master_pid(cluster)
    os.kill(pid, signal.SIGKILL)

    def gone():
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(")")[-1].split()[0] == "Z"
        except FileNotFoundError:
            return True
    wait_for(gone, timeout=10)


def journaled(cluster, name, runs, done):
    """Whether the job's journal on disk has at least ``runs`` attempts sent and ``done``
    accepted: the master writes it a moment after it changes, and a test that kills the
    master right after seeing the change waits for the journal first."""
    from disco_core.jobpack import hexhash
    from disco_core.master.journal import read
    root = DiscoSettings(cluster.env)["DISCO_MASTER_ROOT"]
    entries = read(os.path.join(root, hexhash(name), name, "journal"))
    kinds = [e[0] for e in entries]
    return kinds.count("run") >= runs and kinds.count("done") >= done


def words(line, params):
    for word in line.split()[1:]:
        yield word, 1


def count(iter, params):
    from disco.util import kvgroup
    for word, ones in kvgroup(sorted(iter)):
        yield word, sum(ones)


def test_finished_jobs_and_the_node_table_survive_a_restart():
    with running_cluster(extra_env={"DISCO_KEEP_FINISHED_JOBS": "1"}) as cluster:
        disco = cluster.disco
        first = Job().run(input=["raw://0 b a b", "raw://1 c a"], map=words, reduce=count)
        first.wait(timeout=60)
        second = Job().run(input=["raw://0 x"], map=words)  # left in memory (the newest)
        second.wait(timeout=60)
        disco.set_config([["localhost", "2"]])
        disco.blacklist("localhost")
        before = {name: (disco.jobinfo(name), disco.results(name, timeout=0),
                         list(disco.events(name)))
                  for name in (first.name, second.name)}
        listed = cluster.cli("jobs").stdout
        cluster.cli("restart")
        after_restart = {name: (disco.jobinfo(name), disco.results(name, timeout=0),
                                list(disco.events(name)))
                         for name in (first.name, second.name)}
        assert after_restart == before
        assert cluster.cli("jobs").stdout == listed
        kill_master(cluster)
        cluster.cli("start")
        assert cluster.cli("jobs").stdout == listed
        assert disco.get_config() == [["localhost", "2"]]
        assert disco.nodeinfo()["localhost"]["max_workers"] == 2
        assert disco.nodeinfo()["localhost"]["blacklisted"]
        disco.whitelist("localhost")
        out = cluster.cli("wait", first.name).stdout
        assert out.split() == [u for urls in before[first.name][1][1] for u in urls]
        assert "READY" in cluster.cli("events", first.name).stdout
        assert "ready" in cluster.cli("jobinfo", first.name).stdout
        assert dict(result_iterator(disco.results(first.name, timeout=0)[1])) == \
            {"a": 2, "b": 2, "c": 1}
        # a job after the restart gets a name of its own and runs
        assert Job().run(input=["raw://0 y"], map=words).wait(timeout=60)


def resumed_events(job):
    """The job's events after it was resumed (and which restarts it went through)."""
    events = [e[2] for _offset, e in job.events()]
    marks = [i for i, e in enumerate(events) if e.startswith("Resumed after the master")]
    assert len(marks) == 1, events
    return events[marks[0]:]


def stage_counts(cluster, name, stage):
    info = cluster.disco.jobinfo(name)
    [row] = [row for row in info["pipeline"] if row[0] == stage]
    return {"running": row[3], "done": row[4]}


def test_a_job_killed_mid_map_finishes_running_only_what_had_not_finished(tmp_path):
    go = str(tmp_path / "go")
    maps = 10

    def slow_after_three(line, params):
        number = int(line.split()[0])
        while number >= 3 and not os.path.exists(go):
            time.sleep(0.05)
        for word in line.split()[1:]:
            yield word, 1

    inputs = ["raw://%d common w%d" % (i, i % 3) for i in range(maps)]
    with running_cluster(hosts=[("localhost", 2)]) as cluster:
        job = Job().run(input=inputs, map=slow_after_three, reduce=count)
        wait_for(lambda: stage_counts(cluster, job.name, "map") == {"running": 2, "done": 3},
                 timeout=60)
        wait_for(lambda: journaled(cluster, job.name, 5, 3))
        kill_master(cluster)
        with open(go, "w"):
            pass  # the two running maps end while the master is down
        cluster.cli("start")
        counts = dict(result_iterator(job.wait(timeout=120)))
        assert counts == {"common": maps, "w0": 4, "w1": 3, "w2": 3}
        after = resumed_events(job)
        again = [e for e in after if " assigned to " in e]
        # the three maps done before, and the two that ended while the master was down,
        # are not run again: the other five maps, the map shuffle and the reduce are
        assert [e.split()[0] for e in again] == \
            ["map:%d" % i for i in range(5, maps)] + ["map_shuffle:10", "reduce:11"], after
        assert "3 tasks done, 2 still running on their nodes, 5 to run" in after[0]


def test_a_job_killed_mid_reduce_runs_no_map_again(tmp_path):
    go = str(tmp_path / "go")

    def waiting_count(iter, params):
        from disco.util import kvgroup
        while not os.path.exists(go):
            time.sleep(0.05)
        for word, ones in kvgroup(sorted(iter)):
            yield word, sum(ones)

    inputs = ["raw://%d a b%d" % (i, i % 2) for i in range(6)]
    with running_cluster(hosts=[("localhost", 2)]) as cluster:
        job = Job().run(input=inputs, map=words, reduce=waiting_count, partitions=2)
        wait_for(lambda: stage_counts(cluster, job.name, "reduce")["running"] == 2, timeout=60)
        wait_for(lambda: journaled(cluster, job.name, 9, 7))
        kill_master(cluster)
        cluster.cli("start")
        with open(go, "w"):
            pass  # the reduces, still running on the node, end under the new master
        counts = dict(result_iterator(job.wait(timeout=120)))
        assert counts == {"a": 6, "b0": 3, "b1": 3}
        after = resumed_events(job)
        # the maps and the map shuffle were done; the two reduces the node still ran
        assert "7 tasks done, 2 still running on their nodes, 0 to run" in after[0], after
        assert [e for e in after if " assigned to " in e] == []
        timeline = json.loads(cluster.urlopen("/disco/ui/timeline?name=%s" % job.name).read())
        assert sorted(a["outcome"] for a in timeline["attempts"]) == ["done"] * 9


def test_the_node_a_killed_master_left_is_adopted_not_twinned():
    with running_cluster() as cluster:
        [node] = cluster.node_pids("localhost")
        kill_master(cluster)
        cluster.cli("start")
        assert cluster.disco.nodeinfo()["localhost"]["connected"]
        # the new master started no node of its own beside the one left running
        assert cluster.node_pids("localhost") == [node]
        assert Job().run(input=["raw://0 x"], map=words).wait(timeout=60)
        assert cluster.node_pids("localhost") == [node]
        cluster.cli("stop")
        wait_for(lambda: cluster.node_pids() == [], timeout=20)
        cluster.cli("start")  # for the fixture to stop


def test_a_second_node_process_for_the_same_data_exits_at_once():
    with running_cluster() as cluster:
        [node] = cluster.node_pids("localhost")
        env = dict(os.environ, **cluster.env)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "disco_core.node", "--host", "localhost",
                               "--master", cluster.master], env=env, capture_output=True,
                              text=True, timeout=60)
        assert time.monotonic() - started < 30
        assert proc.returncode == 3
        assert "pid %d" % node in proc.stderr and ".node.lock" in proc.stderr
        assert "already runs for this host and data root" in proc.stderr
        assert cluster.node_pids("localhost") == [node]


def test_a_resumed_job_whose_node_died_meanwhile_runs_its_task_again(tmp_path):
    go = str(tmp_path / "go")

    def waiting(line, params):
        while not os.path.exists(go):
            time.sleep(0.05)
        yield line, 1

    with running_cluster(hosts=[("localhost", 1)]) as cluster:
        job = Job().run(input=["raw://only"], map=waiting)
        wait_for(lambda: stage_counts(cluster, job.name, "map")["running"] == 1, timeout=60)
        wait_for(lambda: journaled(cluster, job.name, 1, 0))
        [node] = cluster.node_pids("localhost")
        kill_master(cluster)
        os.kill(node, signal.SIGKILL)  # the node and its task die with the master
        with open(go, "w"):
            pass
        cluster.cli("start")
        assert list(result_iterator(job.wait(timeout=120))) == [("only", 1)]
        after = resumed_events(job)
        assert "0 tasks done, 1 still running on their nodes" in after[0], after
        assert [e for e in after if " assigned to " in e] == \
            ["map:0 assigned to localhost", "map_shuffle:1 assigned to localhost"], after


def test_a_job_running_through_disco_restart_goes_on_after_it(tmp_path):
    go = str(tmp_path / "go")

    def second_waits(line, params):
        number = int(line.split()[0])
        while number == 1 and not os.path.exists(go):
            time.sleep(0.05)
        for word in line.split()[1:]:
            yield word, 1

    with running_cluster(hosts=[("localhost", 1)]) as cluster:
        job = Job().run(input=["raw://0 a b", "raw://1 b c"], map=second_waits, reduce=count)
        wait_for(lambda: stage_counts(cluster, job.name, "map") == {"running": 1, "done": 1},
                 timeout=60)
        cluster.cli("restart")  # the node stops too: the running map is lost, and run again
        with open(go, "w"):
            pass
        assert dict(result_iterator(job.wait(timeout=120))) == {"a": 1, "b": 2, "c": 1}
        after = resumed_events(job)
        assert "1 tasks done, 1 still running on their nodes" in after[0], after
        assert [e.split()[0] for e in after if " assigned to " in e] == \
            ["map:1", "map_shuffle:2", "reduce:3"], after


def test_the_jobs_purged_before_a_kill_are_still_told_to_nodes_after_it():
    with running_cluster(hosts=[("fakea", 1)]) as cluster:
        node = FakeNode(cluster, "fakea")
        job = Job().run(input=["raw://a"], map=words)
        finish(job, node)
        cluster.disco.purge(job.name)
        assert node.recv("purge")["job"] == job.name
        node.close()
        kill_master(cluster)
        cluster.cli("start")
        # a node that was away asks its GC's question of the new master
        node = FakeNode(cluster, "fakea")
        node.send({"op": "gc_query"})
        assert job.name in node.recv("gc_jobs")["purged"]
        node.close()
        root = DiscoSettings(cluster.env)["DISCO_MASTER_ROOT"]
        with open(os.path.join(root, "purged.json")) as f:
            assert list(json.load(f)) == [job.name]


def test_the_purged_list_on_disk_is_bounded_and_a_broken_one_is_ignored(tmp_path):
    now = time.time()
    purgedlist.save(str(tmp_path), {"old": now - 100, "new": now - 1}, memory=50)
    assert purgedlist.load(str(tmp_path), memory=50) == {"new": now - 1}
    (tmp_path / "purged.json").write_text("{not json")
    assert purgedlist.load(str(tmp_path), memory=50) == {}
    (tmp_path / "purged.json").write_text('{"job": "yesterday"}')
    assert purgedlist.load(str(tmp_path), memory=50) == {}


def test_every_job_whose_submission_was_answered_survives_a_kill_right_after():
    with running_cluster(hosts=[("localhost", 2)]) as cluster:
        jobs = [Job().run(input=["raw://%d a b" % i], map=words, reduce=count)
                for i in range(5)]
        kill_master(cluster)  # at once: the last name has just been answered
        cluster.cli("start")
        for job in jobs:
            assert dict(result_iterator(job.wait(timeout=120))) == {"a": 1, "b": 1}
