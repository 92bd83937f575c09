"""Job data served beyond loopback: only with the cluster's data key or the master's token,
and the requests of tasks and clients carry what they have (``disco_core.access``)."""
import os
import urllib.error
import urllib.request

import pytest

from disco_core import comm
from disco_core.access import data_allowed, data_key
from disco_core.dataserver import data_route
from disco_core.errors import CommError
from disco_core.testing import TornadoServer


@pytest.fixture
def keyed(tmp_path, monkeypatch):
    os.makedirs(tmp_path / "data" / "job")
    (tmp_path / "data" / "job" / "part").write_bytes(b"some data")
    allowed = lambda headers: data_allowed(headers, "s3cret", "the-token")  # noqa: E731
    server = TornadoServer([data_route("disco", str(tmp_path / "data"), allowed)])
    monkeypatch.setenv("DISCO_PORT", str(server.port))
    monkeypatch.delenv("DISCO_DATA_KEY", raising=False)
    monkeypatch.delenv("DISCO_CLUSTER_SECRET", raising=False)
    monkeypatch.setenv("DISCO_TOKEN", "")
    monkeypatch.setenv("DISCO_HOME", str(tmp_path / "home"))
    yield server
    server.close()


def get(url, headers):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
        return resp.read()


def test_job_data_needs_the_key_or_the_token(keyed):
    url = keyed.url("disco/job/part")
    for headers in ({}, {"X-Disco-Data-Key": "wrong"}, {"X-Disco-Data-Key": "s3cret"},
                    {"X-Disco-Token": "wrong"}):
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(url, headers)
        assert refused.value.code == 401
        assert "DISCO_DATA_KEY" in refused.value.read().decode()
    assert get(url, {"X-Disco-Data-Key": data_key("s3cret")}) == b"some data"
    assert get(url, {"X-Disco-Token": "the-token"}) == b"some data"
    assert get(url, {"Authorization": "Bearer the-token"}) == b"some data"


def test_a_tasks_request_carries_the_key_and_a_clients_the_token(keyed, monkeypatch):
    url = "disco://127.0.0.1/disco/job/part"
    with pytest.raises(CommError) as refused:
        comm.fetch(url)
    assert refused.value.code == 401
    monkeypatch.setenv("DISCO_DATA_KEY", data_key("s3cret"))  # a task's environment
    assert comm.fetch(url) == b"some data"
    monkeypatch.delenv("DISCO_DATA_KEY")
    monkeypatch.setenv("DISCO_CLUSTER_SECRET", "s3cret")  # a node's, or the master's
    assert comm.open_data(url).read() == b"some data"
    monkeypatch.delenv("DISCO_CLUSTER_SECRET")
    monkeypatch.setenv("DISCO_TOKEN", "the-token")  # a client's
    assert comm.fetch(url) == b"some data"


def test_the_key_goes_only_to_job_data_urls(keyed, monkeypatch):
    from disco_core.access import data_headers_for
    monkeypatch.setenv("DISCO_DATA_KEY", "k")
    port = keyed.port
    assert data_headers_for("http://a:%d/disco/x" % port) == {"X-Disco-Data-Key": "k"}
    assert data_headers_for("http://a:%d/other/x" % port) == {}
    assert data_headers_for("http://a:%d/disco/x" % (port + 1)) == {}


def test_a_master_beyond_loopback_serves_its_nodes_job_data_only_with_the_key():
    from disco.core import Job, result_iterator
    from disco_core.testing import running_cluster

    def lines(line, params):
        yield line, 1

    with running_cluster(extra_env={"DISCO_MASTER_BIND": "*"}) as cluster:
        job = Job().run(input=["raw://hello"], map=lines)
        results = job.wait(timeout=120)
        assert list(result_iterator(results)) == [("hello", 1)]  # the client has the token
        url = results[0][0] if isinstance(results[0], list) else results[0]
        http = "http://localhost:%d/%s" % (cluster.port, url.split("/", 3)[3])
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(http, {})
        assert refused.value.code == 401
        assert get(http, {"X-Disco-Token": cluster.token})
    with running_cluster() as cluster:  # on loopback only, as before
        job = Job().run(input=["raw://hello"], map=lines)
        results = job.wait(timeout=120)
        url = results[0][0] if isinstance(results[0], list) else results[0]
        assert get("http://localhost:%d/%s" % (cluster.port, url.split("/", 3)[3]), {})
