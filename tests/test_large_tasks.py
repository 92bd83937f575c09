"""Tasks too large for one message between master and node, or node and worker."""
import pytest

from disco.core import Job, result_iterator
from disco_core.node.runner import TaskRun

PAD = "-" + "x" * 24


def count(iter, params):
    n = total = 0
    for line in iter:
        n += 1
        total += int(line.split("-", 1)[0])
    yield n, total


def test_a_group_all_task_with_300k_inputs_runs(disco_cluster):
    # as a task message these inputs are about 15 MB, more than a WebSocket message may be
    inputs = ["raw://%06d%s" % (i, PAD) for i in range(300000)]
    job = Job().run(input=inputs, reduce=count, reduce_reader=None)
    assert list(result_iterator(job.wait(timeout=600))) == [(300000, sum(range(300000)))]
    events = [e[2] for _o, e in job.events()]
    assert not any("went away" in e for e in events), events


class _Node:
    host = "here"


@pytest.mark.parametrize("done", [True, False])
def test_an_input_reply_over_the_limit_comes_in_parts(monkeypatch, done):
    run = TaskRun(_Node(), {"job": "J", "taskid": 0, "runid": 0, "stage": "reduce",
                            "grouping": "group_all", "group": [0, ""], "jobpack": "",
                            "inputs_done": done,
                            "inputs": [[0, ["raw://%04d%s" % (i, PAD)]] for i in range(1000)]})
    monkeypatch.setattr(TaskRun, "reply_limit", 10000)
    got = []
    request = ""
    while True:
        flag, items = run.input_reply(request)
        assert items and len(items) < 1000
        got.extend(items)
        if len(got) == 1000:
            break
        assert flag == "more"
        request = ["exclude", [item[0] for item in got]]
    assert flag == ("done" if done else "more")
    assert [item[0] for item in got] == list(range(1000))
    assert got[7] == [7, "ok", 0, [[0, "raw://0007" + PAD]]]


def test_task_inputs_are_for_the_clusters_nodes_only(disco_cluster):
    import urllib.error
    import urllib.request
    path = "/disco/node/inputs?job=J&taskid=0&runid=0"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(disco_cluster.master + path, timeout=10)
    assert err.value.code == 401  # not even the master's token
    with pytest.raises(urllib.error.HTTPError) as err:
        disco_cluster.urlopen(path, timeout=10)
    assert err.value.code == 403  # the token, but not a node
    assert "only the cluster's nodes" in err.value.read().decode()
    with pytest.raises(urllib.error.HTTPError) as err:
        disco_cluster.urlopen(path, headers={"X-Disco-Secret": "wrong"}, timeout=10)
    assert err.value.code == 403


def noop(interface, state, label, inp):
    return iter(())


def test_new_inputs_too_many_for_a_message_go_to_a_running_task_by_reference():
    """A running task of a concurrent stage gets the outputs of each task of the stage
    before it in an ``inputs`` message; when they are too many for one (a task of 30,000
    outputs), the message names where the node fetches them, and there they are."""
    import json
    import urllib.request

    from disco.core import Job
    from disco.worker.pipeline.worker import Stage, Worker
    from disco_core.settings import DiscoSettings
    from disco_core.testing import running_cluster
    from test_node_sessions import FakeNode

    with running_cluster(hosts=[("fakea", 3)]) as cluster:
        node = FakeNode(cluster, "fakea")
        try:
            job = Job(worker=Worker([("split", Stage("map", process=noop)),
                                     ("group_all", Stage("reduce", process=noop), True)]))
            job.run(input=["raw://a", "raw://b"])
            maps = sorted([node.recv("run"), node.recv("run")], key=lambda r: r["taskid"])
            node.done(maps[0], outputs=[["data", 0, 0, ["raw://first"]]])
            reduce = node.recv("run")
            assert reduce["stage"] == "reduce" and reduce["inputs"] == [[0, ["raw://first"]]]
            many = [["data", 0, 0, ["raw://%06d%s" % (i, PAD)]] for i in range(30000)]
            node.done(maps[1], outputs=many)
            more = node.recv("inputs")
            assert "inputs" not in more and more["done"] is False, sorted(more)
            with open(DiscoSettings()["DISCO_SECRET_FILE"]) as f:
                secret = f.read().strip()
            request = urllib.request.Request(more["inputs_ref"],
                                             headers={"X-Disco-Secret": secret})
            with urllib.request.urlopen(request, timeout=60) as reply:
                fetched = json.load(reply)
            assert fetched == [[0, ["raw://%06d%s" % (i, PAD)]] for i in range(30000)]
            last = node.recv("inputs")  # the stage before it finished
            assert last["done"] is True and last["inputs"] == []
            node.done(reduce, outputs=[["data", 0, 0, ["raw://result"]]])
            assert job.wait(timeout=60) == [["raw://result"]]
        finally:
            node.close()


class _FetchingNode:
    """What a TaskRun asks of its node here: its host and the node's own fetch of inputs
    by reference (over real HTTP)."""
    host = "here"
    secret = "s"

    def fetch_inputs(self, url):
        from disco_core.node.app import Node
        return Node.fetch_inputs(self, url)


def concurrent_run():
    run = TaskRun(_FetchingNode(), {"job": "J", "taskid": 0, "runid": 0, "stage": "reduce",
                                    "grouping": "group_all", "group": [0, ""], "jobpack": "",
                                    "inputs_done": False, "inputs": [[0, ["raw://first"]]]})
    return run


def test_inputs_by_reference_are_applied_in_the_order_the_messages_came(http_server):
    import asyncio
    import json
    ref = http_server.add("more.json", json.dumps([[0, ["raw://%d" % i]] for i in range(3)]))

    async def feed():
        run = concurrent_run()
        run.feed({"inputs_ref": ref, "done": False})
        run.feed({"inputs": [[0, ["raw://after"]]], "done": True})  # waits for the fetch
        assert [urls for _label, urls in run.inputs] == [[[0, "raw://first"]]]
        assert not run.inputs_done
        for _ in range(200):
            if run.inputs_done:
                break
            await asyncio.sleep(0.05)
        return run
    run = asyncio.run(feed())
    assert [urls[0][1] for _label, urls in run.inputs] == [
        "raw://first", "raw://0", "raw://1", "raw://2", "raw://after"]
    assert run.inputs_done and not run.feed_failure


def test_inputs_that_cannot_be_fetched_end_the_attempt_with_the_reason(http_server):
    import asyncio

    async def feed():
        run = concurrent_run()
        run.feed({"inputs_ref": http_server.url("gone.json"), "done": False})
        run.feed({"inputs": [], "done": True})
        for _ in range(200):
            if run.feed_failure:
                break
            await asyncio.sleep(0.05)
        return run
    run = asyncio.run(feed())
    assert "could not fetch the task's new inputs" in run.feed_failure
    assert "404" in run.feed_failure
    assert len(run.inputs) == 1 and run.inputs_done  # the worker's long poll is let go
