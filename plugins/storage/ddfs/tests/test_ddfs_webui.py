"""The tag browser's JSON views on a real cluster (``/ddfs/ui/tags``, ``/ddfs/ui/tag``), its
page and its link in the master's navigation."""
import base64
import io
import json
import urllib.error

import pytest

from disco.ddfs import DDFS


def view(cluster, path, token=None):
    headers = {}
    if token is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(
            ("token:" + token).encode()).decode()
    try:
        with cluster.urlopen(path, headers=headers) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def fake_blobs(n, host="localhost"):
    return [["disco://%s/ddfs/%s/vol0/blob/00/b%05d$5f1-1-1" % (host, host, i)]
            for i in range(n)]


def test_a_tag_shows_its_blobs_replicas_nodes_attributes_and_tags(disco_cluster):
    ddfs = DDFS()
    ddfs.push("ui:leaf", [(io.BytesIO(b"one\n"), "one"), (io.BytesIO(b"two\n"), "two")])
    ddfs.setattr("ui:leaf", "lang", "ru")
    ddfs.tag("ui:leaf", [["tag://ui:other"], ["tag://ui:gone"],
                         ["raw://inline", "disco://nosuchhost/ddfs/x/vol0/blob/00/x$1-1-1"]])
    ddfs.tag("ui:other", [])
    status, got = view(disco_cluster, "/ddfs/ui/tag?name=ui:leaf")
    assert status == 200, got
    assert got["name"] == "ui:leaf" and got["attrs"] == {"lang": "ru"}
    assert got["count"] == 5 and got["blob_count"] == 3 and got["tag_count"] == 2
    assert got["tags"] == [{"name": "ui:other", "exists": True},
                           {"name": "ui:gone", "exists": False}]
    kinds = [e["kind"] for e in got["entries"]]
    assert kinds == ["tag", "tag", "blob", "blob", "blob"]  # newest first, as the tag has them
    mixed = got["entries"][2]["replicas"]
    assert [(r["host"], r["state"]) for r in mixed] == [(None, "external"),
                                                        ("nosuchhost", "unknown")]
    pushed = got["entries"][3:]
    assert sorted(e["name"].split("$")[0] for e in pushed) == ["one", "two"]
    for e in pushed:
        [r] = e["replicas"]
        assert r["host"] == "localhost" and r["state"] == "up"
        assert [r["url"]] in ddfs.blobs("ui:leaf")
    assert got["nodes"]["localhost"] == "up"
    assert not got["read-protected"] and not got["write-protected"]


def test_a_node_that_is_not_connected_is_down(disco_cluster):
    d = disco_cluster.disco
    before = d.get_config()
    DDFS().tag("ui:ghostly", fake_blobs(1, "ghost"))
    d.set_config(before + [["ghost", "1"]])
    try:
        _s, got = view(disco_cluster, "/ddfs/ui/tag?name=ui:ghostly")
        assert got["entries"][0]["replicas"][0]["state"] == "down"
        assert got["nodes"]["ghost"] == "down"
        d.blacklist("ghost")
        _s, got = view(disco_cluster, "/ddfs/ui/tag?name=ui:ghostly")
        assert got["entries"][0]["replicas"][0]["state"] == "blacklisted"
    finally:
        d.whitelist("ghost")
        d.set_config(before)


def test_a_big_tag_comes_a_page_at_a_time(disco_cluster):
    DDFS().put("ui:big", fake_blobs(2500))
    _s, got = view(disco_cluster, "/ddfs/ui/tag?name=ui:big")
    assert got["count"] == 2500 and len(got["entries"]) == 100 and got["offset"] == 0
    assert got["entries"][0]["name"] == "b00000$5f1-1-1"
    _s, got = view(disco_cluster, "/ddfs/ui/tag?name=ui:big&offset=2450&limit=1000")
    assert [e["name"][:6] for e in got["entries"]] == ["b%05d" % i for i in range(2450, 2500)]
    _s, got = view(disco_cluster, "/ddfs/ui/tag?name=ui:big&offset=9999")
    assert got["entries"] == [] and got["count"] == 2500


def test_tags_are_listed_by_prefix_a_page_at_a_time(disco_cluster):
    ddfs = DDFS()
    for i in range(5):
        ddfs.tag("ui:list:%d" % i, fake_blobs(i))
    _s, got = view(disco_cluster, "/ddfs/ui/tags?prefix=ui:list:")
    assert got["count"] == 5
    assert [(t["name"], t["entries"]) for t in got["tags"]] == [
        ("ui:list:%d" % i, i) for i in range(5)]
    _s, got = view(disco_cluster, "/ddfs/ui/tags?prefix=ui:list:&offset=3&limit=1")
    assert got["count"] == 5 and [t["name"] for t in got["tags"]] == ["ui:list:3"]
    _s, got = view(disco_cluster, "/ddfs/ui/tags?prefix=ui:none-such")
    assert got == {"prefix": "ui:none-such", "count": 0, "offset": 0, "limit": 200, "tags": []}


def test_a_read_protected_tag_needs_its_token(disco_cluster):
    ddfs = DDFS()
    ddfs.tag("ui:secret", fake_blobs(2))
    ddfs.setattr("ui:secret", "ddfs:read-token", "sesame")
    status, got = view(disco_cluster, "/ddfs/ui/tag?name=ui:secret")
    assert status == 401 and "token" in got
    status, got = view(disco_cluster, "/ddfs/ui/tag?name=ui:secret", token="sesame")
    assert status == 200 and got["count"] == 2 and got["read-protected"]
    _s, listed = view(disco_cluster, "/ddfs/ui/tags?prefix=ui:secret")
    assert listed["tags"][0]["entries"] is None and listed["tags"][0]["read-protected"]


@pytest.mark.parametrize("path, status, message", [
    ("/ddfs/ui/tag", 400, "Missing tag name"),
    ("/ddfs/ui/tag?name=ui:no-such-tag", 404, "Tag not found."),
    ("/ddfs/ui/tag?name=bad%20name", 403, "Invalid tag."),
    ("/ddfs/ui/tag?name=ui:big&offset=-1", 400, "Invalid offset -1"),
    ("/ddfs/ui/tag?name=ui:big&limit=five", 400, "Invalid limit 'five'"),
    ("/ddfs/ui/tags?limit=0", 400, "Invalid limit 0: give 1 to 1000"),
])
def test_bad_view_requests_say_what_to_send(disco_cluster, path, status, message):
    got_status, got = view(disco_cluster, path)
    assert got_status == status and got.startswith(message), got


def test_the_browser_page_is_linked_from_every_page_and_described(disco_cluster):
    _s, links = view(disco_cluster, "/disco/ui/links")
    assert {"title": "ddfs", "url": "/ddfs/browse"} in links
    with disco_cluster.urlopen("/ddfs/browse") as resp:
        page = resp.read().decode()
    assert "/static/disco.css" in page and "/ddfs/static/ddfs.js" in page
    assert "http:" not in page and "https:" not in page  # nothing from another server
    for name in ("ddfs.js", "ddfs.css"):
        with disco_cluster.urlopen("/ddfs/static/" + name) as resp:
            assert resp.status == 200
    _s, doc = view(disco_cluster, "/disco/openapi.json")
    assert {"/ddfs/ui/tags", "/ddfs/ui/tag"} <= set(doc["paths"])
