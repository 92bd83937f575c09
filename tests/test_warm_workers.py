"""Warm workers: a worker that offers reuse in its WORKER message (the Python worker does)
runs the next tasks of its job on the same node in the same process; a worker that does not
offer it (an external one) is killed after each DONE as the reference says. A failed task
(ERROR, a crash) ends its worker, so only that task is retried; a worker never runs a task
of another job; the results are exactly those of one process per task."""
import io
import json
import os
import sys
import textwrap
import zipfile

import pytest

from disco.core import Job, result_iterator
from disco_core.jobpack import JobPack
from disco_core.testing import running_cluster, wait_for

# one node of one slot: the tasks of a job follow each other there
HOSTS = [("127.0.0.2", 1)]


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(hosts=HOSTS, extra_env={"DISCO_WORKER_IDLE": "60"}) as c:
        yield c


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(") ", 1)[1][0] != "Z"


def pid_of_task(line, params):
    import os
    yield int(line), os.getpid()


def test_one_worker_runs_many_tasks_of_a_job_and_results_are_exact(cluster):
    n = 30
    job = Job().run(input=["raw://%d" % i for i in range(n)], map=pid_of_task)
    results = list(result_iterator(job.wait(timeout=120)))
    assert sorted(i for i, _pid in results) == list(range(n))
    pids = [pid for _i, pid in results]
    assert len(set(pids)) < n  # some process ran more than one task
    assert max(pids.count(p) for p in set(pids)) > 1
    events = [e[2] for _o, e in job.events()]
    assert sum("DONE: [map:" in e for e in events) == n


def numbers(line, params):
    i = int(line)
    yield i % 3, i


def add_up(iter, params):
    from disco.util import kvgroup
    for key, values in kvgroup(sorted(iter)):
        yield key, sum(values)


def test_a_map_and_reduce_job_on_warm_workers_gives_exact_sums(cluster):
    n = 40
    job = Job().run(input=["raw://%d" % i for i in range(n)], map=numbers, reduce=add_up,
                    partitions=2)
    got = dict(result_iterator(job.wait(timeout=120)))
    want = {k: sum(i for i in range(n) if i % 3 == k) for k in range(3)}
    assert got == want


def fail_once(line, params):
    """Input ``bad`` fails its first attempt as ``params["how"]`` says (its pid and the
    time in the marker file); every task yields the pid that ran it and when."""
    import os
    import time
    marker = params["marker"]
    if line == "bad" and not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("%d %r" % (os.getpid(), time.time()))
        if params["how"] == "crash":
            os.kill(os.getpid(), 9)
        raise OSError("the disk said no")
    yield line, [os.getpid(), time.time()]


@pytest.mark.parametrize("how,says", [("crash", "Worker crashed!"),
                                      ("error", "the disk said no")])
def test_a_failed_task_ends_its_worker_and_only_that_task_runs_again(cluster, tmp_path,
                                                                     how, says):
    marker = str(tmp_path / "first")
    inputs = ["raw://a", "raw://b", "raw://bad", "raw://c", "raw://d", "raw://e"]
    job = Job().run(input=inputs, map=fail_once, params={"marker": marker, "how": how})
    results = list(result_iterator(job.wait(timeout=120)))
    assert sorted(line for line, _ran in results) == ["a", "b", "bad", "c", "d", "e"]
    with open(marker) as f:
        pid, when = f.read().split()
    failed_pid, failed_at = int(pid), float(when)
    # the process that failed ran nothing after: later tasks ran in another one
    assert not [line for line, (pid, at) in results if pid == failed_pid and at > failed_at]
    assert dict(results)["bad"][0] != failed_pid
    assert wait_for(lambda: not alive(failed_pid), timeout=30)
    events = [e[2] for _o, e in job.events()]
    assert any(says in e for e in events), events
    assert sum("1st failures so far" in e for e in events) == 1, events
    assert sum("DONE: [map:" in e for e in events) == len(inputs)


def test_a_worker_never_runs_a_task_of_another_job(cluster):
    first = Job().run(input=["raw://%d" % i for i in range(6)], map=pid_of_task)
    first_pids = {pid for _i, pid in result_iterator(first.wait(timeout=120))}
    second = Job().run(input=["raw://%d" % i for i in range(6)], map=pid_of_task)
    second_pids = {pid for _i, pid in result_iterator(second.wait(timeout=120))}
    assert first_pids and second_pids
    assert not first_pids & second_pids


def test_purging_a_job_ends_its_warm_workers(cluster):
    job = Job().run(input=["raw://1", "raw://2"], map=pid_of_task)
    pids = {pid for _i, pid in result_iterator(job.wait(timeout=120))}
    assert any(alive(pid) for pid in pids)  # waiting for a next task (DISCO_WORKER_IDLE=60)
    job.purge()
    assert wait_for(lambda: not any(alive(pid) for pid in pids), timeout=30)


def test_an_idle_warm_worker_is_ended_after_disco_worker_idle():
    with running_cluster(hosts=[("127.0.0.3", 1)], extra_env={"DISCO_WORKER_IDLE": "1"}):
        job = Job().run(input=["raw://1", "raw://2", "raw://3"], map=pid_of_task)
        pids = {pid for _i, pid in result_iterator(job.wait(timeout=120))}
        assert wait_for(lambda: not any(alive(pid) for pid in pids), timeout=30)


# -- workers of other languages: the reference protocol, and the offer ------------------------
EXTERNAL = textwrap.dedent(r'''
    #!%s
    """A worker that does not use disco: one task (or, with REUSE, every task the node gives
    it), each writing "<input> <pid>" to its output. With POST it also says it posts MSG
    and OUTPUT, and waits for no OK after them."""
    import json, os

    buf = b""

    def send(name, payload=""):
        body = json.dumps(payload).encode()
        os.write(2, b"%%s %%d %%s\n" %% (name.encode(), len(body), body))

    def recv():
        global buf
        while b"\n" not in buf:
            chunk = os.read(0, 65536)
            if not chunk:
                os._exit(0)
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        name, _length, body = line.split(b" ", 2)
        return name.decode(), json.loads(body)

    def request(name, payload=""):
        send(name, payload)
        return recv()

    hello = {"version": "1.1", "pid": os.getpid()}
    if os.environ.get("REUSE"):
        hello["reuse"] = True
    post = bool(os.environ.get("POST"))
    if post:
        hello["post"] = True
    request("WORKER", hello)
    name, task = request("TASK")
    while name == "TASK":
        _flag, inputs = request("INPUT")[1]
        path = "out-%%d" %% task["taskid"]
        with open(path, "w") as f:
            for _id, _status, _label, replicas in inputs:
                f.write("%%s %%d\n" %% (replicas[0][1][len("raw://"):], os.getpid()))
        if post:
            send("MSG", "posted %%d" %% task["taskid"])
            send("OUTPUT", [0, path, os.path.getsize(path)])
        else:
            request("OUTPUT", [0, path, os.path.getsize(path)])
        send("DONE")
        name, task = recv()  # the reference: no reply, the node kills the worker
''').lstrip() % sys.executable


def external_job(cluster, n, envs):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("worker")
        info.external_attr = 0o755 << 16
        z.writestr(info, EXTERNAL)
    jobdict = {"prefix": "External", "worker": "worker", "owner": "tests@localhost",
               "scheduler": {}, "pipeline": [["map", "split", False]],
               "inputs": [[0, 0, ["raw://%d" % i]] for i in range(n)]}
    name = cluster.disco.submit(JobPack(2, jobdict, envs, buf.getvalue(), b"").dumps())
    results = cluster.disco.wait(name, timeout=120)
    lines = [line.decode() if isinstance(line, bytes) else line
             for line in result_iterator(results, reader=None)]
    pairs = [line.split() for line in "".join(lines).splitlines()]
    return name, sorted((int(i), int(pid)) for i, pid in pairs)


def test_an_external_worker_that_does_not_offer_reuse_runs_one_task_per_process(cluster):
    name, pairs = external_job(cluster, 6, {})
    assert [i for i, _pid in pairs] == list(range(6))
    pids = [pid for _i, pid in pairs]
    assert len(set(pids)) == 6
    assert wait_for(lambda: not any(alive(pid) for pid in pids), timeout=30)


def test_an_external_worker_that_offers_reuse_gets_the_next_task_as_reply_to_done(cluster):
    name, pairs = external_job(cluster, 6, {"REUSE": "1"})
    assert [i for i, _pid in pairs] == list(range(6))
    assert len({pid for _i, pid in pairs}) < 6
    events = [e[2] for _o, e in cluster.disco.events(name)]
    assert sum("DONE: [map:" in e for e in events) == 6, json.dumps(events)


def test_a_reuse_worker_that_posts_gets_no_ok_for_msg_and_output(cluster):
    # an OK the worker does not wait for would be read as the reply to its DONE, and it
    # would stop after its first task
    name, pairs = external_job(cluster, 6, {"REUSE": "1", "POST": "1"})
    assert [i for i, _pid in pairs] == list(range(6))
    assert len({pid for _i, pid in pairs}) < 6
    events = [e[2] for _o, e in cluster.disco.events(name)]
    assert sorted(e for e in events if e.startswith("MSG: ")) == \
        ["MSG: [map:%d] posted %d" % (i, i) for i in range(6)]
    assert not any("Worker died" in e for e in events), json.dumps(events)


def task_globals(line, params):
    """What the task finds as globals (the original injected them): its own Task, inputs."""
    yield int(line), [Task.taskid, this_inputs()]  # noqa: F821


def test_each_task_on_a_warm_worker_sees_its_own_task_globals(cluster):
    n = 12
    job = Job().run(input=["raw://%d" % i for i in range(n)], map=task_globals)
    results = sorted(result_iterator(job.wait(timeout=120)))
    # map task i reads input i
    assert results == [(i, [i, ["raw://%d" % i]]) for i in range(n)]


def wander(line, params):
    """Each task says where it started and what it found in its environment, then moves
    away and changes it, as job code may."""
    import os
    yield int(line), [os.getcwd(), os.environ.get("WANDERED", "")]
    os.environ["WANDERED"] = "yes"
    os.chdir("/")


def test_each_task_on_a_warm_worker_starts_in_the_job_home_with_the_jobs_environment(cluster):
    n = 8
    job = Job().run(input=["raw://%d" % i for i in range(n)], map=wander)
    results = sorted(result_iterator(job.wait(timeout=120)))
    assert [i for i, _seen in results] == list(range(n))
    homes = {cwd for _i, (cwd, _env) in results}
    assert len(homes) == 1 and homes != {"/"} and job.name in homes.pop()
    assert all(env == "" for _i, (_cwd, env) in results)


def print_and_wait(line, params):
    """Print, then wait (at most a minute) until the test has seen the message."""
    import os
    import time
    print("waiting for", params["seen"])
    deadline = time.time() + 60
    while not os.path.exists(params["seen"]) and time.time() < deadline:
        time.sleep(0.05)
    yield line, os.path.exists(params["seen"])


def test_a_message_a_task_prints_shows_while_the_task_still_runs(cluster, tmp_path):
    # a posted MSG waits in the worker for the next message only a moment, not to the DONE
    seen = str(tmp_path / "seen")
    job = Job().run(input=["raw://x"], map=print_and_wait, params={"seen": seen})
    want = "MSG: [map:0] waiting for %s" % seen
    assert wait_for(lambda: any(want in e[2] for _o, e in job.events()), timeout=30)
    open(seen, "w").close()
    assert list(result_iterator(job.wait(timeout=120))) == [("x", True)]
