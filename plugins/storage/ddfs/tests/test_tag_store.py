"""The master's tag store on a real directory: order of appends, update and delayed
commits, attributes, tokens, deletes, and what survives a restart (a new store reading the
same directory)."""
import asyncio
import os

import pytest

from disco_plugin_ddfs.tags import INTERNAL, TagError, TagStore


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def store(tmp_path):
    s = TagStore(str(tmp_path / "tags"))
    s.load()
    return s


def reopened(store):
    s = TagStore(store.root)
    s.load()
    return s


def blob(name, ts="1-2-3", host="n1"):
    return "disco://%s/ddfs/%s/vol0/blob/aa/%s$%s" % (host, host, name, ts)


def test_appends_go_before_the_old_sets_and_survive_a_restart(store):
    run(store.append("t", [[blob("a")]]))
    run(store.append("t", [[blob("b")], [blob("c")]]))
    assert run(store.get("t"))["urls"] == [[blob("b")], [blob("c")], [blob("a")]]
    again = reopened(store)
    assert run(again.get("t"))["urls"] == [[blob("b")], [blob("c")], [blob("a")]]
    assert again.names() == ["t"]


def test_an_empty_append_to_an_existing_tag_makes_no_new_incarnation(store):
    run(store.append("t", [["urls"]]))
    before = run(store.get("t"))["id"]
    run(store.append("t", []))
    assert run(store.get("t"))["id"] == before
    run(store.append("empty", []))
    assert run(store.get("empty"))["urls"] == []


def test_update_adds_only_names_the_tag_lacks(store):
    run(store.append("t", [[blob("dup", "1-1-1")], [blob("dup", "1-1-2")]], update=True))
    assert len(run(store.get("t"))["urls"]) == 1
    before = run(store.get("t"))["id"]
    run(store.append("t", [[blob("dup", "9-9-9")]], update=True))
    assert run(store.get("t"))["id"] == before  # nothing added: no new incarnation
    run(store.append("t", [[blob("new")], ["plain"], ["plain"]], update=True))
    urls = run(store.get("t"))["urls"]
    assert [u[0] for u in urls[:3]] == ["plain", "plain", blob("new")]


def test_delayed_appends_commit_together(store):
    async def scenario():
        await store.append("t", [["first"]])
        replies = await asyncio.gather(store.append("t", [["a"]], delayed=True),
                                       store.append("t", [["b"]], delayed=True))
        return replies, await store.get("t")
    replies, doc = run(scenario())
    assert replies[0] == replies[1]
    assert doc["urls"] == [["b"], ["a"], ["first"]]


def test_a_deleted_tag_is_not_found_and_stays_deleted_after_a_restart(store):
    run(store.append("t", [["x"]]))
    assert run(store.delete("t")) == "deleted"
    with pytest.raises(TagError) as err:
        run(store.get("t"))
    assert err.value.status == 404
    assert store.names() == []
    again = reopened(store)
    assert again.names() == [] and "t" in again.deleted
    assert run(again.delete("never-there")) == "deleted"
    run(again.append("t", [["y"]]))  # recreating takes it off the deleted list
    assert "t" not in again.deleted
    assert run(reopened(again).get("t"))["urls"] == [["y"]]


def test_a_delete_interrupted_after_recording_it_is_finished_at_start(store):
    run(store.append("t", [["x"]]))
    doc_path = store.path("t")
    saved = open(doc_path).read()
    run(store.delete("t"))
    with open(doc_path, "w") as f:  # as if the master died before removing the document
        f.write(saved)
    assert reopened(store).names() == []
    assert not os.path.exists(doc_path)


def test_bad_names_and_bodies_are_refused_with_403(store):
    for call in (store.get("bad/name"), store.append("a b", []),
                 store.append("t", "not a list"), store.append("t", [[1]]),
                 store.append("+deleted", [])):
        with pytest.raises(TagError) as err:
            run(call)
        assert err.value.status == 403
    assert store.names() == []


def test_attributes(store):
    run(store.set_attr("t", "a1", "v1"))  # creates the tag
    assert run(store.get("t", "a1")) == "v1"
    assert run(store.get("t"))["user-data"] == {"a1": "v1"}
    with pytest.raises(TagError) as err:
        run(store.get("t", "missing"))
    assert err.value.status == 404
    with pytest.raises(TagError) as err:
        run(store.set_attr("t", "ddfs:other", "v"))
    assert err.value.status == 404
    with pytest.raises(TagError) as err:
        run(store.set_attr("t", "a2", 5))
    assert err.value.status == 403
    assert run(store.del_attr("t", "missing")) == "deleted"
    run(store.del_attr("t", "a1"))
    assert run(store.get("t"))["user-data"] == {}
    run(store.set_attr("t", "ddfs:urls", [["u"]]))
    assert run(store.get("t", "ddfs:urls")) == [["u"]]


def test_tokens(store):
    run(store.append("t", [["x"]]))
    run(store.set_attr("t", "ddfs:write-token", "w"))
    assert run(store.get("t", "ddfs:urls")) == [["x"]]  # no read token: anyone reads
    for call in (store.append("t", [["y"]]), store.append("t", [["y"]], token="other"),
                 store.get("t", "ddfs:write-token"), store.delete("t")):
        with pytest.raises(TagError) as err:
            run(call)
        assert err.value.status == 401
    run(store.set_attr("t", "ddfs:read-token", "r", token="w"))
    with pytest.raises(TagError):
        run(store.get("t"))
    assert run(store.get("t", token="r"))["urls"] == [["x"]]
    assert run(store.get("t", token="w"))["urls"] == [["x"]]
    assert run(store.get("t", "ddfs:write-token", token="w")) == "w"
    assert "read-token" not in run(store.get("t", token="r"))
    run(store.append("t", [["z"]], token=INTERNAL))  # the master's own writes pass
    assert run(store.delete("t", token="w")) == "deleted"


def test_a_token_creating_a_tag_protects_it_and_the_empty_token_is_a_token(store):
    run(store.append("safe", [], token="secret"))
    with pytest.raises(TagError):
        run(store.get("safe"))
    assert run(store.get("safe", "ddfs:write-token", token="secret")) == "secret"
    run(store.replace("empty", [], token=""))
    with pytest.raises(TagError):
        run(store.get("empty"))
    assert run(store.get("empty", token=""))["urls"] == []


def test_an_unreadable_document_is_left_out_and_the_others_load(store, caplog):
    run(store.append("good", [["g"]]))
    run(store.append("bad", [["b"]]))
    with open(store.path("bad"), "w") as f:
        f.write("{half a docu")
    again = reopened(store)
    assert again.names() == ["good"]
    assert "cannot be read" in caplog.text and "bad" in caplog.text
