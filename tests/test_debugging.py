"""Debugging a failed job: the user's own traceback in JobError and ``disco events``, and
``disco debug`` / ``Disco.debug`` replaying one task in this process."""
import importlib
import inspect
import io
import json
import os
import re
import sys
import time

import pytest

from disco.core import Disco, Job, result_iterator
from disco.error import DiscoError, JobError
from disco.worker.pipeline.worker import Stage, Worker as PipelineWorker
from disco_core.client.debug import LocalNode
from disco_core.errors import ProtocolError
from disco_core.tracebacks import is_framework_file, user_events, user_traceback
from disco_core.worker import Worker

MODULE = '''\
def bad_map(entry, params):
    if "boom" in entry:
        raise ValueError("cannot map %r" % entry)
    for word in entry.split():
        yield word, 1
'''
RAISE_LINE = 3  # the line of MODULE that raises


@pytest.fixture(autouse=True)
def replays_in_tmp_path(tmp_path, monkeypatch):
    """Replays without a folder of their own make one in the test's temporary folder (this
    process and the ``disco`` commands it runs)."""
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))


@pytest.fixture
def job_module(tmp_path, monkeypatch):
    """A module file of job functions, imported the way a user's own module is."""
    name = "debugjobs_%d" % time.monotonic_ns()
    path = tmp_path / ("%s.py" % name)
    path.write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name), str(path)


def fails_in_reduce(iter, params):
    for key, value in iter:
        if key == "boom":
            raise KeyError("no total for %s" % key)  # REDUCE RAISES
        yield key, value


def line_of(function, marker):
    lines, start = inspect.getsourcelines(function)
    return start + next(i for i, line in enumerate(lines) if marker in line)


def wait_dead(disco, name, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, _ = disco.results(name, timeout=1000)
        if status != "active":
            return status
    raise AssertionError("job %s still active" % name)


def task_named(disco, name, stage):
    """The key (stage:id) of the first task of ``stage`` the job's events mention."""
    for _, (_ts, _host, message) in disco.events(name):
        m = re.match(r"(%s:\d+) assigned to " % stage, message)
        if m:
            return m.group(1)
    raise AssertionError("no %s task in the events of %s" % (stage, name))


def two_inputs(http_server):
    good = http_server.add("good.txt", "a b\nc\n")
    bad = http_server.add("bad.txt", "fine line\nboom here\n")
    return good, bad


# -- tracebacks as text ---------------------------------------------------------------------

FRAMEWORK_TB = """WARNING: [map:0] Traceback (most recent call last):
  File "/srv/venv/lib/python3.11/site-packages/disco_core/worker/__init__.py", line 440, in main
    worker.start(task, job, jobargs, proto)
  File "/usr/lib/python3.11/cProfile.py", line 10, in runcall
    return func(*args, **kw)
  File "/srv/lib/python3.11/site-packages/disco_core/worker/classic.py", line 200, in map_records
    for k, v in fmap(entry, params):
  File "%(user)s", line 3, in bad_map
  File "/usr/lib/python3.11/json/decoder.py", line 355, in raw_decode
    raise JSONDecodeError("Expecting value", s, err.value) from None
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
(while reading input http://host/bad.txt)"""


def test_user_traceback_keeps_the_jobs_frames_and_fills_their_source(tmp_path):
    user = tmp_path / "job.py"
    user.write_text(MODULE)
    text = FRAMEWORK_TB % {"user": user}
    short = user_traceback(text)
    assert "disco_core" not in short and "cProfile" not in short
    assert 'File "%s", line 3, in bad_map\n' % user in short
    assert '    raise ValueError("cannot map %r" % entry)\n' in short  # from this machine
    assert "json/decoder.py" in short  # the library the job called stays
    assert short.startswith("WARNING: [map:0] Traceback (most recent call last):\n")
    assert short.endswith("(while reading input http://host/bad.txt)")
    full = user_traceback(text, verbose=True)
    assert "disco_core/worker/classic.py" in full and "cProfile.py" in full
    assert '    raise ValueError("cannot map %r" % entry)\n' in full


def test_a_traceback_of_framework_frames_only_shrinks_to_its_error():
    text = ("Task map:0 failed 4 times. Last error (on localhost): Traceback (most recent "
            "call last):\n"
            '  File "/x/disco_core/worker/__init__.py", line 1, in main\n    start()\n'
            '  File "/x/plugins/schemes/http/disco_plugin_http/scheme.py", line 9, in open\n'
            "    raise CommError(...)\n"
            "disco_core.errors.CommError: Unable to access resource (http://h/x): 404")
    assert user_traceback(text) == (
        "Task map:0 failed 4 times. Last error (on localhost): "
        "disco_core.errors.CommError: Unable to access resource (http://h/x): 404")
    assert user_traceback("no traceback here") == "no traceback here"


def test_framework_files_are_told_from_a_users_own_disco_folder():
    assert is_framework_file("/a/site-packages/disco/core.py")
    assert is_framework_file("/a/site-packages/disco_core/util.py")
    assert is_framework_file("/a/plugins/readers/csv/disco_plugin_csv/reader.py")
    assert is_framework_file("/data/disco/localhost/ab/job@x/disco_worker")
    assert not is_framework_file("/home/me/disco/job.py")
    assert not is_framework_file("/home/me/disco/core.py")


def test_event_lines_keep_their_format():
    line = json.dumps(["2026/01/01 00:00:00", "localhost", FRAMEWORK_TB % {"user": "/u.py"}])
    out = user_events(line + "\n" + "not json\n")
    first, second = out.splitlines()
    event = json.loads(first)
    assert event[:2] == ["2026/01/01 00:00:00", "localhost"]
    assert "disco_core" not in event[2] and "in bad_map" in event[2]
    assert second == "not json"


# -- JobError and disco events on a real cluster --------------------------------------------

def test_job_error_names_task_input_host_and_the_users_frame(disco_cluster, http_server,
                                                             job_module):
    module, _path = job_module
    good, bad = two_inputs(http_server)
    job = Job().run(input=[good, bad], map=module.bad_map)
    with pytest.raises(JobError) as info:
        job.wait(timeout=120)
    err = info.value
    assert (err.task, err.host, err.input, err.inputs) == ("map:1", "localhost", bad, [bad])
    text = str(err)
    assert "Task map:1 failed 4 times" in text and bad in text and "(on localhost)" in text
    assert ", line %d, in bad_map\n" % RAISE_LINE in text
    assert '    raise ValueError("cannot map %r" % entry)\n' in text
    assert "ValueError: cannot map 'boom here\\n'" in text
    assert "disco_core" not in text and "disco_worker" not in text
    assert "disco_core" not in err.traceback and ", in bad_map" in err.traceback
    assert "disco_core/worker/classic.py" in err.details  # everything, for -v
    assert err.details == "Status dead: " + job.jobinfo()["reason"]

    short = disco_cluster.cli("events", job.name).stdout
    warnings = [json.loads(line)[2] for line in short.splitlines()
                if '"WARNING: [map:1] ' in line]
    assert len(warnings) == 4
    for message in warnings:
        assert ", line %d, in bad_map\n" % RAISE_LINE in message
        assert "disco_core" not in message
        assert message.endswith("(while reading input %s)" % bad)
    assert any(json.loads(line)[2].startswith("ERROR: Task map:1 failed 4 times")
               for line in short.splitlines())
    verbose = disco_cluster.cli("-v", "events", job.name).stdout
    assert "disco_core/worker/classic.py" in verbose and ", in bad_map" in verbose


def test_wait_show_prints_the_users_frames(disco_cluster, http_server, job_module, capsys):
    good, bad = two_inputs(http_server)
    job = Job().run(input=[bad], map=job_module[0].bad_map)
    with pytest.raises(JobError):
        job.wait(show="nocolor", poll_interval=0.2, timeout=120)
    shown = capsys.readouterr().err
    assert "WARNING: [map:0] Traceback (most recent call last):" in shown
    assert ", line %d, in bad_map\n" % RAISE_LINE in shown
    assert "disco_core" not in shown


def test_source_lines_of_main_functions_come_from_the_client(disco_cluster, http_server,
                                                             tmp_path, monkeypatch):
    """A function of the user's ``__main__`` travels by value: its file is the client's
    alone, so the node cannot print its lines; the client fills them in."""
    script = tmp_path / "myscript.py"
    namespace = {"__name__": "__main__"}
    exec(compile(MODULE, str(script), "exec"), namespace)  # as if run as a script
    good, bad = two_inputs(http_server)
    job = Job().run(input=[bad], map=namespace["bad_map"])
    assert wait_dead(disco_cluster.disco, job.name) == "dead"
    reason = job.jobinfo()["reason"]
    assert 'myscript.py", line %d, in bad_map\nValueError' % RAISE_LINE in reason  # no source
    script.write_text(MODULE)  # the user's script, on the client only
    with pytest.raises(JobError) as info:
        job.wait(timeout=120)
    assert ('myscript.py", line %d, in bad_map\n    raise ValueError("cannot map %%r" %% entry)'
            % RAISE_LINE) in str(info.value)
    events = disco_cluster.cli("events", job.name).stdout
    assert '    raise ValueError(\\"cannot map %r\\" % entry)' in events
    monkeypatch.setenv("DISCO_DEBUG", "trace")
    with pytest.raises(JobError) as info:
        job.wait(timeout=120)
    assert "disco_core/worker" in str(info.value)


def test_reduce_from_the_tests_own_module(disco_cluster, http_server):
    url = http_server.add("words.txt", "x boom y\n")
    job = Job().run(input=[url], map=lambda line, params: [(w, 1) for w in line.split()],
                    reduce=fails_in_reduce)
    with pytest.raises(JobError) as info:
        job.wait(timeout=120)
    err = info.value
    assert err.task.startswith("reduce:") and err.inputs[0].startswith("dir://localhost/")
    assert err.input.startswith("disco://localhost/")  # the file of the index it was reading
    line = line_of(fails_in_reduce, "REDUCE RAISES")
    assert "test_debugging.py\", line %d, in fails_in_reduce\n" % line in str(err)
    assert 'raise KeyError("no total for %s" % key)' in str(err)
    assert "disco_core" not in str(err)
    for flags, framework in (((), False), (("-v",), True)):
        shown = disco_cluster.cli(*flags, "events", job.name).stdout
        warnings = [json.loads(w)[2] for w in shown.splitlines() if "WARNING: [reduce:" in w]
        assert warnings and all('", line %d, in fails_in_reduce\n' % line in w
                                for w in warnings)
        assert any("disco_core/worker" in w for w in warnings) == framework


# -- disco debug ----------------------------------------------------------------------------

def test_local_node_answers_the_workers_requests_from_the_task():
    node = LocalNode([[0, ["http://a/1", "http://b/1"]], [3, ["raw://x"]]])
    worker = Worker()
    worker.proto = node
    inputs = worker.get_inputs()
    assert [(i.id, i.label, i.urls) for i in inputs] == [
        (0, 0, ["http://a/1", "http://b/1"]), (1, 3, ["raw://x"])]
    assert worker.get_input(1).urls == ["raw://x"]
    assert [i.id for i in worker.get_inputs(exclude=[0])] == [1]
    assert worker.input_failed(0, [0]) == [(1, "http://b/1")]
    assert worker.input_failed(0, [1]) == []          # FAIL: no replica left
    assert worker.send("MSG", "hello") == "ok" and node.messages == ["hello"]
    worker.send("OUTPUT", [2, "out/file", 10])
    assert node.outputs == [(2, "out/file", 10)]
    with pytest.raises(ProtocolError):
        worker.send("NO_SUCH_MESSAGE", "")


def test_debug_replays_the_failed_map_with_the_same_exception(disco_cluster, http_server,
                                                              job_module, tmp_path):
    module, _path = job_module
    good, bad = two_inputs(http_server)
    job = Job().run(input=[good, bad], map=module.bad_map)
    assert wait_dead(disco_cluster.disco, job.name) == "dead"

    replay = Disco().debug(job.name, workdir=str(tmp_path / "replay"))
    assert replay.task == "map:1" and not replay.ok
    assert isinstance(replay.error, ValueError)
    assert str(replay.error) == "cannot map 'boom here\\n'"
    assert ", line %d, in bad_map\n" % RAISE_LINE in replay.traceback
    assert '    raise ValueError("cannot map %r" % entry)' in replay.traceback
    assert "disco_core" not in replay.traceback and "disco_core" in replay.details
    assert replay.traceback.endswith("(while reading input %s)" % bad)
    assert replay.workdir == str(tmp_path / "replay")

    proc = disco_cluster.cli("debug", "@", check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Replayed map:1 of job %s (it ran on localhost; input: %s)" % (job.name, bad) \
        in proc.stdout
    assert "The task raised:" in proc.stdout
    assert ", line %d, in bad_map\n" % RAISE_LINE in proc.stdout
    assert "ValueError: cannot map 'boom here\\n'" in proc.stdout
    assert "disco_core" not in proc.stdout.split("The task raised:")[1]
    folder = re.search(r"\) in (\S+)\n", proc.stdout).group(1)
    assert folder.startswith(str(tmp_path / "disco-debug-map-1-"))
    assert os.path.isfile(os.path.join(folder, "jobfile"))

    ok = Disco().debug(job.name, "map:0")
    assert ok.ok and ok.task == "map:0"
    assert sorted(ok.records()) == [("a", 1), ("b", 1), ("c", 1)]


def test_debug_reads_the_next_replica_when_one_fails(disco_cluster, http_server):
    missing = http_server.url("gone.txt")
    there = http_server.add("there.txt", "x y x\n")
    job = Job().run(input=[[missing, there]], map=lambda line, params: [(w, 1)
                                                                        for w in line.split()])
    results = sorted(result_iterator(job.wait(timeout=120)))
    replay = job.debug("map:0")
    assert replay.ok, replay.traceback
    assert sorted(replay.records()) == results == [("x", 1), ("x", 1), ("y", 1)]
    assert job.taskinfo("map:0")["inputs"] == [[0, [missing, there]]]


def map_with_task(line, params):
    yield Task.taskid, line  # noqa: F821  (a global the worker gives job functions)


def test_replays_in_one_process_each_see_their_own_task(disco_cluster):
    job = Job().run(input=["raw://zero", "raw://one"], map=map_with_task)
    assert sorted(result_iterator(job.wait(timeout=120))) == [(0, "zero"), (1, "one")]
    assert list(job.debug("map:1").records()) == [(1, "one")]
    assert list(job.debug("map:0").records()) == [(0, "zero")]
    assert "Task" not in globals()  # the module is left as it was


def test_debug_of_a_successful_reduce_gives_the_jobs_records(disco_cluster, http_server):
    from disco.worker.classic.func import sum_reduce
    a = http_server.add("a.txt", "the cat the\n")
    b = http_server.add("b.txt", "a cat sat\n")
    job = Job().run(input=[a, b], map=lambda line, params: [(w, 1) for w in line.split()],
                    reduce=sum_reduce)
    records = sorted(result_iterator(job.wait(timeout=120)))
    key = task_named(disco_cluster.disco, job.name, "reduce")
    replay = Disco().debug(job.name, key)
    assert replay.ok and replay.error is None
    assert sorted(replay.records()) == records == [("a", 1), ("cat", 2), ("sat", 1),
                                                  ("the", 2)]
    assert [label for label, _path, _size in replay.outputs] == [0]
    proc = disco_cluster.cli("debug", job.name, key)
    assert "The task finished: 1 output file(s)" in proc.stdout
    assert "'cat'\t2" in proc.stdout


def split_words(interface, state, label, inp):
    for line in inp:
        for word in line.split():
            interface.output(len(word) % 2).add(word, 1)


def count(interface, state, label, inp):
    totals = {}
    for word, n in inp:
        totals[word] = totals.get(word, 0) + n
    for word, n in sorted(totals.items()):
        interface.output(label).add(word, n)


def test_debug_of_a_pipeline_task(disco_cluster):
    job = Job(worker=PipelineWorker([("split", Stage("words", process=split_words)),
                                     ("group_label", Stage("total", process=count,
                                                           combine=True))]))
    job.run(input=["raw://a bb a", "raw://bb ccc"])
    results = job.wait(timeout=120)
    by_label = {}
    for key in {task_named(disco_cluster.disco, job.name, "total")}:
        replay = Disco().debug(job.name, key)
        assert replay.ok
        by_label[key] = sorted(replay.records())
    every = sorted(result_iterator(results))
    assert every == [("a", 2), ("bb", 2), ("ccc", 1)]
    [replayed] = by_label.values()
    assert replayed and set(replayed) <= set(every)
    words = Disco().debug(job.name, "words:1")
    assert sorted(words.records()) == [("bb", 1), ("ccc", 1)]


def picky_count(interface, state, label, inp):
    for word, n in inp:
        if word == "ccc":
            raise RuntimeError("no ccc please")  # PIPELINE RAISES
        interface.output(label).add(word, n)


def test_pdb_from_python_in_a_failing_pipeline_stage(disco_cluster):
    job = Job(worker=PipelineWorker([("split", Stage("words", process=split_words)),
                                     ("group_all", Stage("total", process=picky_count,
                                                         combine=True))]))
    job.run(input=["raw://a bb a", "raw://bb ccc"])
    assert wait_dead(disco_cluster.disco, job.name) == "dead"
    out = io.StringIO()
    replay = job.debug(pdb=True, stdin=io.StringIO("p label\nc\np word\nq\n"), stdout=out)
    text = out.getvalue()
    assert replay.task.startswith("total:") and isinstance(replay.error, RuntimeError)
    assert "Stopping in picky_count" in text
    before, _, after = text.partition("Post mortem")
    assert "(Pdb) 0\n" in before                      # p label, at the stage's start
    assert "(Pdb) 'ccc'\n" in after                   # p word, where it raised
    line = line_of(picky_count, "PIPELINE RAISES")
    assert 'test_debugging.py", line %d, in picky_count\n' % line in replay.traceback


def test_debug_under_pdb_stops_in_the_users_map(disco_cluster, http_server, job_module):
    module, _path = job_module
    good, bad = two_inputs(http_server)
    job = Job().run(input=[bad], map=module.bad_map)
    assert wait_dead(disco_cluster.disco, job.name) == "dead"
    proc = disco_cluster.cli("debug", job.name, "map:0", "--pdb", check=False,
                             input="p entry\nc\np entry\nq\n")
    out = proc.stdout
    assert proc.returncode == 1, proc.stderr
    assert "Stopping in bad_map" in out
    first, _, rest = out.partition("'fine line\\n'")
    assert rest, out  # `p entry` at the first record
    assert "ValueError: cannot map 'boom here\\n'" in rest
    assert "Post mortem" in rest
    assert "'boom here\\n'" in rest.split("Post mortem")[1]  # `p entry` where it raised


def test_a_killed_job_has_no_failed_task(disco_cluster):
    job = Job().run(input=["raw://x"], map=lambda line, params: time.sleep(60) or [])
    time.sleep(0.5)
    job.kill()
    with pytest.raises(JobError) as info:
        job.wait(timeout=60)
    assert info.value.task is None and "Job killed" in info.value.details


def test_debug_names_unknown_jobs_and_tasks(disco_cluster, http_server):
    url = http_server.add("fine.txt", "all good\n")
    job = Job().run(input=[url], map=lambda line, params: [(line, 1)])
    job.wait(timeout=120)
    with pytest.raises(DiscoError) as info:
        Disco().debug(job.name)
    assert "no task of job %s has failed" % job.name in str(info.value)
    assert "map:0" in str(info.value)
    with pytest.raises(DiscoError) as info:
        Disco().debug(job.name, "reduce:7")
    assert "has no task 'reduce:7'" in str(info.value)
    with pytest.raises(DiscoError) as info:
        Disco().taskinfo("nosuchjob@1", "map:0")
    assert "unknown job 'nosuchjob@1'" in str(info.value)
    proc = disco_cluster.cli("debug", job.name, "map:9", check=False)
    assert proc.returncode == 1 and "has no task 'map:9'" in proc.stderr
    info = Disco().taskinfo(job.name, "map:0")
    assert (info["task"], info["state"], info["hosts"]) == ("map:0", "done", ["localhost"])
    assert info["inputs"] == [[0, [url]]] and info["error"] is None


def test_debug_says_it_replays_python_jobs_only(disco_cluster, monkeypatch):
    contrib = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "contrib", "sh-worker")
    monkeypatch.setattr(sys, "path", [contrib] + sys.path)
    import shworker
    name = shworker.submit_upper(["raw://hello"], disco=disco_cluster.disco)
    disco_cluster.disco.wait(name, timeout=60)
    with pytest.raises(DiscoError) as info:
        Disco().debug(name, "map:0")
    assert "job %s runs the worker 'upper.sh', not the Python worker" % name in str(info.value)
