"""The master's loop never blocks for long, and when it does anyway, its nodes' tasks go on.

A plugin made for these tests adds a master route that holds the master's loop on purpose
(``time.sleep`` in a handler), for longer than the nodes' ping timeout, while tasks run.
"""
import urllib.request

from disco.core import Disco, Job, result_iterator
from disco_core.testing import install_plugin, running_cluster, wait_for
from test_node_sessions import FakeNode, finish, ident

STALL_PLUGIN = """
    import time

    import tornado.web

    from disco_core.hookspecs import hookimpl


    class Stall(tornado.web.RequestHandler):
        def post(self):
            # blocks the master's loop on purpose: nothing else runs meanwhile
            time.sleep(float(self.get_query_argument("seconds")))
            self.finish("stalled")


    @hookimpl
    def disco_master_routes(master):
        return [(r"/test/stall", Stall)]
    """


def stall_master(cluster, seconds):
    request = urllib.request.Request("%s/test/stall?seconds=%g" % (cluster.master, seconds),
                                     data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=seconds + 60) as resp:
        assert resp.read() == b"stalled"


def stall_cluster(tmp_path, **env):
    install_plugin(tmp_path, "disco-test-stall", "disco_test_stall", STALL_PLUGIN,
                   "[disco]\nstall = disco_test_stall\n")
    settings = {"PYTHONPATH": str(tmp_path), "DISCO_NODE_PING_INTERVAL": "0.5",
                "DISCO_NODE_PING_TIMEOUT": "1"}
    settings.update(env)
    return running_cluster(extra_env=settings)


def test_tasks_survive_a_master_stalled_past_the_ping_timeout(tmp_path):
    marker = str(tmp_path / "ran")

    def slow(line, params):
        import time
        with open(marker, "a") as f:
            f.write(line + "\n")
        time.sleep(6)
        yield line, 1

    with stall_cluster(tmp_path / "plugin") as cluster:
        job = Job().run(input=["raw://a", "raw://b"], map=slow)
        wait_for(lambda: len(Disco().nodeinfo()["localhost"].get("tasks", [])) == 2, 30)
        stall_master(cluster, 3)  # three ping timeouts: the node gives up on the master
        results = sorted(result_iterator(job.wait(timeout=60)))
        assert results == [("a", 1), ("b", 1)]
        events = [e[2] for _o, e in job.events()]
        assert not any("went away" in e or "failures so far" in e or "retrying" in e
                       for e in events), events
        assert sorted(e for e in events if e.startswith("map:") and " assigned to " in e) == [
            "map:0 assigned to localhost", "map:1 assigned to localhost"]
        with open(marker) as f:
            assert sorted(f.read().split()) == ["a", "b"]  # each task ran once
        # the stall was real: the node lost its connection and came back
        assert "the connection to the master closed" in cluster.log("node")
        assert "lost its connection to the master" in cluster.log("disco_")


def test_a_wait_for_a_node_that_the_stalled_master_overslept_is_granted_again(tmp_path):
    install_plugin(tmp_path, "disco-test-stall", "disco_test_stall", STALL_PLUGIN,
                   "[disco]\nstall = disco_test_stall\n")
    env = {"PYTHONPATH": str(tmp_path), "DISCO_NODE_PING_TIMEOUT": "1"}
    with running_cluster(hosts=[("fakea", 1)], extra_env=env) as cluster:
        node = FakeNode(cluster, "fakea")
        job = Job().run(input=["raw://x"], map=ident)
        run = node.recv("run")
        node.close()  # the master now waits 1s for fakea to come back ...
        stall_master(cluster, 2.5)  # ... and oversleeps that wait
        back = FakeNode(cluster, "fakea", hello=False)
        try:
            back.send({"op": "hello", "session": "back",
                       "running": [[job.name, run["taskid"], run["runid"]]]})
            back.done(run)
            assert finish(job, back) == [["raw://out"]]
            events = [e[2] for _o, e in job.events()]
            assert not any("went away" in e or "retrying" in e for e in events), events
        finally:
            back.close()
        assert "held up for" in cluster.log("disco_")


def test_a_node_that_does_not_come_back_is_gone_after_the_ping_timeout(tmp_path):
    with running_cluster(hosts=[("fakea", 1)],
                         extra_env={"DISCO_NODE_PING_TIMEOUT": "1"}) as cluster:
        node = FakeNode(cluster, "fakea")
        job = Job().run(input=["raw://x"], map=ident)
        run = node.recv("run")
        node.close()
        wait_for(lambda: any("went away" in e[2] for _o, e in job.events()), 10)
        back = FakeNode(cluster, "fakea")
        try:
            retry = back.recv("run", timeout=15)
            assert retry["taskid"] == run["taskid"] and retry["runid"] == run["runid"] + 1
            back.done(retry)
            assert finish(job, back) == [["raw://out"]]
        finally:
            back.close()

