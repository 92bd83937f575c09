"""Plugins checked cluster-wide: nodes whose plugin sets differ from the master's.

Nodes on loopback addresses are started over a real sshd, each through a node command that
gives it the plugins of its own "machine" (its own PYTHONPATH), as another host would have
its own install. The master and node 127.0.0.2 have the plugins ``disco-test-rot13`` (the
scheme ``rot13://``) and ``disco-test-marker`` 1.0; node 127.0.0.3 has no rot13, and
marker 2.0."""
import codecs
import json
import stat
import sys

import pytest

from disco.core import Job, result_iterator
from disco.worker.classic.func import sum_reduce
from disco_core.master import messages
from disco_core.master.plugincheck import Needs, differences, lacks
from disco_core.testing import install_plugin, needs_sshd, running_cluster, wait_for

ROT13 = """
    import codecs
    import io


    class Rot13:
        name = "rot13"
        text = True

        def open(self, url, task=None):
            data = codecs.encode(url[len("rot13://"):], "rot13").encode("utf-8")
            stream = io.BytesIO(data)
            stream.size = len(data)
            return stream


    scheme = Rot13()
"""
MARKER = """
    from disco_core.hookspecs import hookimpl


    @hookimpl
    def disco_settings():
        return {}
"""


def words(line, params):
    for word in line.split():
        yield word, 1


def make_roots(tmp_path):
    """The master's plugin folder (also node 127.0.0.2's), and node 127.0.0.3's."""
    both, other = tmp_path / "both", tmp_path / "other"
    install_plugin(both, "disco-test-rot13", "disco_test_rot13", ROT13,
                   "[disco.schemes]\nrot13 = disco_test_rot13:scheme\n")
    for root, version in ((both, "1.0"), (other, "2.0")):
        install_plugin(root, "disco-test-marker", "disco_test_marker", MARKER,
                       "[disco]\nmarker = disco_test_marker\n")
        if version != "1.0":
            old = root / "disco_test_marker-1.0.dist-info"
            meta = old / "METADATA"
            meta.write_text(meta.read_text().replace("Version: 1.0", "Version: " + version))
            old.rename(root / ("disco_test_marker-%s.dist-info" % version))
    return str(both), str(other)


def node_command(tmp_path, roots):
    """A node command that starts each host's node with that host's plugin folder."""
    script = tmp_path / "node-command"
    cases = "".join('  *"--host %s "*) export PYTHONPATH=%s ;;\n' % (host, root)
                    for host, root in roots.items())
    script.write_text("#!/bin/sh\ncase \"$* \" in\n%sesac\nexec %s -m disco_core.node \"$@\"\n"
                      % (cases, sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def rest(cluster, op):
    with cluster.urlopen("/disco/ctrl/" + op) as resp:
        return json.load(resp)


@needs_sshd
@pytest.mark.timeout(300)
def test_jobs_go_only_to_nodes_that_have_the_plugins_they_need(tmp_path):
    both, other = make_roots(tmp_path)
    hosts = [("127.0.0.2", 2), ("127.0.0.3", 2)]
    env = {"PYTHONPATH": both,
           "DISCO_NODE_COMMAND": node_command(tmp_path, {"127.0.0.2": both,
                                                         "127.0.0.3": other})}
    with running_cluster(hosts, ssh=True, extra_env=env) as cluster:
        wait_for(lambda: all(rest(cluster, "nodeinfo")[h]["connected"] for h, _ in hosts),
                 timeout=60)

        # what differs from the master, per node
        info = rest(cluster, "nodeinfo")
        assert "plugins_differ" not in info["127.0.0.2"], info["127.0.0.2"]
        assert info["127.0.0.3"]["plugins_differ"] == {
            "missing": ["disco-test-rot13"], "versions": {"disco-test-marker": "2.0"}}
        plugins = {p["name"]: p for p in rest(cluster, "plugins")}
        assert plugins["disco-test-rot13"]["nodes"] == {"127.0.0.3": "missing"}
        assert plugins["disco-test-marker"]["nodes"] == {"127.0.0.3": "2.0"}
        assert plugins["disco-plugin-raw"]["nodes"] == {}
        shown = cluster.cli("plugins").stdout
        assert "disco-test-rot13 1.0: 127.0.0.3 missing" in shown, shown
        assert "disco-test-marker 1.0: 127.0.0.3 2.0" in shown, shown
        shown = cluster.cli("nodeinfo").stdout
        assert ("plugins: lacks disco-test-rot13; other versions: disco-test-marker 2.0 "
                "(master 1.0)") in shown, shown

        # a job reading rot13:// runs on the node that has the scheme, and says why not
        # on the other, once
        lines = ["uryyb jbeyq %d" % i for i in range(8)]
        job = Job().run(input=["rot13://" + line for line in lines], map=words,
                        reduce=sum_reduce, partitions=4)
        counts = dict(result_iterator(job.wait(timeout=180)))
        expected = {"hello": 8, "world": 8, **{str(i): 1 for i in range(8)}}
        assert counts == expected
        events = [e[2] for _o, e in job.events()]
        assigned = {e.rsplit(" ", 1)[1] for e in events if " assigned to " in e}
        assert assigned == {"127.0.0.2"}, events
        told = [e for e in events if "no task of this job runs on node 127.0.0.3" in e]
        assert len(told) == 1, events
        assert "the scheme rot13://" in told[0]

        # a job of other schemes uses both nodes
        job = Job().run(input=["raw://%s" % codecs.encode(line, "rot13") for line in lines],
                        map=words, reduce=sum_reduce, partitions=4)
        assert dict(result_iterator(job.wait(timeout=180))) == expected
        assigned = {e[2].rsplit(" ", 1)[1] for _o, e in job.events() if " assigned to " in e[2]}
        assert assigned == {"127.0.0.2", "127.0.0.3"}

        # a plugin no node has: the job waits, and says why
        job = Job().run(input=["raw://a b"], map=words, required_plugins=["disco-plugin-nowhere"])

        def stalled():
            return [e[2] for _o, e in job.events() if "no task of this job can start" in e[2]]
        [said] = wait_for(stalled, timeout=60)
        assert "127.0.0.2 lacks the plugin disco-plugin-nowhere" in said
        assert "127.0.0.3 lacks the plugin disco-plugin-nowhere" in said
        assert job.jobinfo()["active"] == "active"
        job.kill()
        assert "Traceback" not in cluster.log("node-")


def test_a_node_lacks_what_a_job_needs_by_scheme_and_distribution_name():
    installed = {"core": "1", "dists": {"Disco_Plugin.Redis": "0.6.0"},
                 "drivers": {"scheme": ["raw", "redis"]}}
    assert lacks(Needs(frozenset({"raw", "redis"}), frozenset({"disco-plugin-redis"})),
                 installed) == []
    assert lacks(Needs(frozenset({"hdfs"}), frozenset({"disco-plugin-x"})), installed) == [
        "the scheme hdfs://", "the plugin disco-plugin-x"]
    assert lacks(Needs(frozenset({"hdfs"})), None) == []  # a node that said nothing
    mine = {"core": "1", "dists": {"a": "1", "b": "1"}, "drivers": {}}
    assert differences(mine, {"core": "2", "dists": {"b": "2", "c": "1"}, "drivers": {}}) == {
        "missing": ["a"], "extra": {"c": "1"}, "versions": {"b": "2"}, "core": "2"}
    assert differences(mine, dict(mine)) == {}


def test_a_hello_with_a_malformed_plugin_list_is_refused_naming_it():
    hello = {"op": "hello", "session": "s", "running": [],
             "plugins": {"core": "1", "dists": {"a": 1}, "drivers": {}}}
    with pytest.raises(messages.BadMessage, match="plugins"):
        messages.parse(json.dumps(hello))
    del hello["plugins"]
    assert messages.parse(json.dumps(hello))["plugins"] is None


def test_a_jobdict_with_bad_required_plugins_is_refused(disco_cluster):
    from disco_core.errors import DiscoError
    with pytest.raises(DiscoError, match="required_plugins"):
        Job().run(input=["raw://a"], map=words, required_plugins="disco-plugin-redis")
    job = Job().run(input=["raw://a a"], map=words, reduce=sum_reduce)
    assert dict(result_iterator(job.wait(timeout=60))) == {"a": 2}


def test_what_a_host_has_installed_is_read_once_and_handed_out_as_copies():
    # the master's nodeinfo gives it on every request: reading every distribution's
    # metadata each time cost tens of milliseconds per request
    from disco_core.plugins import PluginHost
    host = PluginHost()
    first = host.installed()
    assert first["core"] and "disco-plugin-ddfs" in first["dists"]

    def read_again(*args, **kwargs):
        raise AssertionError("the distributions' metadata was read again")
    host.inventory = read_again
    first["dists"].clear()
    first["drivers"]["scheme"].append("changed")
    again = host.installed()
    assert "disco-plugin-ddfs" in again["dists"]
    assert "changed" not in again["drivers"]["scheme"]
