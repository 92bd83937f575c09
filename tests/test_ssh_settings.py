"""The settings of nodes started over SSH (``disco_core.master.remote``): which hosts, which
port, where the master listens, what URL and settings a node there gets."""
import pytest

from disco_core.master.remote import (LOCAL_PATHS, bind_address, master_url_for,
                                      node_settings, ssh_hosts)
from disco_core.settings import DiscoSettings


def settings(**values):
    return DiscoSettings(DISCO_SETTINGS_FILE="", **values)


def test_ssh_hosts_take_a_port_each_or_the_default():
    s = settings(DISCO_SSH_HOSTS="nx01, 127.0.0.2:2222  nx03:22", DISCO_SSH_PORT="2200")
    assert ssh_hosts(s) == {"nx01": 2200, "127.0.0.2": 2222, "nx03": 22}
    assert ssh_hosts(settings(DISCO_SSH_HOSTS="")) == {}
    for bad in ("nx01:port", "nx01:0", ":22", "nx01:70000"):
        with pytest.raises(ValueError, match="DISCO_SSH_HOSTS entry %r" % bad):
            ssh_hosts(settings(DISCO_SSH_HOSTS=bad))


def test_the_master_listens_beyond_loopback_only_when_needed_or_told():
    assert bind_address(settings(DISCO_MASTER_HOST="localhost"), []) == "127.0.0.1"
    assert bind_address(settings(DISCO_MASTER_HOST="localhost"), ["127.0.0.2"]) == "127.0.0.1"
    assert bind_address(settings(DISCO_MASTER_HOST="localhost"), ["nx01"]) == ""
    assert bind_address(settings(DISCO_MASTER_HOST="master1"), ["nx01"]) == "master1"
    assert bind_address(settings(DISCO_MASTER_BIND="10.0.0.5"), ["nx01"]) == "10.0.0.5"
    assert bind_address(settings(DISCO_MASTER_BIND="*"), []) == ""
    assert bind_address(settings(DISCO_MASTER_BIND="127.0.0.1"), ["nx01"]) == "127.0.0.1"


def test_a_node_is_told_a_master_url_it_can_reach():
    s = settings(DISCO_MASTER_HOST="localhost", DISCO_PORT="9000")
    assert master_url_for("127.0.0.2", s, "http://localhost:9000") == "http://localhost:9000"
    url = master_url_for("nx01", s, "http://localhost:9000")
    assert url.endswith(":9000") and "localhost" not in url
    s = settings(DISCO_MASTER_HOST="master1", DISCO_PORT="9000")
    assert master_url_for("nx01", s, "http://master1:9000") == "http://master1:9000"
    s = settings(DISCO_NODE_MASTER="http://gw:80/")
    assert master_url_for("nx01", s, "http://localhost:8989") == "http://gw:80"


def test_a_node_gets_the_settings_but_not_the_masters_paths():
    s = settings(DISCO_HOME="/srv/master-home", DISCO_PORT="9000", DISCO_NODE_ROOT="/data/d",
                 DISCO_SSH_KEY="/root/.ssh/id")
    values = node_settings(s, "http://m:9000", "the-secret", "the-token")
    assert values["DISCO_PORT"] == "9000"
    assert values["DISCO_ROOT"] == "/data/d"
    assert values["DISCO_MASTER"] == "http://m:9000"
    assert values["DISCO_CLUSTER_SECRET"] == "the-secret"
    assert values["DISCO_TOKEN"] == "the-token"
    assert not any(name.startswith("DISCO_SSH_") for name in values)
    assert not [p for p in LOCAL_PATHS if p in values and p != "DISCO_ROOT"]
    assert "/srv/master-home" not in " ".join(values.values())  # a plugin's data dir too
    assert "DDFS_ROOT" not in values
    assert "DISCO_ROOT" not in node_settings(settings(), "http://m:1", "s", "")
