"""Writes to DDFS under stress and abuse, on real clusters: many writers of one tag at once,
uploads cut off half-way (the client or the node killed), and bad requests, which get
clear errors with the right status and leave what was stored as it was."""
import glob
import http.client
import io
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import urllib.parse

import pytest

from disco.ddfs import DDFS
from disco_core.comm import open_remote
from disco_core.errors import CommError
from disco_core.testing import running_cluster, wait_for

ROUNDS = 15


def url_of(writer, n):
    return "tag://test:writes:w%s-r%d" % (writer, n)


def write_rounds(tag, writer, delayed=False):
    """Each round appends a new link with ``update=1`` and sends the one of the round
    before again (which must not come back twice)."""
    ddfs = DDFS()
    for n in range(ROUNDS):
        urls = [[url_of(writer, n)]] + ([[url_of(writer, n - 1)]] if n else [])
        ddfs.tag(tag, urls, update=True, delayed=delayed and n % 2 == 1)


def _in_a_process(tag, writer):
    try:
        write_rounds(tag, writer)
    except BaseException:
        os._exit(1)
    os._exit(0)


def test_concurrent_updates_of_one_tag_lose_nothing(disco_cluster):
    tag = "test:writes:many"
    DDFS().tag(tag, [])
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_in_a_process, args=(tag, "p%d" % i)) for i in range(3)]
    for p in procs:
        p.start()
    errors = []

    def thread(writer):
        try:
            write_rounds(tag, writer, delayed=writer.endswith(("1", "3")))
        except Exception as exc:
            errors.append(exc)
    threads = [threading.Thread(target=thread, args=("t%d" % i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for p in procs:
        p.join(300)
    assert not errors and [p.exitcode for p in procs] == [0, 0, 0], errors
    urls = [u for [u] in DDFS().urls(tag)]
    writers = ["p%d" % i for i in range(3)] + ["t%d" % i for i in range(6)]
    expected = {url_of(w, n) for w in writers for n in range(ROUNDS)}
    assert len(urls) == len(expected) and set(urls) == expected
    DDFS().delete(tag)


# -- uploads cut off -----------------------------------------------------------------------
def partials(root, name):
    return glob.glob(os.path.join(root, "vol*", "blob", "*", "*%s" % name))


CLIENT = """
import http.client, sys, time, urllib.parse
parts = urllib.parse.urlsplit(sys.argv[1])
conn = http.client.HTTPConnection(parts.hostname, parts.port)
conn.putrequest("PUT", parts.path)
conn.putheader("Content-Length", str(10 << 20))
conn.endheaders()
conn.send(b"x" * (1 << 20))
print("sent", flush=True)
time.sleep(600)
"""


def test_a_client_killed_mid_put_leaves_nothing(disco_cluster):
    ddfs = DDFS()
    ddfs.push("test:writes:cut", [(io.BytesIO(b"before"), "before")])
    before = ddfs.get("test:writes:cut")
    [put] = ddfs.new_blob("cut")
    name = urllib.parse.urlsplit(put).path.rsplit("/", 1)[1]
    root = os.path.join(disco_cluster.home, "root", "ddfs", "localhost")
    client = subprocess.Popen([sys.executable, "-c", CLIENT, put], stdout=subprocess.PIPE)
    try:
        assert client.stdout.readline() == b"sent\n"
        wait_for(lambda: partials(root, name), timeout=20)
        assert [os.path.basename(p) for p in partials(root, name)] == [
            "!partial-%s.%s" % (name.rsplit("$", 1)[1], name)]
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait(timeout=120)
    wait_for(lambda: not partials(root, name), timeout=20)
    assert ddfs.get("test:writes:cut") == before
    assert [c.read() for c in ddfs.pull("test:writes:cut")] == [b"before"]
    resp = open_remote(put, "PUT", b"whole", retries=0)  # the name is still free
    assert resp.status == 201
    ddfs.delete("test:writes:cut")


def test_a_node_killed_mid_put_leaves_no_partial_file_after_its_restart():
    with running_cluster() as cluster:
        ddfs = DDFS()
        [put] = ddfs.new_blob("cut")
        parts = urllib.parse.urlsplit(put)
        name = parts.path.rsplit("/", 1)[1]
        root = os.path.join(cluster.home, "root", "ddfs", "localhost")
        conn = http.client.HTTPConnection(parts.hostname, parts.port)
        conn.putrequest("PUT", parts.path)
        conn.putheader("Content-Length", str(10 << 20))
        conn.endheaders()
        conn.send(b"y" * (1 << 20))
        wait_for(lambda: partials(root, name), timeout=20)
        old = cluster.node_pids("localhost")
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        conn.close()
        assert partials(root, name)  # the node had no chance to clean up
        wait_for(lambda: set(cluster.node_pids("localhost")) - set(old), timeout=60)
        wait_for(lambda: not partials(root, name), timeout=60)
        # the node is back: the name is free, and the blob stored whole
        wait_for(lambda: _put_works(put), timeout=60)
        ddfs.tag("test:writes:after", [[_put_works.url]])
        assert [c.read() for c in ddfs.pull("test:writes:after")] == [b"whole"]


def _put_works(put):
    try:
        resp = open_remote(put, "PUT", b"whole", retries=0, timeout=10)
    except CommError:
        return False
    import json
    _put_works.url = json.loads(resp.read())
    return True


# -- bad input -----------------------------------------------------------------------------
def status_of(url, method="GET", body=None, token=None):
    import json
    data = None if body is None else (body if isinstance(body, bytes)
                                      else json.dumps(body).encode())
    try:
        resp = open_remote(url, method, data, token=token, retries=0)
    except CommError as exc:
        return exc.code, exc.msg
    try:
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        resp.close()


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/ddfs/tag/bad%20name", [["x"]]),
    ("PUT", "/ddfs/tag/bad%2Fname", [["x"]]),
    ("PUT", "/ddfs/tag/bad!name/color", "blue"),
    ("DELETE", "/ddfs/tag/bad%20name", None),
    ("GET", "/ddfs/tag/" + "x" * 600, None),
])
def test_invalid_tag_names_are_refused_whatever_the_method(disco_cluster, method, path, body):
    status, text = status_of(disco_cluster.master + path, method, body)
    assert status in (403, 404) and ("Invalid tag" in text or "not found" in text.lower()), \
        (status, text)
    assert not any(n.startswith("bad") for n in DDFS().list())


def test_unknown_tags_and_attributes(disco_cluster):
    m = disco_cluster.master
    assert status_of(m + "/ddfs/tag/test:writes:none/color") == (404, "Tag not found.")
    assert status_of(m + "/ddfs/tag/test:writes:none/ddfs:urls") == (404, "Tag not found.")
    assert status_of(m + "/ddfs/tag/test:writes:none/color", "DELETE")[0] == 404
    DDFS().tag("test:writes:some", [["x"]])
    status, text = status_of(m + "/ddfs/tag/test:writes:some/color")
    assert status == 404 and text == "Tag attribute not found."
    status, text = status_of(m + "/ddfs/tag/test:writes:some/ddfs:nosuch")
    assert status == 404 and "ddfs:urls" in text  # names the reserved names there are
    status, text = status_of(m + "/ddfs/tag/test:writes:some", "POST", [["y"]])
    assert status == 200
    status, text = status_of(m + "/ddfs/tag/test:writes:some/color", "POST", "x")
    assert status == 405 and "PUT" in text
    DDFS().delete("test:writes:some")


def test_wrong_tokens_change_nothing(disco_cluster):
    m = disco_cluster.master
    ddfs = DDFS()
    ddfs.tag("test:writes:guarded", [["kept"]], token="w")
    ddfs.setattr("test:writes:guarded", "ddfs:read-token", "r", token="w")
    before = ddfs.get("test:writes:guarded", token="w")
    for method, path, body in [("POST", "", [["lost"]]), ("PUT", "", [["lost"]]),
                               ("PUT", "/color", "red"), ("DELETE", "", None),
                               ("DELETE", "/ddfs:read-token", None),
                               ("PUT", "/ddfs:write-token", "mine"), ("GET", "", None)]:
        for token in (None, "wrong", "r"):
            if method == "GET" and token == "r":
                continue  # the read token reads
            status, text = status_of(m + "/ddfs/tag/test:writes:guarded" + path, method,
                                     body, token=token)
            assert (status, text) == (401, "Incorrect or missing token."), (method, token)
    assert ddfs.get("test:writes:guarded", token="r") == before
    assert status_of(m + "/ddfs/tag/test:writes:guarded/ddfs:write-token", token="r")[0] \
        == 401  # the read token does not show the write token
    ddfs.delete("test:writes:guarded", token="w")


def test_an_oversized_record_in_chunk_is_refused_and_the_tag_is_untouched(disco_cluster,
                                                                         tmp_path):
    ddfs = DDFS()
    ddfs.tag("test:writes:chunks", [["tag://test:writes:other"]])
    before = ddfs.get("test:writes:chunks")
    big = tmp_path / "big.txt"
    big.write_text("small\n" + "L" * 5000 + "\n")
    with pytest.raises(ValueError) as err:
        ddfs.chunk("test:writes:chunks", [str(big)], max_record_size=1024)
    assert "record 1" in str(err.value) and "max_record_size" in str(err.value), err.value
    assert ddfs.get("test:writes:chunks") == before
    exe = os.path.join(os.path.dirname(sys.executable), "ddfs")
    env = dict(os.environ, **disco_cluster.env)
    proc = subprocess.run([exe, "chunk", "-Z", "0.001", "test:writes:chunks", str(big)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert "record 1" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert ddfs.get("test:writes:chunks") == before
    ddfs.delete("test:writes:chunks")


def test_a_blob_name_that_exists_is_refused_and_kept(disco_cluster):
    ddfs = DDFS()
    [put] = ddfs.new_blob("twice")
    assert open_remote(put, "PUT", b"first", retries=0).status == 201
    status, text = status_of(put, "PUT", b"second" * 1000)
    assert status == 409 and "never written twice" in text and "new name" in text
    root = os.path.join(disco_cluster.home, "root", "ddfs", "localhost")
    name = urllib.parse.urlsplit(put).path.rsplit("/", 1)[1]
    [path] = partials(root, name)
    assert open(path, "rb").read() == b"first" and not os.path.basename(path).startswith("!")
