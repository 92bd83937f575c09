"""Losing a node and draining one, on four real nodes with three replicas a blob: after a
node's process is killed (and cannot come back), every blob still reads back the same and a
job over the tag gives the exact result, and re-replication brings every blob back to three
replicas on the nodes left, pruning the dead node from the tags; draining a node is refused
while too few nodes could take its blobs, and with a new node it empties the drained one and
takes it out of the node table, nothing lost."""
import collections
import hashlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request

import pytest

from disco.core import Job, result_iterator
from disco.ddfs import DDFS
from disco.worker.task_io import chain_reader
from disco_core.testing import running_cluster, wait_for

HOSTS = [("127.0.0.2", 1), ("127.0.0.3", 1), ("127.0.0.4", 1), ("127.0.0.5", 1)]
VICTIM, DRAINED, NEWCOMER = "127.0.0.5", "127.0.0.4", "127.0.0.6"


def first_char(line, params):
    yield line[:1], 1


def count(iter, params):
    from disco.util import kvgroup
    for key, ones in kvgroup(sorted(iter)):
        yield key, sum(ones)


def blob_hashes(cluster, tags):
    """Each blob's replicas read one by one over HTTP: {name: {host: blake2b}}."""
    out = collections.defaultdict(dict)
    for tag in tags:
        for replicas in DDFS().urls(tag):
            for url in replicas:
                host, path = url.split("/")[2], url.split("/ddfs/", 1)[1]
                http = "http://%s:%s/ddfs/%s" % (host, cluster.env["DISCO_PORT"], path)
                with urllib.request.urlopen(http, timeout=60) as resp:
                    out[url.rsplit("/", 1)[1]][host] = hashlib.blake2b(resp.read()).hexdigest()
    return out


def cat(cluster, tag):
    """``ddfs cat TAG``'s bytes (random bytes: not text)."""
    env = dict(os.environ, **cluster.env)
    return subprocess.run([os.path.join(cluster.bindir, "ddfs"), "cat", tag], env=env,
                          capture_output=True, check=True, timeout=120).stdout


def replica_hosts(tags):
    return {r[0].rsplit("/", 1)[1]: sorted(u.split("/")[2] for u in r)
            for tag in tags for r in DDFS().urls(tag)}


class Blocker:
    """Holds a dead node's ports so that the master's restarts of it fail, and refuses
    every connection to them (reset at once), as a dead machine's closed ports would."""

    def __init__(self, host, ports):
        self.socks = []
        for port in ports:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            deadline = time.time() + 5
            while True:  # free once the killed process is gone (before its restart)
                try:
                    s.bind((host, int(port)))
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.01)
            s.listen(16)
            self.socks.append(s)
            threading.Thread(target=self.refuse, args=(s,), daemon=True).start()

    @staticmethod
    def refuse(s):
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self):
        for s in self.socks:
            s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.fixture
def four_nodes():
    env = {"DDFS_BLOB_REPLICAS": "3", "DDFS_GC_INITIAL_WAIT": "0.05",
           "DDFS_NODE_LOST_TIMEOUT": "2", "DISCO_NODE_PING_TIMEOUT": "2"}
    with running_cluster(hosts=HOSTS, extra_env=env) as cluster:
        wait_for(lambda: all(n["connected"] for n in cluster.disco.nodeinfo().values()),
                 timeout=60)
        yield cluster


def test_a_lost_node_is_replaced_and_a_drained_one_removed(four_nodes, tmp_path):
    cluster = four_nodes
    pushed = [os.urandom(15 << 20), os.urandom(15 << 20)]
    for i, data in enumerate(pushed):
        (tmp_path / ("part%d" % i)).write_bytes(data)
    text = "".join("%s %07d\n" % (os.urandom(8).hex(), i) for i in range(800000))
    (tmp_path / "lines.txt").write_text(text)  # 20 MB
    expected = collections.Counter(line[:1] for line in text.splitlines())
    cluster.cli("ddfs", "push", "test:rr:push", "./part0", "./part1", cwd=str(tmp_path))
    cluster.cli("ddfs", "chunk", "-S", "4", "test:rr:chunk", "./lines.txt",
                cwd=str(tmp_path))
    tags = ["test:rr:push", "test:rr:chunk"]
    before = blob_hashes(cluster, tags)
    assert len(before) >= 4 and all(len(set(h.values())) == 1 and len(h) == 3
                                    for h in before.values())
    assert VICTIM in {h for hashes in before.values() for h in hashes}
    assert cat(cluster, "test:rr:push") == b"".join(pushed)

    [pid] = cluster.node_pids(VICTIM)
    os.kill(pid, signal.SIGKILL)
    blocked = Blocker(VICTIM, [cluster.env["DISCO_PORT"], cluster.env["DDFS_PUT_PORT"]])
    try:
        # the tags still name the dead node: readers pass over it
        assert cat(cluster, "test:rr:push") == b"".join(pushed)
        job = Job().run(input=["tag://test:rr:chunk"], map=first_char,
                        map_reader=chain_reader, reduce=count)
        assert dict(result_iterator(job.wait(timeout=120))) == expected

        # re-replication: three replicas again, none on the dead node
        def healed():
            hosts = replica_hosts(tags)
            return all(len(h) == 3 and VICTIM not in h for h in hosts.values()) and hosts
        wait_for(healed, timeout=60, interval=0.5)
        after = blob_hashes(cluster, tags)
        assert set(after) == set(before)
        for name, hashes in after.items():
            assert set(hashes.values()) == set(before[name].values())
            assert sorted(hashes) == ["127.0.0.2", "127.0.0.3", DRAINED]

        # three nodes left for three replicas: a drain cannot complete and changes nothing
        refused = cluster.cli("ddfs", "drain", DRAINED, check=False)
        assert refused.returncode != 0
        assert "Cannot drain %s" % DRAINED in refused.stderr, refused.stderr
        assert "Nothing was changed" in refused.stderr
        assert cluster.disco.get_config() == [[h, str(n)] for h, n in HOSTS]
        assert DDFS()._request("GET", "/disco/ctrl/get_gc_blacklist") == []

        # with a new node, the drain empties DRAINED and takes it out of the table
        cluster.disco.set_config([[h, str(n)] for h, n in HOSTS] + [[NEWCOMER, "1"]])
        wait_for(lambda: cluster.disco.nodeinfo()[NEWCOMER]["connected"], timeout=60)
        drained = cluster.cli("ddfs", "drain", DRAINED, timeout=120)
        assert "blobs left" in drained.stdout
        assert "%s drained" % DRAINED in drained.stdout, drained.stdout
        assert DRAINED not in [h for h, _n in cluster.disco.get_config()]
        final = blob_hashes(cluster, tags)
        for name, hashes in final.items():
            assert sorted(hashes) == ["127.0.0.2", "127.0.0.3", NEWCOMER]
            assert set(hashes.values()) == set(before[name].values())
        assert cat(cluster, "test:rr:push") == b"".join(pushed)
    finally:
        blocked.close()
