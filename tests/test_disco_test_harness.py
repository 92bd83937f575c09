"""The original's job-testing harness (``disco.test``), ``disco.eventmonitor``,
``disco.core.Stats`` and ``disco.dPickle``, used as a program written for the original would."""
import io
import json
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

import pytest

from disco.core import Disco, Job, Stats, result_iterator
from disco.settings import DiscoSettings
from disco.test import FailedReply, TestRunner, TestServer

# An upstream-style test module: test cases that run jobs against the cluster, inputs served
# by the harness's own HTTP server.
TEST_MODULE = '''
from disco.test import FailedReply, TestCase, TestJob, TestPipe
from disco.worker.pipeline.worker import Stage
from disco.worker.classic.func import sum_reduce


class WordJob(TestJob):
    partitions = 2

    @staticmethod
    def map(line, params):
        for word in line.split():
            yield word, 1

    reduce = staticmethod(sum_reduce)


class WordCountTestCase(TestCase):
    def serve(self, path):
        if path.startswith("nowhere"):
            raise FailedReply("nothing here")
        return "%s\\n" % path.replace("_", " ")

    def runTest(self):
        self.job = WordJob().run(input=self.test_server.urls(["a_b", "b", ["nowhere/x", "c_b"]]))
        self.assertResults(self.job, [("a", 1), ("b", 3), ("c", 1)].__iter__())

    def assertResults(self, job, answers):
        self.assertAllEqual(sorted(self.results(job)), answers)


def upper(interface, state, label, inp):
    out = interface.output(0)
    for line in inp:
        out.add(line.strip().upper(), len(line.strip()))


class PipeJob(TestPipe):
    pipeline = [("split", Stage("upper", process=upper))]


class PipeTestCase(TestCase):
    def runTest(self):
        self.job = PipeJob().run(input=["raw://one", "raw://three"])
        self.assertEqual(sorted(self.results(self.job)), [("ONE", 3), ("THREE", 5)])
        self.assertEqual(self.num_workers, sum(self.nodes.values()))
        self.assertGreater(self.num_workers, 0)


class CommErrorTestCase(TestCase):
    def runTest(self):
        self.assertCommErrorCode(404, lambda: self.disco.jobinfo("no-such-job@1:2:3"))


class WrongAnswerTestCase(TestCase):
    def runTest(self):
        self.job = WordJob().run(input=["raw://x y"])
        self.assertResults(self.job, [("x", 1), ("y", 1), ("z", 1)])
'''


@pytest.fixture
def harness_env(disco_cluster, monkeypatch):
    monkeypatch.setenv("DISCO_TEST_HOST", "127.0.0.1")
    monkeypatch.setenv("DISCO_TEST_PORT", "0")
    return disco_cluster


def test_upstream_style_test_module_runs_jobs(harness_env, tmp_path, monkeypatch):
    (tmp_path / "jobtests_upstream.py").write_text(TEST_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = {name for _s, _st, name in Disco().joblist()}
    out = io.StringIO()
    result = TestRunner(DiscoSettings(DISCO_DEBUG="log"), stream=out).run("jobtests_upstream")
    report = out.getvalue()
    assert result.testsRun == 4, report
    assert not result.errors, report
    # the wrong answer is reported as a failure naming the missing item
    assert [type(t).__name__ for t, _tb in result.failures] == ["WrongAnswerTestCase"], report
    assert "results end after 2 items; expected ('z', 1) next" in result.failures[0][1]
    assert "WordCountTestCase" in report  # verbose with DISCO_DEBUG=log
    # every job the tests ran was purged afterwards (DISCO_TEST_PURGE defaults to on)
    after = {name for _s, _st, name in Disco().joblist()}
    assert after == before


def test_purge_can_be_switched_off(harness_env, tmp_path, monkeypatch):
    (tmp_path / "jobtests_keep.py").write_text(TEST_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = {name for _s, _st, name in Disco().joblist()}
    settings = DiscoSettings(DISCO_TEST_PURGE="")
    result = TestRunner(settings, stream=io.StringIO()).run("jobtests_keep.PipeTestCase")
    assert result.wasSuccessful()
    new = {name for _s, _st, name in Disco().joblist()} - before
    assert [n.split("@")[0] for n in new] == ["PipeJob"]


def test_disco_test_command(harness_env, tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_words.py").write_text(TEST_MODULE)
    ok = harness_env.cli("test", "test_words.WordCountTestCase", "test_words.PipeTestCase",
                         cwd=str(tmp_path))
    assert "Ran 2 tests" in ok.stderr and "OK" in ok.stderr
    failed = harness_env.cli("test", "-d", str(tests), check=False)
    assert failed.returncode == 1
    assert "Ran 4 tests" in failed.stderr and "FAILED (failures=1)" in failed.stderr
    missing = harness_env.cli("test", "-d", str(tmp_path / "nope"), check=False)
    assert missing.returncode != 0 and "no test directory" in missing.stderr


def test_test_server_serves_generated_data_and_failed_replies():
    def serve(path):
        if path == "broken":
            raise FailedReply("no data for broken")
        return "data of %s" % path

    server = TestServer.create(("127.0.0.1", 0), serve)
    server.start()
    try:
        ((url,),), (a, b) = server.urls(["some path"]), server.urls([["x", "y"]])[0]
        assert (a, b) == (server.address + "/x", server.address + "/y")
        with urllib.request.urlopen(url.replace(" ", "%20")) as resp:
            assert resp.read() == b"data of some path"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.address + "/broken")
        assert err.value.code == 500 and err.value.read() == b"no data for broken"
    finally:
        server.stop()


def test_event_monitor_prints_status_and_events(disco_cluster):
    from disco.eventmonitor import EventMonitor
    job = Job().run(input=["raw://e"], map=lambda line, params: [(line, 1)])
    job.wait(timeout=120)
    out = io.StringIO()
    monitor = EventMonitor(job, format="json", stream=out)
    monitor.refresh()
    assert not monitor.isactive
    lines = out.getvalue().splitlines()
    # a map-only job ends with its node-local shuffle stage
    assert lines[0] == "Status: [map_shuffle] 0 pending, 0 waiting, 0 running, 1 done, 0 failed"
    events = [json.loads(line) for line in lines[1:]]
    assert any("READY" in message for _ts, _host, message in events)
    # a second refresh prints only what is new: nothing
    out.truncate(0)
    out.seek(0)
    monitor.refresh()
    assert out.getvalue() == ""


def test_stats_loads_profile_data(disco_cluster):
    import cProfile
    import marshal
    import pstats

    prof = cProfile.Profile()
    prof.runcall(sorted, range(100))
    prof.create_stats()
    stats = pstats.Stats(Stats(marshal.dumps(prof.stats)), stream=io.StringIO())
    assert any(func[2] == "<built-in method builtins.sorted>" for func in stats.stats)

    job = Job().run(input=["raw://p"], map=lambda line, params: [(line, 1)], profile=True)
    assert list(result_iterator(job.wait(timeout=120))) == [("p", 1)]
    out = io.StringIO()
    Disco().profile_stats(job.name, stream=out).print_stats(5)
    assert "function calls" in out.getvalue()


def test_dpickle_ships_functions_by_value(tmp_path):
    from disco import dPickle

    base = 10

    def add(x):
        return x + base
    data = dPickle.dumps([add, lambda y: y * 2])
    # a fresh interpreter that has never seen this test module runs them
    code = textwrap.dedent("""
        import sys
        from disco import dPickle
        add, double = dPickle.loads(sys.stdin.buffer.read())
        print(add(1), double(4))
    """)
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True,
                         check=True, cwd=str(tmp_path))
    assert out.stdout.split() == [b"11", b"8"]


def test_interrupted_test_is_skipped_and_the_run_goes_on():
    import os
    import signal
    import unittest

    from disco.test import TestCase

    class Interrupted(TestCase):
        def runTest(self):
            os.kill(os.getpid(), signal.SIGINT)
            self.fail("not reached")

    class After(TestCase):
        def runTest(self):
            pass

    before = signal.getsignal(signal.SIGINT)
    result = unittest.TextTestRunner(stream=io.StringIO()).run(
        unittest.TestSuite([Interrupted(), After()]))
    assert result.testsRun == 2 and len(result.skipped) == 1 and result.wasSuccessful()
    assert result.skipped[0][1] == "interrupted"
    assert signal.getsignal(signal.SIGINT) is before
