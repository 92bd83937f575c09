"""A node's connection to the master: sessions, stale and malformed reports, removal.

The master here is real; the nodes are this test, speaking the node's side of the
WebSocket (``/disco/node/connect`` with the cluster secret) for hosts of the node table
that the master cannot start itself, so every message up and down is under its control.
"""
import asyncio
import json
import threading
import time

import pytest
import tornado.httpclient
import tornado.websocket

import disco_core
from disco.core import Disco, Job, result_iterator
from disco_core.settings import DiscoSettings
from disco_core.testing import running_cluster, wait_for


def ident(line, params):
    yield line, 1


class FakeNode:
    """One WebSocket session of host ``host`` with the master, driven from the test."""

    def __init__(self, cluster, host, hello=True):
        self.host = host
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        with open(DiscoSettings()["DISCO_SECRET_FILE"]) as f:
            secret = f.read().strip()
        url = "ws://localhost:%d/disco/node/connect?host=%s&version=%s" % (
            cluster.port, host, disco_core.__version__)
        request = tornado.httpclient.HTTPRequest(url, headers={"X-Disco-Secret": secret})
        self.conn = self._call(lambda: tornado.websocket.websocket_connect(request))
        self.seen = []
        self.unread = []
        if hello:
            self.send({"op": "hello", "session": "test-%s" % host, "running": []})

    def _call(self, make, timeout=30):
        """Run ``make()`` (an awaitable, made on the session's loop) there; its result."""
        async def run():
            return await make()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def send(self, msg):
        self._call(lambda: self.conn.write_message(json.dumps(msg)))

    def recv(self, op, timeout=30.0):
        """The next message with this op (others are kept in ``seen``); None if closed.
        The messages of a ``batch`` (the master's of one round) count one by one."""
        deadline = time.time() + timeout
        while True:
            while self.unread:
                msg = self.unread.pop(0)
                self.seen.append(msg)
                if msg["op"] == op:
                    return msg
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("%s got no %r message in %gs (got %s)"
                                     % (self.host, op, timeout, [m["op"] for m in self.seen]))
            try:
                raw = self._call(lambda: asyncio.wait_for(self.conn.read_message(), left),
                                 left + 5)
            except asyncio.TimeoutError:
                continue
            if raw is None:
                return None
            msg = json.loads(raw)
            self.unread.extend(msg["messages"] if msg["op"] == "batch" else [msg])

    def done(self, run, runid=None, outputs=None):
        self.send({"op": "done", "job": run["job"], "taskid": run["taskid"],
                   "runid": run["runid"] if runid is None else runid,
                   "outputs": [["data", 0, 0, ["raw://out"]]] if outputs is None else outputs})

    def failed(self, run, runid=None, message="cannot read it"):
        self.send({"op": "failed", "job": run["job"], "taskid": run["taskid"],
                   "runid": run["runid"] if runid is None else runid, "kind": "error",
                   "message": message})

    def close(self):
        self.loop.call_soon_threadsafe(self.conn.close)
        time.sleep(0.2)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def fake_cluster():
    """A master whose node table names two hosts it cannot start (the test plays them)."""
    with running_cluster(hosts=[("fakea", 1), ("fakeb", 1)]) as cluster:
        yield cluster


def finish(job, *nodes, timeout=30.0):
    """Answer every task the nodes get with done until the job ends; its results."""
    deadline = time.time() + timeout
    while Disco().jobinfo(job.name)["active"] == "active":
        assert time.time() < deadline, "job %s did not finish" % job.name
        for node in nodes:
            try:
                run = node.recv("run", timeout=0.3)
            except AssertionError:
                continue
            if run is not None:
                node.done(run)
    return job.wait(timeout=5)


def running_tasks(host):
    return Disco().nodeinfo()[host].get("tasks", [])


def task_events(job):
    return [e[2] for _o, e in job.events()]


def test_a_stale_report_changes_nothing(fake_cluster):
    a, b = FakeNode(fake_cluster, "fakea"), FakeNode(fake_cluster, "fakeb")
    try:
        job = Job().run(input=["raw://x"], map=ident)
        first = None
        deadline = time.time() + 30
        while first is None and time.time() < deadline:
            for node in (a, b):
                try:
                    first = node.recv("run", timeout=1)
                    first_node, other = node, (b if node is a else a)
                    break
                except AssertionError:
                    continue
        assert first is not None, "no node got the task"
        first_node.failed(first)
        second = other.recv("run")
        assert second["runid"] == first["runid"] + 1
        # the first node reports its old attempt done and failed: stale, both ignored
        first_node.done(first)
        first_node.failed(first)
        time.sleep(0.5)
        assert running_tasks(other.host) == [job.name]
        assert Disco().jobinfo(job.name)["active"] == "active"
        # a malformed report of the current attempt changes nothing either
        other.send({"op": "done", "job": job.name, "taskid": second["taskid"],
                    "runid": second["runid"], "outputs": [["bogus"]]})
        other.send({"op": "failed", "job": job.name, "taskid": second["taskid"],
                    "runid": "%d" % second["runid"], "kind": "error", "message": "x"})
        time.sleep(0.5)
        assert running_tasks(other.host) == [job.name]
        other.done(second)
        assert finish(job, a, b) == [["raw://out"]]
        assert "Traceback" not in fake_cluster.log("master")
    finally:
        a.close()
        b.close()


def test_a_reconnecting_node_settles_the_attempts_it_lost():
    with running_cluster(hosts=[("fakea", 2)]) as cluster:
        old = FakeNode(cluster, "fakea")
        try:
            job = Job().run(input=["raw://x", "raw://y"], map=ident)
            runs = [old.recv("run"), old.recv("run")]
            keep, lost = sorted(runs, key=lambda r: r["taskid"])
            # the node reconnects before the master saw its old connection close; it
            # still runs one attempt and lost the other
            new = FakeNode(cluster, "fakea", hello=False)
            new.send({"op": "hello", "session": "again",
                      "running": [[job.name, keep["taskid"], keep["runid"]]]})
            again = new.recv("run", timeout=15)
            assert (again["taskid"], again["runid"]) == (lost["taskid"], lost["runid"] + 1)
            new.done(keep)
            new.done(again)
            assert finish(job, new) == [["raw://out"]]
            events = task_events(job)
            assert not any("failures so far" in e for e in events), events
            assert any("reconnected without the task" in e for e in events), events
        finally:
            old.close()
            new.close()


def test_a_lost_nodes_attempts_are_killed_when_it_comes_back():
    with running_cluster(hosts=[("fakea", 1)]) as cluster:
        node = FakeNode(cluster, "fakea")
        job = Job().run(input=["raw://x"], map=ident)
        run = node.recv("run")
        node.close()  # the master loses the node: the task is retried ...
        wait_for(lambda: any("went away" in e for e in task_events(job)), 15)
        back = FakeNode(cluster, "fakea", hello=False)
        try:
            # ... and the node comes back still running the old attempt: it is killed
            back.send({"op": "hello", "session": "back",
                       "running": [[job.name, run["taskid"], run["runid"]]]})
            kill = back.recv("kill", timeout=15)
            assert (kill["taskid"], kill["runid"]) == (run["taskid"], run["runid"])
            retry = back.recv("run", timeout=15)
            assert retry["runid"] > run["runid"]
            back.done(run)  # the old attempt's late report lands nowhere
            time.sleep(0.3)
            assert Disco().jobinfo(job.name)["active"] == "active"
            back.done(retry, outputs=[["data", 0, 0, ["raw://second"]]])
            assert finish(job, back) == [["raw://out"]]
        finally:
            back.close()


def test_removing_a_node_stops_its_tasks_and_closes_it(fake_cluster):
    a, b = FakeNode(fake_cluster, "fakea"), FakeNode(fake_cluster, "fakeb")
    try:
        job = Job().run(input=["raw://x"], map=ident)
        run = a.recv("run")
        Disco().set_config([["fakeb", "1"]])
        kill = a.recv("kill", timeout=15)
        assert (kill["taskid"], kill["runid"]) == (run["taskid"], run["runid"])
        assert a.recv("run", timeout=15) is None  # its connection was closed
        assert a.conn.close_code == 4004
        retry = b.recv("run", timeout=15)
        assert retry["taskid"] == run["taskid"] and retry["runid"] > run["runid"]
        b.done(retry)
        assert finish(job, b) == [["raw://out"]]
        events = task_events(job)
        assert not any("failures so far" in e for e in events), events
        assert "fakea" not in Disco().nodeinfo()
    finally:
        a.close()
        b.close()


def test_an_error_a_node_reports_is_shown_in_nodeinfo(fake_cluster):
    node = FakeNode(fake_cluster, "fakea")
    try:
        node.send({"op": "error", "message": "node fakea cannot handle the message x"})
        wait_for(lambda: Disco().nodeinfo()["fakea"].get("problem"), 10)
        assert "cannot handle" in Disco().nodeinfo()["fakea"]["problem"]
    finally:
        node.close()


def test_a_real_nodes_tasks_survive_a_reconnect(tmp_path):
    marker = str(tmp_path / "ran")

    def slow(line, params):
        import time
        time.sleep(4)
        with open(marker, "a") as f:
            f.write(line + "\n")
        yield line, 1

    with running_cluster() as cluster:
        job = Job().run(input=["raw://a", "raw://b"], map=slow)
        wait_for(lambda: len(running_tasks("localhost")) == 2, 30)
        # another connection for the host takes over, as after a blip; the node reconnects
        # (closing it) and says it still runs both tasks
        blip = FakeNode(cluster, "localhost", hello=False)
        assert blip.recv("run", timeout=30) is None
        blip.close()
        assert sorted(k for k, _v in result_iterator(job.wait(timeout=60))) == ["a", "b"]
        events = task_events(job)
        assert not any("failures so far" in e or "reconnected without" in e for e in events)
        assert sorted(open(marker).read().split()) == ["a", "b"]


def test_the_tasks_of_one_round_reach_a_node_in_one_message():
    """A node with free slots for every task of a new job gets them all in one message,
    a batch of ``run`` messages, and the job goes on when it answers each."""
    with running_cluster(hosts=[("fakea", 3)]) as cluster:
        node = FakeNode(cluster, "fakea")
        try:
            deadline = time.time() + 30
            while not Disco().nodeinfo()["fakea"]["connected"]:
                assert time.time() < deadline, "the fake node never counted as connected"
                time.sleep(0.05)
            job = Job().run(input=["raw://a", "raw://b", "raw://c"], map=ident)
            raw = node._call(lambda: asyncio.wait_for(node.conn.read_message(), 30), 35)
            msg = json.loads(raw)
            assert msg["op"] == "batch", msg
            runs = msg["messages"]
            assert [m["op"] for m in runs] == ["run"] * 3
            assert sorted(m["taskid"] for m in runs) == [0, 1, 2]
            for run in runs:
                node.done(run)
            assert finish(job, node) is not None
        finally:
            node.close()
