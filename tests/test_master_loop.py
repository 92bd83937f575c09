"""The master's loop never blocks for long, and when it does anyway, its nodes' tasks go on.

A plugin made for these tests adds a master route that holds the master's loop on purpose
(``time.sleep`` in a handler), for longer than the nodes' ping timeout, while tasks run.
"""
import asyncio
import json
import os
import signal
import threading
import time

import pytest

from disco.core import Disco, Job, result_iterator
from disco_core.jobpack import hexhash
from disco_core.settings import DiscoSettings
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
    with cluster.urlopen("/test/stall?seconds=%g" % seconds, data=b"", method="POST",
                         timeout=seconds + 60) as resp:
        assert resp.read() == b"stalled"


def stall_cluster(tmp_path, hosts=None):
    """A cluster whose master has the stall route, with pings every 0.5s and a 1s wait for
    a node that lost its connection."""
    install_plugin(tmp_path, "disco-test-stall", "disco_test_stall", STALL_PLUGIN,
                   "[disco]\nstall = disco_test_stall\n")
    settings = {"PYTHONPATH": str(tmp_path), "DISCO_NODE_PING_INTERVAL": "0.5",
                "DISCO_NODE_PING_TIMEOUT": "1"}
    return running_cluster(hosts=hosts, extra_env=settings)


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
        wait_for(lambda: os.path.exists(marker) and len(open(marker).read().split()) == 2, 60)
        stall_master(cluster, 3)  # many ping timeouts: the node gives up on the master
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
        assert "the master was held up for" in cluster.log("disco_")  # and it says why


def test_a_wait_for_a_node_that_the_stalled_master_overslept_is_granted_again(tmp_path):
    with stall_cluster(tmp_path, hosts=[("fakea", 1)]) as cluster:
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
        assert "node fakea gets 1s more to come back" in cluster.log("disco_")


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


# -- slow work happens beside the loop ----------------------------------------------------

def answers_while(cluster, action):
    """Run ``action`` in a thread and ask the master its version until it is done: how long
    the action took, and the slowest answer meanwhile."""
    took = []

    def run():
        started = time.time()
        try:
            action()
        finally:
            took.append(time.time() - started)
    thread = threading.Thread(target=run)
    slowest = 0.0
    thread.start()
    while thread.is_alive():
        started = time.time()
        with cluster.urlopen("/disco/version", timeout=120) as resp:
            resp.read()
        slowest = max(slowest, time.time() - started)
        time.sleep(0.01)
    thread.join()
    return took[0], slowest


def trivial(line, params):
    yield line, 1


def master_job_dir(name):
    return os.path.join(DiscoSettings()["DISCO_MASTER_ROOT"], hexhash(name), name)


@pytest.fixture(scope="module")
def cluster():
    with running_cluster() as cluster:
        yield cluster


def test_purging_a_job_with_many_files_leaves_the_master_answering(cluster):
    job = Job().run(input=["raw://a"], map=trivial)
    job.wait(timeout=60)
    jobdir = master_job_dir(job.name)
    for i in range(100):  # e.g. many OOB values
        os.makedirs(os.path.join(jobdir, "many", str(i)))
        for j in range(300):
            open(os.path.join(jobdir, "many", str(i), str(j)), "w").close()
    took, slowest = answers_while(cluster, lambda: Disco().purge(job.name))
    assert not os.path.exists(jobdir)
    assert slowest < took / 2, (took, slowest)


def test_searching_a_long_event_log_leaves_the_master_answering(cluster):
    job = Job().run(input=["raw://a"], map=trivial)
    job.wait(timeout=60)
    line = json.dumps(["2026/01/01 00:00:00", "localhost", "MSG: [map:0] a line of a long job"])
    with open(os.path.join(master_job_dir(job.name), "events"), "a") as f:
        f.write((line + "\n") * 200000)
    found = []
    took, slowest = answers_while(
        cluster, lambda: found.append(Disco().jobevents(job.name, num=5, filter="READY")))
    assert "READY" in found[0][0][2]
    assert slowest < took / 2, (took, slowest)


def test_a_node_removed_from_the_table_is_stopped_while_the_master_goes_on():
    with running_cluster(hosts=[("127.0.0.2", 1), ("127.0.0.3", 1)]) as cluster:
        wait_for(lambda: all(n["connected"] for n in Disco().nodeinfo().values()), 30)
        [pid] = cluster.node_pids("127.0.0.3")
        Disco().set_config([["127.0.0.2", "1"]])
        wait_for(lambda: not os.path.exists("/proc/%d" % pid), 15)  # exited and reaped
        assert list(Disco().nodeinfo()) == ["127.0.0.2"]
        job = Job().run(input=["raw://a"], map=trivial)
        assert list(result_iterator(job.wait(timeout=60))) == [("a", 1)]


def test_recording_a_finished_job_of_many_tasks_leaves_the_loop_free(tmp_path):
    """Driven in-process: a job of 50,000 tasks (no nodes run them) is killed, and the
    master records it on disk meanwhile its loop keeps ticking."""
    from disco_core.master import jobrecord
    from disco_core.master.app import Master
    from test_bounded_state import no_stages

    def many_inputs(prefix, count):
        from disco_core.jobpack import JobPack
        pack = JobPack.loads(no_stages(prefix))
        jobdict = dict(pack.jobdict, pipeline=[["map", "split", False]],
                       inputs=[[0, 0, ["raw://%d" % i]] for i in range(count)])
        return JobPack(2, jobdict, {}, pack.jobhome, b"").dumps()

    async def main():
        settings = DiscoSettings(DISCO_HOME=str(tmp_path), DISCO_SETTINGS_FILE="")
        master = Master(settings)
        name = await master.submit(many_inputs("Many", 50000))
        loop = asyncio.get_running_loop()
        gaps = [0.0]

        async def tick():
            while True:
                before = loop.time()
                await asyncio.sleep(0.005)
                gaps.append(loop.time() - before)
        ticker = asyncio.ensure_future(tick())
        await asyncio.sleep(0.05)
        started = loop.time()
        master.kill(name)
        while not jobrecord.exists(master.job_dir(name)):
            await asyncio.sleep(0.005)
        took = loop.time() - started
        await asyncio.sleep(0.05)  # the ticker's last look
        ticker.cancel()
        return took, max(gaps)
    took, slowest = asyncio.run(main())
    assert slowest < took / 2, (took, slowest)


def test_the_tasks_of_a_local_node_whose_process_died_are_not_waited_for():
    def slow(line, params):
        import time
        time.sleep(2)
        yield line, 1

    # a long wait for nodes to come back: the task runs again because its node died (not
    # counted as the task's failure; a task that keeps losing its node ends the job)
    with running_cluster(extra_env={"DISCO_NODE_PING_TIMEOUT": "60"}) as cluster:
        job = Job().run(input=["raw://a"], map=slow)
        wait_for(lambda: Disco().nodeinfo()["localhost"].get("tasks"), 30)
        [pid] = cluster.node_pids()
        os.kill(pid, signal.SIGKILL)
        assert sorted(result_iterator(job.wait(timeout=45))) == [("a", 1)]
        events = [e[2] for _o, e in job.events()]
        assert sum("went away" in e for e in events) == 1, events
        assert not any("reconnected without the task" in e for e in events), events


LOOKUP_PLUGIN = """
    import ipaddress
    import sys
    import threading
    import traceback

    import tornado.web

    from disco_core.hookspecs import hookimpl

    LOOKUPS = []  # the names the master's loop thread looked up, and where
    EVENTS = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
              "socket.gethostbyaddr")


    def by_name(host):
        if not isinstance(host, str) or host == "localhost":
            return False
        try:
            ipaddress.ip_address(host)
            return False
        except ValueError:
            return True


    def watch(event, args):
        if event in EVENTS and args and by_name(args[0]) \\
                and threading.current_thread() is threading.main_thread():
            LOOKUPS.append([event, args[0], "".join(traceback.format_stack(limit=8))])


    class Lookups(tornado.web.RequestHandler):
        def get(self):
            self.finish({"lookups": LOOKUPS})


    @hookimpl
    def disco_master_started(master):
        sys.addaudithook(watch)


    @hookimpl
    def disco_master_routes(master):
        return [(r"/test/lookups", Lookups)]
    """


def test_starting_a_node_over_ssh_looks_up_no_name_on_the_loop(tmp_path):
    """The master's loop thread resolves no host name (the audit events of Python's socket
    module say which thread asked) while it starts a node on another machine, whose master
    URL and route the master works out from this machine's name and the node's."""
    install_plugin(tmp_path, "disco-test-lookups", "disco_test_lookups", LOOKUP_PLUGIN,
                   "[disco]\nlookups = disco_test_lookups\n")
    settings = {"PYTHONPATH": str(tmp_path)}
    with running_cluster(extra_env=settings) as cluster:
        cluster.disco.set_config([["localhost", "1"], ["nx-elsewhere.invalid", "1"]])
        wait_for(lambda: cluster.disco.nodeinfo()["nx-elsewhere.invalid"].get("problem"), 60)
        with cluster.urlopen("/test/lookups") as resp:
            lookups = json.loads(resp.read())["lookups"]
        assert lookups == [], "\n".join("%s(%r) on the loop:\n%s" % tuple(x) for x in lookups)
