"""Reading a tag when nodes are down, on a real three-node cluster (127.0.0.2-4) with one
copy of each tag on the nodes: a master that lost its tag store answers a tag whose only
copy is on a node it cannot read with a 503 naming the tag and why (not "not found"), and
every tag it could take back from a live node at once."""
import glob
import json
import os
import shutil
import socket

import pytest

from disco.ddfs import DDFS
from disco_core.errors import CommError
from disco_core.settings import DiscoSettings
from disco_core.testing import running_cluster, wait_for

HOSTS = [("127.0.0.2", 1), ("127.0.0.3", 1), ("127.0.0.4", 1)]
SILENT = "127.0.0.4"


def all_connected(cluster):
    info = cluster.disco.nodeinfo()
    return len(info) == 3 and all(n["connected"] for n in info.values())


@pytest.fixture(scope="module")
def nodes3():
    env = {"DDFS_TAG_REPLICAS": "1", "DDFS_TAG_MIN_REPLICAS": "1", "DDFS_PUT_TIMEOUT": "2"}
    with running_cluster(hosts=HOSTS, extra_env=env) as cluster:
        wait_for(lambda: all_connected(cluster), timeout=60)
        yield cluster


def holder(cluster, tag):
    [path] = glob.glob(os.path.join(cluster.home, "root", "ddfs", "*", "vol*", "tag", "*",
                                    tag))
    return path.split(os.sep)[-5]


def readable(ddfs, name):
    """Whether the tag reads (False while the master cannot tell yet)."""
    try:
        return ddfs.exists(name)
    except CommError as exc:
        if exc.code != 503:
            raise
        return False


def restart_without_tag_store(cluster, blocked=None):
    """The cluster again, its master's tag store gone; ``blocked``: a node whose tag copies
    cannot be read (its PUT port taken by a socket that never answers)."""
    cluster.cli("stop")
    shutil.rmtree(os.path.join(DiscoSettings(cluster.env)["DISCO_MASTER_ROOT"], "ddfs",
                               "tags"))
    sock = None
    if blocked is not None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

        def bound():  # once the stopped node has let the port go
            try:
                sock.bind((blocked, int(cluster.env["DDFS_PUT_PORT"])))
            except OSError:
                return False
            return True
        wait_for(bound, timeout=30, interval=0.2)
        sock.listen(16)
    cluster.cli("start")
    wait_for(lambda: all_connected(cluster), timeout=60)
    return sock


def test_a_tag_whose_copies_cannot_be_read_is_a_503_not_a_404(nodes3):
    ddfs = DDFS()
    made = {}
    for n in range(40):  # until one tag's copy is on SILENT and one elsewhere
        name = "test:reads:t%d" % n
        ddfs.tag(name, [["tag://test:reads:x%d" % n]])
        made.setdefault(holder(nodes3, name) == SILENT, name)
        if len(made) == 2:
            break
    there, elsewhere = made[True], made[False]
    urls = {name: ddfs.urls(name) for name in made.values()}

    sock = restart_without_tag_store(nodes3, blocked=SILENT)
    try:
        ddfs = DDFS()
        wait_for(lambda: readable(ddfs, elsewhere), timeout=30)  # taken back from its node
        assert ddfs.urls(elsewhere) == urls[elsewhere]
        for name in (there, "test:reads:never-made"):
            with pytest.raises(CommError) as err:
                ddfs.get(name)
            assert err.value.code == 503, err.value
            for words in (name, SILENT, "have not answered", "DDFS_TAG_MIN_REPLICAS"):
                assert words in str(err.value), err.value
    finally:
        if sock is not None:
            sock.close()

    restart_without_tag_store(nodes3)  # every node answers: every tag is back
    ddfs = DDFS()
    wait_for(lambda: readable(ddfs, there), timeout=30)
    assert ddfs.urls(there) == urls[there]
    with pytest.raises(CommError) as err:
        ddfs.get("test:reads:never-made")
    assert err.value.code == 404
    assert json.loads(json.dumps(ddfs.get(elsewhere)))["urls"] == urls[elsewhere]
