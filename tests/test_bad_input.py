"""Bad input gives a clear error, and the cluster goes on serving without losing data.

Each kind of bad input -- a malformed job pack, an input scheme no plugin handles, an input
URL that 404s or whose host refuses connections, input that is not text, a map or reduce
that raises, a worker that dies -- must give the user an error that names the job, the
task and the input. Afterwards the same master and node processes run a good job, and the
results of a job run before any bad one are still readable.
"""
import http.client
import io
import json
import os
import signal
import struct
import time
import zipfile

import pytest

from disco.core import Job, result_iterator
from disco.error import DiscoError, JobError
from disco_core.jobpack import JobPack
from disco_core.tracebacks import user_traceback
from disco_core.access import HEADER


def words(line, params):
    for word in line.split():
        yield word, 1


def count(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def divide_by_zero(line, params):
    yield line, 1 / 0


def exit_3(line, params):
    import os
    os._exit(3)


def kill_9(line, params):
    import os
    import signal
    os.kill(os.getpid(), signal.SIGKILL)


def reduce_raises(iter, params):
    raise KeyError("no total for %r" % next(iter)[0])


# -- the cluster keeps serving ------------------------------------------------------------

def server_pids(cluster):
    """The master's pid and the pids of its node processes."""
    with open(os.path.join(cluster.home, "root", "run", "disco_%d.pid" % cluster.port)) as f:
        master = int(f.read())
    nodes = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        # a node is the master's child (a node's own fork shows its argv until it execs)
        if b"disco_core.node" in argv and cluster.master.encode() in argv and ppid == master:
            nodes.append(int(pid))
    return master, sorted(nodes)


@pytest.fixture(scope="module")
def first_job(disco_cluster, tmp_path_factory):
    """A good job run before any bad input, and the processes serving the cluster."""
    from disco_core.testing import HTTPServer
    server = HTTPServer(str(tmp_path_factory.mktemp("first")))
    url = server.add("first.txt", "to be or not to be\n")
    job = Job().run(input=[url], map=words, reduce=count)
    results = job.wait(timeout=120)
    server.close()  # the results live on the cluster, not on the input server
    expected = [("be", 2), ("not", 1), ("or", 1), ("to", 2)]
    assert list(result_iterator(results)) == expected
    pids = server_pids(disco_cluster)
    assert pids[1], "no node process found"
    return job.name, results, expected, pids


def assert_still_serving(cluster, first_job, http_server):
    """Same master and node processes; old results readable; a new job runs."""
    name, results, expected, pids = first_job
    assert server_pids(cluster) == pids
    assert cluster.disco.results(name) == ("ready", results)
    assert list(result_iterator(results)) == expected
    url = http_server.add("after.txt", "still serving still\n")
    job = Job().run(input=[url], map=words, reduce=count)
    assert list(result_iterator(job.wait(timeout=120))) == [("serving", 1), ("still", 2)]


def messages(cluster, name):
    return [event[2] for _, event in cluster.disco.events(name)]


def job_error(job):
    with pytest.raises(JobError) as info:
        job.wait(timeout=60)
    text = str(info.value)
    assert info.value.job == job.name
    assert "Job %s failed" % job.name in text
    return text


def assert_failed_after_retries(cluster, job, text, task="map:0"):
    """The task failed on each of its 4 runs (3 failures allowed), then the job died."""
    assert "Task %s failed 4 times. At most 3 failures are allowed." % task in text
    events = messages(cluster, job.name)
    assert sum(e == "%s assigned to localhost" % task for e in events) == 4
    assert sum(e.startswith("WARNING: [%s]" % task) for e in events) >= 4
    assert any(e.startswith("ERROR: Task %s failed 4 times" % task) for e in events)
    info = cluster.disco.jobinfo(job.name)
    # the master's reason, its tracebacks reduced to the job's own frames
    assert info["active"] == "dead" and user_traceback(info["reason"]) in text
    return events


# -- malformed job packs ------------------------------------------------------------------

def zipped(**files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def jobdict(**changes):
    d = {"prefix": "Malformed", "worker": "worker", "owner": "tests@localhost",
         "scheduler": {}, "pipeline": [["map", "split", False]], "inputs": [[0, 0, ["raw://x"]]]}
    for key, value in changes.items():
        if value is None:
            del d[key]
        else:
            d[key] = value
    return d


def pack(version=2, jobenvs=None, jobhome=None, **changes):
    home = zipped(worker="#!/bin/sh\nexit 1\n") if jobhome is None else jobhome
    return JobPack(version, jobdict(**changes), jobenvs or {}, home, b"").dumps()


def raw_pack(jobdict_bytes, jobenvs=b"{}", version=2, offsets=None):
    home = zipped(worker="#!/bin/sh\n")
    o2 = 128 + len(jobdict_bytes)
    o3 = o2 + len(jobenvs)
    o4 = o3 + len(home)
    o1, o2, o3, o4 = offsets or (128, o2, o3, o4)
    header = struct.pack("!IIIII", (0xD5C0 << 16) + version, o1, o2, o3, o4)
    return header.ljust(128, b"\0") + jobdict_bytes + jobenvs + home


GOOD = pack()

MALFORMED = {
    "garbage": (b"this is not a job pack at all, just some text someone posted " * 4,
                "invalid header: bad magic"),
    "too_short": (b"\xd5\xc0\x00\x02 short", "invalid header: the job pack is 10 bytes"),
    "empty": (b"", "invalid header: the job pack is 0 bytes"),
    "bad_magic": (b"\xca\xfe" + GOOD[2:], "invalid header: bad magic 0xcafe"),
    "bad_version": (GOOD[:2] + b"\x00\x07" + GOOD[4:], "unsupported version '7'"),
    "jobdict_offset_not_128": (raw_pack(b"{}", offsets=(64, 130, 132, 140)),
                               "invalid header: section offsets [64, 130, 132, 140]"),
    "offsets_past_the_end": (raw_pack(b"{}", offsets=(128, 130, 132, 1 << 30)),
                             "shorter than its jobdata offset 1073741824"),
    "offsets_backwards": (raw_pack(b"{}", offsets=(128, 200, 150, 160)),
                          "invalid header: section offsets [128, 200, 150, 160]: the jobhome "
                          "offset 150 is before the jobenvs offset 200"),
    "jobdict_not_json": (raw_pack(b"{'prefix': 'x'"), "invalid jobdict: not JSON"),
    "jobdict_not_utf8": (raw_pack(b'{"prefix": "\xff"}'), "invalid jobdict: not JSON"),
    "jobdict_not_object": (raw_pack(b'["prefix"]'), "invalid jobdict: expected a JSON object"),
    "jobenvs_not_json": (raw_pack(json.dumps(jobdict()).encode(), jobenvs=b"PATH=/bin"),
                         "invalid jobenvs: not JSON"),
    "jobenvs_not_strings": (pack(jobenvs={"N": 1}), "invalid jobenvs"),
    "missing_prefix": (pack(prefix=None), "jobpack missing key 'prefix'"),
    "missing_worker": (pack(worker=None), "jobpack missing key 'worker'"),
    "missing_owner": (pack(owner=None), "jobpack missing key 'owner'"),
    "missing_scheduler": (pack(scheduler=None), "jobpack missing key 'scheduler'"),
    "missing_pipeline": (pack(pipeline=None), "jobpack missing key 'pipeline'"),
    "missing_inputs": (pack(inputs=None), "jobpack missing key 'inputs'"),
    "v1_missing_input": (pack(version=1, pipeline=None, inputs=None, nr_reduces=1),
                         "jobpack missing key 'input'"),
    "prefix_with_slash": (pack(prefix="../../etc"), "invalid prefix '../../etc'"),
    "prefix_with_dot": (pack(prefix="word.count"), "invalid prefix 'word.count'"),
    "prefix_empty": (pack(prefix=""), "invalid prefix ''"),
    "prefix_with_space": (pack(prefix="word count"),
                          "invalid prefix 'word count': ' ' not allowed"),
    "prefix_with_url_chars": (pack(prefix="a#b&c%d"), "'#', '%', '&' not allowed"),
    "prefix_with_nul": (pack(prefix="a\0b"), "invalid prefix 'a\\x00b'"),
    "prefix_not_ascii": (pack(prefix="zählung"), "'ä' not allowed"),
    "prefix_too_long": (pack(prefix="x" * 300), "300 characters long, at most 200"),
    "bad_grouping": (pack(pipeline=[["map", "by_magic", False]]), "invalid grouping 'by_magic'"),
    "repeated_stage": (pack(pipeline=[["map", "split", False], ["map", "group_all", False]]),
                       "repeated_pipeline_stages"),
    "stage_not_a_list": (pack(pipeline=["map"]), "invalid pipeline stage 'map'"),
    "inputs_not_lists": (pack(inputs=["raw://x"]), "invalid_job_inputs"),
    "input_without_urls": (pack(inputs=[[0, 0, []]]), "at least one URL per input"),
    "max_cores_zero": (pack(scheduler={"max_cores": 0}), "invalid scheduler max_cores 0"),
    "force_local_not_bool": (pack(scheduler={"force_local": "yes"}),
                             "invalid scheduler force_local 'yes': give true or false"),
    "save_results_not_bool": (pack(save_results="yes"), "invalid_job_save_results"),
    "save_info_unknown": (pack(save_info="s3"), "invalid_job_save_info"),
    "jobhome_not_zip": (pack(jobhome=b"PK but not really a zip"), "invalid jobhome: not a ZIP"),
    "worker_not_in_jobhome": (pack(worker="bin/worker"),
                              "the worker 'bin/worker' is not in the job home (it holds worker)"),
    "worker_outside_jobhome": (pack(worker="../../bin/sh"), "invalid worker '../../bin/sh'"),
}


def post(cluster, body):
    conn = http.client.HTTPConnection("localhost", cluster.port, timeout=60)
    try:
        conn.request("POST", "/disco/job/new", body=body, headers={HEADER: cluster.token})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_job_pack_is_refused_with_the_reason(disco_cluster, first_job, http_server,
                                                      case):
    body, problem = MALFORMED[case]
    jobs_before = disco_cluster.disco.joblist()
    status, ctype, reply = post(disco_cluster, body)
    assert status == 200, reply  # the original answers errors in the body
    assert ctype.startswith("application/json")
    kind, message = json.loads(reply)
    assert kind == "error"
    assert message.startswith("Job failed to start: "), message
    assert problem in message
    # the Python client shows the same message
    with pytest.raises(DiscoError) as info:
        disco_cluster.disco.submit(body)
    assert problem in str(info.value)
    assert disco_cluster.disco.joblist() == jobs_before  # no half-made job
    assert_still_serving(disco_cluster, first_job, http_server)


def test_a_good_hand_made_pack_is_accepted(disco_cluster):
    # the malformed packs above differ from this one only where they say
    status, _, reply = post(disco_cluster, GOOD)
    assert status == 200
    kind, name = json.loads(reply)
    assert kind == "ok" and name.startswith("Malformed@")
    disco_cluster.disco.kill(name)


# -- bad requests to the REST API -----------------------------------------------------------

def request(cluster, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("localhost", cluster.port, timeout=60)
    try:
        conn.request(method, path, body=body,
                     headers={HEADER: cluster.token, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


BAD_REQUESTS = {
    "events_num_not_int": ("GET", "/disco/ctrl/jobevents?name={job}&num=ten", None, {},
                           "num must be an integer, not 'ten'"),
    "rawevents_offset_not_int": ("GET", "/disco/ctrl/rawevents?name={job}&offset=x", None, {},
                                 "offset must be an integer, not 'x'"),
    "rawevents_offset_negative": ("GET", "/disco/ctrl/rawevents?name={job}&offset=-5", None,
                                  {}, "offset must be at least 0, not -5"),
    "rawevents_bad_range": ("GET", "/disco/ctrl/rawevents?name={job}", None,
                            {"Range": "bytes=abc-"}, "unsupported Range 'bytes=abc-'"),
    "results_timeout_not_number": ("POST", "/disco/ctrl/get_results", '["soon", ["{job}"]]', {},
                                   "expected [timeout_ms, [jobname, ...]]"),
    "results_name_not_string": ("POST", "/disco/ctrl/get_results", '[10, [["{job}"]]]', {},
                                "expected [timeout_ms, [jobname, ...]]"),
    "body_not_json": ("POST", "/disco/ctrl/kill_job", "{job}", {}, "the request body is not JSON"),
    "purge_path": ("POST", "/disco/ctrl/purge_job", '"../.."', {}, "invalid job name '../..'"),
    "purge_empty": ("POST", "/disco/ctrl/purge_job", '""', {}, "invalid job name ''"),
    "clean_dot": ("POST", "/disco/ctrl/clean_job", '"."', {}, "invalid job name '.'"),
    "kill_unknown": ("POST", "/disco/ctrl/kill_job", '"NoSuchJob@1:2:3"', {},
                     "unknown job 'NoSuchJob@1:2:3'"),
    "jobinfo_unknown": ("GET", "/disco/ctrl/jobinfo?name=NoSuchJob@1:2:3", None, {},
                        "unknown job 'NoSuchJob@1:2:3'"),
    "parameters_path": ("GET", "/disco/ctrl/parameters?name=../{job}", None, {},
                        "no job pack for job '../{job}'"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_api_request_gets_a_4xx_with_the_reason(disco_cluster, first_job, http_server, case):
    method, path, body, headers, problem = BAD_REQUESTS[case]
    name = first_job[0]
    status, reply = request(disco_cluster, method, path.format(job=name),
                            body.replace("{job}", name) if body else None, headers)
    assert 400 <= status < 500, reply
    assert problem.format(job=name) in json.loads(reply)
    assert_still_serving(disco_cluster, first_job, http_server)


def test_purge_with_a_path_for_a_job_name_deletes_nothing(disco_cluster, first_job,
                                                          http_server):
    """A "job name" like ``./././../..`` whose fan-out directory exists used to make purge
    delete all of DISCO_DATA: every job's pack, events and results."""
    from disco_core.jobpack import hexhash
    hh = hexhash(first_job[0])
    name = next(n for n in ("./" * i + "../.." for i in range(100000)) if hexhash(n) == hh)
    with pytest.raises(Exception) as info:
        disco_cluster.disco.purge(name)
    assert "invalid job name" in str(info.value)
    data = os.path.join(disco_cluster.home, "root", "data")
    assert os.path.isdir(os.path.join(data, "localhost", hh, first_job[0]))
    assert_still_serving(disco_cluster, first_job, http_server)


# -- inputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("inputs", [["foo://x"], [["raw://fine", "foo://x"]]])
def test_unknown_input_scheme_names_the_plugin_to_install(disco_cluster, first_job,
                                                          http_server, inputs):
    jobs_before = disco_cluster.disco.joblist()
    with pytest.raises(DiscoError) as info:
        Job().run(input=inputs, map=words)
    text = str(info.value)
    assert "Job failed to start" in text
    assert "no plugin handles 'foo://'" in text
    assert "pip install disco-plugin-foo" in text
    assert "known: " in text and "http" in text.split("known: ")[1]
    assert "foo://x" in text
    assert disco_cluster.disco.joblist() == jobs_before
    assert_still_serving(disco_cluster, first_job, http_server)


def test_input_url_that_404s_fails_the_job_naming_task_and_url(disco_cluster, first_job,
                                                               http_server):
    url = http_server.url("no-such-file.txt")
    job = Job().run(input=[url], map=words)
    text = job_error(job)
    assert "map:0" in text and url in text
    assert "404" in text
    events = assert_failed_after_retries(disco_cluster, job, text)
    assert all(url in e for e in events if e.startswith("WARNING: [map:0]"))
    warnings = disco_cluster.disco.jobevents(job.name, num=100, filter="WARNING")
    assert len(warnings) == 4 and all(url in message for _, _, message in warnings)
    assert_still_serving(disco_cluster, first_job, http_server)


def test_input_host_refusing_connections_fails_the_job(disco_cluster, first_job, http_server):
    url = "http://127.0.0.1:1/data.txt"
    job = Job().run(input=[url], map=words)
    text = job_error(job)
    assert "map:0" in text and url in text
    assert "Connection refused" in text
    assert_failed_after_retries(disco_cluster, job, text)
    assert_still_serving(disco_cluster, first_job, http_server)


def test_input_that_is_not_text_names_the_input(disco_cluster, first_job, http_server):
    url = http_server.add("binary.txt", b"a fine line\n\xff\xfe\x00 not utf-8\n")
    job = Job().run(input=[url], map=words)
    text = job_error(job)
    assert "UnicodeDecodeError" in text
    assert "map:0" in text and "(while reading input %s)" % url in text
    assert_failed_after_retries(disco_cluster, job, text)
    assert_still_serving(disco_cluster, first_job, http_server)


# -- job code -------------------------------------------------------------------------------

def test_map_that_raises_gives_its_traceback_task_and_input(disco_cluster, first_job,
                                                            http_server):
    url = http_server.add("numbers.txt", "1\n2\n")
    job = Job().run(input=[url], map=divide_by_zero)
    text = job_error(job)
    assert "Traceback (most recent call last)" in text
    assert "in divide_by_zero" in text
    assert "ZeroDivisionError: division by zero" in text
    assert "map:0" in text and url in text
    events = assert_failed_after_retries(disco_cluster, job, text)
    assert any("ZeroDivisionError" in e for e in events if e.startswith("WARNING: [map:0]"))
    assert_still_serving(disco_cluster, first_job, http_server)


def test_reduce_that_raises_names_the_reduce_task(disco_cluster, first_job, http_server):
    url = http_server.add("some.txt", "x y\n")
    job = Job().run(input=[url], map=words, reduce=reduce_raises)
    text = job_error(job)
    assert "KeyError" in text and "no total for" in text and "in reduce_raises" in text
    [task] = {word for word in text.split() if word.startswith("reduce:")}
    assert "Task %s failed 4 times" % task in text
    assert "Input: dir://localhost/" in text  # the map outputs the reduce was reading
    assert_failed_after_retries(disco_cluster, job, text, task=task)
    # the map stage had finished: its results are still there
    assert disco_cluster.disco.stageresults(job.name, "map")
    assert_still_serving(disco_cluster, first_job, http_server)


@pytest.mark.parametrize("map_function,code", [(exit_3, 3), (kill_9, -signal.SIGKILL)])
def test_worker_that_dies_fails_the_task_then_the_job(disco_cluster, first_job, http_server,
                                                     map_function, code):
    url = http_server.add("input.txt", "some words\n")
    job = Job().run(input=[url], map=map_function)
    text = job_error(job)
    assert "Worker died without output (exit code: %d)" % code in text
    assert "map:0" in text and url in text
    events = assert_failed_after_retries(disco_cluster, job, text)
    assert events.count("WARNING: [map:0] Worker crashed! (exit code: %d)" % code) == 4
    assert_still_serving(disco_cluster, first_job, http_server)


def test_bad_jobs_running_alongside_good_ones(disco_cluster, first_job, http_server):
    good_url = http_server.add("good.txt", "alpha beta alpha\n")
    missing = http_server.url("missing.txt")
    started = time.time()
    bad = [Job().run(input=[missing], map=words),
           Job().run(input=[good_url], map=divide_by_zero),
           Job().run(input=[good_url], map=exit_3)]
    good = [Job().run(input=[good_url] * 3, map=words, reduce=count) for _ in range(3)]
    for job in good:
        assert list(result_iterator(job.wait(timeout=60))) == [("alpha", 6), ("beta", 3)]
    for job, problem in zip(bad, [missing, "ZeroDivisionError", "Worker died"]):
        text = job_error(job)
        assert problem in text and "map:0" in text
    assert time.time() - started < 60
    assert_still_serving(disco_cluster, first_job, http_server)
