"""The five groupings (disco_core.master.pipeline) on data and dir outputs, with several
labels and hosts, and the order of the resulting groups (reference/pipeline.md)."""
import random

import pytest

from disco_core.master.pipeline import Output, TaskInput, group_outputs


def data(label, *hosts, size=10, path="f"):
    return Output.data(label, size, ["disco://%s/disco/%s" % (h, path) for h in hosts])


def dirout(host, labels, name="i"):
    return Output.dir(host, "dir://%s/disco/%s" % (host, name), labels)


def shape(groups):
    """Groups as ``[(key, [(label, first url), ...]), ...]``."""
    return [(key, [(inp.label, inp.urls[0]) for inp in inputs]) for key, inputs in groups]


def group(grouping, outputs, seed=0):
    return shape(group_outputs(grouping, outputs, random.Random(seed)))


A = dirout("hostA", [(0, 5), (2, 7)], "a")
B = dirout("hostB", [(1, 3), (2, 4)], "b")
D0 = data(0, "hostB", path="d0")
D1 = data(1, "hostA", path="d1")
D2 = data(2, "hostC", path="d2")


def test_output_hosts_and_json_round_trip():
    assert A.hosts() == ["hostA"]
    assert data(0, "h1", "h2").hosts() == ["h1", "h2"]
    assert Output.data(0, 0, ["raw://abc", "http://example.com/x", "/local/file",
                              "file:///tmp/x"]).hosts() == ["abc", "example.com"]
    for out in (A, D0, data(3, "h1", "h2", size=99)):
        assert Output.from_json(out.to_json()) == out
    assert A.labels == [(0, 5), (2, 7)]
    assert Output.dir("h", "dir://h/x", [(2, 1), (0, 1)]).labels == [(0, 1), (2, 1)]


def test_split_one_group_per_data_output_and_per_dir_label_in_input_order():
    got = group("split", [D2, A, D0, B, D1])
    assert got == [
        ((2, "hostC"), [(2, "disco://hostC/disco/d2")]),
        ((0, "hostA"), [(0, "dir://hostA/disco/a")]),
        ((2, "hostA"), [(2, "dir://hostA/disco/a")]),
        ((0, "hostB"), [(0, "disco://hostB/disco/d0")]),
        ((1, "hostB"), [(1, "dir://hostB/disco/b")]),
        ((2, "hostB"), [(2, "dir://hostB/disco/b")]),
        ((1, "hostA"), [(1, "disco://hostA/disco/d1")]),
    ]


def test_split_of_job_inputs_keeps_one_task_per_input_even_when_equal():
    inputs = [Output.data(0, 0, ["raw://same"]), Output.data(0, 0, ["raw://same"]),
              Output.data(0, 0, ["/local/x"])]
    got = group("split", inputs)
    assert got == [((0, "same"), [(0, "raw://same")]), ((0, "same"), [(0, "raw://same")]),
                   ((0, ""), [(0, "/local/x")])]


def test_group_label_joins_every_label_across_hosts():
    got = group("group_label", [D2, A, D0, B, D1])
    assert got == [
        ((0, ""), [(0, "dir://hostA/disco/a"), (0, "disco://hostB/disco/d0")]),
        ((1, ""), [(1, "dir://hostB/disco/b"), (1, "disco://hostA/disco/d1")]),
        ((2, ""), [(2, "disco://hostC/disco/d2"), (2, "dir://hostA/disco/a"),
                   (2, "dir://hostB/disco/b")]),
    ]


def test_group_node_label_one_group_per_label_and_host():
    got = group("group_node_label", [D2, A, D0, B, D1, data(2, "hostA", path="d2a")])
    assert got == [
        ((0, "hostA"), [(0, "dir://hostA/disco/a")]),
        ((0, "hostB"), [(0, "disco://hostB/disco/d0")]),
        ((1, "hostA"), [(1, "disco://hostA/disco/d1")]),
        ((1, "hostB"), [(1, "dir://hostB/disco/b")]),
        ((2, "hostA"), [(2, "dir://hostA/disco/a"), (2, "disco://hostA/disco/d2a")]),
        ((2, "hostB"), [(2, "dir://hostB/disco/b")]),
        ((2, "hostC"), [(2, "disco://hostC/disco/d2")]),
    ]


def test_group_node_one_group_per_host_dir_inputs_take_all_labels():
    got = group("group_node", [D2, A, D0, B, D1, dirout("hostA", [(5, 1)], "a2")])
    assert got == [
        ((0, "hostA"), [("all", "dir://hostA/disco/a"), (1, "disco://hostA/disco/d1"),
                        ("all", "dir://hostA/disco/a2")]),
        ((0, "hostB"), [(0, "disco://hostB/disco/d0"), ("all", "dir://hostB/disco/b")]),
        ((0, "hostC"), [(2, "disco://hostC/disco/d2")]),
    ]


def test_group_all_one_group():
    got = group("group_all", [D2, A, D0, B, D1])
    assert got == [((0, ""), [(2, "disco://hostC/disco/d2"), ("all", "dir://hostA/disco/a"),
                              (0, "disco://hostB/disco/d0"), ("all", "dir://hostB/disco/b"),
                              (1, "disco://hostA/disco/d1")])]


@pytest.mark.parametrize("grouping", ["split", "group_label", "group_node_label",
                                      "group_node", "group_all"])
def test_no_outputs_no_groups(grouping):
    assert group_outputs(grouping, []) == []
    empty = [Output.data(0, 0, []), Output.dir("hostA", "dir://hostA/x", [])]
    assert group_outputs(grouping, empty) == []


def test_sizes_follow_inputs():
    groups = group_outputs("group_label", [A, B])
    sizes = {key: [inp.size for inp in inputs] for key, inputs in groups}
    assert sizes == {(0, ""): [5], (1, ""): [3], (2, ""): [7, 4]}
    groups = group_outputs("group_node", [A, B])
    assert [[inp.size for inp in inputs] for _, inputs in groups] == [[12], [7]]


def test_replicas_pick_one_of_their_hosts_at_random():
    out = data(4, "h1", "h2", "h3")
    seen = set()
    for seed in range(60):
        ((key, inputs),) = group_outputs("group_node_label", [out], random.Random(seed))
        assert key[0] == 4 and key[1] in ("h1", "h2", "h3")
        assert inputs[0].urls == out.urls  # every replica stays available to the task
        seen.add(key[1])
    assert seen == {"h1", "h2", "h3"}


def test_groups_are_sorted_by_key_with_many_labels_and_hosts():
    rng = random.Random(7)
    outputs = []
    for i in range(200):
        host = "host%d" % rng.randrange(5)
        if rng.random() < 0.5:
            outputs.append(data(rng.randrange(12), host, path="p%d" % i))
        else:
            labels = {rng.randrange(12): rng.randrange(100) for _ in range(3)}
            outputs.append(dirout(host, labels.items(), "i%d" % i))
    for grouping in ("group_label", "group_node_label", "group_node", "group_all"):
        groups = group_outputs(grouping, outputs, random.Random(1))
        keys = [key for key, _ in groups]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        total = sum(len(inputs) for _, inputs in groups)
        if grouping in ("group_node", "group_all"):
            assert total == len(outputs)
        else:
            assert total == sum(1 if o.kind == "data" else len(o.labels) for o in outputs)


def test_unknown_grouping_is_an_error():
    with pytest.raises(ValueError):
        group_outputs("by_magic", [D0])


def test_task_input_hosts():
    assert TaskInput(0, ["disco://a/x", "http://b:80/y", "/tmp/z"]).hosts() == ["a", "b"]
