"""Job temp-data GC on the nodes, and what ``clean`` and ``purge`` leave behind them.

Every node deletes, every ``DATA_GC_INTERVAL`` hours, the job directories of jobs that are
not active and either were purged or are older than ``DISCO_GC_AFTER`` seconds; a node that
was down when a job was purged deletes its data once it is back.
"""
import os
import time

from disco.core import Disco, Job, result_iterator
from disco_core.jobpack import hexhash
from disco_core.node.gc import collect
from disco_core.testing import running_cluster, wait_for

GC_AFTER = 6.0


def job_dir(cluster, host, name):
    return os.path.join(cluster.home, "root", "data", host, hexhash(name), name)


def pairs(line, params):
    yield line, 1


def slow_pairs(line, params):
    import time
    time.sleep(10)
    yield line, 1


def test_old_finished_jobs_lose_their_data_and_active_ones_keep_it():
    env = {"DISCO_GC_AFTER": str(GC_AFTER), "DATA_GC_INTERVAL": "0.0003"}  # ~1 s
    with running_cluster(extra_env=env) as cluster:
        done = Job().run(input=["raw://a"], map=pairs)
        assert list(result_iterator(done.wait(timeout=120))) == [("a", 1)]
        done_dir = job_dir(cluster, "localhost", done.name)
        made = os.stat(done_dir).st_mtime

        slow = Job().run(input=["raw://b"], map=slow_pairs)
        slow_dir = wait_for(lambda: os.path.isdir(job_dir(cluster, "localhost", slow.name))
                            and job_dir(cluster, "localhost", slow.name))
        slow_made = os.stat(slow_dir).st_mtime

        # the finished job's data goes once it is older than DISCO_GC_AFTER, not before
        wait_for(lambda: not os.path.exists(done_dir), timeout=60)
        assert time.time() - made >= GC_AFTER
        assert Disco().results(done.name)[0] == "ready"  # the master still knows the job

        # the slow job is older than DISCO_GC_AFTER too, but active: its data stays
        wait_for(lambda: time.time() - slow_made > GC_AFTER + 2, timeout=60)
        assert Disco().results(slow.name)[0] == "active"
        assert time.time() - os.stat(slow_dir).st_mtime > GC_AFTER
        assert list(result_iterator(slow.wait(timeout=120))) == [("b", 1)]
        assert "Traceback" not in cluster.log("node-")


def test_a_node_down_at_purge_time_deletes_the_data_when_it_is_back(http_server):
    urls = [http_server.add("in%d.txt" % i, "w%d\n" % i) for i in range(6)]
    hosts = [("127.0.0.2", 1), ("127.0.0.3", 1)]
    with running_cluster(hosts=hosts) as cluster:
        disco = Disco()

        def slowish(line, params):
            import time
            time.sleep(0.3)
            yield line, 1

        job = Job().run(input=urls, map=slowish)
        job.wait(timeout=120)
        dirs = {host: job_dir(cluster, host, job.name) for host, _n in hosts}
        assert all(os.path.isdir(d) for d in dirs.values()), dirs

        # 127.0.0.3 goes away; the job is purged while it is gone
        disco.config = [["127.0.0.2", "1"]]
        wait_for(lambda: "127.0.0.3" not in disco.nodeinfo())
        disco.purge(job.name)
        wait_for(lambda: not os.path.exists(dirs["127.0.0.2"]))
        time.sleep(1)
        assert os.path.isdir(dirs["127.0.0.3"])

        # back in the table, the node starts, connects, and deletes the purged job's data
        disco.config = [[host, str(n)] for host, n in hosts]
        wait_for(lambda: disco.nodeinfo()["127.0.0.3"]["connected"], timeout=60)
        wait_for(lambda: not os.path.exists(dirs["127.0.0.3"]), timeout=30)


def test_clean_forgets_the_job_and_keeps_the_nodes_data(disco_cluster):
    disco = Disco()
    job = Job().run(input=["raw://c"], map=pairs)
    results = job.wait(timeout=120)
    node_dir = job_dir(disco_cluster, "localhost", job.name)
    master_dir = os.path.join(disco_cluster.home, "root", "data",
                              "_disco_%d" % disco_cluster.port, hexhash(job.name), job.name)
    assert os.path.isdir(node_dir) and os.path.isdir(master_dir)
    disco.clean(job.name)
    assert disco.results(job.name) == ("unknown job", [])
    assert job.name not in [name for _t, _s, name in disco.joblist()]
    assert not os.path.exists(master_dir)
    time.sleep(1)
    assert os.path.isdir(node_dir)
    assert list(result_iterator(results)) == [("c", 1)]


def test_purge_forgets_the_job_and_deletes_the_nodes_data(disco_cluster):
    disco = Disco()
    job = Job().run(input=["raw://p"], map=pairs)
    job.wait(timeout=120)
    node_dir = job_dir(disco_cluster, "localhost", job.name)
    assert os.path.isdir(node_dir)
    disco.purge(job.name)
    assert disco.results(job.name) == ("unknown job", [])
    wait_for(lambda: not os.path.exists(node_dir))


# -- the pass itself ------------------------------------------------------------------------

def make_job_dir(root, name, age):
    path = os.path.join(root, hexhash(name), name)
    os.makedirs(os.path.join(path, ".disco"))
    when = time.time() - age
    os.utime(path, (when, when))
    return path


def test_collect_keeps_active_busy_young_and_foreign_directories(tmp_path):
    root = str(tmp_path)
    old = make_job_dir(root, "old@1", 100)
    young = make_job_dir(root, "young@1", 1)
    purged = make_job_dir(root, "purged@1", 1)
    active = make_job_dir(root, "active@1", 100)
    busy = make_job_dir(root, "busy@1", 100)
    foreign = os.path.join(root, "zz", "old@2")  # not a fan-out directory of its name
    os.makedirs(foreign)
    os.utime(foreign, (0, 0))
    removed = collect(root, active=["active@1"], purged=["purged@1", "gone@1"], gc_after=50,
                      busy=["busy@1"])
    assert sorted(removed) == ["old@1", "purged@1"]
    assert not os.path.exists(old) and not os.path.exists(purged)
    assert all(os.path.isdir(p) for p in (young, active, busy, foreign))


def test_collect_on_a_missing_root_deletes_nothing(tmp_path):
    assert collect(str(tmp_path / "none"), [], [], 0) == []
