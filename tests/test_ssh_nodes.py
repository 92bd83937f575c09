"""Nodes started over SSH: a real sshd on loopback addresses stands for other machines.

The master logs in with a key, checks the host's key, runs the node command there and
watches the channel; what goes wrong is the node's ``problem`` in ``nodeinfo``."""
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import tornado.httpclient
import tornado.ioloop
import tornado.websocket

from disco.core import Job, result_iterator
from disco.worker.classic.func import sum_reduce
from disco_core import __version__
from disco_core.access import HEADER
from disco_core.testing import free_port, keygen, needs_sshd, running_cluster, wait_for

pytestmark = [needs_sshd, pytest.mark.timeout(300)]


def words(line, params):
    for word in line.split():
        yield word, 1


def nodeinfo(cluster):
    with cluster.urlopen("/disco/ctrl/nodeinfo") as resp:
        return json.load(resp)


def parents(pid):
    """The command lines of ``pid``'s ancestors, nearest first."""
    out = []
    while pid > 1:
        with open("/proc/%d/stat" % pid) as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            out.append(f.read().replace(b"\0", b" ").decode())
    return out


def problem(cluster, host, text, timeout=30):
    """The node's problem once it says ``text``."""
    def said():
        entry = nodeinfo(cluster)[host]
        return entry.get("problem", "") if text in entry.get("problem", "") else ""
    try:
        return wait_for(said, timeout=timeout, interval=0.2)
    except AssertionError:
        raise AssertionError("no problem saying %r: %r" % (text, nodeinfo(cluster)[host]))


def test_word_count_on_nodes_started_over_ssh(http_server):
    urls = [http_server.add("in%d.txt" % i, "red green\ngreen blue %d\n" % i) for i in range(6)]
    hosts = [("127.0.0.2", 2), ("127.0.0.3", 2)]
    with running_cluster(hosts, ssh=True) as cluster:
        info = nodeinfo(cluster)
        assert all(info[h]["connected"] for h, _n in hosts), info
        # the nodes are the sshd's children, not the master's
        pids = cluster.node_pids()
        assert len(pids) == 2
        for pid in pids:
            chain = parents(pid)
            assert any("sshd" in line for line in chain), chain
            assert not any("disco_core.master" in line for line in chain), chain
        job = Job().run(input=urls, map=words, reduce=sum_reduce, partitions=3)
        results = job.wait(timeout=180)
        counts = dict(result_iterator(results))
        assert counts == {"red": 6, "green": 12, "blue": 6, **{str(i): 1 for i in range(6)}}
        assigned = [e[2] for _o, e in job.events() if " assigned to " in e[2]]
        assert {line.rsplit(" ", 1)[1] for line in assigned} == {"127.0.0.2", "127.0.0.3"}
        # the nodes' data lives under DISCO_NODE_ROOT, their output in the master's log dir
        assert os.path.isdir(os.path.join(cluster.home, "nodes", "data", "127.0.0.2"))
        assert "node 127.0.0.3 INFO" in cluster.log("node-127.0.0.3")
        assert "Traceback" not in cluster.log("node-")


def test_a_killed_node_is_restarted_over_ssh():
    with running_cluster([("127.0.0.2", 1)], ssh=True) as cluster:
        [old] = cluster.node_pids("127.0.0.2")
        os.kill(old, signal.SIGKILL)
        new = wait_for(lambda: [p for p in cluster.node_pids("127.0.0.2") if p != old],
                       timeout=60)
        assert any("sshd" in line for line in parents(new[0]))
        wait_for(lambda: nodeinfo(cluster)["127.0.0.2"]["connected"], timeout=60)
        job = Job().run(input=["raw://one two two"], map=words, reduce=sum_reduce)
        assert dict(result_iterator(job.wait(timeout=120))) == {"one": 1, "two": 2}
        assert "node 127.0.0.2 exited" in cluster.log("disco_")


def test_an_unknown_host_key_is_refused_and_accepted_only_when_told(tmp_path):
    known = str(tmp_path / "known_hosts")
    env = {"DISCO_SSH_KNOWN_HOSTS": known}
    with running_cluster([("127.0.0.2", 1)], ssh=True, extra_env=env) as cluster:
        text = problem(cluster, "127.0.0.2", "not in the known hosts")
        assert known in text and "DISCO_SSH_ACCEPT_NEW_HOST_KEYS" in text
        assert not nodeinfo(cluster)["127.0.0.2"]["connected"]
        assert not cluster.node_pids()
        assert "not in the known hosts" in cluster.log("disco_")
        assert not os.path.exists(known)  # never written without the setting
    env["DISCO_SSH_ACCEPT_NEW_HOST_KEYS"] = "1"
    with running_cluster([("127.0.0.2", 1)], ssh=True, extra_env=env) as cluster:
        wait_for(lambda: nodeinfo(cluster)["127.0.0.2"]["connected"], timeout=60)
        with open(known) as f:
            assert f.read().startswith("[127.0.0.2]:%d ssh-ed25519 " % cluster.sshd.port)
        assert "accepting the new host key of" in cluster.log("disco_")


def test_a_changed_host_key_is_refused_even_when_new_keys_are_accepted(tmp_path):
    other = keygen(str(tmp_path / "other_host_key")).split()[:2]
    known = tmp_path / "known_hosts"
    env = {"DISCO_SSH_KNOWN_HOSTS": str(known), "DISCO_SSH_ACCEPT_NEW_HOST_KEYS": "1"}
    with running_cluster([("127.0.0.2", 1)], ssh=True, extra_env=env) as cluster:
        # the sshd is up now: say its address had another key
        known.write_text("[127.0.0.2]:%d %s\n" % (cluster.sshd.port, " ".join(other)))
        [pid] = cluster.node_pids("127.0.0.2")
        os.kill(pid, signal.SIGKILL)
        text = problem(cluster, "127.0.0.2", "host key changed", timeout=60)
        assert "ssh-keygen -R" in text
        assert known.read_text().count("\n") == 1  # left as it was


def test_a_refused_key_is_the_nodes_problem(tmp_path):
    keygen(str(tmp_path / "stranger"))
    env = {"DISCO_SSH_KEY": str(tmp_path / "stranger")}
    with running_cluster([("127.0.0.2", 1)], ssh=True, extra_env=env) as cluster:
        text = problem(cluster, "127.0.0.2", "authentication refused")
        assert str(tmp_path / "stranger") in text and "authorized_keys" in text
        assert not nodeinfo(cluster)["127.0.0.2"]["connected"]


def test_no_sshd_there_is_a_refused_connection():
    env = {"DISCO_SSH_HOSTS": "127.0.0.2:%d" % free_port("127.0.0.2")}
    with running_cluster([("127.0.0.2", 1)], extra_env=env) as cluster:
        text = problem(cluster, "127.0.0.2", "connection refused")
        assert "is sshd running there" in text


@pytest.mark.parametrize("command, says", [
    ("/nowhere/python3 -m disco_core.node", "is not there (exit 127"),
    ("%s -I -m disco_core.node" % "/usr/bin/python3", "disco_core is not installed"),
])
def test_a_host_without_python_or_disco_core(command, says):
    if "/usr/bin/python3" in command and not os.path.exists("/usr/bin/python3"):
        pytest.skip("no system Python here")
    env = {"DISCO_NODE_COMMAND": command}
    with running_cluster([("127.0.0.2", 1)], ssh=True, extra_env=env) as cluster:
        text = problem(cluster, "127.0.0.2", says)
        assert "DISCO_NODE_COMMAND" in text


def connect(cluster, secret, version):
    """A node's connection to the master, as a node on another machine makes it; the close
    code and reason the master answers with."""
    async def go():
        url = cluster.master.replace("http://", "ws://") + \
            "/disco/node/connect?host=127.0.0.2&version=%s" % version
        request = tornado.httpclient.HTTPRequest(url, headers={"X-Disco-Secret": secret})
        conn = await tornado.websocket.websocket_connect(request)
        message = await conn.read_message()
        return message, conn.close_code, conn.close_reason
    return tornado.ioloop.IOLoop.current().run_sync(go, timeout=30)


def secret_of(cluster):
    with open(os.path.join(cluster.home, "root", "disco_%d.secret" % cluster.port)) as f:
        return f.read().strip()


def test_a_node_with_a_wrong_secret_or_version_is_refused():
    with running_cluster([("127.0.0.2", 1)], ssh=True) as cluster:
        assert connect(cluster, "not-the-secret", __version__) == \
            (None, 4001, "wrong cluster secret")
        assert "without the cluster secret" in nodeinfo(cluster)["127.0.0.2"]["problem"]
        message, code, reason = connect(cluster, secret_of(cluster), "0.0.1")
        assert (message, code) == (None, 4009)
        assert "runs disco_core 0.0.1, the master %s" % __version__ in reason
        assert "install disco_core %s there" % __version__ in \
            nodeinfo(cluster)["127.0.0.2"]["problem"]
        # the real node was not disturbed
        assert nodeinfo(cluster)["127.0.0.2"]["connected"]
        # a node process given a wrong secret is refused and exits, saying why
        env = dict(os.environ, DISCO_CLUSTER_SECRET="not-the-secret")
        proc = subprocess.run([sys.executable, "-m", "disco_core.node", "--host", "127.0.0.2",
                               "--master", cluster.master, "--no-data-server"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert "the master refused this node: wrong cluster secret" in proc.stderr
        time.sleep(0.1)
        assert nodeinfo(cluster)["127.0.0.2"]["connected"]


def lan_address():
    """One of this machine's addresses beyond loopback ("" when it has none)."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only the route is looked up
        except OSError:
            return ""
        address = s.getsockname()[0]
    return "" if address.startswith("127.") else address


def test_a_node_beyond_loopback_serves_job_data_only_with_the_key(http_server):
    import urllib.error
    import urllib.request
    lan = lan_address()
    if not lan:
        pytest.skip("this machine has no address beyond loopback")
    urls = [http_server.add("in%d.txt" % i, "up down\ndown %d\n" % i) for i in range(4)]
    with running_cluster([(lan, 1), ("127.0.0.2", 1)], ssh=True) as cluster:
        assert all(n["connected"] for n in nodeinfo(cluster).values()), nodeinfo(cluster)
        job = Job().run(input=urls, map=words, reduce=sum_reduce, partitions=2)
        results = job.wait(timeout=180)
        # the reduces read the maps' outputs of both nodes: across the keyed data server
        assert dict(result_iterator(results)) == {"up": 4, "down": 8,
                                                  **{str(i): 1 for i in range(4)}}
        assigned = [e[2] for _o, e in job.events() if " assigned to " in e[2]]
        assert {line.rsplit(" ", 1)[1] for line in assigned} == {lan, "127.0.0.2"}
        urls = [r[0] if isinstance(r, list) else r for r in results]
        on_lan = [re.sub(r"^\w+://%s/" % re.escape(lan), "http://%s:%d/" % (lan, cluster.port),
                         u) for u in urls if "://%s/" % lan in u]
        assert on_lan, results
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(on_lan[0], timeout=30)
        assert refused.value.code == 401
        assert "DISCO_DATA_KEY" in refused.value.read().decode()
        request = urllib.request.Request(on_lan[0], headers={"X-Disco-Token": cluster.token})
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 200


def test_a_node_of_another_version_is_refused_and_stops():
    other = ("import sys, disco_core; disco_core.__version__ = '0.0.1'; "
             "from disco_core.node.app import main; main(sys.argv[1:])")
    env = {"DISCO_NODE_COMMAND": '%s -c "%s"' % (sys.executable, other)}
    with running_cluster([("127.0.0.2", 1)], ssh=True, extra_env=env) as cluster:
        text = problem(cluster, "127.0.0.2", "runs disco_core 0.0.1")
        assert "install disco_core %s there" % __version__ in text
        assert not nodeinfo(cluster)["127.0.0.2"]["connected"]
        wait_for(lambda: "the master refused this node: version mismatch" in
                 cluster.log("node-127.0.0.2"), timeout=30)


def command_lines():
    """The command line of every process of this machine that shows one."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                yield f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue


def outward_address():
    """An address of this machine that is not loopback, or None."""
    from disco_core.master.remote import route_address
    for probe in ("192.0.2.1", "10.255.255.1", "203.0.113.1"):
        address = route_address(probe)
        if address and not address.startswith("127."):
            return address
    return None


def test_a_master_on_loopback_serves_where_a_node_added_later_reaches_it():
    """A master that listens on loopback alone (no other machine in its table at start)
    serves also on the address another machine reaches it at, once one joins the table.
    The other machine here is a neighbour on this machine's network that runs no sshd: its
    node cannot start, but for want of SSH, not because the master is out of its reach. (A
    node on this machine's own outward address would take that address's DISCO_PORT, as the
    master now does: no node host is also the master's.)"""
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    neighbour = str(ipaddress.ip_address(address) + (1 if address.endswith(".1") else -1))
    env = {"DISCO_MASTER_BIND": "", "DISCO_NODE_MASTER": "", "DISCO_SSH_TIMEOUT": "2",
           "DISCO_SSH_HOSTS": "%s:9" % neighbour}
    with running_cluster(extra_env=env) as cluster:
        table = json.dumps([["localhost", "1"], [neighbour, "1"]]).encode()
        with cluster.urlopen("/disco/ctrl/save_config_table", data=table) as resp:
            assert json.load(resp) == "table saved!"
        said = problem(cluster, neighbour, "node %s" % neighbour, timeout=60)
        assert "listens on" not in said and "DISCO_MASTER_BIND" not in said, said
        assert "now serves on %s too, for node %s" % (address, neighbour) \
            in cluster.log("disco_")
        request = urllib.request.Request("http://%s:%d/disco/ctrl/nodeinfo"
                                         % (address, cluster.port),
                                         headers={HEADER: cluster.token})
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert neighbour in json.load(resp)
        # the loopback node beside it still runs jobs
        job = Job().run(input=["raw://red green red"], map=words, reduce=sum_reduce)
        assert dict(result_iterator(job.wait(timeout=120))) == {"red": 2, "green": 1}


def test_a_master_bound_by_its_setting_does_not_widen_itself():
    from disco_core.master.remote import listen_for, url_of
    from disco_core.settings import DiscoSettings
    s = DiscoSettings({"DISCO_MASTER_BIND": "127.0.0.1", "DISCO_PORT": "8989"})
    address, why = listen_for("nx01", None, s, "127.0.0.1", set())
    assert address == "" and "DISCO_MASTER_BIND" in why and "127.0.0.1" in why
    s = DiscoSettings({"DISCO_MASTER_BIND": "", "DISCO_PORT": "8989"})
    address, why = listen_for("no-such-host.invalid", None, s, "127.0.0.1", set())
    assert address == "" and "no route" in why and "no-such-host.invalid" in why
    assert url_of("10.0.0.5", 8989) == "http://10.0.0.5:8989"
    assert url_of("fd00::2", 8989) == "http://[fd00::2]:8989"
