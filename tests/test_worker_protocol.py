"""Workers in other languages, and misbehaving workers, speaking the worker protocol directly.

Each job here is a version-2 job pack built by hand (``JobPack``): a one-stage pipeline
``[["map", "split", false]]``, ``raw://`` inputs, and a job home holding one executable
script named by ``jobdict["worker"]`` -- a POSIX shell worker, or a Python worker that does
not import disco and whose behaviour the job's ``jobenvs`` choose (``BEHAVIOUR``). The node
must answer a correct worker as ``reference/protocol.md`` says, turn every violation into a
job event and an error that names the job, the task and what went wrong (retrying the task
for errors, killing the job for fatal violations), and keep serving: after each bad job a
good job runs, and the first job's results are still readable.
"""
import io
import json
import os
import sys
import textwrap
import time
import zipfile

import pytest

from disco.core import result_iterator
from disco.error import JobError
from disco_core.jobpack import JobPack
from disco_core.testing import running_cluster, wait_for

SH_WORKER = textwrap.dedent(r'''
    #!/bin/sh
    # A Disco worker in POSIX sh: writes its raw:// inputs upper-cased to one output file.
    send() { printf '%s %d %s\n' "$1" "${#2}" "$2" >&2; }
    recv() { read -r rname rlen rbody || exit 9; }
    send WORKER "{\"version\": \"1.1\", \"pid\": $$}"
    recv; [ "$rname" = OK ] || exit 10
    send TASK '""'
    recv; [ "$rname" = TASK ] || exit 11
    taskid=$(printf '%s' "$rbody" | sed 's/.*"taskid":\([0-9]*\).*/\1/')
    send INPUT '""'
    recv; [ "$rname" = INPUT ] || exit 12
    out="sh-out-$taskid"
    : > "$out"
    for url in $(printf '%s' "$rbody" | grep -o 'raw://[^"]*'); do
        printf '%s\n' "${url#raw://}" | tr a-z A-Z >> "$out"
    done
    size=$(( $(wc -c < "$out") ))
    send MSG "\"sh worker $taskid wrote $size bytes\""
    recv
    send OUTPUT "[0, \"$out\", $size]"
    recv; [ "$rname" = OK ] || exit 13
    send DONE '""'
    recv
''').lstrip()

PY_WORKER = textwrap.dedent(r'''
    #!%s
    """A Disco worker in Python that does not use disco: BEHAVIOUR says how it (mis)behaves."""
    import json, os, subprocess, sys, time

    B = os.environ["BEHAVIOUR"]
    buf = b""

    def send_raw(data):
        os.write(2, data)

    def frame(name, payload=""):
        body = json.dumps(payload).encode()
        return b"%%s %%d %%s\n" %% (name.encode(), len(body), body)

    def send(name, payload=""):
        send_raw(frame(name, payload))

    def recv():
        global buf
        while b"\n" not in buf:
            chunk = os.read(0, 65536)
            if not chunk:
                os._exit(7)
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        name, length, body = line.split(b" ", 2)
        assert int(length) == len(body), line
        return [name.decode(), json.loads(body)]

    def request(name, payload=""):
        send(name, payload)
        return recv()

    def finish(record):
        path = "out-%%d" %% task["taskid"]
        with open(path, "w") as f:
            f.write(json.dumps(record) + "\n")
        request("OUTPUT", [0, path, os.path.getsize(path)])
        send("DONE")
        recv()  # DONE gets no reply: the node kills the worker

    if B == "silent":
        time.sleep(60)
    if B == "pipelined":  # several requests in one write; replies come back in order
        send_raw(b"".join(frame(*m) for m in [
            ("WORKER", {"version": "1.1", "pid": os.getpid()}), ("TASK", ""), ("INPUT", ""),
            ("PING", ""), ("MSG", "pipelined")]))
        replies = [recv() for _ in range(5)]
        task = replies[1][1]
        finish([r[0] for r in replies])
    if B == "task_first":
        request("TASK")
    hello = {"version": "1.0" if B == "old_version" else "1.1", "pid": os.getpid()}
    if B == "no_version":
        del hello["version"]
    request("WORKER", hello)
    task = request("TASK")[1]
    flag, inputs = request("INPUT")[1]
    url = inputs[0][3][0][1]

    if B == "garbage":
        send_raw(b"Segmentation fault (core dumped) in libfoo.so\n")
        sys.exit(1)
    elif B == "bad_json":
        send_raw(b"MSG 9 {'oops':}\n")
        recv()
    elif B == "unknown_type":
        request("HELLO", "there")
    elif B == "bad_shape":
        request("OUTPUT", "out-0")
    elif B == "flood":
        for i in range(20):
            request("MSG", "flood %%d" %% i)
        finish("the node let 20 messages through")
    elif B == "chatty":
        for i in range(3):
            request("MSG", "note %%d about %%s" %% (i, url))
        finish("chatted")
    elif B == "ping":
        finish({"ping": request("PING", "are you there?")})
    elif B == "input_err":
        finish({"retry": request("INPUT_ERR", [0, [0]]),
                "again": request("INPUT", ["include", [0]]),
                "fail": request("INPUT_ERR", [0, [0, 1]]),
                "unknown": request("INPUT_ERR", [5, [0]]),
                "none": request("INPUT", ["exclude", [0]])})
    elif B == "abs_output":
        request("OUTPUT", [0, "/etc/hostname", 5])
    elif B == "outside_output":
        request("OUTPUT", [0, "../../../../elsewhere", 5])
    elif B == "missing_output":
        request("OUTPUT", [0, "no-such-file", 5])
    elif B == "error":
        send("ERROR", "cannot parse %%s: unexpected end of data" %% url)
        recv()
    elif B == "surrogate_error":
        send("ERROR", "undecodable \udcff byte in %%s" %% url)
        recv()
    elif B == "surrogate_msg":
        request("MSG", "undecodable \udcff byte")
        finish("said it")
    elif B == "fatal":
        send("FATAL", "this job cannot work anywhere: %%s" %% url)
        recv()
    elif B == "exit_early":
        sys.exit(0)
    elif B == "stuck_frame":
        send_raw(b'MSG 100 "only half of a mess')
        time.sleep(60)
    elif B == "hang":
        child = subprocess.Popen(["sleep", "300"])
        with open(os.environ["PIDFILE"], "w") as f:
            f.write("%%d %%d" %% (os.getpid(), child.pid))
        time.sleep(300)
    else:
        finish({"task": task, "flag": flag, "inputs": inputs})
''').lstrip() % sys.executable


def jobpack(script, envs=None, inputs=(("raw://x",),), prefix="ProtoWorker", max_cores=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("worker")
        info.external_attr = 0o755 << 16
        z.writestr(info, script)
    scheduler = {"max_cores": max_cores} if max_cores else {}
    jobdict = {"prefix": prefix, "worker": "worker", "owner": "tests@localhost",
               "scheduler": scheduler, "pipeline": [["map", "split", False]],
               "inputs": [[0, 0, list(urls)] for urls in inputs]}
    return JobPack(2, jobdict, dict(envs or {}), buf.getvalue(), b"").dumps()


def submit(cluster, script, **kw):
    return cluster.disco.submit(jobpack(script, **kw))


def py_job(cluster, behaviour, envs=None, **kw):
    return submit(cluster, PY_WORKER, envs=dict(envs or {}, BEHAVIOUR=behaviour), **kw)


def lines(results):
    return [line for line in result_iterator(results, reader=None)]


def messages(cluster, name):
    return [event[2] for _, event in cluster.disco.events(name)]


def job_error(cluster, name):
    with pytest.raises(JobError) as info:
        cluster.disco.wait(name, timeout=60)
    text = str(info.value)
    assert name in text  # every error names the job
    return text


@pytest.fixture(scope="module")
def first_job(disco_cluster):
    """A good job run before any bad one: its results must stay readable."""
    name = submit(disco_cluster, SH_WORKER, inputs=[["raw://first"], ["raw://job"]])
    results = disco_cluster.disco.wait(name, timeout=60)
    assert sorted(lines(results)) == ["FIRST\n", "JOB\n"]
    return name, results


def assert_still_serving(cluster, first_job):
    """Earlier results are intact and a new good job runs to completion."""
    name, results = first_job
    assert cluster.disco.results(name) == ("ready", results)
    assert sorted(lines(results)) == ["FIRST\n", "JOB\n"]
    good = py_job(cluster, "good", inputs=[["raw://after"]])
    [record] = [json.loads(line) for line in lines(cluster.disco.wait(good, timeout=60))]
    assert record["inputs"] == [[0, "ok", 0, [[0, "raw://after"]]]]


# -- correct workers ------------------------------------------------------------------------

def test_shell_worker_runs_tasks_and_its_outputs_are_results(disco_cluster, first_job):
    name = submit(disco_cluster, SH_WORKER, inputs=[["raw://hello"], ["raw://world"], ["raw://x"]])
    results = disco_cluster.disco.wait(name, timeout=60)
    assert len(results) == 3 and all(r[0].startswith("dir://") for r in results)
    assert sorted(lines(results)) == ["HELLO\n", "WORLD\n", "X\n"]
    events = messages(disco_cluster, name)
    wrote = sorted(e for e in events if e.startswith("MSG: "))
    assert wrote == ["MSG: [map:%d] sh worker %d wrote %d bytes" % (i, i, n)
                     for i, n in enumerate((6, 6, 2))]
    assert sum(e.startswith("DONE: [map:") for e in events) == 3
    assert events[-1].startswith("READY: ")


def test_python_worker_without_disco_sees_the_task_and_inputs(disco_cluster, first_job):
    name = py_job(disco_cluster, "good", inputs=[["raw://a", "raw://b"]])
    [record] = [json.loads(line) for line in lines(disco_cluster.disco.wait(name, timeout=60))]
    task = record["task"]
    assert set(task) == {"taskid", "master", "disco_port", "put_port", "ddfs_data",
                         "disco_data", "stage", "grouping", "group", "jobfile", "jobname",
                         "host"}
    assert (task["taskid"], task["stage"], task["grouping"], task["jobname"]) == \
        (0, "map", "split", name)
    assert task["master"] == disco_cluster.master
    assert os.path.isfile(task["jobfile"])
    assert record["flag"] == "done"
    assert record["inputs"] == [[0, "ok", 0, [[0, "raw://a"], [1, "raw://b"]]]]


def test_ping_is_answered_with_pong(disco_cluster, first_job):
    name = py_job(disco_cluster, "ping")
    [record] = [json.loads(line) for line in lines(disco_cluster.disco.wait(name, timeout=60))]
    assert record == {"ping": ["OK", "pong"]}


def test_pipelined_requests_get_replies_in_order(disco_cluster, first_job):
    name = py_job(disco_cluster, "pipelined")
    [record] = [json.loads(line) for line in lines(disco_cluster.disco.wait(name, timeout=60))]
    assert record == ["OK", "TASK", "INPUT", "OK", "OK"]
    assert "MSG: [map:0] pipelined" in messages(disco_cluster, name)


def test_msg_with_unencodable_text_is_kept_escaped(disco_cluster, first_job):
    # JSON can carry a lone surrogate ("\udcff") that UTF-8 cannot: the event keeps it escaped
    name = py_job(disco_cluster, "surrogate_msg")
    disco_cluster.disco.wait(name, timeout=60)
    assert "MSG: [map:0] undecodable \\udcff byte" in messages(disco_cluster, name)


def test_msg_becomes_a_job_event(disco_cluster, first_job):
    name = py_job(disco_cluster, "chatty", inputs=[["raw://chat"]])
    disco_cluster.disco.wait(name, timeout=60)
    events = messages(disco_cluster, name)
    for i in range(3):
        assert "MSG: [map:0] note %d about raw://chat" % i in events


def test_input_err_gets_retry_with_remaining_replicas_then_fail(disco_cluster, first_job):
    name = py_job(disco_cluster, "input_err", inputs=[["raw://first", "raw://second"]])
    [record] = [json.loads(line) for line in lines(disco_cluster.disco.wait(name, timeout=60))]
    assert record["retry"] == ["RETRY", [[1, "raw://second"]]]
    # the failed replica now comes last
    assert record["again"] == ["INPUT", ["done", [[0, "ok", 0, [[1, "raw://second"],
                                                                [0, "raw://first"]]]]]]
    assert record["fail"] == ["FAIL", ""]
    assert record["unknown"] == ["FAIL", ""]
    assert record["none"] == ["INPUT", ["done", []]]


# -- errors: the task is retried, then the job fails ------------------------------------------

def assert_retried_then_failed(cluster, name, text):
    """The task map:0 failed on every one of its 4 runs (3 failures allowed)."""
    events = messages(cluster, name)
    assert sum(e == "map:0 assigned to localhost" for e in events) == 4
    assert sum(e.startswith("WARNING: [map:0]") for e in events) >= 4
    assert "Task map:0 failed 4 times. At most 3 failures are allowed." in text
    assert any(e.startswith("ERROR: Task map:0 failed 4 times") for e in events)
    info = cluster.disco.jobinfo(name)
    assert info["active"] == "dead"
    assert info["pipeline"] == [["map", 0, 0, 0, 0, 4]]  # nothing left running, 4 failed
    assert info["hosts"] == []
    return events


def test_garbage_on_stderr_is_a_framing_error_with_last_words(disco_cluster, first_job):
    name = py_job(disco_cluster, "garbage", inputs=[["raw://seg"]])
    text = job_error(disco_cluster, name)
    assert "Worker died. Last words:" in text
    assert "Segmentation fault (core dumped) in libfoo.so" in text
    assert "raw://seg" in text
    events = assert_retried_then_failed(disco_cluster, name, text)
    assert "WARNING: [map:0] Could not parse worker event" in events
    assert_still_serving(disco_cluster, first_job)


def test_error_message_is_retried_then_fails_the_job(disco_cluster, first_job):
    name = py_job(disco_cluster, "error", inputs=[["raw://broken"]])
    text = job_error(disco_cluster, name)
    assert "cannot parse raw://broken: unexpected end of data" in text
    events = assert_retried_then_failed(disco_cluster, name, text)
    assert "WARNING: [map:0] cannot parse raw://broken: unexpected end of data" in events
    assert_still_serving(disco_cluster, first_job)


def test_error_with_unencodable_text_still_fails_the_job(disco_cluster, first_job):
    # this used to leave the job active forever: the event log could not write the message
    name = py_job(disco_cluster, "surrogate_error", inputs=[["raw://odd"]])
    text = job_error(disco_cluster, name)
    assert "undecodable \\udcff byte in raw://odd" in text
    assert_retried_then_failed(disco_cluster, name, text)
    assert_still_serving(disco_cluster, first_job)


@pytest.mark.parametrize("script", ["#!/no/such/interpreter\n", "print('not sh')\n",
                                    b"\x7fELF\x02\x01\x01 not really a program"])
def test_worker_that_is_not_a_program_fails_with_what_the_system_said(disco_cluster, first_job,
                                                                     script):
    name = submit(disco_cluster, script, inputs=[["raw://prog"]])
    text = job_error(disco_cluster, name)
    assert "Worker died. Last words:\n" in text
    assert "%s/worker" % name in text  # the shell or nice names the file it could not run
    assert "Task map:0" in text and "raw://prog" in text
    assert_retried_then_failed(disco_cluster, name, text)
    assert_still_serving(disco_cluster, first_job)


def test_worker_exiting_without_done_fails_the_task(disco_cluster, first_job):
    name = py_job(disco_cluster, "exit_early", inputs=[["raw://quit"]])
    text = job_error(disco_cluster, name)
    assert "Worker died without output" in text
    assert "raw://quit" in text
    assert_retried_then_failed(disco_cluster, name, text)
    assert_still_serving(disco_cluster, first_job)


@pytest.mark.parametrize("behaviour,problem", [
    ("abs_output", "'/etc/hostname' is an absolute path"),
    ("outside_output", "is outside the job home"),
    ("missing_output", "'no-such-file' does not exist on localhost"),
])
def test_invalid_output_fails_the_task(disco_cluster, first_job, behaviour, problem):
    name = py_job(disco_cluster, behaviour, inputs=[["raw://out"]])
    text = job_error(disco_cluster, name)
    assert "invalid_output" in text and problem in text
    assert "raw://out" in text
    assert_retried_then_failed(disco_cluster, name, text)
    assert_still_serving(disco_cluster, first_job)


# -- fatal: the job is killed at once ---------------------------------------------------------

def assert_killed_at_once(cluster, name, text):
    events = messages(cluster, name)
    assert sum(e == "map:0 assigned to localhost" for e in events) == 1, events
    assert any(e.startswith("FATAL: [map:0]") for e in events), events
    assert "Task map:0 failed on localhost" in text
    info = cluster.disco.jobinfo(name)
    assert info["active"] == "dead"
    assert info["pipeline"] == [["map", 0, 0, 0, 0, 1]]
    return events


@pytest.mark.parametrize("behaviour,problem", [
    ("bad_json", "Payload is not valid JSON"),
    ("old_version", "Invalid worker version: '1.0'"),
    ("no_version", "No worker version received"),
    ("unknown_type", "Unknown message type 'HELLO'"),
    ("bad_shape", "Invalid message body (type 'OUTPUT')"),
    ("task_first", "the worker sent TASK before WORKER"),
    ("fatal", "this job cannot work anywhere: raw://doomed"),
])
def test_protocol_violation_kills_the_job(disco_cluster, first_job, behaviour, problem):
    name = py_job(disco_cluster, behaviour, inputs=[["raw://doomed"]])
    text = job_error(disco_cluster, name)
    assert problem in text
    assert "raw://doomed" in text
    events = assert_killed_at_once(disco_cluster, name, text)
    assert any(problem in e for e in events if e.startswith("FATAL: [map:0]"))
    assert_still_serving(disco_cluster, first_job)


def test_msg_flood_kills_the_job(disco_cluster, first_job):
    started = time.time()
    name = py_job(disco_cluster, "flood", inputs=[["raw://noisy"]])
    text = job_error(disco_cluster, name)
    assert "Worker is behaving badly: Sent 10 events in a second" in text
    events = assert_killed_at_once(disco_cluster, name, text)
    floods = [e for e in events if e.startswith("MSG: [map:0] flood ")]
    assert 5 < len(floods) <= 10  # throttled after 5, stopped at 10
    assert time.time() - started < 10
    assert_still_serving(disco_cluster, first_job)


# -- a stuck worker does not stop other jobs; killing its job kills its processes --------------

def test_stuck_job_does_not_block_others_and_kill_stops_its_processes(disco_cluster, first_job,
                                                                     tmp_path):
    pidfile = str(tmp_path / "pids")
    stuck = py_job(disco_cluster, "hang", envs={"PIDFILE": pidfile}, max_cores=1)
    wait_for(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile), timeout=30)
    worker_pid, child_pid = map(int, open(pidfile).read().split())
    assert disco_cluster.disco.jobinfo(stuck)["active"] == "active"
    assert_still_serving(disco_cluster, first_job)  # while the stuck job runs
    assert disco_cluster.disco.jobinfo(stuck)["active"] == "active"
    disco_cluster.disco.kill(stuck)
    with pytest.raises(JobError):
        disco_cluster.disco.wait(stuck, timeout=30)
    assert "WARN: Job killed" in messages(disco_cluster, stuck)

    def gone(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(") ", 1)[1].startswith("Z")  # a zombie has exited
        except FileNotFoundError:
            return True
    wait_for(lambda: gone(worker_pid) and gone(child_pid), timeout=10)
    assert_still_serving(disco_cluster, first_job)


@pytest.mark.parametrize("last_words,crashed", [("bye", True),  # an unfinished frame
                                                ("leaving my child behind", False)])  # garbage
def test_worker_exiting_while_its_child_holds_the_pipe_fails_the_task(disco_cluster, first_job,
                                                                      tmp_path, last_words,
                                                                      crashed):
    # the pipe never closes while the child lives: this task used to hang until it ended
    pidfile = str(tmp_path / "child")
    script = textwrap.dedent(r'''
        #!/bin/sh
        hello="{\"version\": \"1.1\", \"pid\": $$}"
        printf 'WORKER %d %s\n' ${#hello} "$hello" >&2
        read -r reply
        sleep 300 &
        echo $! > "$PIDFILE"
        echo "$LAST_WORDS" >&2
        exit 3
    ''').lstrip()
    started = time.time()
    name = submit(disco_cluster, script, envs={"PIDFILE": pidfile, "LAST_WORDS": last_words},
                  inputs=[["raw://kid"]])
    text = job_error(disco_cluster, name)
    assert time.time() - started < 30
    assert "Worker died. Last words:\n%s" % last_words in text
    assert "Task map:0" in text and "raw://kid" in text
    events = assert_retried_then_failed(disco_cluster, name, text)
    assert ("WARNING: [map:0] Worker crashed! (exit code: 3)" in events) == crashed
    child = int(open(pidfile).read())
    wait_for(lambda: not os.path.exists("/proc/%d" % child) or
             open("/proc/%d/stat" % child).read().split(") ", 1)[1].startswith("Z"), timeout=10)
    assert_still_serving(disco_cluster, first_job)


# -- timeouts (made short through the node's environment) -------------------------------------

def test_worker_timeouts():
    """A worker silent at start, or stuck in the middle of a message, fails its task."""
    env = {"DISCO_WORKER_HELLO_TIMEOUT": "2", "DISCO_WORKER_STUCK_TIMEOUT": "1",
           "DISCO_MAX_FAILURE_RATE": "0"}
    with running_cluster(extra_env=env) as cluster:
        silent = py_job(cluster, "silent", inputs=[["raw://quiet"]])
        stuck = py_job(cluster, "stuck_frame", inputs=[["raw://half"]])
        text = job_error(cluster, silent)
        assert "Worker did not send its PID in 2 seconds" in text
        assert "Task map:0" in text and "raw://quiet" in text
        text = job_error(cluster, stuck)
        assert "Worker stuck in the middle of a message for 1 seconds" in text
        assert 'MSG 100 "only half of a mess' in text
        assert "Task map:0" in text and "raw://half" in text
        good = py_job(cluster, "good", inputs=[["raw://fine"]])
        assert len(lines(cluster.disco.wait(good, timeout=60))) == 1
