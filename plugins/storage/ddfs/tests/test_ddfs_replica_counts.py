"""DDFS on a real three-node cluster (127.0.0.2-4): which tags have data on a node (the
reference's hosted_tags), and GC keeping replica counts exact: extra blob replicas and
extra or old tag copies on the nodes are deleted, never below the count."""
import contextlib
import glob
import io
import json
import os
import signal
import time

import pytest

from disco.ddfs import DDFS
from disco_core.errors import CommError
from disco_core.testing import running_cluster, wait_for

HOSTS = [("127.0.0.2", 1), ("127.0.0.3", 1), ("127.0.0.4", 1)]
EXPIRES = 2.0  # DDFS_DELETED_TAG_EXPIRES of these tests


def ctrl(ddfs, op, body=None):
    return ddfs._request("GET" if body is None else "POST", "/ddfs/ctrl/" + op, body)


def run_gc(ddfs):
    assert ctrl(ddfs, "gc_start") in ("GC has started", "GC is waiting")
    wait_for(lambda: ctrl(ddfs, "gc_status") == "", timeout=90, interval=0.1)


def local(cluster, url):
    return os.path.join(cluster.home, "root", "ddfs", url.split("/ddfs/", 1)[1])


def tag_copies(cluster, tag):
    """``{host: id}`` of the copies of a tag on the nodes' disks."""
    out = {}
    for path in glob.glob(os.path.join(cluster.home, "root", "ddfs", "*", "vol*", "tag",
                                       "*", tag)):
        with open(path) as f:
            out[path.split(os.sep)[-5]] = json.load(f)["id"]
    return out


def connected(cluster, host):
    return cluster.disco.nodeinfo()[host]["connected"]


@contextlib.contextmanager
def frozen(cluster, host):
    pids = cluster.node_pids(host)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: not connected(cluster, host), timeout=30)
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: connected(cluster, host), timeout=60)


def on_disk(cluster, urls):
    return sorted(u.split("/")[2] for u in urls if os.path.exists(local(cluster, u)))


@pytest.fixture(scope="module")
def nodes3():
    env = {"DDFS_BLOB_REPLICAS": "2", "DDFS_TAG_REPLICAS": "2", "DDFS_TAG_MIN_REPLICAS": "1",
           "DDFS_GC_INITIAL_WAIT": "60", "DISCO_NODE_PING_INTERVAL": "1",
           "DDFS_DELETED_TAG_EXPIRES": str(EXPIRES)}
    with running_cluster(hosts=HOSTS, extra_env=env) as cluster:
        wait_for(lambda: all(n["connected"] for n in cluster.disco.nodeinfo().values())
                 and len(cluster.disco.nodeinfo()) == 3, timeout=60)
        yield cluster


def test_hosted_tags_names_the_tags_with_data_on_a_node(nodes3):
    ddfs = DDFS()
    ddfs.push("test:hosted:two", [(io.BytesIO(b"on two\n"), "a")], replicas=1,
              forceon=["127.0.0.2"])
    ddfs.push("test:hosted:three", [(io.BytesIO(b"on three\n"), "b")], replicas=1,
              forceon=["127.0.0.3"])
    ddfs.tag("test:hosted:link", [["tag://test:hosted:two"]])  # no data of its own
    ddfs.tag("test:hosted:result", [["disco://127.0.0.4/disco/127.0.0.4/ab/job/out"]])

    def hosted(host):
        return [t for t in ctrl(ddfs, "hosted_tags", host) if t.startswith("test:hosted:")]
    assert hosted("127.0.0.2") == ["test:hosted:two"]
    assert hosted("127.0.0.3") == ["test:hosted:three"]
    assert hosted("127.0.0.4") == ["test:hosted:result"]
    for body, code, words in [("nosuch", 404, "Unknown host."), (7, 400, "give the host")]:
        with pytest.raises(CommError) as err:
            ctrl(ddfs, "hosted_tags", body)
        assert err.value.code == code and words in str(err.value)
    ddfs.delete("test:hosted:two")
    assert hosted("127.0.0.2") == []
    with nodes3.urlopen("/disco/openapi.json") as resp:
        described = json.load(resp)["paths"]["/ddfs/ctrl/hosted_tags"]["post"]
    assert "404" in described["responses"]


def test_extra_blob_replicas_are_deleted_down_to_the_count(nodes3):
    ddfs = DDFS()
    data = b"three copies asked, two kept\n"
    _r, [three] = ddfs.push("test:extra:three", [(io.BytesIO(data), "three")], replicas=3)
    assert len(on_disk(nodes3, three)) == 3
    run_gc(ddfs)
    [kept] = ddfs.urls("test:extra:three")
    assert len(kept) == 2 and set(kept) < set(three)
    assert on_disk(nodes3, three) == on_disk(nodes3, kept)  # the third replica is gone
    assert [open(local(nodes3, u), "rb").read() for u in kept] == [data] * 2
    run_gc(ddfs)
    assert ddfs.urls("test:extra:three") == [kept]  # at the count: nothing more goes


def test_a_node_that_is_down_keeps_its_replica_until_it_is_back(nodes3):
    """Replicas on a node that does not answer do not count: the two that do are the
    count, and none is deleted; once the node is back, one of the three goes."""
    ddfs = DDFS()
    _r, [three] = ddfs.push("test:extra:back", [(io.BytesIO(b"back\n"), "back")],
                            replicas=3)
    with frozen(nodes3, "127.0.0.4"):
        run_gc(ddfs)
        assert len(on_disk(nodes3, three)) == 3
        assert ddfs.urls("test:extra:back") == [three]
    run_gc(ddfs)
    [kept] = ddfs.urls("test:extra:back")
    assert len(kept) == 2 and on_disk(nodes3, three) == on_disk(nodes3, kept)


def test_old_copies_of_a_tag_on_a_node_that_missed_updates_are_deleted(nodes3):
    ddfs = DDFS()
    ddfs.tag("test:extra:old", [["tag://test:extra:x"]])
    first = tag_copies(nodes3, "test:extra:old")
    assert len(first) == 2
    behind = sorted(first)[0]
    with frozen(nodes3, behind):
        ddfs.tag("test:extra:old", [["tag://test:extra:y"]])  # the version it misses
    current = ddfs.get("test:extra:old")["id"]
    copies = tag_copies(nodes3, "test:extra:old")
    assert copies[behind] != current and list(copies.values()).count(current) == 2
    run_gc(ddfs)
    copies = tag_copies(nodes3, "test:extra:old")
    assert behind not in copies and list(copies.values()) == [current, current]
    assert ddfs.get("test:extra:old")["id"] == current


def test_a_deleted_tag_s_copies_go_and_it_never_comes_back(nodes3):
    ddfs = DDFS()
    ddfs.tag("test:extra:gone", [["tag://test:extra:z"]])
    held = sorted(tag_copies(nodes3, "test:extra:gone"))
    assert len(held) == 2
    with frozen(nodes3, held[0]):
        ddfs.delete("test:extra:gone")
        time.sleep(EXPIRES + 0.5)
        run_gc(ddfs)  # one copy is out of reach: the name stays on +deleted
        assert sorted(tag_copies(nodes3, "test:extra:gone")) == [held[0]]
    # the node is back with its copy (read again by the master): the tag stays deleted
    time.sleep(2)
    assert not ddfs.exists("test:extra:gone")
    assert "test:extra:gone" not in ddfs.list("test:extra:")
    run_gc(ddfs)
    assert tag_copies(nodes3, "test:extra:gone") == {}
    assert not ddfs.exists("test:extra:gone")


def test_a_lower_tag_replica_count_leaves_one_copy_of_each_tag(nodes3):
    """Last in the module: the cluster comes back with DDFS_TAG_REPLICAS=1."""
    ddfs = DDFS()
    ddfs.tag("test:extra:fewer", [["tag://test:extra:w"]])
    tag_id = ddfs.get("test:extra:fewer")["id"]
    assert list(tag_copies(nodes3, "test:extra:fewer").values()) == [tag_id] * 2
    nodes3.cli("stop")
    nodes3.env["DDFS_TAG_REPLICAS"] = "1"
    nodes3.cli("start")
    wait_for(lambda: len(nodes3.disco.nodeinfo()) == 3
             and all(n["connected"] for n in nodes3.disco.nodeinfo().values()), timeout=60)
    wait_for(lambda: ddfs.exists("test:extra:fewer"), timeout=30)
    run_gc(ddfs)
    assert list(tag_copies(nodes3, "test:extra:fewer").values()) == [tag_id]
    assert ddfs.get("test:extra:fewer")["id"] == tag_id
