"""A node killed with SIGKILL in the middle of a job, on a cluster of two nodes on this
machine: while it runs map tasks, while it runs reduce tasks, and while reduce tasks read
the map outputs it held (the shuffle). The job ends with exactly the right counts, every
record counted once.

Each case runs once here, and 20 times in a row in the ``slow`` test at the end
(``pytest -m slow tests/test_node_faults.py``).
"""
import os
import shutil
import signal
import time

import pytest

from disco.core import Disco, Job, result_iterator
from disco_core.settings import DiscoSettings
from disco_core.testing import running_cluster, wait_for

VICTIM, SURVIVOR = "127.0.0.2", "127.0.0.3"
HOSTS = [(VICTIM, 2), (SURVIVOR, 2)]
LINES = 12


def counting_map(line, params):
    import os
    import time
    with open(os.path.join(params["marks"], "map-%s-%d" % (this_host(), os.getpid())),  # noqa: F821
              "a") as f:
        f.write(line + "\n")
    time.sleep(params["map_sleep"])
    for word in line.split():
        yield word, 1


def counting_reduce(iter, params):
    import os
    import time
    with open(os.path.join(params["marks"], "reduce-%s-%d" % (this_host(), os.getpid())),  # noqa: F821
              "a") as f:
        f.write("%d\n" % this_partition())  # noqa: F821
    time.sleep(params["reduce_sleep"])
    counts = {}
    for word, n in iter:
        counts[word] = counts.get(word, 0) + int(n)
    for word, n in sorted(counts.items()):
        yield word, n


def inputs():
    """``LINES`` lines, each its own input; the words, how often each appears in all."""
    lines = ["w%d common line%d" % (i % 5, i) for i in range(LINES)]
    expected = {}
    for line in lines:
        for word in line.split():
            expected[word] = expected.get(word, 0) + 1
    return ["raw://" + line for line in lines], expected


def marks_of(marks, kind, host):
    return [name for name in os.listdir(marks) if name.startswith("%s-%s-" % (kind, host))]


def kill_node(cluster, host):
    pids = cluster.node_pids(host)
    assert pids, "no node process for %s" % host
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def forget_node_data(cluster, host, jobname):
    """What the killed node held for the job is gone (its disk went with it)."""
    from disco_core.jobpack import hexhash
    data = DiscoSettings(cluster.env)["DISCO_DATA"]
    shutil.rmtree(os.path.join(data, host, hexhash(jobname), jobname), ignore_errors=True)


def kill_during(cluster, phase, marks):
    """Run a word count and SIGKILL the victim node while it is in ``phase`` (``map``,
    ``reduce`` or ``shuffle``); the job's results, events and the counts expected."""
    os.makedirs(marks, exist_ok=True)
    urls, expected = inputs()
    params = {"marks": marks, "map_sleep": 1.5 if phase == "map" else 0.0,
              "reduce_sleep": 3.0 if phase in ("reduce", "shuffle") else 0.0}
    job = Job().run(input=urls, map=counting_map, reduce=counting_reduce, partitions=4,
                    params=params)
    if phase == "map":
        wait_for(lambda: marks_of(marks, "map", VICTIM), 60)
        kill_node(cluster, VICTIM)
    elif phase == "reduce":
        wait_for(lambda: marks_of(marks, "reduce", VICTIM), 60)
        kill_node(cluster, VICTIM)
    else:
        # every map ran; reduce tasks started and wait before reading the map outputs, some
        # of which only the victim holds: it dies, and its disk with it
        wait_for(lambda: marks_of(marks, "reduce", SURVIVOR), 60)
        assert marks_of(marks, "map", VICTIM), "the victim ran no map task"
        kill_node(cluster, VICTIM)
        forget_node_data(cluster, VICTIM, job.name)
    results = job.wait(timeout=120)
    counts = {}
    for word, n in result_iterator(results):
        assert word not in counts, "%s counted twice" % word
        counts[word] = n
    events = [e[2] for _o, e in job.events()]
    return counts, expected, events


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(hosts=HOSTS, extra_env={"DISCO_NODE_PING_TIMEOUT": "2"}) as c:
        yield c


def wait_connected(host):
    wait_for(lambda: Disco().nodeinfo()[host]["connected"], 60)


@pytest.mark.parametrize("phase", ["map", "reduce", "shuffle"])
def test_a_node_killed_mid_job_loses_nothing(cluster, tmp_path, phase):
    wait_connected(VICTIM)
    counts, expected, events = kill_during(cluster, phase, str(tmp_path / "marks"))
    assert counts == expected
    assert any("went away" in e for e in events), events
    if phase == "shuffle":
        # the map outputs only the victim held were computed again
        assert any("running it again" in e for e in events), events


def test_a_node_killed_after_running_a_while_restarts_without_delay(cluster):
    for _ in range(3):  # each restart would wait twice as long as the one before
        wait_connected(VICTIM)
        time.sleep(5.5)  # up for longer than a node that keeps dying at start
        kill_node(cluster, VICTIM)
        wait_for(lambda: not Disco().nodeinfo()[VICTIM]["connected"], 30)
    wait_connected(VICTIM)
    delays = [line.rsplit(" ", 1)[1] for line in cluster.log("disco_").splitlines()
              if "node %s exited (-9); restarting in" % VICTIM in line]
    assert delays[-3:] == ["1.0s", "1.0s", "1.0s"], delays


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("phase", ["map", "reduce", "shuffle"])
def test_a_node_killed_mid_job_loses_nothing_20_times(cluster, tmp_path, phase):
    failures = []
    for n in range(20):
        wait_connected(VICTIM)
        time.sleep(5.5)  # (a node that keeps dying as it starts is restarted later and later)
        try:
            counts, expected, _events = kill_during(cluster, phase,
                                                    str(tmp_path / ("marks%d" % n)))
            if counts != expected:
                failures.append((n, "wrong counts", counts))
        except Exception as exc:  # a run that fails is counted, and the loop goes on
            failures.append((n, type(exc).__name__, str(exc)[:300]))
    print("%s: %d/20 right" % (phase, 20 - len(failures)))
    assert not failures, failures


# -- a node that stops answering without dying -----------------------------------------

def stamped_map(line, params):
    import os
    import time
    with open(os.path.join(params["marks"], "map-%s-%d" % (this_host(), os.getpid())),  # noqa: F821
              "a") as f:
        f.write(line + "\n")
    time.sleep(1.0)
    yield line, this_host()  # noqa: F821


def test_a_stopped_node_is_lost_after_the_ping_timeout_and_its_late_results_ignored(tmp_path):
    marks = str(tmp_path / "marks")
    os.makedirs(marks)
    settings = {"DISCO_NODE_PING_INTERVAL": "0.5", "DISCO_NODE_PING_TIMEOUT": "1"}
    with running_cluster(hosts=HOSTS, extra_env=settings) as cluster:
        lines = ["line%d" % i for i in range(8)]
        job = Job().run(input=["raw://" + line for line in lines], map=stamped_map,
                        params={"marks": marks})
        wait_for(lambda: marks_of(marks, "map", VICTIM), 60)
        [pid] = cluster.node_pids(VICTIM)
        os.kill(pid, signal.SIGSTOP)
        try:
            # the job finishes while the victim is still stopped: its tasks ran elsewhere
            results = sorted(result_iterator(job.wait(timeout=60)))
            assert Disco().nodeinfo()[VICTIM]["connected"] is False
        finally:
            os.kill(pid, signal.SIGCONT)
        assert [line for line, _host in results] == lines
        events = [e[2] for _o, e in job.events()]
        assert any("node %s went away" % VICTIM in e for e in events), events
        moved = [line for line, host in results if host == SURVIVOR]
        assert len(moved) > len(lines) // 2, results  # the victim's tasks ran on the survivor
        # it comes back: its late reports change nothing, and it gets work again
        wait_for(lambda: Disco().nodeinfo()[VICTIM]["connected"], 30)
        assert Disco().jobinfo(job.name)["active"] == "ready"
        assert sorted(result_iterator(job.wait(timeout=5))) == results
        time.sleep(2)  # (time for its late reports, if it sends any)
        events = [e[2] for _o, e in job.events()]
        moved_keys = [e.split("]")[0].split("[")[1] for e in events
                      if "node %s went away" % VICTIM in e]
        assert moved_keys
        for key in moved_keys:  # each of them was accepted once, from the survivor
            received = [e for e in events if e.startswith("SYS: [%s] Received results" % key)]
            assert received == ["SYS: [%s] Received results from %s" % (key, SURVIVOR)], events
        again = Job().run(input=["raw://a%d" % i for i in range(8)], map=stamped_map,
                          params={"marks": marks})
        assert {host for _line, host in result_iterator(again.wait(timeout=60))} \
            == {VICTIM, SURVIVOR}


def test_outputs_a_concurrent_stage_lost_with_its_node_are_made_again(cluster, tmp_path):
    """A reduce stage that runs concurrently with its maps cannot read the outputs a killed
    node held (its disk gone with it) while maps still run: those are made again at once,
    not only after the map stage ends, and the result is exact."""
    from disco.worker.pipeline.worker import Stage, Worker
    wait_connected(VICTIM)
    read, release = str(tmp_path / "read"), str(tmp_path / "release")

    def words(interface, state, label, inp):
        import os
        import time
        for line in inp:
            while line.startswith("slow") and not os.path.exists(release):
                time.sleep(0.05)
            for word in line.split():
                interface.output(0).add(word, 1)

    def total(interface, state, label, inp):
        import os
        import time
        while not os.path.exists(read):  # reads only once the victim is gone
            time.sleep(0.05)
        counts = {}
        for word, n in inp:
            counts[word] = counts.get(word, 0) + n
        for word, n in sorted(counts.items()):
            interface.output(label).add(word, n)

    lines = ["fast%d common" % i for i in range(6)] + ["slow common"]
    pipeline = [("split", Stage("map", process=words)),
                ("split", Stage("reduce", process=total), True)]
    job = Job(worker=Worker(pipeline)).run(input=["raw://" + line for line in lines])

    def events():
        return [e[2] for _o, e in job.events()]

    def fast_maps_done():
        got = [e for e in events() if "Received results" in e and e.startswith("SYS: [map:")]
        return len(got) >= 6 and got
    wait_for(fast_maps_done, 60)
    assert any("from %s" % VICTIM in e for e in fast_maps_done()), events()
    kill_node(cluster, VICTIM)
    forget_node_data(cluster, VICTIM, job.name)
    with open(read, "w"):
        pass
    # the maps of the killed node are made again while the slow maps still run
    wait_for(lambda: any("cannot read the outputs of map:" in e for e in events()), 60)
    assert not any(e.startswith("Stage map finished") for e in events()), events()
    with open(release, "w"):
        pass
    counts = {}
    for word, n in result_iterator(job.wait(timeout=120)):
        counts[word] = counts.get(word, 0) + n
    assert counts == {"common": 7, **{w.split()[0]: 1 for w in lines}}
    wait_connected(VICTIM)
