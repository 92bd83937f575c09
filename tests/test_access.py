"""Access to the master: every REST and UI request needs its token, a browser logs in with
it, clients on the master's machine find it with no configuration, clients elsewhere set
DISCO_TOKEN, the token never goes to other servers, and a setting turns the check off."""
import json
import os
import stat
import urllib.error
import urllib.request

import pytest
import tornado.web

from disco.core import Disco, Job, result_iterator
from disco_core import comm
from disco_core.access import HEADER, cookie_name
from disco_core.errors import CommError
from disco_core.settings import DiscoSettings
from disco_core.testing import TornadoServer, running_cluster


def fetch(url, headers=None, method=None, data=None):
    """``(status, headers, body)`` without following redirects."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with opener.open(request, timeout=30) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def words(line, params):
    for word in line.split():
        yield word, 1


def putting(line, params):
    put("seen-" + line, line.encode())  # noqa: F821 (a task's helper, over the REST API)
    yield line, 1


PATHS = [("GET", "/disco/ctrl/joblist"), ("GET", "/disco/version"),
         ("GET", "/disco/openapi.json"), ("GET", "/disco/ui/status"),
         ("GET", "/disco/ui/feed?view=status"), ("GET", "/"), ("GET", "/static/disco.js"),
         ("POST", "/disco/ctrl/kill_job"),
         ("POST", "/disco/job/new"), ("GET", "/no/such/route")]


def test_without_the_token_every_request_is_a_401_and_nothing_else(disco_cluster):
    for method, path in PATHS:
        data = b'"x"' if method == "POST" else None
        status, headers, body = fetch(disco_cluster.master + path, method=method, data=data)
        assert status == 401, (method, path, status)
        message = json.loads(body)
        assert "X-Disco-Token" in message and "no token" in message, message
        assert "DISCO_TOKEN" in message
    status, _, body = fetch(disco_cluster.master + "/disco/ctrl/joblist",
                            headers={HEADER: "not-the-token"})
    assert status == 401 and "a wrong token" in json.loads(body)
    status, _, body = fetch(disco_cluster.master + "/disco/ctrl/joblist",
                            headers={"Authorization": "Bearer nope"})
    assert status == 401


def napping(line, params):
    import time
    time.sleep(30)
    yield line, 1


def test_a_request_without_the_token_changes_nothing_and_tells_nothing(disco_cluster):
    disco = disco_cluster.disco
    job = Job().run(input=["raw://x"], map=napping)
    try:
        table, jobs = disco.get_config(), disco.joblist()
        version = disco.master_version()
        for path, body in (("/disco/ctrl/kill_job", json.dumps(job.name)),
                           ("/disco/ctrl/purge_job", json.dumps(job.name)),
                           ("/disco/ctrl/save_config_table", json.dumps([["nx1", "9"]])),
                           ("/disco/ctrl/blacklist", json.dumps("localhost")),
                           ("/disco/ctrl/save_settings", json.dumps({"accept_new_jobs": 0})),
                           ("/disco/job/new", b"not even a job pack")):
            for headers in ({}, {HEADER: "not-the-token"}):
                status, _, reply = fetch(disco_cluster.master + path, headers=headers,
                                         method="POST", data=body if isinstance(body, bytes)
                                         else body.encode())
                assert status == 401, (path, status)
                assert job.name.encode() not in reply and version.encode() not in reply
        assert disco.jobinfo(job.name)["active"] == "active"
        assert disco.get_config() == table and disco.joblist() == jobs
        with disco_cluster.urlopen("/disco/ctrl/get_blacklist") as reply:
            assert json.loads(reply.read()) == []
        with disco_cluster.urlopen("/disco/ctrl/get_settings") as reply:
            assert json.loads(reply.read())["accept_new_jobs"] == 1
    finally:
        disco.kill(job.name)


def test_job_data_is_served_as_a_node_s_data_server_serves_it(disco_cluster):
    """The node beside the master serves job data on the master's port, like every node's
    data server (which non-Python workers read with no token)."""
    job = Job().run(input=["raw://a b"], map=words)
    url = job.wait(timeout=120)[0]
    url = url[0] if isinstance(url, list) else url
    path = url.split("://", 1)[1].split("/", 1)[1]
    status, _, _ = fetch(disco_cluster.master + "/" + path)
    assert status == 200
    status, _, _ = fetch(disco_cluster.master + "/disco/localhost/nothing-here")
    assert status == 404
    status, _, _ = fetch(disco_cluster.master + "/disco/localhost/x", method="POST", data=b"")
    assert status == 401  # anything but reading data needs the token


def test_the_token_opens_every_door(disco_cluster):
    token = disco_cluster.token
    for headers in ({HEADER: token}, {"Authorization": "Bearer " + token}):
        status, _, body = fetch(disco_cluster.master + "/disco/ctrl/joblist", headers=headers)
        assert status == 200 and isinstance(json.loads(body), list)
    status, _, body = fetch(disco_cluster.master + "/", headers={HEADER: token})
    assert status == 200 and b"status.js" in body


def test_a_browser_logs_in_with_the_token_in_the_url(disco_cluster):
    master, token = disco_cluster.master, disco_cluster.token
    status, headers, body = fetch(master + "/job.html?name=J", headers={"Accept": "text/html"})
    assert status == 401 and b"<form" in body and b"needs its token" in body
    status, headers, _ = fetch(master + "/job.html?name=J&token=" + token)
    assert status == 302
    assert headers["Location"] == "/job.html?name=J"  # the token leaves the address bar
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(cookie_name(disco_cluster.port) + "=" + token)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = cookie.split(";")[0]
    status, _, body = fetch(master + "/job.html?name=J", headers={"Cookie": jar})
    assert status == 200 and b"job.js" in body
    status, _, body = fetch(master + "/disco/ctrl/joblist", headers={"Cookie": jar})
    assert status == 200
    status, _, body = fetch(master + "/?token=wrong", headers={"Accept": "text/html"})
    assert status == 401 and b"not this master" in body


def test_the_token_file_is_for_the_master_s_user_only(disco_cluster):
    path = DiscoSettings(disco_cluster.env)["DISCO_TOKEN_FILE"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(disco_cluster.token) >= 24


def test_a_client_on_the_master_s_machine_needs_no_configuration(disco_cluster):
    job = Job().run(input=["raw://a b"], map=words)
    assert sorted(result_iterator(job.wait(timeout=120))) == [("a", 1), ("b", 1)]
    assert Disco().joblist()


def test_tasks_reach_the_master_too(disco_cluster):
    job = Job().run(input=["raw://one", "raw://two"], map=putting)
    job.wait(timeout=120)
    assert sorted(job.oob_list()) == ["seen-one", "seen-two"]
    assert job.oob_get("seen-two") == b"two"


def test_a_client_elsewhere_sets_DISCO_TOKEN(disco_cluster, tmp_path, monkeypatch):
    token = disco_cluster.token
    # another machine: no token file where this one has the master's
    monkeypatch.setenv("DISCO_TOKEN_FILE", str(tmp_path / "no-such-file"))
    elsewhere = {}
    lost = Disco(disco_cluster.master, settings=DiscoSettings(elsewhere))
    with pytest.raises(CommError) as exc:
        lost.joblist()
    assert exc.value.code == 401 and "DISCO_TOKEN" in str(exc.value)
    found = Disco(disco_cluster.master,
                  settings=DiscoSettings(elsewhere, DISCO_TOKEN=token))
    assert isinstance(found.joblist(), list)


class Echo(tornado.web.RequestHandler):
    def get(self):
        self.finish(json.dumps(dict(self.request.headers)))


def test_the_token_never_goes_to_another_server(disco_cluster):
    server = TornadoServer([(r"/echo", Echo)])
    try:
        seen = json.loads(comm.request("GET", server.url("/echo")))
        assert HEADER not in seen and "Authorization" not in seen
        # the master itself gets it from the same call
        assert json.loads(comm.request("GET", disco_cluster.master + "/disco/version"))
    finally:
        server.close()


def test_the_check_can_be_turned_off():
    with running_cluster(extra_env={"DISCO_TOKEN_REQUIRED": "0"}) as cluster:
        status, _, body = fetch(cluster.master + "/disco/ctrl/joblist")
        assert status == 200 and json.loads(body) == []
        job = Job().run(input=["raw://x"], map=words)
        assert list(result_iterator(job.wait(timeout=120))) == [("x", 1)]
        out = cluster.cli("stop").stdout  # and start said where the UI is, with no token
        assert "stopped" in out
