"""What re-replication decides (``disco_plugin_ddfs.replicate``): which blobs get copies and
from where, and what a tag's replica sets become: new copies added, dead locations pruned
only once the blob has its replica count, a node that is down but not lost kept."""
from disco_plugin_ddfs.replicate import BlobMap, blob_of, fix_set, plan_copies

NAME = "data$5f0-1-2"


def url(host, name=NAME):
    return "disco://%s/ddfs/%s/vol0/blob/ab/%s" % (host, host, name)


def bmap(holders, reachable, name=NAME):
    m = BlobMap()
    for host in reachable:
        m.add_node(host, {name: ["%s/vol0/blob/ab/%s" % (host, name), 10, 0.0]}
                   if host in holders else {})
    m.add_tags({"t": {"urls": [[url(h, name) for h in sorted(holders)]]}})
    return m


def test_blob_names_come_from_replica_urls_only():
    assert blob_of(url("n1")) == NAME
    assert blob_of("http://n1:8989/ddfs/n1/vol3/blob/ab/" + NAME) == NAME
    assert blob_of("tag://other") is None
    assert blob_of("disco://n1/disco/n1/ab/job/file") is None


def test_a_blob_short_of_replicas_is_copied_to_usable_nodes_that_lack_it():
    m = bmap({"n1"}, ["n1", "n2", "n3", "n4"])
    copies, missing = plan_copies(m, 3, ["n1", "n2", "n3"], set())
    assert missing == []
    assert sorted(c.target for c in copies) == ["n2", "n3"]  # n4 is not usable
    assert {(c.source, c.path) for c in copies} == {("n1", "n1/vol0/blob/ab/" + NAME)}


def test_replicas_on_gc_blacklisted_nodes_do_not_count_but_serve_as_sources():
    m = bmap({"n1", "n2"}, ["n1", "n2", "n3"])
    copies, _ = plan_copies(m, 2, ["n2", "n3"], {"n1"})
    assert [(c.source, c.target) for c in copies] == [("n2", "n3")]
    copies, _ = plan_copies(m, 2, ["n3"], {"n1", "n2"})
    assert [c.target for c in copies] == ["n3"] and copies[0].source in ("n1", "n2")


def test_a_blob_no_answering_node_has_is_reported_missing():
    m = bmap(set(), ["n1"])
    m.add_tags({"u": {"urls": [[url("gone")]]}})
    assert plan_copies(m, 1, ["n1"], set()) == ([], [NAME])


def test_dead_locations_go_only_once_the_blob_has_its_replica_count():
    table = {"n1", "n2", "n3", "down", "lostnode"}
    tagged = [url("n1"), url("gone"), url("lostnode"), url("down"), url("n3")]
    m = bmap({"n1", "n2"}, ["n1", "n2", "n3"])
    # two good copies, three wanted: nothing pruned, the copy on n2 added
    assert fix_set(tagged, m, 3, set(), table, {"lostnode"}) == tagged + [url("n2")]
    # two wanted: URLs of nodes gone from the table, lost, or answering without the blob go;
    # the node that is down but not lost yet stays
    assert fix_set(tagged, m, 2, set(), table, {"lostnode"}) == [url("n1"), url("down"),
                                                                url("n2")]
    # a gc-blacklisted holder is dropped once the others suffice
    assert fix_set([url("n1"), url("n2")], m, 1, {"n1"}, table, set()) == [url("n2")]


def test_sets_that_are_not_one_known_blob_are_left_alone():
    m = bmap({"n1"}, ["n1"])
    for replicas in (["tag://x"], [url("n1"), url("n1", "other$5f0-1-3")],
                     [url("n1", "unknown$5f0-1-4")]):
        assert fix_set(replicas, m, 1, set(), {"n1"}, set()) == replicas


def test_replicas_beyond_the_count_go_from_the_fullest_nodes_first():
    from disco_plugin_ddfs.extras import plan_extras
    use = {"n1": 0.2, "n2": 0.9, "n3": 0.5, "n4": 0.1}.get
    m = bmap({"n1", "n2", "n3", "n4"}, ["n1", "n2", "n3", "n4"])
    assert plan_extras(m, 2, set(), lambda n, h: True, use) == {"n2": [NAME], "n3": [NAME]}
    # a gc-blacklisted replica and one on a bad volume do not count: two are left
    assert plan_extras(m, 2, {"n2"}, lambda n, h: h != "n3", use) == {}
    # at the count, or with one good replica, nothing goes
    assert plan_extras(bmap({"n1"}, ["n1", "n2"]), 1, set(), lambda n, h: True, use) == {}
    assert plan_extras(m, 4, set(), lambda n, h: True, use) == {}
    assert plan_extras(m, 0, set(), lambda n, h: True, use) == {}
