"""A node's loop and its executor stay free while its tasks run, however many run at once."""
import io
import os
import time
import urllib.request
import zipfile

import pytest

from disco.core import Disco, Job, result_iterator
from disco_core.errors import JobError
from disco_core.jobpack import hexhash
from disco_core.settings import DiscoSettings
from disco_core.testing import running_cluster, wait_for

#: The threads Python gives an event loop's default executor on this machine.
EXECUTOR_THREADS = min(32, (os.cpu_count() or 1) + 4)


@pytest.fixture(scope="module")
def own_process_workers():
    """A cluster whose workers are processes of their own (no fork server), each of which
    the node waits for, with a slot more than :data:`EXECUTOR_THREADS` + 1."""
    env = {"DISCO_WORKER_FORK": "0", "DISCO_WORKERS": str(EXECUTOR_THREADS + 2)}
    with running_cluster(extra_env=env) as cluster:
        yield cluster


def test_a_job_starts_while_more_workers_run_than_the_executor_has_threads(
        own_process_workers, tmp_path):
    go = str(tmp_path / "go")
    started = tmp_path / "started"
    started.mkdir()

    def held(line, params):
        import os
        import time
        open(os.path.join(str(started), line), "w").close()
        deadline = time.time() + 120
        while not os.path.exists(go) and time.time() < deadline:
            time.sleep(0.1)
        yield line, 1

    def quick(line, params):
        yield line, 1

    many = EXECUTOR_THREADS + 1
    held_job = Job().run(input=["raw://h%d" % i for i in range(many)], map=held)
    try:
        wait_for(lambda: len(os.listdir(started)) == many, 90)  # every worker runs
        # a new job's first task on the node unpacks its job home: it must not queue
        # behind the running workers
        other = Job().run(input=["raw://q"], map=quick)
        assert list(result_iterator(other.wait(timeout=45))) == [("q", 1)]
        assert Disco().jobinfo(held_job.name)["active"] == "active"
    finally:
        open(go, "w").close()
    results = sorted(result_iterator(held_job.wait(timeout=120)))
    assert results == sorted(("h%d" % i, 1) for i in range(many))


def exit_3(line, params):
    import os
    os._exit(3)
    yield line, 1


def test_the_exit_code_of_a_worker_of_its_own_reaches_the_job(own_process_workers):
    job = Job().run(input=["raw://x"], map=exit_3)
    with pytest.raises(JobError, match=r"exit code: 3\)"):
        job.wait(timeout=60)


def trivial(line, params):
    yield line, 1


def test_a_node_deleting_a_purged_job_with_many_files_goes_on_serving():
    with running_cluster(hosts=[("127.0.0.2", 1)]) as cluster:
        job = Job().run(input=["raw://a"], map=trivial)
        job.wait(timeout=60)
        data = os.path.join(DiscoSettings()["DISCO_DATA"], "127.0.0.2")
        home = os.path.join(data, hexhash(job.name), job.name)
        for i in range(100):
            os.makedirs(os.path.join(home, "many", str(i)))
            for j in range(300):
                open(os.path.join(home, "many", str(i), str(j)), "w").close()
        with open(os.path.join(data, "probe"), "w") as f:
            f.write("still here")
        probe = "http://127.0.0.2:%d/disco/127.0.0.2/probe" % cluster.port
        started = time.time()
        Disco().purge(job.name)
        slowest = 0.0
        while os.path.exists(home):
            asked = time.time()
            with urllib.request.urlopen(probe, timeout=60) as resp:
                assert resp.read() == b"still here"
            slowest = max(slowest, time.time() - asked)
            time.sleep(0.01)
        took = time.time() - started
        assert slowest < took / 2, (took, slowest)


def peak_memory(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) << 10 for line in f if line.startswith("VmHWM:"))


def test_a_node_unpacks_a_large_job_pack_without_holding_it_in_memory():
    padding = 200 << 20
    job = Job()
    pack = job.worker.jobpack(job, input=["raw://a"], map=trivial)
    home = io.BytesIO(pack.jobhome)
    with zipfile.ZipFile(home, "a") as z:  # stored as it is: the pack is as large
        z.writestr("padding.bin", b"\0" * padding, compress_type=zipfile.ZIP_STORED)
    pack.jobhome = home.getvalue()
    del home
    with running_cluster() as cluster:
        [pid] = cluster.node_pids()
        name = Disco().submit(pack)
        del pack
        assert list(result_iterator(Disco().wait(name, timeout=120))) == [("a", 1)]
        assert peak_memory(pid) < padding, peak_memory(pid)
