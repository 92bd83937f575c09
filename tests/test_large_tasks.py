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
