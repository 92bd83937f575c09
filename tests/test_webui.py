"""The web UI's server side: the pages are served, the live feed pushes what changed, the
timeline lays out every attempt on its node's slots, and plugins link their own pages."""
import json
import time
import urllib.error
import urllib.request

import pytest

from disco.core import Job, result_iterator
from disco_core.access import HEADER, client_token
from disco_core.master.timeline import timeline
from disco_core.testing import install_plugin, running_cluster, wait_for


def get(url, timeout=30):
    """GET with the token of the cluster of this process (its environment's)."""
    request = urllib.request.Request(url, headers={HEADER: client_token()})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return reply.status, reply.headers, reply.read()


def get_json(url):
    return json.loads(get(url)[2])


def feed(url, until, timeout=60):
    """The ``snapshot`` events of a server-sent feed, read until ``until(snapshots)``."""
    snapshots, kinds = [], []
    request = urllib.request.Request(url, headers={HEADER: client_token()})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        assert reply.headers["Content-Type"].startswith("text/event-stream")
        deadline = time.time() + timeout
        event = None
        for raw in reply:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
                kinds.append(event)
            elif line.startswith("data: ") and event == "snapshot":
                snapshots.append(json.loads(line[6:]))
                if until(snapshots):
                    return snapshots, kinds
            elif line.startswith("data: ") and event == "gone":
                return snapshots, kinds
            if time.time() > deadline:
                break
    raise AssertionError("the feed ended or timed out; events: %s" % kinds)


# -- the timeline, as a function --------------------------------------------------------

def test_attempts_take_the_lowest_free_lane_of_their_node():
    attempts = [["map:0", "map", "a", 0, 100.0, 103.0, "done"],
                ["map:1", "map", "a", 0, 100.5, 101.0, "failed"],
                ["map:1", "map", "a", 1, 101.5, 102.0, "done"],    # lane 1 is free again
                ["map:2", "map", "b", 0, 101.0, None, "running"],
                ["reduce:3", "reduce", "a", 0, 103.0, 104.0, "done"]]  # lane 0 free at 103
    out = timeline(attempts, started=100.0, now=105.0)
    lanes = [(a["task"], a["lane"]) for a in out["attempts"]]
    assert lanes == [("map:0", 0), ("map:1", 1), ("map:2", 0), ("map:1", 1), ("reduce:3", 0)]
    assert out["nodes"] == {"a": 2, "b": 1}
    assert out["stages"] == ["map", "reduce"]
    running = next(a for a in out["attempts"] if a["outcome"] == "running")
    assert running["end"] is None and running["start"] == 1.0 and out["now"] == 5.0


def test_a_running_attempt_keeps_its_lane_busy():
    attempts = [["map:0", "map", "a", 0, 0.0, None, "running"],
                ["map:1", "map", "a", 0, 5.0, 6.0, "done"]]
    assert [a["lane"] for a in timeline(attempts, 0.0, 10.0)["attempts"]] == [0, 1]


def test_only_the_newest_attempts_are_laid_out_past_the_limit():
    attempts = [["map:%d" % i, "map", "a", 0, float(i), i + 0.5, "done"] for i in range(10)]
    out = timeline(attempts, 0.0, 20.0, most=4)
    assert out["omitted"] == 6
    assert [a["task"] for a in out["attempts"]] == ["map:6", "map:7", "map:8", "map:9"]


# -- on a cluster -------------------------------------------------------------------------

LINKS = """
    import tornado.web
    from disco_core.hookspecs import hookimpl

    class Page(tornado.web.RequestHandler):
        def get(self):
            self.finish("<h1>the fake plugin's page</h1>")

    @hookimpl
    def disco_master_routes(master):
        return [(r"/fake-ui/", Page)]

    @hookimpl
    def disco_webui_links(master):
        return [{"title": "fake pages", "url": "/fake-ui/"}, "not a link", {"title": 3}]
    """


@pytest.fixture(scope="module")
def ui_cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugins")
    install_plugin(root, "fake-ui-links", "fake_ui_links", LINKS,
                        "[disco]\nfakeui = fake_ui_links\n")
    with running_cluster(hosts=[("localhost", 2)],
                         extra_env={"PYTHONPATH": str(root)}) as cluster:
        yield cluster


def words(line, params):
    for word in line.split():
        yield word, 1


def flaky(line, params):
    """Fails its first attempt on each input (a file in ``params["dir"]`` marks the second)."""
    import os
    import time
    marker = os.path.join(params["dir"], "flaky-" + line.replace(" ", "_"))
    time.sleep(0.2)
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise IOError("the first attempt of %r fails" % line)
    for word in line.split():
        yield word, 1


def test_the_pages_and_their_files_are_served(ui_cluster):
    for path, marker in [("/", b"status.js"), ("/index.html", b"status.js"),
                         ("/job.html", b"job.js"), ("/config.html", b"config.js"),
                         ("/static/disco.js", b"disco.follow"),
                         ("/static/timeline.js", b"timelineChart"),
                         ("/static/disco.css", b".node")]:
        status, headers, body = get(ui_cluster.master + path)
        assert status == 200 and marker in body, path
    assert get(ui_cluster.master + "/")[1]["Content-Type"].startswith("text/html")
    with pytest.raises(urllib.error.HTTPError) as exc:
        get(ui_cluster.master + "/static/nothing-here.js")
    assert exc.value.code == 404


def test_the_status_feed_pushes_a_job_from_active_to_ready(ui_cluster):
    url = ui_cluster.master + "/disco/ui/feed?view=status"
    job = Job().run(input=["raw://a b"] * 6, map=slow_words)
    seen = set()

    def done(snapshots):
        for name_status in snapshots[-1]["jobs"]:
            if name_status[2] == job.name:
                seen.add(name_status[1])
        return "ready" in seen

    snapshots, _ = feed(url, done)
    assert "active" in seen, "the feed never showed the job running"
    busy = [s["nodes"]["localhost"].get("tasks", []) for s in snapshots]
    assert any(job.name in tasks for tasks in busy), "no snapshot showed a busy slot"
    last = snapshots[-1]
    assert last["nodes"]["localhost"]["max_workers"] == 2
    assert last["version"] and last["jobcount"] >= 1
    job.purge()


def slow_words(line, params):
    import time
    time.sleep(0.3)
    for word in line.split():
        yield word, 1


def test_the_job_view_has_the_timeline_of_every_attempt(ui_cluster, tmp_path):
    job = Job().run(input=["raw://a b", "raw://c d", "raw://e f"], map=flaky,
                    params={"dir": str(tmp_path)})
    assert sorted(result_iterator(job.wait(timeout=120))) == sorted((w, 1) for w in "abcdef")
    view = get_json(ui_cluster.master + "/disco/ui/job?name=" + job.name)
    attempts = view["timeline"]["attempts"]
    maps = [a for a in attempts if a["stage"] == "map"]
    assert sorted(a["outcome"] for a in maps) == ["done"] * 3 + ["failed"] * 3
    for task in {a["task"] for a in maps}:
        runs = sorted((a["runid"], a["outcome"]) for a in maps if a["task"] == task)
        assert [outcome for _, outcome in runs] == ["failed", "done"], (task, runs)
    assert all(a["end"] >= a["start"] >= 0 for a in attempts)
    assert view["timeline"]["nodes"] == {"localhost": 2}  # never more lanes than slots
    assert all(a["lane"] in (0, 1) for a in attempts)
    assert view["info"]["active"] == "ready"
    assert view["events"][0][2].startswith("READY")
    job.purge()


def test_the_job_feed_says_when_the_job_is_gone(ui_cluster):
    job = Job().run(input=["raw://x"], map=words)
    job.wait(timeout=120)
    url = ui_cluster.master + "/disco/ui/feed?view=job&name=" + job.name
    # the first snapshot arrives, then the job is purged and the feed says so
    with urllib.request.urlopen(urllib.request.Request(url, headers={HEADER: client_token()}),
                                timeout=30) as reply:
        lines = []
        for raw in reply:
            line = raw.decode().rstrip("\n")
            lines.append(line)
            if line.startswith("data: ") and len([x for x in lines if x.startswith("data")]) == 1:
                ui_cluster.disco.purge(job.name)
            if line == "event: gone":
                break
    assert "event: snapshot" in lines and lines[-1] == "event: gone"


def test_finished_jobs_keep_their_timeline_after_leaving_memory(tmp_path):
    with running_cluster(extra_env={"DISCO_KEEP_FINISHED_JOBS": "1"}) as cluster:
        first = Job().run(input=["raw://a", "raw://b"], map=words)
        first.wait(timeout=120)
        second = Job().run(input=["raw://c"], map=words)
        second.wait(timeout=120)
        wait_for(lambda: get_json(cluster.master + "/disco/ui/job?name=" + first.name))
        view = get_json(cluster.master + "/disco/ui/job?name=" + first.name)
        assert len([a for a in view["timeline"]["attempts"] if a["stage"] == "map"]) == 2


def test_bad_views_are_refused_with_a_message(ui_cluster):
    for path, code, words_ in [("/disco/ui/feed?view=nodes", 400, "view must be status or job"),
                               ("/disco/ui/feed?view=job&name=NoSuchJob", 404, "unknown job"),
                               ("/disco/ui/job?name=NoSuchJob", 404, "unknown job"),
                               ("/disco/ui/whatever", 404, "unknown view")]:
        with pytest.raises(urllib.error.HTTPError) as exc:
            get(ui_cluster.master + path)
        assert exc.value.code == code, path
        assert words_ in json.loads(exc.value.read()), path


def test_plugins_link_their_pages_and_only_well_formed_links_count(ui_cluster):
    def fake_and_well_formed(links):  # (other installed plugins may link pages too)
        assert all(sorted(link) == ["title", "url"] and all(isinstance(v, str)
                                                           for v in link.values())
                   for link in links), links
        return [link for link in links if link["url"] == "/fake-ui/"]
    fake = [{"title": "fake pages", "url": "/fake-ui/"}]
    assert fake_and_well_formed(get_json(ui_cluster.master + "/disco/ui/links")) == fake
    status = get_json(ui_cluster.master + "/disco/ui/status")
    assert fake_and_well_formed(status["links"]) == fake
    assert b"the fake plugin's page" in get(ui_cluster.master + "/fake-ui/")[2]


def test_the_settings_in_force_leave_secrets_out(ui_cluster):
    settings = get_json(ui_cluster.master + "/disco/ui/settings")
    assert settings["DISCO_PORT"] == ui_cluster.port
    assert "DISCO_MASTER_ROOT" in settings
    assert not [name for name in settings if "SECRET" in name]
