"""A task's worker that crashes, hangs past ``DISCO_WORKER_TIMEOUT`` or runs out of the
memory ``DISCO_WORKER_MAX_MEM`` allows is killed (or dies), and its task runs again on the
other node; the job fails only past its failure limit, naming the task and its last error.
A task whose node dies under it is retried without that counting as its failure."""
import os
import signal

import pytest

from disco.core import Disco, Job, result_iterator
from disco_core.errors import JobError
from disco_core.testing import running_cluster, wait_for

HOSTS = [("127.0.0.2", 1), ("127.0.0.3", 1)]
SETTINGS = {"DISCO_WORKER_TIMEOUT": "4", "DISCO_WORKER_MAX_MEM": "2G",
            "DISCO_MAX_FAILURE_RATE": "1", "DISCO_NODE_PING_TIMEOUT": "2"}


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(hosts=HOSTS, extra_env=SETTINGS) as c:
        yield c


def misbehave_once(line, params):
    """The first attempt misbehaves as ``line`` says, on whichever node runs it; the next
    one works and says where it ran."""
    import os
    import time
    marker = params["marker"]
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("%s %d" % (this_host(), os.getpid()))  # noqa: F821
        if line == "crash":
            os.kill(os.getpid(), 9)
        elif line == "hang":
            time.sleep(600)
        elif line == "hog":
            hog = bytearray(4 << 30)  # more than DISCO_WORKER_MAX_MEM
            yield "never", len(hog)
    yield line, this_host()  # noqa: F821


def first_attempt(marker):
    with open(marker) as f:
        host, pid = f.read().split()
    return host, int(pid)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(") ", 1)[1][0] != "Z"


@pytest.mark.parametrize("how,says", [
    ("crash", "Worker crashed! (exit code: -9)"),
    ("hang", "Worker ran for more than 4 seconds (DISCO_WORKER_TIMEOUT): killed"),
    ("hog", "MemoryError"),
])
def test_a_worker_that_fails_is_retried_on_the_other_node(cluster, tmp_path, how, says):
    marker = str(tmp_path / "first")
    job = Job().run(input=["raw://" + how], map=misbehave_once, params={"marker": marker})
    [(line, host)] = list(result_iterator(job.wait(timeout=90)))
    failed_on, pid = first_attempt(marker)
    assert line == how and host != failed_on
    assert not alive(pid)  # the first attempt's worker is gone
    events = [e[2] for _o, e in job.events()]
    assert any(says in e for e in events), events
    assert sum('failed on "%s", 1st failures so far' % failed_on in e for e in events) == 1


def always_hang(line, params):
    import time
    time.sleep(600)
    yield line, 1


def test_the_job_fails_past_its_failure_limit_naming_the_task_and_its_last_error(cluster):
    job = Job().run(input=["raw://stuck"], map=always_hang)
    with pytest.raises(JobError) as err:
        job.wait(timeout=90)
    text = str(err.value)
    assert "Task map:0 failed 2 times. At most 1 failures are allowed." in text
    assert "Last error (on 127.0.0." in text and "DISCO_WORKER_TIMEOUT" in text
    assert "Input: raw://stuck" in text


def fail_then_slow(line, params):
    import os
    import time
    from disco.error import DataError
    marker = params["marker"]
    with open(marker, "a") as f:
        f.write("%s %d\n" % (this_host(), os.getpid()))  # noqa: F821
    with open(marker) as f:
        attempt = len(f.read().split("\n")) - 1
    if attempt == 1:
        raise DataError("the first attempt fails on its own", "raw://x")
    if attempt == 2:
        time.sleep(600)  # its node is killed meanwhile
    yield line, attempt


def test_a_task_whose_node_dies_does_not_count_that_as_its_failure(cluster, tmp_path):
    marker = str(tmp_path / "attempts")
    job = Job().run(input=["raw://x"], map=fail_then_slow, params={"marker": marker})

    def second_attempt():
        return os.path.exists(marker) and len(open(marker).read().split("\n")) - 1 == 2
    wait_for(second_attempt, 60)
    host, worker = open(marker).read().split("\n")[1].split()
    for pid in cluster.node_pids(host):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(int(worker)), 15)  # its worker does not outlive it
    # one failure of its own is all the limit allows: the lost node did not count
    assert list(result_iterator(job.wait(timeout=90))) == [("x", 3)]
    events = [e[2] for _o, e in job.events()]
    assert any("node %s went away" % host in e for e in events), events
    wait_for(lambda: Disco().nodeinfo()[host]["connected"], 60)


def sleep_and_say_where(line, params):
    import os
    import time
    with open(params["marker"], "w") as f:
        f.write("%s %d" % (this_host(), os.getpid()))  # noqa: F821
    time.sleep(600)
    yield line, 1


def test_a_worker_started_without_the_fork_server_dies_with_its_node(tmp_path):
    marker = str(tmp_path / "worker")
    with running_cluster(hosts=[("127.0.0.2", 1)],
                         extra_env={"DISCO_WORKER_FORK": "0"}) as cluster:
        job = Job().run(input=["raw://x"], map=sleep_and_say_where, params={"marker": marker})
        wait_for(lambda: os.path.exists(marker) and open(marker).read().strip(), 60)
        host, worker = first_attempt(marker)
        [node] = cluster.node_pids(host)
        with open("/proc/%d/cmdline" % worker, "rb") as f:
            assert b"forkserver" not in f.read()
        os.kill(node, signal.SIGKILL)
        wait_for(lambda: not alive(worker), 15)  # the worker does not outlive its node
        job.kill()
