"""The contrib workers written in other languages, run on a real cluster.

* ``contrib/c-worker``: a word count in C (no Python in its tasks) as a two-stage pipeline
  job -- ``map`` (``split``) partitions word counts into labels, ``reduce`` (``group_label``
  or ``group_all``) sums them. The tests compile ``wordcount.c`` with gcc themselves (a
  missing gcc is a failure, not a skip) and check exact counts over ``raw://``, ``http://``,
  ``file://`` and plain-path inputs, the partitioning, INPUT_ERR/RETRY with a bad first
  replica, FAIL -> ERROR when no replica can be read, long-polled inputs of a concurrent
  reduce, and reading ``disco://`` data of another host over HTTP.
* ``contrib/sh-worker``: a map-only job in POSIX sh that upper-cases ``raw://`` inputs.
"""
import http.server
import os
import shutil
import sys
import threading
import time
from collections import Counter

import pytest

from disco.error import JobError
from disco_core.client import result_iterator
from disco_core.worker.dataio import expand, read_index

CONTRIB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "contrib")
for sub in ("c-worker", "sh-worker"):
    path = os.path.join(CONTRIB, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

import cworker  # noqa: E402
import shworker  # noqa: E402

TEXT_RAW = "the quick brown fox\njumps over the lazy dog\nthe end"
TEXT_HTTP = "a b a\n\n  the  dog\tbarks\r\nb a\n"
TEXT_FILE = "Fox fox FOX the\nüber straße über\n"
TEXT_PLAIN = "one two two three three three"


def fnv1a(word: str) -> int:
    h = 2166136261
    for byte in word.encode("utf-8"):
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def expected(*texts: str) -> dict:
    return dict(Counter(w for t in texts for w in t.split()))


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    """The worker compiled now, from source, for this test run."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is not installed: the C worker tests need it to compile "
                    "contrib/c-worker/wordcount.c (install gcc, e.g. apt-get install gcc)")
    return cworker.build(output=str(tmp_path_factory.mktemp("cworker") / "wordcount"),
                         force=True)


def run(cluster, name, timeout=90):
    return cluster.disco.wait(name, timeout=timeout)


def messages(cluster, name):
    return [event[2] for _, event in cluster.disco.events(name)]


def per_result(results):
    """{reduce output label: {word: count}} read from each result's index file."""
    out = {}
    for [url] in results:
        assert url.startswith("dir://")
        for label, data_url, size in read_index(url):
            counts = dict(result_iterator([data_url], reader=cworker.count_reader))
            assert label not in out
            out[label] = counts
    return out


def test_c_wordcount_over_raw_http_file_and_path_inputs(disco_cluster, binary, http_server,
                                                        tmp_path):
    (tmp_path / "file.txt").write_text(TEXT_FILE, encoding="utf-8")
    (tmp_path / "plain.txt").write_text(TEXT_PLAIN)
    inputs = ["raw://" + TEXT_RAW,
              http_server.add("words.txt", TEXT_HTTP),
              "file://%s" % (tmp_path / "file.txt"),
              str(tmp_path / "plain.txt")]
    name = cworker.submit_wordcount(inputs, partitions=2, disco=disco_cluster.disco,
                                    binary=binary)
    results = run(disco_cluster, name)
    want = expected(TEXT_RAW, TEXT_HTTP, TEXT_FILE, TEXT_PLAIN)
    assert cworker.read_counts(results) == want
    # every (word, count) appears once: the reduces partition the words
    pairs = list(result_iterator(results, reader=cworker.count_reader))
    assert sorted(pairs) == sorted(want.items())
    # two reduce tasks (group_label), labels 0 and 1 = FNV-1a(word) % 2, each output sorted
    parts = per_result(results)
    assert sorted(parts) == [0, 1]
    for label, counts in parts.items():
        assert counts and all(fnv1a(w) % 2 == label for w in counts)
    for [url] in results:
        for data_url in expand(url, "all"):
            words = [w for w, _ in result_iterator([data_url], reader=cworker.count_reader)]
            assert words == sorted(words, key=lambda w: w.encode("utf-8"))
    events = messages(disco_cluster, name)
    assert sum(e.startswith("MSG: [map:") for e in events) == 4
    assert ("MSG: [map:0] map: 1 input(s) in 1 INPUT reply, 11 words, 9 distinct, "
            "2 output(s)") in events
    reduces = [e for e in events if e.startswith("MSG: [reduce:")]
    assert len(reduces) == 2 and all("input(s)" in e for e in reduces)
    assert sum(int(e.split(", ")[1].split()[0]) for e in reduces) == sum(want.values())
    assert events[-1].startswith("READY: ")


def test_c_wordcount_single_partition_is_one_group_all_reduce(disco_cluster, binary):
    name = cworker.submit_wordcount(["raw://x y x", "raw://y z", "raw://x"], partitions=1,
                                    disco=disco_cluster.disco, binary=binary)
    results = run(disco_cluster, name)
    assert len(results) == 1
    assert list(result_iterator(results, reader=cworker.count_reader)) == \
        [("x", 3), ("y", 2), ("z", 1)]
    assert per_result(results) == {0: {"x": 3, "y": 2, "z": 1}}
    events = messages(disco_cluster, name)
    assert ("MSG: [reduce:3] reduce: 3 input(s) in 1 INPUT reply, 6 words, 3 distinct, "
            "1 output(s)") in events


def test_c_wordcount_bad_first_replica_uses_input_err_and_retry(disco_cluster, binary,
                                                               http_server):
    missing = http_server.url("no-such-file.txt")  # 404
    refused = "http://127.0.0.1:1/nothing"  # connection refused
    inputs = [[missing, refused, "raw://good data good"],
              ["file:///no/such/file", http_server.add("ok.txt", "fine data")]]
    name = cworker.submit_wordcount(inputs, partitions=2, disco=disco_cluster.disco,
                                    binary=binary)
    results = run(disco_cluster, name)
    assert cworker.read_counts(results) == {"good": 2, "data": 2, "fine": 1}
    events = messages(disco_cluster, name)
    assert not any(e.startswith("WARNING: [map:") for e in events)  # no task failed


def test_c_wordcount_fails_with_error_when_no_replica_can_be_read(disco_cluster, binary,
                                                                 http_server):
    missing = http_server.url("gone.txt")
    name = cworker.submit_wordcount([[missing, "file:///no/such/input"]], partitions=2,
                                    disco=disco_cluster.disco, binary=binary)
    with pytest.raises(JobError) as info:
        run(disco_cluster, name)
    text = str(info.value)
    assert "wordcount: input 0: no replica could be read" in text
    assert "%s: HTTP status 404" % missing in text
    assert "cannot open /no/such/input: No such file or directory" in text
    events = messages(disco_cluster, name)
    assert any(e.startswith("WARNING: [map:0] wordcount: input 0: no replica") for e in events)
    assert disco_cluster.disco.jobinfo(name)["active"] == "dead"


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """GET /<seconds>/<words>: the words, after a delay."""

    def do_GET(self):
        delay, words = self.path.strip("/").split("/", 1)
        time.sleep(float(delay))
        body = words.replace("_", " ").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def concurrent_job(cluster, binary, slow_server):
    # quick maps finish first and could start the concurrent reduce; the slow maps'
    # outputs would then reach it through INPUT replies with flag "more" (long poll)
    inputs = ["raw://w0 common", "raw://w1 common"] + \
        ["%s/%d/w%d_common" % (slow_server, delay, i) for i, delay in ((2, 2), (3, 4))]
    name = cworker.submit_wordcount(inputs, partitions=1, disco=cluster.disco,
                                    binary=binary, concurrent=True)
    results = run(cluster, name)
    [done] = [e for e in messages(cluster, name) if e.startswith("MSG: [reduce:4]")]
    return results, done


def test_c_wordcount_with_a_concurrent_reduce_stage(disco_cluster, binary, slow_server):
    results, done = concurrent_job(disco_cluster, binary, slow_server)
    assert cworker.read_counts(results) == {"common": 4, **{"w%d" % i: 1 for i in range(4)}}
    assert done.startswith("MSG: [reduce:4] reduce: 4 input(s) in ")
    assert done.endswith(", 8 words, 5 distinct, 1 output(s)")


def test_c_wordcount_concurrent_reduce_long_polls_on_a_real_cluster(disco_cluster, binary,
                                                                     slow_server):
    results, done = concurrent_job(disco_cluster, binary, slow_server)
    polls = int(done.split(" in ")[1].split()[0])
    assert polls >= 2, done  # the input list grew while the reduce ran


def test_c_wordcount_reads_disco_urls_of_another_host_over_http(disco_cluster, binary):
    first = run(disco_cluster, cworker.submit_wordcount(
        ["raw://red green red"], partitions=1, disco=disco_cluster.disco, binary=binary))
    [data_url] = expand(first[0][0], "all")
    assert data_url.startswith("disco://localhost/disco/")
    # the same file named through another host name: not the task's host -> HTTP GET
    remote = data_url.replace("disco://localhost/", "disco://127.0.0.1/", 1)
    name = cworker.submit_wordcount([remote], partitions=1, disco=disco_cluster.disco,
                                    binary=binary)
    # the map reads the lines "green\t1" and "red\t2" as text
    assert cworker.read_counts(run(disco_cluster, name)) == \
        {"green": 1, "red": 1, "1": 1, "2": 1}


def test_c_worker_source_builds_without_warnings(tmp_path):
    if shutil.which("gcc") is None:
        pytest.fail("gcc is not installed: cannot compile contrib/c-worker/wordcount.c")
    import subprocess
    proc = subprocess.run(["gcc", *cworker.CFLAGS, "-o", str(tmp_path / "wc"), cworker.SOURCE],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_sh_worker_upper_cases_raw_inputs(disco_cluster):
    name = shworker.submit_upper(["raw://hello world", "raw://line one\nline two",
                                  ["raw://Mixed Case 42", "raw://Mixed Case 42"]],
                                 disco=disco_cluster.disco)
    results = run(disco_cluster, name)
    assert len(results) == 3
    lines = sorted(result_iterator(results, reader=None))
    assert lines == ["HELLO WORLD\n", "LINE ONE\n", "LINE TWO\n", "MIXED CASE 42\n"]
    events = messages(disco_cluster, name)
    assert sorted(e for e in events if e.startswith("MSG: ")) == [
        "MSG: [map:0] upper-cased 12 bytes", "MSG: [map:1] upper-cased 18 bytes",
        "MSG: [map:2] upper-cased 14 bytes"]


def test_sh_worker_refuses_other_schemes_with_error(disco_cluster, tmp_path):
    (tmp_path / "f").write_text("x")
    name = shworker.submit_upper(["file://%s" % (tmp_path / "f")], disco=disco_cluster.disco)
    with pytest.raises(JobError) as info:
        run(disco_cluster, name)
    assert "sh worker: only raw:// inputs are supported" in str(info.value)


# -- the C worker against a scripted node (replies the master in use never sends) -----------

class FakeNode:
    """Runs the worker with pipes and answers its requests from a script of replies."""

    def __init__(self, binary, cwd, env=None):
        import subprocess
        self.proc = subprocess.Popen([binary], cwd=cwd, stdin=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=dict(os.environ, **(env or {})))
        self.requests = []

    def recv(self):
        import json
        head = b""
        while head.count(b" ") < 2:
            c = self.proc.stderr.read(1)
            assert c, "worker ended; requests so far: %r" % self.requests
            head += c
        name, length, _ = head.split(b" ")
        body = self.proc.stderr.read(int(length))
        assert self.proc.stderr.read(1) == b"\n"
        self.requests.append([name.decode(), json.loads(body)])
        return self.requests[-1]

    def reply(self, name, payload):
        import json
        body = json.dumps(payload).encode()
        self.proc.stdin.write(b"%s %d %s\n" % (name.encode(), len(body), body))
        self.proc.stdin.flush()

    def finish(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=10) == 0
        assert self.proc.stdout.read() == b""  # nothing ever goes to stdout


def test_c_worker_long_polls_more_inputs_and_waits_on_wait(binary, tmp_path):
    data = tmp_path / "data"
    (data / "localhost" / "ab").mkdir(parents=True)
    (data / "localhost" / "ab" / "part-0").write_text("x\t5\ny\t1\n")
    (data / "localhost" / "ab" / "part-1").write_text("z\t7")  # no final newline
    (data / "localhost" / "ab" / "index").write_text(
        "0 disco://localhost/disco/localhost/ab/part-0 8\n"
        "1 disco://localhost/disco/localhost/ab/part-1 3\n")
    home = tmp_path / "home"
    home.mkdir()
    node = FakeNode(binary, str(home))
    assert node.recv()[0] == "WORKER"
    assert node.requests[0][1] == {"version": "1.1", "pid": node.proc.pid}
    node.reply("OK", "ok")
    assert node.recv() == ["TASK", ""]
    node.reply("TASK", {"taskid": 7, "master": "http://localhost:1", "disco_port": 1,
                        "put_port": 2, "ddfs_data": str(tmp_path / "ddfs"),
                        "disco_data": str(data), "stage": "reduce",
                        "grouping": "group_all", "group": [0, ""], "jobfile": "/x",
                        "jobname": "J@1:2:3", "host": "localhost"})
    assert node.recv() == ["INPUT", ""]
    node.reply("INPUT", ["more", [[0, "ok", 0, [[0, "file:///no/such/replica"],
                                                [1, "raw://x\t1\nw\t2"]]],
                                  [1, "busy", 0, [[0, "raw://not yet"]]]]])
    assert node.recv() == ["INPUT_ERR", [0, [0]]]
    node.reply("WAIT", 1)
    assert node.recv() == ["INPUT", ["include", [0]]]
    node.reply("INPUT", ["more", [[0, "ok", 0, [[1, "raw://x\t1\nw\t2"],
                                                [0, "file:///no/such/replica"]]]]])
    # input 1 was busy: polled again without it being counted as seen
    assert node.recv() == ["INPUT", ["exclude", [0]]]
    node.reply("INPUT", ["more", [[1, "ok", "all", [[0, "dir://localhost/disco/localhost/ab/index"]]]]])
    assert node.recv() == ["INPUT", ["exclude", [0, 1]]]
    node.reply("INPUT", ["done", []])
    name, [label, path, size] = node.recv()
    assert (name, label) == ("OUTPUT", 0) and not os.path.isabs(path)
    assert (home / path).read_text() == "w\t2\nx\t6\ny\t1\nz\t7\n"
    assert size == len("w\t2\nx\t6\ny\t1\nz\t7\n")
    node.reply("OK", "ok")
    assert node.recv() == ["MSG", "reduce: 2 input(s) in 3 INPUT replies, 16 words, "
                                  "4 distinct, 1 output(s)"]
    node.reply("OK", "ok")
    assert node.recv() == ["DONE", ""]
    node.finish()
