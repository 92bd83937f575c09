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
