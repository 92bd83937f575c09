"""Where new blobs go: the master's choice among its nodes, driven with a node table of
its own (the state the master's scheduler keeps), and the free space a real cluster's
nodes report."""
from types import SimpleNamespace

import pytest

from disco_core.testing import wait_for
from disco_plugin_ddfs.master import MIN_FREE, DDFSMaster
from disco_plugin_ddfs.tags import TagError

GIB = 1 << 30


def ddfs_master(tmp_path, hosts, blacklisted=(), gc_blacklisted=()):
    nodes = {h: SimpleNamespace(available=h not in blacklisted) for h in hosts}
    master = SimpleNamespace(
        url="http://master:1", settings={"DISCO_MASTER_ROOT": str(tmp_path),
                                         "DDFS_BLOB_REPLICAS": 1, "DDFS_PUT_PORT": 8990},
        scheduler=SimpleNamespace(nodes=nodes),
        nodes=SimpleNamespace(gc_blacklist=list(gc_blacklisted)))
    return DDFSMaster(master)


def hosts_of(urls):
    return sorted(u.split("/")[2].split(":")[0] for u in urls)


def test_nodes_with_room_first_then_the_roomiest(tmp_path):
    d = ddfs_master(tmp_path, ["a", "b", "c"])
    d.space = {"a": (MIN_FREE - 1, 0), "b": (5 * GIB, 0), "c": (2 * GIB, 0)}
    for _ in range(20):
        assert hosts_of(d.new_blob("x", 2)) == ["b", "c"]
    d.space["c"] = (GIB // 2, 0)
    for _ in range(20):  # too few with room: the most free space wins
        assert hosts_of(d.new_blob("x", 2)) == ["a", "b"]


def test_blacklisted_and_gc_blacklisted_nodes_get_no_blobs(tmp_path):
    d = ddfs_master(tmp_path, ["a", "b", "c"], blacklisted=["a"], gc_blacklisted=["b"])
    for _ in range(10):
        assert hosts_of(d.new_blob("x")) == ["c"]
    with pytest.raises(TagError) as err:
        d.new_blob("x", 2)
    assert err.value.status == 403


def test_the_urls_name_the_put_port_and_a_new_version(tmp_path):
    d = ddfs_master(tmp_path, ["a"])
    [first], [second] = d.new_blob("log"), d.new_blob("log")
    assert first.startswith("http://a:8990/ddfs/log$") and first != second
    [long] = d.new_blob("p" * 300)
    assert len(long.rsplit("/", 1)[1].split("$")[0]) == 32


def test_nodeinfo_shows_the_nodes_disk_space(disco_cluster):
    info = wait_for(lambda: (lambda i: "diskfree" in i and i)(
        disco_cluster.disco.nodeinfo()["localhost"]), timeout=30)
    assert info["diskfree"] > 0 and info["diskused"] > 0
    assert info["connected"] is True


def test_space_aware_placement_favours_the_emptier_nodes(tmp_path):
    d = ddfs_master(tmp_path, ["a", "b", "c"])
    d.settings["DDFS_SPACE_AWARE"] = "1"
    d.space = {"a": (9 * GIB, 1 * GIB), "b": (1 * GIB, 9 * GIB), "c": (0, 10 * GIB)}
    picks = [hosts_of(d.new_blob("x"))[0] for _ in range(2000)]
    assert "c" not in picks  # no room, no blobs
    share = picks.count("a") / len(picks)
    assert 0.85 < share < 0.95, share  # weights 0.9 and 0.1
    for _ in range(20):
        assert hosts_of(d.new_blob("x", 2)) == ["a", "b"]  # drawn without replacement
    assert hosts_of(d.new_blob("x", include=["b"])) == ["b"]


def test_space_aware_by_absolute_free_space(tmp_path):
    d = ddfs_master(tmp_path, ["a", "b"])
    d.settings.update({"DDFS_SPACE_AWARE": "1", "DDFS_ABSOLUTE_SPACE": "1"})
    # the same share free, a has three times the bytes
    d.space = {"a": (30 * GIB, 30 * GIB), "b": (10 * GIB, 10 * GIB)}
    share = [hosts_of(d.new_blob("x"))[0] for _ in range(2000)].count("a") / 2000
    assert 0.70 < share < 0.80, share
    d.settings["DDFS_ABSOLUTE_SPACE"] = ""
    share = [hosts_of(d.new_blob("x"))[0] for _ in range(2000)].count("a") / 2000
    assert 0.43 < share < 0.57, share


def test_without_the_setting_or_known_space_placement_is_as_before(tmp_path):
    d = ddfs_master(tmp_path, ["a", "b"])
    d.space = {"a": (9 * GIB, 1 * GIB), "b": (2 * GIB, 8 * GIB)}
    share = [hosts_of(d.new_blob("x"))[0] for _ in range(2000)].count("a") / 2000
    assert 0.43 < share < 0.57, share
    d.settings["DDFS_SPACE_AWARE"] = "1"
    d.space = {"a": (9 * GIB, 1 * GIB)}  # b not heard from: the default choice
    share = [hosts_of(d.new_blob("x"))[0] for _ in range(2000)].count("a") / 2000
    assert 0.43 < share < 0.57, share


def test_replicas_on_bad_volumes_count_as_missing(tmp_path):
    d = ddfs_master(tmp_path, ["a", "b"])
    replicas = ["disco://a/ddfs/a/vol0/blob/1f/x$1", "disco://b/ddfs/b/vol1/blob/1f/x$1"]
    assert d.replica_count(replicas) == 2 and d.bad_volumes("b") == []
    d.note_bad_volumes("b", {"vol1": "unreadable: Not a directory"})
    assert d.bad_volumes("b") == ["vol1"] and d.bad_volumes("a") == []
    assert d.replica_count(replicas) == 1
    assert d.replica_count(replicas + ["disco://b/ddfs/b/vol0/blob/1f/x$1"]) == 2
    d.note_bad_volumes("b", {})
    assert d.bad_volumes("b") == [] and d.replica_count(replicas) == 2
