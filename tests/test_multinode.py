"""Several nodes on distinct loopback addresses: tasks spread out and data crosses nodes
over the nodes' HTTP data servers."""
from disco.core import Disco, Job, result_iterator
from disco.worker.classic.func import sum_reduce
from disco_core.testing import running_cluster


def words(line, params):
    for word in line.split():
        yield word, 1


def test_job_across_two_nodes(http_server):
    urls = [http_server.add("in%d.txt" % i, "alpha beta\nbeta gamma %d\n" % i)
            for i in range(6)]
    with running_cluster(hosts=[("127.0.0.2", 1), ("127.0.0.3", 1)]) as cluster:
        info = Disco().nodeinfo()
        assert sorted(info) == ["127.0.0.2", "127.0.0.3"]
        assert all(n["connected"] for n in info.values())
        job = Job().run(input=urls, map=words, reduce=sum_reduce, partitions=4)
        results = job.wait(timeout=120)
        counts = dict(result_iterator(results))
        assert counts == {"alpha": 6, "beta": 12, "gamma": 6,
                          **{str(i): 1 for i in range(6)}}
        hosts = {r[0].split("/")[2] for r in results}
        assert hosts <= {"127.0.0.2", "127.0.0.3"}
        assigned = [e[2] for _o, e in job.events() if " assigned to " in e[2]]
        used = {line.rsplit(" ", 1)[1] for line in assigned}
        assert used == {"127.0.0.2", "127.0.0.3"}, assigned
        stats = Disco().nodeinfo()
        assert sum(n["job_ok"] for n in stats.values()) == len(assigned)
        # each node served the other's files over HTTP: the node logs show no errors
        assert "Traceback" not in cluster.log("node-")


def test_data_error_retries_the_task_on_another_node(tmp_path):
    marker = str(tmp_path / "first-host")

    def flaky(line, params):
        import os
        from disco.error import DataError
        host = this_host()  # noqa: F821
        if not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(host)
        if open(marker).read() == host:
            raise DataError("this node cannot read it", "raw://x")
        yield line, host

    with running_cluster(hosts=[("127.0.0.2", 1), ("127.0.0.3", 1)]):
        job = Job().run(input=["raw://x"], map=flaky)
        [(line, host)] = list(result_iterator(job.wait(timeout=120)))
        failed = open(marker).read()
        assert host != failed and {host, failed} == {"127.0.0.2", "127.0.0.3"}
        events = [e[2] for _o, e in job.events()]
        assert sum('failed on "%s"' % failed in e for e in events) == 1, events
