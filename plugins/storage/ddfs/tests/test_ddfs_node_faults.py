"""Nodes that fail under DDFS, on real clusters: a node that stops answering does not hold
up reads of blobs with another replica, a task never gets the bytes of a local replica that
no longer matches its checksum, and a bad volume is one bad volume."""
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from disco.core import Job, result_iterator
from disco.ddfs import DDFS
from disco_core.comm import open_remote
from disco_core.errors import CommError, DataError
from disco_core.testing import running_cluster, wait_for

HOSTS = [("127.0.0.2", 1), ("127.0.0.3", 1)]
STOPPED, LIVE = "127.0.0.2", "127.0.0.3"
PUT_TIMEOUT = 2.0  # DDFS_PUT_TIMEOUT of the two-node cluster


def blob_file(cluster, url):
    return os.path.join(cluster.home, "root", "ddfs", url.split("/ddfs/", 1)[1])


def corrupt(path, data):
    os.chmod(path, 0o600)
    with open(path, "r+b") as f:
        f.write(data)


def host_of(url):
    return url.split("/")[2].split(":")[0]


def connected(cluster, host):
    return cluster.disco.nodeinfo()[host]["connected"]


@pytest.fixture(scope="module")
def two_nodes():
    env = {"DDFS_CONNECT_TIMEOUT": "1", "DISCO_NODE_PING_INTERVAL": "1",
           "DDFS_PUT_TIMEOUT": str(PUT_TIMEOUT)}
    with running_cluster(hosts=HOSTS, extra_env=env) as cluster:
        wait_for(lambda: all(connected(cluster, h) for h, _ in HOSTS), timeout=60)
        yield cluster


@contextlib.contextmanager
def frozen(cluster, host):
    """The node ``host`` frozen (SIGSTOP: its sockets take connections, nothing answers)."""
    pids = cluster.node_pids(host)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield pids
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        # the master may drop the node's old session only now (its pings went unanswered)
        time.sleep(3)
        wait_for(lambda: connected(cluster, host), timeout=60)


def usable(ddfs):
    try:
        return ddfs.new_blob("probe", replicas=2)
    except CommError:
        return False


def stopped_first(ddfs, tag, data):
    """A blob with a replica on each node, tagged with the one on STOPPED first."""
    wait_for(lambda: usable(ddfs), timeout=60)
    _reply, [replicas] = ddfs.push(tag, [(io.BytesIO(data), "b")], replicas=2)
    ordered = sorted(replicas, key=lambda u: host_of(u) != STOPPED)
    ddfs.put(tag, [ordered])
    return ordered


def timed(fn):
    start = time.monotonic()
    value = fn()
    return value, time.monotonic() - start


def test_a_task_does_not_get_a_corrupt_local_replica(disco_cluster, http_server):
    """The task runs where the blob is and would read the file directly: it checks it
    against its checksum first, and falls over to the next replica (here another copy of
    the bytes on a web server), or fails the input, naming the corruption."""
    ddfs = DDFS()
    _reply, [[url]] = ddfs.push("test:faults:rot", [(io.BytesIO(b"intact\n"), "r")])
    corrupt(blob_file(disco_cluster, url), b"ROTTEN")
    good = http_server.add("copy", b"intact\n")

    def echo(line, params):
        yield line.strip(), 1
    job = Job().run(input=[[url, good]], map=echo)
    assert list(result_iterator(job.wait(timeout=120))) == [("intact", 1)]
    job = Job().run(input=[url], map=echo)
    with pytest.raises(Exception) as err:
        job.wait(timeout=120)
    assert "checksum mismatch" in str(err.value) or any(
        "checksum mismatch" in e[2] for _o, e in job.events()), str(err.value)
    # a reader on the node's own machine (not a task) reads it directly too: same check
    with pytest.raises(DataError) as err:
        list(result_iterator([[url]], reader=None))
    assert "checksum mismatch" in str(err.value)
    assert list(result_iterator([[url, good]], reader=None)) == ["intact\n"]
    ddfs.delete("test:faults:rot")


def test_a_local_blob_found_intact_is_not_hashed_again_at_once(disco_cluster):
    from disco_plugin_ddfs import volumes
    ddfs = DDFS()
    _reply, [[url]] = ddfs.push("test:faults:cheap", [(io.BytesIO(b"ok\n"), "c")])
    path = blob_file(disco_cluster, url)
    assert list(result_iterator([[url]], reader=None)) == ["ok\n"]
    mark = volumes._beside(path, "verified")
    assert os.path.isfile(mark)
    assert volumes.recently_verified(path)
    corrupt(path, b"OK")  # a change of the file: checked again at once
    assert not volumes.recently_verified(path)
    with pytest.raises(DataError):
        list(result_iterator([[url]], reader=None))
    ddfs.delete("test:faults:cheap")


def space(cluster):
    port = cluster.env["DDFS_PUT_PORT"]
    resp = open_remote("http://127.0.0.1:%s/ddfs/space" % port)
    try:
        return json.loads(resp.read())
    finally:
        resp.close()


def test_a_bad_volume_is_reported_and_passed_over():
    with running_cluster() as cluster:
        root = os.path.join(cluster.home, "root", "ddfs", "localhost")
        ddfs = DDFS()
        _r, [[first]] = ddfs.push("test:faults:vol", [(io.BytesIO(b"one\n"), "one")])
        assert "/localhost/vol0/" in first
        os.makedirs(os.path.join(root, "vol1"))
        # vol0's blob directory goes (a disk that cannot be read): vol1 takes new blobs
        shutil.move(os.path.join(root, "vol0", "blob"), os.path.join(root, "vol0.blob"))
        with open(os.path.join(root, "vol0", "blob"), "w") as f:
            f.write("not a directory")
        assert list(space(cluster)["bad"]) == ["vol0"]
        assert "unreadable" in space(cluster)["bad"]["vol0"]
        for n in range(3):
            _r, [[url]] = ddfs.push("test:faults:vol", [(io.BytesIO(b"two\n"), "two%d" % n)])
            assert "/localhost/vol1/" in url
        info = wait_for(lambda: (lambda i: "bad_volumes" in i and i)(
            cluster.disco.nodeinfo()["localhost"]), timeout=30)
        assert info["bad_volumes"] == ["vol0"] and info["connected"] is True

        def echo(line, params):
            yield line.strip(), 1
        job = Job().run(input=[url], map=echo)  # the node runs tasks and serves vol1
        assert list(result_iterator(job.wait(timeout=120))) == [("two", 1)]
        assert "volume vol0" in cluster.log("node") and "is bad" in cluster.log("node")
        # the disk comes back: so does the volume
        os.unlink(os.path.join(root, "vol0", "blob"))
        shutil.move(os.path.join(root, "vol0.blob"), os.path.join(root, "vol0", "blob"))
        assert space(cluster)["bad"] == {}
        wait_for(lambda: "bad_volumes" not in cluster.disco.nodeinfo()["localhost"],
                 timeout=30)
        assert [c.read() for c in ddfs.pull("test:faults:vol")][-1] == b"one\n"


def _mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small file system")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip("cannot mount a tmpfs here: %s" % done.stderr.strip())


def test_a_full_volume_is_bad_and_new_blobs_go_elsewhere():
    with running_cluster() as cluster:
        root = os.path.join(cluster.home, "root", "ddfs", "localhost")
        ddfs = DDFS()
        ddfs.push("test:faults:full", [(io.BytesIO(b"x"), "x")])  # vol0 exists
        vol1 = os.path.join(root, "vol1")
        _mount_tmpfs(vol1, "3m")
        try:
            with open(os.path.join(vol1, "filler"), "wb") as f:
                f.write(b"\0" * ((3 << 20) - (512 << 10)))
            bad = space(cluster)["bad"]
            assert list(bad) == ["vol1"] and bad["vol1"].startswith("full"), bad
            _r, [[url]] = ddfs.push("test:faults:full", [(io.BytesIO(b"y"), "y")])
            assert "/vol0/" in url
        finally:
            subprocess.run(["umount", "-l", vol1], check=False)


def test_a_read_only_volume_is_bad_and_new_blobs_go_elsewhere():
    with running_cluster() as cluster:
        root = os.path.join(cluster.home, "root", "ddfs", "localhost")
        vol0, vol1 = os.path.join(root, "vol0"), os.path.join(root, "vol1")
        _mount_tmpfs(vol0, "4m")
        try:
            _mount_tmpfs(vol1, "64m")  # the most room: it would be chosen
            try:
                subprocess.run(["mount", "-o", "remount,ro", vol1], check=True)
                bad = space(cluster)["bad"]
                assert list(bad) == ["vol1"] and "read-only" in bad["vol1"], bad
                ddfs = DDFS()
                for n in range(3):
                    _r, [[url]] = ddfs.push("test:faults:ro", [(io.BytesIO(b"w"), "w%d" % n)])
                    assert "/vol0/" in url
            finally:
                subprocess.run(["umount", "-l", vol1], check=False)
        finally:
            subprocess.run(["umount", "-l", vol0], check=False)


# -- last: the module's own cluster of two nodes sets the environment while it runs --
def test_reads_pass_over_a_node_that_does_not_answer(two_nodes):
    ddfs = DDFS()
    stopped_first(ddfs, "test:faults:frozen", b"still here\n")
    with frozen(two_nodes, STOPPED):
        reads_pass_over_it(two_nodes, ddfs)


def reads_pass_over_it(two_nodes, ddfs):
    # the master has not noticed yet: each replica on the frozen node costs one
    # DDFS_CONNECT_TIMEOUT (1 s), not the long read timeout
    got, took = timed(lambda: [c.read() for c in ddfs.pull("test:faults:frozen")])
    assert got == [b"still here\n"] and took < 8, took
    got, took = timed(lambda: list(result_iterator(["tag://test:faults:frozen"],
                                                   reader=None)))
    assert got == ["still here\n"] and took < 8, took
    out, took = timed(lambda: two_nodes.cli("ddfs", "cat", "test:faults:frozen").stdout)
    assert out == "still here\n" and took < 15, took


def test_replicas_on_nodes_the_master_knows_are_down_are_tried_last(two_nodes):
    ddfs = DDFS()
    stopped_first(ddfs, "test:faults:down", b"quick\n")
    with frozen(two_nodes, STOPPED):
        tried_last(two_nodes, ddfs)


def tried_last(two_nodes, ddfs):
    wait_for(lambda: not connected(two_nodes, STOPPED), timeout=30)
    for _ in range(3):
        got, took = timed(lambda: [c.read() for c in ddfs.pull("test:faults:down")])
        assert got == [b"quick\n"] and took < 0.9, took  # no connect timeout spent
    out, took = timed(lambda: two_nodes.cli("ddfs", "cat", "test:faults:down").stdout)
    assert out == "quick\n"

    def where(line, params):
        yield this_host(), line.strip()  # noqa: F821
    job = Job().run(input=["tag://test:faults:down"], map=where)
    assert list(result_iterator(job.wait(timeout=120))) == [(LIVE, "quick")]


def in_time(fn, limit):
    """``fn()``'s value (or what it raised) and how long it took; fails after ``limit``
    seconds instead of waiting for a call that hangs."""
    import concurrent.futures
    pool = concurrent.futures.ThreadPoolExecutor(1)
    start = time.monotonic()
    future = pool.submit(fn)
    try:
        future.exception(timeout=limit)
    except concurrent.futures.TimeoutError:
        raise AssertionError("still waiting after %gs" % limit) from None
    finally:
        pool.shutdown(wait=False)
    return future, time.monotonic() - start


def test_a_blob_write_passes_over_a_node_that_hangs(two_nodes):
    """The master has not noticed the frozen node yet and names it for the blob: the PUT
    to it gives up after DDFS_PUT_TIMEOUT and the blob goes to the other node."""
    ddfs = DDFS()
    wait_for(lambda: usable(ddfs), timeout=60)
    with frozen(two_nodes, STOPPED):
        future, took = in_time(lambda: ddfs.push(
            "test:faults:hungput", [(io.BytesIO(b"elsewhere\n"), "h")], replicas=1,
            forceon=[STOPPED]), 30)
        _reply, [[url]] = future.result()
        assert host_of(url) == LIVE and took < 4 * PUT_TIMEOUT, took
    [c] = list(ddfs.pull("test:faults:hungput"))
    assert c.read() == b"elsewhere\n"


def test_a_blob_write_no_live_node_can_take_fails_clearly_and_soon(two_nodes):
    ddfs = DDFS()
    wait_for(lambda: usable(ddfs), timeout=60)
    with frozen(two_nodes, STOPPED):
        future, took = in_time(lambda: ddfs.push(
            "test:faults:nowhere", [(io.BytesIO(b"two copies\n"), "n")], replicas=2), 30)
        assert took < 4 * PUT_TIMEOUT, took
        err = future.exception()
        assert isinstance(err, CommError), err
        for words in (STOPPED, "DDFS_PUT_TIMEOUT", "no other node can take it"):
            assert words in str(err), err
    assert not ddfs.exists("test:faults:nowhere")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
