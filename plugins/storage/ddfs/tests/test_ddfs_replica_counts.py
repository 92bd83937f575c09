"""DDFS on a real three-node cluster (127.0.0.2-4): which tags have data on a node (the
reference's hosted_tags), and GC keeping replica counts exact: extra blob replicas and
extra or old tag copies on the nodes are deleted, never below the count."""
import glob
import io
import json
import os

import pytest

from disco.ddfs import DDFS
from disco_core.errors import CommError
from disco_core.testing import running_cluster, wait_for

HOSTS = [("127.0.0.2", 1), ("127.0.0.3", 1), ("127.0.0.4", 1)]


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


@pytest.fixture(scope="module")
def nodes3():
    env = {"DDFS_BLOB_REPLICAS": "2", "DDFS_TAG_REPLICAS": "2", "DDFS_TAG_MIN_REPLICAS": "1",
           "DDFS_GC_INITIAL_WAIT": "60", "DISCO_NODE_PING_INTERVAL": "1"}
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
