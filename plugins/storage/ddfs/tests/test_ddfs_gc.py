"""DDFS's GC and scrub on real clusters: blobs no tag references are deleted once the
safety period is over, tagged ones never; the reference's gc_status, gc_start and gc_stats;
a replica whose bytes rot on disk is never served, and the scrub replaces it (and one that
went missing) from a good replica."""
import io
import json
import os
import time
import urllib.error
import urllib.request

import pytest

from disco.core import Job, result_iterator
from disco.ddfs import DDFS
from disco_core.comm import upload
from disco_core.errors import CommError
from disco_core.settings import DiscoSettings
from disco_core.testing import running_cluster, wait_for
from disco_plugin_ddfs.volumes import file_checksum

SAFETY = 3.0  # DDFS_ORPHAN_PURGE_TIMEOUT of these tests


def ctrl(ddfs, op, body=None):
    return ddfs._request("GET" if body is None else "POST", "/ddfs/ctrl/" + op, body)


def local(cluster, url):
    return os.path.join(cluster.home, "root", "ddfs", url.split("/ddfs/", 1)[1])


def wait_connected(cluster, count):
    wait_for(lambda: sum(n["connected"] for n in cluster.disco.nodeinfo().values()) == count,
             timeout=60)


def run_gc(ddfs):
    assert ctrl(ddfs, "gc_start") == "GC has started"
    wait_for(lambda: ctrl(ddfs, "gc_status") == "", timeout=60, interval=0.1)
    return ctrl(ddfs, "gc_stats")


@pytest.fixture(scope="module")
def gc_cluster():
    env = {"DDFS_GC_INITIAL_WAIT": "60", "DDFS_ORPHAN_PURGE_TIMEOUT": str(SAFETY),
           "DDFS_DELETED_TAG_EXPIRES": str(SAFETY)}
    with running_cluster(hosts=[("127.0.0.2", 1), ("127.0.0.3", 1)], extra_env=env) as c:
        wait_connected(c, 2)
        yield c


def test_gc_waits_after_start_and_says_so(gc_cluster):
    ddfs = DDFS()
    assert ctrl(ddfs, "gc_status") == "GC is waiting for the cluster to stabilize after startup."
    assert ctrl(ddfs, "gc_stats") == ""
    with pytest.raises(Exception) as err:
        ctrl(ddfs, "gc_nonsense")
    assert "Unknown operation" in str(err.value)


def test_gc_deletes_untagged_blobs_after_the_safety_period_and_keeps_tagged_ones(gc_cluster):
    ddfs = DDFS()
    # one replica: as many as DDFS_BLOB_REPLICAS (GC deletes replicas beyond it)
    _r, [kept] = ddfs.push("test:gc:kept", [(io.BytesIO(b"keep me\n"), "kept")])
    _r, [dropped] = ddfs.push("test:gc:dropped", [(io.BytesIO(b"drop me\n"), "dropped")])
    ddfs.delete("test:gc:dropped")  # its blob is referenced by no tag now
    [put_url] = ddfs.new_blob("untagged", replicas=1)  # written, never tagged
    [untagged] = upload([put_url], b"nobody's\n")
    files = [local(gc_cluster, u) for u in kept + dropped + [untagged]]
    assert all(os.path.exists(f) for f in files)

    stats = run_gc(ddfs)  # inside the safety period: nothing goes
    assert all(os.path.exists(f) for f in files)
    assert stats["stats"]["Blobs deleted"] == [0, 0]
    assert stats["stats"]["Blobs kept"][0] >= 3

    time.sleep(SAFETY + 0.5)
    stats = run_gc(ddfs)
    assert set(stats) == {"timestamp", "stats"}
    assert sorted(stats["stats"]) == ["Blobs deleted", "Blobs kept", "Tags deleted",
                                      "Tags kept"]
    assert all(isinstance(v, list) and len(v) == 2 for v in stats["stats"].values())
    assert stats["stats"]["Blobs deleted"] == [2, len(b"drop me\n") + len(b"nobody's\n")]
    assert stats["stats"]["Tags deleted"] == [1, 0]  # test:gc:dropped is forgotten
    assert not os.path.exists(local(gc_cluster, dropped[0]))
    assert not os.path.exists(local(gc_cluster, untagged))
    assert all(os.path.exists(local(gc_cluster, u)) for u in kept)
    assert [open(local(gc_cluster, u), "rb").read() for u in kept] == [b"keep me\n"]
    assert ddfs.urls("test:gc:kept") == [kept]
    ddfs.delete("test:gc:kept")


def test_gc_keeps_a_blob_handed_out_but_not_tagged_yet(gc_cluster):
    """A blob named by new_blob is kept for the safety period even when its file looks
    old (a slow upload keeps its start time): tagging it later finds it still there."""
    ddfs = DDFS()
    [put_url] = ddfs.new_blob("slow", replicas=1)
    [url] = upload([put_url], b"late\n")
    path = local(gc_cluster, url)
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    run_gc(ddfs)
    assert os.path.exists(path)
    ddfs.tag("test:gc:late", [[url]])
    time.sleep(SAFETY + 0.5)
    run_gc(ddfs)
    assert os.path.exists(path)
    ddfs.delete("test:gc:late")


def test_gc_start_during_a_run_queues_another(gc_cluster):
    ddfs = DDFS()
    replies = [ctrl(ddfs, "gc_start") for _ in range(3)]
    assert replies[0] == "GC has started"
    assert set(replies[1:]) <= {"GC is waiting", "GC has started"}
    wait_for(lambda: ctrl(ddfs, "gc_status") == "", timeout=60, interval=0.1)


def test_a_gc_blacklisted_node_is_emptied_and_then_safe_to_remove(gc_cluster):
    ddfs = DDFS()
    run_gc(ddfs)  # past the wait after start-up (when no blacklisting starts a run)
    ddfs.push("test:gc:moving", [(io.BytesIO(b"moving\n"), "m")], forceon=["127.0.0.2"])
    [[url]] = ddfs.urls("test:gc:moving")
    assert url.startswith("disco://127.0.0.2/")

    def post(op, host):
        return ddfs._request("POST", "/disco/ctrl/" + op, host)
    post("gc_blacklist", "127.0.0.2")
    try:
        assert ddfs._request("GET", "/disco/ctrl/get_gc_blacklist") == ["127.0.0.2"]
        assert ctrl(ddfs, "safe_gc_blacklist") == []
        # the blacklisting starts a run by itself: the blob moves, the tag follows
        wait_for(lambda: ctrl(ddfs, "safe_gc_blacklist") == ["127.0.0.2"], timeout=60,
                 interval=0.2)
        [[moved]] = ddfs.urls("test:gc:moving")
        assert moved.startswith("disco://127.0.0.3/")
        assert open(local(gc_cluster, moved), "rb").read() == b"moving\n"
        assert all(u.startswith("http://127.0.0.3:") for u in ddfs.new_blob("n", replicas=1))
    finally:
        post("gc_whitelist", "127.0.0.2")
    assert ddfs._request("GET", "/disco/ctrl/get_gc_blacklist") == []
    assert ctrl(ddfs, "safe_gc_blacklist") == []
    ddfs.delete("test:gc:moving")



def test_bad_maintenance_requests_get_clear_errors(gc_cluster):
    ddfs = DDFS()
    for op, body, code, words in [("drain", 42, 400, "give the host"),
                                  ("drain", "nosuch", 404, "Unknown host"),
                                  ("nonsense", "", 404, "Unknown operation")]:
        with pytest.raises(CommError) as err:
            ctrl(ddfs, op, body)
        assert err.value.code == code and words in str(err.value), (op, err.value)
    with pytest.raises(CommError) as err:
        ddfs._request("GET", "/ddfs/ctrl/drain_status", query={"host": "nosuch"})
    assert err.value.code == 404
    out = gc_cluster.cli("ddfs", "drain", "nosuch", check=False)
    assert out.returncode != 0 and "'nosuch' is not in the node table" in out.stderr
    # the nodes' maintenance endpoints answer only the cluster's own master
    base = "http://127.0.0.2:%s/ddfs/upkeep/" % gc_cluster.env["DDFS_PUT_PORT"]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "blobs", timeout=10)
    assert err.value.code == 403 and "cluster secret" in err.value.read().decode()
    secret = open(DiscoSettings(gc_cluster.env)["DISCO_SECRET_FILE"]).read().strip()
    request = urllib.request.Request(base + "delete", data=b'"everything"',
                                     headers={"X-Disco-Secret": secret})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 400 and "list of blob names" in err.value.read().decode()
    assert gc_cluster.disco.nodeinfo()["127.0.0.2"]["connected"]


def test_ddfs_gc_runs_and_prints_the_counts(gc_cluster):
    out = gc_cluster.cli("ddfs", "gc").stdout
    assert out.splitlines()[0] in ("GC has started", "GC is waiting")
    assert "Blobs kept: " in out and "Tags deleted: " in out

def lines(line, params):
    yield line.strip(), 1


@pytest.fixture(scope="module")
def scrub_cluster():
    # 127.0.0.2 runs no tasks: a job reads its replicas over HTTP, where they are checked
    env = {"DDFS_BLOB_REPLICAS": "2", "DDFS_GC_INITIAL_WAIT": "60"}
    with running_cluster(hosts=[("127.0.0.2", 0), ("127.0.0.3", 1)], extra_env=env) as c:
        wait_connected(c, 2)
        yield c


def test_a_rotten_replica_is_never_served_and_the_scrub_repairs_it(scrub_cluster):
    ddfs = DDFS()
    data = b"".join(b"line %d\n" % i for i in range(2000))
    ddfs.push("test:scrub:rot", [(io.BytesIO(data), "rot")])
    [replicas] = ddfs.urls("test:scrub:rot")
    [bad] = [u for u in replicas if u.startswith("disco://127.0.0.2/")]
    path = local(scrub_cluster, bad)
    os.chmod(path, 0o600)
    with open(path, "r+b") as f:  # one flipped byte, the size unchanged
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.chmod(path, 0o400)
    # a second blob loses its replica on 127.0.0.3 altogether
    ddfs.push("test:scrub:gone", [(io.BytesIO(b"gone\n"), "gone")])
    [gone] = [u for u in ddfs.urls("test:scrub:gone")[0] if u.startswith("disco://127.0.0.3/")]
    os.chmod(local(scrub_cluster, gone), 0o600)
    os.unlink(local(scrub_cluster, gone))

    cat = scrub_cluster.cli("ddfs", "cat", "test:scrub:rot")
    assert cat.stdout.encode() == data
    job = Job().run(input=["tag://test:scrub:rot"], map=lines)
    assert sorted(k for k, _ in result_iterator(job.wait(timeout=120))) == sorted(
        line.decode() for line in data.splitlines())

    out = scrub_cluster.cli("ddfs", "fsck").stdout
    assert "corrupt: %s on 127.0.0.2: checksum mismatch" % DDFS.blob_name(bad) in \
        out.replace("$" + bad.rsplit("$", 1)[1], "")
    assert "missing: %s on 127.0.0.3" % gone.rsplit("/", 1)[1] in out
    assert "2 copies made, 0 lost" in out
    assert open(path, "rb").read() == data  # the bad replica replaced by a good copy
    assert open(local(scrub_cluster, gone), "rb").read() == b"gone\n"
    for tag in ("test:scrub:rot", "test:scrub:gone"):
        [urls] = ddfs.urls(tag)
        assert sorted(u.split("/")[2] for u in urls) == ["127.0.0.2", "127.0.0.3"]
        for url in urls:
            sums = local(scrub_cluster, url).replace("/blob/", "/sums/")
            assert open(sums).read() == file_checksum(local(scrub_cluster, url))
    again = scrub_cluster.cli("ddfs", "scrub").stdout
    assert "0 corrupt, 0 missing, 0 copies made, 0 lost" in again, again
    report = json.loads(json.dumps(ctrl(ddfs, "scrub", "")))
    assert report["checked"] == 4 and not report["corrupt"]

