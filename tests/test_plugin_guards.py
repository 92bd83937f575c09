"""Plugin code never breaks core: a hook or a scheduler policy that raises is recorded
under its plugin's name and the state change that called it completes; async hooks are
awaited; node routes are served by every node, the one beside the master included."""
import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from disco.core import Job, result_iterator
from disco_core.hookspecs import hookimpl
from disco_core.plugins import PluginHost
from disco_core.testing import SchedulerSim, install_plugin, running_cluster, wait_for


install_fake = install_plugin


# -- guarded calls, in process -------------------------------------------------------------

class Exploding:
    @hookimpl
    def disco_job_event(self, jobname, host, message, timestamp):
        raise ValueError("no events for me")

    @hookimpl
    def disco_job_finished(self, jobname, status, results):
        raise RuntimeError("cannot finish %s" % jobname)


class Recording:
    def __init__(self):
        self.seen = []

    @hookimpl
    def disco_job_event(self, jobname, host, message, timestamp):
        self.seen.append(message)

    @hookimpl
    async def disco_job_finished(self, jobname, status, results):
        await asyncio.sleep(0)
        self.seen.append("finished %s %s" % (jobname, status))


def test_a_raising_hook_is_recorded_and_the_others_still_run():
    good = Recording()
    for order in ((Exploding(), good), (good, Exploding())):
        good.seen.clear()
        host = PluginHost(order, entry_points=False)
        told = []
        assert host.call("disco_job_event", on_error=lambda *a: told.append(a[:2]),
                         jobname="J", host="h", message="hello", timestamp="t") == []
        assert good.seen == ["hello"]
        (plugin, texts), = host.failures.items()
        assert "Exploding" in plugin
        assert texts == ["disco_job_event raised ValueError: no events for me"]
        assert told == [(plugin, "disco_job_event")]
        row, = [info for info in host.inventory() if info.failures]
        assert row.name == plugin and row.failures == texts


def test_the_same_failure_is_kept_once_and_counted():
    host = PluginHost([Exploding()], entry_points=False)
    for _ in range(3):
        host.call("disco_job_event", jobname="J", host="h", message="m", timestamp="t")
    (plugin, texts), = host.failures.items()
    assert len(texts) == 1 and host.failure_counts[plugin] == 3
    row, = [info for info in host.inventory() if info.failures]
    assert row.failures[-1] == "... 3 failure(s) in all"


def test_async_hooks_are_awaited_and_their_errors_recorded():
    good = Recording()
    host = PluginHost([Exploding(), good], entry_points=False)

    async def main():
        await host.acall("disco_job_finished", jobname="J", status="ready", results=[])
    asyncio.run(main())
    assert good.seen == ["finished J ready"]
    assert list(host.failures.values()) == [["disco_job_finished raised RuntimeError: "
                                             "cannot finish J"]]


def test_an_async_hook_called_from_sync_code_runs_and_reports_its_error():
    class AsyncExploding:
        @hookimpl
        async def disco_job_finished(self, jobname, status, results):
            raise KeyError(jobname)
    good = Recording()
    host = PluginHost([AsyncExploding(), good], entry_points=False)

    async def main():
        host.call("disco_job_finished", jobname="K", status="dead", results=[])
        for _ in range(5):
            await asyncio.sleep(0)
    asyncio.run(main())
    assert good.seen == ["finished K dead"]
    assert list(host.failures.values()) == [["disco_job_finished raised KeyError: 'K'"]]


def test_routes_tornado_refuses_are_left_out():
    import tornado.web

    class Fine(tornado.web.RequestHandler):
        def get(self):
            self.finish("fine")

    class BadRoutes:
        @hookimpl
        def disco_master_routes(self, master):
            return [(r"/broken(", Fine)]

    class GoodRoutes:
        @hookimpl
        def disco_master_routes(self, master):
            return [(r"/fine", Fine)]
    host = PluginHost([BadRoutes(), GoodRoutes()], entry_points=False)
    rules = host.routes("disco_master_routes", master=None)
    assert rules == [(r"/fine", Fine)]
    (texts,) = host.failures.values()
    assert texts[0].startswith("disco_master_routes raised ")


def test_a_broken_register_hook_leaves_the_other_drivers():
    class NotADict:
        @hookimpl
        def disco_register_schemes(self):
            return ["mem"]
    host = PluginHost([NotADict()], entry_points=True)
    assert "raw" in host.names("scheme")
    (texts,) = host.failures.values()
    assert texts == ["disco_register_schemes raised TypeError: returned list, not a dict "
                     "of {name: driver}"]


# -- a scheduler policy that raises --------------------------------------------------------

class ExplodingOrder:
    def order(self, jobs, host):
        raise ZeroDivisionError("policy bug")


class ExplodingPick:
    def pick(self, queue, host, cluster, ok):
        raise LookupError("placement bug")


@pytest.mark.parametrize("policy,placement,role", [(ExplodingOrder(), "locality", "policy"),
                                                   ("fair", ExplodingPick(), "placement")])
def test_a_raising_policy_falls_back_to_the_default_order(policy, placement, role):
    sim = SchedulerSim({"n1": 2}, policy=policy, placement=placement)
    told = []
    sim.sched.on_error = lambda r, exc, jobs: told.append((r, type(exc).__name__, len(jobs)))
    jobs = {"first@0:0:1": sim.job(["raw://a", "raw://b"], name="first@0:0:1"),
            "second@0:0:2": sim.job(["raw://c"], name="second@0:0:2")}
    round1 = sim.schedule()
    if role == "policy":  # the default order: the jobs as they were submitted
        assert [(j, h) for j, _t, h in round1] == [("first@0:0:1", "n1")] * 2
    assert len(round1) == 2
    for name, taskid, _host in round1:
        sim.finish(jobs[name], taskid)
    round2 = sim.schedule()
    assert sorted((j, t) for j, t, _h in round1 + round2) == [
        ("first@0:0:1", 0), ("first@0:0:1", 1), ("second@0:0:2", 0)]
    assert told and {t[0] for t in told} == {role}


# -- named drivers honour the disable list -------------------------------------------------

def test_a_disabled_distribution_never_provides_a_driver(tmp_path):
    install_fake(tmp_path, "fake-old-echo", "fake_old_echo",
                 "class scheme:\n    name = 'old'\n",
                 "[disco.schemes]\necho = fake_old_echo:scheme\n")
    install_fake(tmp_path, "fake-new-echo", "fake_new_echo",
                 "class scheme:\n    name = 'new'\n",
                 "[disco.schemes]\necho = fake_new_echo:scheme\n")
    code = textwrap.dedent("""
        from disco_core.plugins import PluginHost
        for disabled in (["fake-old-echo"], ["fake-new-echo"]):
            print(PluginHost(disabled=disabled).driver("scheme", "echo").name)
        """)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop("DISCO_DISABLE_PLUGINS", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["new", "old"]


# -- on a real cluster ---------------------------------------------------------------------

BAD_HOOKS = """
    from disco_core.hookspecs import hookimpl

    @hookimpl
    def disco_job_event(jobname, host, message, timestamp):
        raise ValueError("the event hook is broken")

    @hookimpl
    async def disco_job_finished(jobname, status, results):
        raise RuntimeError("the finished hook is broken")

    @hookimpl
    def disco_master_started(master):
        raise OSError("cannot start my side of things")

    @hookimpl
    def disco_master_routes(master):
        return [("/fake-bad(", None)]

    @hookimpl
    def disco_node_routes(node):
        return 42

    @hookimpl
    def disco_node_started(node):
        raise OSError("cannot serve my port")

    @hookimpl
    async def disco_save_results(jobname, results, save_info):
        if save_info.startswith("ddfs,broken"):
            raise IOError("the store is full")


    class ExplodingPolicy:
        def __init__(self, settings, cores):
            pass

        def order(self, jobs, host):
            raise ZeroDivisionError("the policy is broken")
    """

GOOD_HOOKS = """
    import asyncio
    import os

    import tornado.web

    from disco_core.hookspecs import hookimpl


    class Hello(tornado.web.RequestHandler):
        def initialize(self, node):
            self.node = node

        def get(self):
            self.finish("hello from node %s" % self.node.host)


    @hookimpl
    def disco_node_routes(node):
        return [(r"/fake-good/hello", Hello, {"node": node})]

    @hookimpl
    def disco_results_storage(save_info):
        return "fake-store" if save_info.startswith("ddfs,") else None

    @hookimpl
    def disco_node_started(node):
        with open(os.path.join(os.environ["FAKE_GOOD_OUT"], "node-" + node.host), "w") as f:
            f.write("started")

    @hookimpl
    async def disco_save_results(jobname, results, save_info):
        if not save_info.startswith("ddfs,fake"):
            return None
        await asyncio.sleep(0.01)
        return ["fake-store://%s" % jobname]

    @hookimpl
    async def disco_job_finished(jobname, status, results):
        await asyncio.sleep(0.01)
        with open(os.path.join(os.environ["FAKE_GOOD_OUT"], jobname), "w") as f:
            f.write(status)
    """


@contextlib.contextmanager
def cluster_with(tmp_path_factory, bad):
    root = tmp_path_factory.mktemp("plugins")
    out = tmp_path_factory.mktemp("out")
    env = {"PYTHONPATH": str(root), "FAKE_GOOD_OUT": str(out), "DISCO_RAISE_PLUGIN_ERRORS": "",
           "DISCO_SCHEDULER": "fair"}
    if bad:
        install_fake(root, "fake-bad-hooks", "fake_bad_hooks", BAD_HOOKS,
                     "[disco]\nfakebad = fake_bad_hooks\n\n"
                     "[disco.schedulers]\nexplode = fake_bad_hooks:ExplodingPolicy\n")
        env["DISCO_SCHEDULER"] = "explode"
    install_fake(root, "fake-good-hooks", "fake_good_hooks", GOOD_HOOKS,
                 "[disco]\nfakegood = fake_good_hooks\n")
    with running_cluster(extra_env=env) as cluster:
        cluster.out = out
        yield cluster


@pytest.fixture(scope="module")
def plugged_cluster(tmp_path_factory):
    """A one-machine cluster with a plugin whose every hook and policy is broken, and a
    good plugin beside it."""
    with cluster_with(tmp_path_factory, bad=True) as cluster:
        yield cluster


def words(line, params):
    for word in line.split():
        yield word, 1


def test_jobs_finish_when_hooks_and_the_policy_raise(plugged_cluster):
    job = Job().run(input=["raw://a b", "raw://b c"], map=words)
    pairs = sorted(result_iterator(job.wait(timeout=120)))
    assert pairs == [("a", 1), ("b", 1), ("b", 1), ("c", 1)]
    events = wait_for(lambda: (lambda text: "disco_job_finished" in text and text)(
        plugged_cluster.cli("events", job.name).stdout), timeout=20)
    assert ("WARNING: plugin fake-bad-hooks failed in disco_job_event: ValueError: the event "
            "hook is broken" in events)
    assert events.count("failed in disco_job_event") == 1  # said once, not once per event
    assert ("WARNING: plugin fake-bad-hooks failed in scheduler policy explode (order): "
            "ZeroDivisionError: the policy is broken" in events)
    assert ("WARNING: plugin fake-bad-hooks failed in disco_job_finished: RuntimeError: the "
            "finished hook is broken" in events)
    # the good plugin's async hook was awaited, after the bad one raised
    path = os.path.join(str(plugged_cluster.out), job.name)
    wait_for(lambda: os.path.exists(path), timeout=20)
    with open(path) as f:
        assert f.read() == "ready"


def test_disco_plugins_says_which_plugin_failed_in_the_master(plugged_cluster):
    Job().run(input=["raw://x"], map=words).wait(timeout=120)
    out = plugged_cluster.cli("plugins").stdout
    failures = out[out.index("plugins that failed in the master"):]
    for text in ("disco_job_event raised ValueError: the event hook is broken",
                 "disco_master_started raised OSError: cannot start my side of things",
                 "disco_master_routes raised ",
                 "scheduler policy explode (order) raised ZeroDivisionError"):
        assert "fake-bad-hooks: " + text in failures, failures
    assert "fake-good-hooks" not in failures
    # the master's log names the plugin (only the master calls disco_job_event)
    assert "plugin fake-bad-hooks failed: disco_job_event raised" in plugged_cluster.log()


def test_node_routes_tornado_refuses_are_reported_by_the_node(plugged_cluster):
    wait_for(lambda: "plugin fake-bad-hooks failed: disco_node_routes raised" in
             plugged_cluster.log("node-"), timeout=20)
    with plugged_cluster.urlopen("/fake-good/hello", timeout=10) as r:
        assert r.read() == b"hello from node localhost"  # the good plugin's routes are there


def test_results_a_plugin_failed_to_save_fail_the_job(plugged_cluster):
    from disco.error import JobError
    job = Job(master=plugged_cluster.master).run(input=["raw://a"], map=words, save_results=True,
                                           save_info="ddfs,broken")
    with pytest.raises(JobError) as err:
        job.wait(timeout=120)
    assert "results could not be saved" in str(err.value)
    assert ("plugin fake-bad-hooks failed in disco_save_results: OSError: the store is full"
            in str(err.value))


def test_results_no_plugin_records_stay_as_the_nodes_left_them(plugged_cluster):
    # the job's storage (fake-store) answers, but records nothing on the master
    job = Job(master=plugged_cluster.master).run(input=["raw://a"], map=words,
                                                 save_results=True, save_info="ddfs,x")
    results = job.wait(timeout=120)
    assert results and all(r[0].startswith("dir://") for r in results)
    assert list(result_iterator(results)) == [("a", 1)]
    events = plugged_cluster.cli("events", job.name).stdout
    assert "Results saved" not in events and "save_results is ignored" not in events


@pytest.fixture(scope="module")
def good_cluster(tmp_path_factory):
    with cluster_with(tmp_path_factory, bad=False) as cluster:
        yield cluster


def test_node_routes_are_served_by_the_node_beside_the_master(good_cluster):
    with good_cluster.urlopen("/fake-good/hello", timeout=10) as resp:
        assert resp.read() == b"hello from node localhost"
    # the master's own routes still win, and a path nobody serves is a 404
    with good_cluster.urlopen("/disco/version", timeout=10) as r:
        assert r.status == 200
    with pytest.raises(urllib.error.HTTPError) as err:
        good_cluster.urlopen("/fake-good/nothing", timeout=10)
    assert err.value.code == 404


def test_a_storage_plugin_answers_for_saved_results(good_cluster):
    job = Job().run(input=["raw://s"], map=words, save_results=True)
    assert list(result_iterator(job.wait(timeout=120))) == [("s", 1)]
    events = good_cluster.cli("events", job.name).stdout
    assert "Created job" in events and "save_results is ignored" not in events


def test_a_node_tells_plugins_it_started(good_cluster):
    path = os.path.join(str(good_cluster.out), "node-localhost")
    wait_for(lambda: os.path.exists(path), timeout=20)


def test_a_storage_plugin_saves_results_before_the_job_is_ready(good_cluster):
    job = Job().run(input=["raw://a", "raw://b"], map=words, save_results=True,
                    save_info="ddfs,fake")
    assert job.wait(timeout=120) == ["fake-store://%s" % job.name]
    assert good_cluster.disco.results(job.name) == ("ready", ["fake-store://%s" % job.name])
    events = good_cluster.cli("events", job.name).stdout
    assert "Results saved: fake-store://%s" % job.name in events

