"""The node table on a real master: host ranges, save_config_table and its errors, black- and
whitelists and their persistence across ``disco restart``, and ``disco config``."""
import json
import os

import pytest

from disco_core.client import comm
from disco_core.errors import CommError, DiscoError
from disco_core.master.nodetable import expand_spec, expand_table
from disco_core.testing import running_cluster


@pytest.fixture(scope="module")
def cluster():
    with running_cluster() as c:
        yield c


@pytest.fixture
def disco(cluster):
    """The cluster's client; the table is back to localhost alone afterwards."""
    d = cluster.disco
    cores = d.nodeinfo()["localhost"]["max_workers"]
    yield d
    for host in blacklist(d):
        d.whitelist(host)
    d.set_config([["localhost", str(cores)]])


def blacklist(disco, gc=False):
    return json.loads(disco.request("/disco/ctrl/get_%sblacklist" % ("gc_" if gc else "")))


def save(disco, body):
    """POST a raw table; (HTTP status, reply text)."""
    try:
        return 200, json.loads(comm.request("POST", disco.master + "/disco/ctrl/save_config_table",
                                            json.dumps(body)))
    except CommError as exc:
        return exc.code, exc.msg


def config_file(cluster):
    with open(os.path.join(cluster.home, "root", "disco_%d.config" % cluster.port)) as f:
        return json.load(f)


def test_ranges_expand():
    assert expand_spec("nx01:03") == ["nx01", "nx02", "nx03"]
    assert expand_spec("nx8:10") == ["nx08", "nx09", "nx10"]   # width of the right number
    assert expand_spec("node7") == ["node7"]
    assert expand_table([["a1:2", "4"], ["b", 1]]) == {"a1": 4, "a2": 4, "b": 1}


def test_a_range_row_is_many_nodes(disco):
    assert save(disco, [["localhost", "2"], ["nx01:03", "1"]]) == (200, "table saved!")
    assert disco.get_config() == [["localhost", "2"], ["nx01:03", "1"]]
    info = disco.nodeinfo()
    assert sorted(info) == ["localhost", "nx01", "nx02", "nx03"]
    assert info["localhost"]["max_workers"] == 2 and info["localhost"]["connected"]
    for host in ("nx01", "nx02", "nx03"):
        assert info[host]["max_workers"] == 1 and not info[host]["connected"]
        assert "cannot start node %s" % host in info[host]["problem"]
    # a job still runs on the node that is there
    from disco_core.client import Job
    job = Job(name="Table").run(input=["raw://a b"], map=lambda line, params: [(line, 1)])
    assert [r for r in disco.result_iterator(job.wait(timeout=120))] == [("a b", 1)]


@pytest.mark.parametrize("table,error", [
    ([["nx01:03", "1"], ["nx02", "1"]], "duplicate nodes: nx02"),
    ([["localhost", "1"], ["localhost", "2"]], "duplicate nodes: localhost"),
    ({"hosts": []}, "invalid config"),
    ([["nx01"]], "invalid config: row ['nx01']"),
    ([["nx01", "1", "extra"]], "invalid config: row ['nx01', '1', 'extra']"),
    (["nx01"], "invalid config: row 'nx01'"),
    ([["nx01", "many"]], "invalid config: cores 'many' of row ['nx01', 'many']"),
    ([["nx01", "-2"]], "invalid config: cores '-2' of row ['nx01', '-2']"),
    ([["nx01", "-0x1"]], "invalid config: cores '-0x1' of row ['nx01', '-0x1'] is not a "
                         "number of workers (0 or more; 0: a node that keeps data and runs "
                         "no task)"),
    ([["nx01", -1]], "invalid config: cores -1 of row ['nx01', -1]"),
    ([["localhost", "1"], ["nx01:ab", "1"]], "invalid config: range 'nx01:ab' is not "
                                             "NAME<first>:<last>"),
    ([["nx:3", "1"]], "invalid config: range 'nx:3' is not NAME<first>:<last>"),
    ([["nx01:", "1"]], "invalid config: range 'nx01:' is not NAME<first>:<last>"),
    ([], "empty node table: with no node no job can run; to mean it, save it with "
         "save_config_table?empty=1"),
    ([["nx01", 1.5]], "invalid config: cores 1.5 of row ['nx01', 1.5]"),
    ([["nx01", True]], "invalid config: cores True of row ['nx01', True]"),
    ([["", "1"]], "invalid config: host '' of row ['', '1']"),
    ([["two words", "1"]], "invalid config: host 'two words' of row ['two words', '1']"),
    ([[3, "1"]], "invalid config: host 3 of row [3, '1']"),
    ([["nx09:03", "1"]], "invalid config: range 'nx09:03' ends before it starts"),
    ([["nx1:99999999", "1"]], "invalid config: range 'nx1:99999999' is 99999999 hosts"),
])
def test_bad_tables_are_refused_naming_the_row(disco, cluster, table, error):
    before = disco.get_config()
    code, message = save(disco, table)
    assert code == 400 and message.startswith(error), message
    assert disco.get_config() == before
    assert sorted(disco.nodeinfo()) == ["localhost"]
    with pytest.raises(DiscoError, match="the master refused the node table"):
        disco.set_config(table)


def test_an_empty_table_only_when_asked_for(disco, cluster):
    with pytest.raises(DiscoError, match="empty node table"):
        disco.set_config([])
    assert sorted(disco.nodeinfo()) == ["localhost"]
    reply = comm.request("POST", disco.master + "/disco/ctrl/save_config_table?empty=1", "[]")
    assert json.loads(reply) == "table saved!"
    assert disco.get_config() == [] and disco.nodeinfo() == {}
    assert config_file(cluster)["hosts"] == []
    disco.set_config([["localhost", "1"]])
    disco.set_config([], empty=True)
    assert disco.nodeinfo() == {}
    # bad rows are refused with or without the flag
    code, message = save(disco, [["nx01", "some"]])
    assert code == 400 and "cores 'some'" in message and disco.get_config() == []


def test_disco_config_set_empty(disco, cluster):
    refused = cluster.cli("config", "set", input="# nothing yet\n", check=False)
    assert refused.returncode == 1
    assert "has no rows" in refused.stderr and "disco config set --empty" in refused.stderr
    assert sorted(disco.nodeinfo()) == ["localhost"]
    assert cluster.cli("config", "set", "--empty", input="").stdout.strip() == "table saved!"
    assert cluster.cli("config").stdout == "" and disco.nodeinfo() == {}
    usage = cluster.cli("config", "--empty", check=False)
    assert usage.returncode == 1 and "usage: disco config" in usage.stderr


def test_blacklist_whitelist_and_restart(disco, cluster):
    disco.set_config([["localhost", "2"], ["nx01:02", "1"]])
    disco.blacklist("nx02")
    disco.request("/disco/ctrl/gc_blacklist", json.dumps("nx01"))
    assert blacklist(disco) == ["nx02"] and blacklist(disco, gc=True) == ["nx01"]
    assert disco.nodeinfo()["nx02"]["blacklisted"] is True
    assert disco.nodeinfo()["nx01"]["blacklisted"] is False
    saved = config_file(cluster)
    assert saved["blacklist"] == ["nx02"] and saved["gc_blacklist"] == ["nx01"]
    # the lists outlive the master
    cluster.cli("restart")
    assert disco.get_config() == [["localhost", "2"], ["nx01:02", "1"]]
    assert blacklist(disco) == ["nx02"] and blacklist(disco, gc=True) == ["nx01"]
    assert disco.nodeinfo()["nx02"]["blacklisted"] is True
    disco.whitelist("nx02")
    assert blacklist(disco) == [] and disco.nodeinfo()["nx02"]["blacklisted"] is False
    assert config_file(cluster)["blacklist"] == []
    # an unknown host cannot be listed
    with pytest.raises(CommError) as err:
        disco.blacklist("nx99")
    assert err.value.code == 400 and "unknown node 'nx99'" in err.value.msg


def test_blacklists_are_pruned_to_the_remaining_hosts(disco, cluster):
    disco.set_config([["localhost", "2"], ["nx01:03", "1"]])
    disco.blacklist("nx01")
    disco.blacklist("nx03")
    disco.request("/disco/ctrl/gc_blacklist", json.dumps("nx03"))
    disco.set_config([["localhost", "2"], ["nx01:02", "1"]])
    assert blacklist(disco) == ["nx01"] and blacklist(disco, gc=True) == []
    saved = config_file(cluster)
    assert saved["blacklist"] == ["nx01"] and saved["gc_blacklist"] == []
    assert "nx03" not in disco.nodeinfo()


def test_disco_config_shows_and_sets_the_table(disco, cluster, tmp_path):
    out = cluster.cli("config", "set", input="localhost 3\n# remote ones\nnx1:2\t1\n\n")
    assert out.stdout.strip() == "table saved!"
    assert cluster.cli("config").stdout.splitlines() == ["localhost\t3", "nx1:2\t1"]
    assert sorted(disco.nodeinfo()) == ["localhost", "nx1", "nx2"]
    # what `disco config` prints is what `disco config set` reads
    path = tmp_path / "table"
    path.write_text(cluster.cli("config").stdout)
    missing = cluster.cli("config", "set", str(tmp_path / "nothere"), check=False)
    assert missing.returncode == 1 and "cannot read the node table" in missing.stderr
    assert cluster.cli("config", "set", str(path)).stdout.strip() == "table saved!"
    assert cluster.cli("config").stdout.splitlines() == ["localhost\t3", "nx1:2\t1"]
    bad = cluster.cli("config", "set", input="localhost 3\nnx1 1 2\n", check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "disco: line 2 of stdin: 'nx1 1 2' is not 'HOST CORES'"
    dup = cluster.cli("config", "set", input="localhost 3\nlocalhost 1\n", check=False)
    assert dup.returncode == 1 and "duplicate nodes: localhost" in dup.stderr
    assert len(dup.stderr.splitlines()) == 1
    usage = cluster.cli("config", "show", check=False)
    assert usage.returncode == 1 and "usage: disco config" in usage.stderr


def test_a_broken_config_file_is_named_at_start(tmp_path):
    from disco_core.testing import Cluster, free_port
    c = Cluster(str(tmp_path / "home"), free_port())
    path = os.path.join(c.home, "root", "disco_%d.config" % c.port)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write('{"hosts": [["localhost", "1"],')
    try:
        for command in ("start", "nodaemon"):
            out = c.cli(command, check=False)
            assert out.returncode == 1
            assert out.stderr.startswith("disco: node table %s is not valid JSON" % path)
            assert len(out.stderr.splitlines()) == 1
        with open(path, "w") as f:
            json.dump({"hosts": [["localhost", "1"], ["localhost", "2"]]}, f)
        out = c.cli("start", check=False)
        assert out.returncode == 1
        assert out.stderr.strip() == \
            "disco: node table %s: duplicate nodes: localhost appears twice" % path
        with open(path, "w") as f:
            json.dump({"hosts": [["localhost", "1"]], "blacklist": "localhost"}, f)
        out = c.cli("start", check=False)
        assert out.returncode == 1 and "blacklist and gc_blacklist must be lists" in out.stderr
        assert "Master localhost:%d stopped" % c.port in c.cli("status").stdout
    finally:
        c.cli("stop", check=False)


def test_a_blacklisted_node_gets_no_tasks(disco, cluster):
    import time

    from disco_core.client import Job
    disco.blacklist("localhost")
    job = Job(name="Held").run(input=["raw://held"], map=lambda line, params: [(line, 1)])
    time.sleep(2)
    assert disco.results(job.name, timeout=0)[0] == "active"
    assert "tasks" not in disco.nodeinfo()["localhost"]
    assert "assigned to" not in disco.rawevents(job.name).decode()
    disco.whitelist("localhost")
    assert list(disco.result_iterator(job.wait(timeout=120))) == [("held", 1)]
