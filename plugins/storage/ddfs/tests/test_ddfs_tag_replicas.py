"""Tags kept on the nodes too (DDFS_TAG_REPLICAS, DDFS_TAG_MIN_REPLICAS), on a real
three-node cluster: every version goes to the nodes, an update too few nodes can take
fails, a lost node's copies are made again elsewhere, and a master whose tag store was
wiped gets the tags back from the nodes."""
import contextlib
import glob
import json
import os
import shutil
import signal

import pytest

from disco.ddfs import DDFS
from disco_core.comm import open_remote
from disco_core.errors import CommError
from disco_core.testing import running_cluster, wait_for
from disco_plugin_ddfs.names import hexhash

HOSTS = [("127.0.0.2", 1), ("127.0.0.3", 1), ("127.0.0.4", 1)]


def connected(cluster, host):
    return cluster.disco.nodeinfo()[host]["connected"]


@pytest.fixture(scope="module")
def three_nodes():
    env = {"DDFS_TAG_REPLICAS": "2", "DDFS_TAG_MIN_REPLICAS": "2",
           "DISCO_NODE_PING_INTERVAL": "1"}
    with running_cluster(hosts=HOSTS, extra_env=env) as cluster:
        wait_for(lambda: all(connected(cluster, h) for h, _ in HOSTS), timeout=60)
        yield cluster


def copies(cluster, tag):
    """``{host: id}`` of the copies of a tag on the nodes' disks."""
    out = {}
    for path in glob.glob(os.path.join(cluster.home, "root", "ddfs", "*", "vol*", "tag",
                                       "*", tag)):
        host = path.split(os.sep)[-5]
        with open(path) as f:
            out[host] = json.load(f)["id"]
    return out


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


def test_every_version_of_a_tag_goes_to_the_nodes(three_nodes):
    ddfs = DDFS()
    ddfs.tag("test:trep:a", [["tag://test:trep:x"]])
    first = ddfs.get("test:trep:a")["id"]
    held = copies(three_nodes, "test:trep:a")
    assert len(held) == 2 and set(held.values()) == {first}
    ddfs.setattr("test:trep:a", "color", "red")
    second = ddfs.get("test:trep:a")["id"]
    assert second != first
    assert copies(three_nodes, "test:trep:a") == dict.fromkeys(held, second)  # same nodes


def test_the_nodes_copies_are_for_the_master_only(three_nodes):
    port = three_nodes.env["DDFS_PUT_PORT"]
    for path, method, body in [("/ddfs/tags", "GET", None),
                               ("/ddfs/tag/test:trep:a", "GET", None),
                               ("/ddfs/tag/test:trep:a", "PUT", b'{"id": "x$1-1-1"}')]:
        with pytest.raises(CommError) as err:
            open_remote("http://127.0.0.2:%s%s" % (port, path), method, body, retries=0)
        assert err.value.code == 401 and "cluster secret" in str(err.value)


def test_an_update_too_few_nodes_can_take_fails_and_changes_nothing(three_nodes):
    ddfs = DDFS()
    ddfs.tag("test:trep:b", [["tag://test:trep:y"]])
    before = ddfs.get("test:trep:b")
    with frozen(three_nodes, "127.0.0.2"), frozen(three_nodes, "127.0.0.3"):
        with pytest.raises(CommError) as err:
            ddfs.tag("test:trep:b", [["tag://test:trep:z"]])
        assert err.value.code == 503
        assert "DDFS_TAG_MIN_REPLICAS" in str(err.value) and "1 connected" in str(err.value)
        assert ddfs.get("test:trep:b") == before
        with pytest.raises(CommError) as err:
            ddfs.tag("test:trep:new", [["tag://test:trep:z"]])
        assert err.value.code == 503 and not ddfs.exists("test:trep:new")
    ddfs.tag("test:trep:b", [["tag://test:trep:z"]])  # the nodes are back
    assert len(ddfs.urls("test:trep:b")) == 2


def test_a_lost_nodes_copies_are_made_again_elsewhere(three_nodes):
    ddfs = DDFS()
    ddfs.tag("test:trep:c", [["tag://test:trep:w"]])
    tag_id = ddfs.get("test:trep:c")["id"]
    held = copies(three_nodes, "test:trep:c")
    assert len(held) == 2
    lost = sorted(held)[0]
    with frozen(three_nodes, lost):
        [spare] = [h for h, _ in HOSTS if h not in held]
        wait_for(lambda: copies(three_nodes, "test:trep:c").get(spare) == tag_id,
                 timeout=40)


def test_a_wiped_master_gets_its_tags_back_from_the_nodes(three_nodes):
    ddfs = DDFS()
    for n in range(3):
        ddfs.tag("test:trep:kept", [["tag://test:trep:v%d" % n]])
    ddfs.setattr("test:trep:kept", "color", "blue")
    kept = ddfs.get("test:trep:kept")
    ddfs.tag("test:trep:gone", [["tag://test:trep:u"]])
    ddfs.delete("test:trep:gone")
    names = ddfs.list("test:trep:")
    three_nodes.cli("stop")
    from disco_core.settings import DiscoSettings
    master_tags = os.path.join(DiscoSettings(three_nodes.env)["DISCO_MASTER_ROOT"], "ddfs",
                               "tags")
    assert os.path.isdir(master_tags)
    shutil.rmtree(master_tags)
    three_nodes.cli("start")
    ddfs = DDFS()
    wait_for(lambda: ddfs.list("test:trep:") == names, timeout=60)
    assert ddfs.get("test:trep:kept") == kept  # the newest version
    assert not ddfs.exists("test:trep:gone")
    assert os.path.isfile(os.path.join(master_tags, hexhash("test:trep:kept"),
                                       "test:trep:kept"))
