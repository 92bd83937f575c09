"""The DDFS REST API of a real cluster: the master's /ddfs/ endpoints and a node's blob
PUT and GET, with the errors bad requests get and what a restart of the cluster keeps."""
import glob
import json
import os
import socket
import urllib.parse

import pytest

from disco.ddfs import DDFS
from disco_core.comm import open_remote
from disco_core.errors import CommError
from disco_core.testing import running_cluster, wait_for


def call(url, method="GET", body=None, token=None):
    data = None if body is None else (body if isinstance(body, bytes)
                                      else json.dumps(body).encode())
    resp = open_remote(url, method, data, token=token, retries=0)
    try:
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        resp.close()


def status_of(url, method="GET", body=None, token=None):
    try:
        return call(url, method, body, token)
    except CommError as exc:
        return exc.code, exc.msg


def blob_root(cluster):
    return os.path.join(cluster.home, "root", "ddfs", "localhost")


def test_new_blob_names_put_urls_on_the_put_port(disco_cluster):
    status, urls = call(disco_cluster.master + "/ddfs/new_blob/mydata")
    assert status == 200 and len(urls) == 1
    parts = urllib.parse.urlsplit(urls[0])
    assert parts.port == int(disco_cluster.env["DDFS_PUT_PORT"])
    assert parts.path.startswith("/ddfs/mydata$")
    _s, again = call(disco_cluster.master + "/ddfs/new_blob/mydata")
    assert again != urls  # every call is a new version


@pytest.mark.parametrize("path, message", [
    ("/ddfs/new_blob/mydata?replicas=2", "Not enough nodes for replicas."),
    ("/ddfs/new_blob/bad%20prefix", "Invalid prefix."),
    ("/ddfs/new_blob/mydata?include=nosuchhost", "Requested Replica not found."),
    ("/ddfs/new_blob/mydata?replicas=two", "Invalid replicas"),
])
def test_new_blob_refusals(disco_cluster, path, message):
    status, text = status_of(disco_cluster.master + path)
    assert status == 403 and text.startswith(message), text


def test_a_blob_put_twice_under_one_name_is_refused_and_the_first_stays(disco_cluster):
    [put] = call(disco_cluster.master + "/ddfs/new_blob/once")[1]
    status, url = call(put, "PUT", b"first")
    assert status == 201 and url.startswith("disco://localhost/ddfs/localhost/vol0/blob/")
    status, text = status_of(put, "PUT", b"second")
    assert status == 409 and "never written twice" in text
    path = url.split("://localhost", 1)[1]
    assert open_remote(disco_cluster.master + path).read() == b"first"


def test_bad_blob_puts(disco_cluster):
    port = disco_cluster.env["DDFS_PUT_PORT"]
    status, text = status_of("http://localhost:%s/ddfs/no-version" % port, "PUT", b"x")
    assert status == 403 and "Invalid blob name" in text
    status, _text = status_of("http://localhost:%s/ddfs/x$1-2-3" % port)
    assert status == 501


def test_a_half_sent_blob_never_appears(disco_cluster):
    [put] = call(disco_cluster.master + "/ddfs/new_blob/halfway")[1]
    parts = urllib.parse.urlsplit(put)
    name = parts.path.rsplit("/", 1)[1]

    def stored():
        return [os.path.basename(p) for p in glob.glob(os.path.join(
            blob_root(disco_cluster), "vol*", "blob", "*", "*%s" % name))]
    with socket.create_connection(("127.0.0.1", parts.port)) as sock:
        sock.sendall(b"PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                     % parts.path.encode() + b"only some bytes")
        wait_for(stored, timeout=20)
        assert stored() == ["!partial-%s.%s" % (name.rsplit("$", 1)[1], name)]
    wait_for(lambda: not stored(), timeout=20)  # the connection went: so did the bytes
    # the name is still free: the next PUT of it works
    assert call(put, "PUT", b"whole")[0] == 201


def test_a_corrupt_blob_is_refused_when_read(disco_cluster):
    ddfs = DDFS()
    _reply, [[url]] = ddfs.push("test:rest:corrupt", [(__import__("io").BytesIO(b"good"), "c")])
    path = os.path.join(blob_root(disco_cluster), url.split("/ddfs/localhost/", 1)[1])
    assert [c.read() for c in ddfs.pull("test:rest:corrupt")] == [b"good"]
    os.chmod(path, 0o600)
    with open(path, "wb") as f:
        f.write(b"evil")
    with pytest.raises(CommError) as err:
        list(ddfs.pull("test:rest:corrupt"))
    assert "checksum mismatch" in str(err.value)
    ddfs.delete("test:rest:corrupt")


def test_tag_errors(disco_cluster):
    m = disco_cluster.master
    assert status_of(m + "/ddfs/tag/test:rest:nosuchtag") == (404, "Tag not found.")
    status, text = status_of(m + "/ddfs/tag/bad%20name")
    assert status == 403 and text.startswith("Invalid tag.")
    status, text = status_of(m + "/ddfs/tag/test:rest:t", "POST", b"{not json")
    assert status == 403 and text.startswith("Invalid request body.")
    status, text = status_of(m + "/ddfs/tag/test:rest:t", "POST", {"a": 1})
    assert status == 403 and text.startswith("Invalid url object")
    assert status_of(m + "/ddfs/tag/test:rest:t")[0] == 404  # nothing was created
    call(m + "/ddfs/tag/test:rest:t", "POST", [["x"]], token="mine")
    assert status_of(m + "/ddfs/tag/test:rest:t")[0] == 401
    assert status_of(m + "/ddfs/tag/test:rest:t", "DELETE", token="other") == (
        401, "Incorrect or missing token.")
    assert call(m + "/ddfs/tag/test:rest:t", token="mine")[1]["urls"] == [["x"]]
    status, text = status_of(m + "/ddfs/tag/test:rest:t/a", "PUT", "v" * 5000, token="mine")
    assert status == 403 and text.startswith("Attribute value too big.")
    assert call(m + "/ddfs/tag/test:rest:t", "DELETE", token="mine") == (200, "deleted")


def test_tags_listing_and_delete(disco_cluster):
    m = disco_cluster.master
    for name in ("test:list:a", "test:list:b", "test:other"):
        call(m + "/ddfs/tag/%s" % name, "PUT", [])
    assert call(m + "/ddfs/tags/test:list")[1] == ["test:list:a", "test:list:b"]
    assert call(m + "/ddfs/tag/test:list:a", "DELETE")[1] == "deleted"
    assert call(m + "/ddfs/tags/test:list")[1] == ["test:list:b"]
    assert "+deleted" not in call(m + "/ddfs/tags")[1]
    assert call(m + "/ddfs/tag/test:never", "DELETE")[1] == "deleted"
    for name in ("test:list:b", "test:other"):
        call(m + "/ddfs/tag/%s" % name, "DELETE")


def test_tags_and_blobs_survive_a_restart_of_the_cluster():
    import io
    with running_cluster() as cluster:
        ddfs = DDFS()
        ddfs.push("test:restart", [(io.BytesIO(b"kept"), "k")])
        ddfs.setattr("test:restart", "color", "blue")
        ddfs.tag("test:gone", [["x"]])
        ddfs.delete("test:gone")
        before = ddfs.get("test:restart")
        cluster.cli("stop")
        cluster.cli("start")
        ddfs = DDFS()
        assert ddfs.get("test:restart") == before
        assert [c.read() for c in ddfs.pull("test:restart")] == [b"kept"]
        assert not ddfs.exists("test:gone")
        assert ddfs.list("test:") == ["test:restart"]


def _small_files():
    import resource
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))


def test_a_blob_the_disk_cannot_take_fails_alone():
    """The node's files may not pass 4 MiB (as a full disk would stop them): the upload
    fails with a message, leaves nothing behind, and the node takes the next blob."""
    with running_cluster(preexec=_small_files) as cluster:
        ddfs = DDFS()
        [put] = ddfs.new_blob("huge")
        status, text = status_of(put, "PUT", b"x" * (6 << 20))
        assert status == 507 and "Cannot store blob huge$" in text, (status, text)
        assert glob.glob(os.path.join(blob_root(cluster), "vol0", "blob", "*", "*")) == []
        ddfs.push("test:rest:small", [(__import__("io").BytesIO(b"fits"), "small")])
        assert [c.read() for c in ddfs.pull("test:rest:small")] == [b"fits"]


def test_a_tag_body_past_the_limit_is_refused(disco_cluster, monkeypatch):
    import disco_plugin_ddfs.master as ddfs_master
    body = b"[" + b'["x"],' * (ddfs_master.MAX_TAG_BODY // 6) + b'["x"]]'
    status, text = status_of(disco_cluster.master + "/ddfs/tag/test:rest:big", "POST", body)
    assert status == 413 and "too large" in text
    assert status_of(disco_cluster.master + "/ddfs/tag/test:rest:big")[0] == 404
    assert call(disco_cluster.master + "/ddfs/tags/test:rest:big")[1] == []


def test_uploads_a_node_left_unfinished_are_deleted_when_it_starts(tmp_path):
    from disco_core.testing import Cluster, free_port
    home = str(tmp_path / "home")
    stale = os.path.join(home, "root", "ddfs", "localhost", "vol0", "blob", "ab")
    os.makedirs(stale)
    partial = os.path.join(stale, "!partial-1-2-3.left$1-2-3")
    kept = os.path.join(stale, "kept$1-2-4")
    for path in (partial, kept):
        with open(path, "w") as f:
            f.write("x")
    cluster = Cluster(home, free_port())
    try:
        cluster.start()
        wait_for(lambda: not os.path.exists(partial), timeout=30)
        assert os.path.exists(kept)
    finally:
        cluster.stop()
