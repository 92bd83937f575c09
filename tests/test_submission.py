"""Submitting a job pack (``POST /disco/job/new``) to a real master, as reference/jobpack.md
§6 and rest-api.md "Submit" say: the replies, the size limit, the master's memory while a
large pack arrives, and a retried POST whose reply was lost making one job, not two.
"""
import asyncio
import hashlib
import http.client
import io
import json
import os
import socket
import threading
import zipfile

import pytest

from disco.error import DiscoError
from disco_core.client import Disco
from disco_core.client.comm import open_remote
from disco_core.errors import CommError
from disco_core.jobpack import SUBMISSION_HEADER, JobPack
from disco_core.master.submissions import Submissions
from disco_core.testing import running_cluster, wait_for
from disco_core.access import HEADER
from disco_core.settings import DiscoSettings


def home():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("worker", "#!/bin/sh\nexit 0\n")
    return buf.getvalue()


def pack(prefix="Submitted", jobdata=b"", **changes):
    """A pack of a job with no stages: it is done as soon as it exists."""
    jobdict = {"prefix": prefix, "worker": "worker", "owner": "tests@here", "scheduler": {},
               "pipeline": [], "inputs": []}
    jobdict.update(changes)
    return JobPack(2, {k: v for k, v in jobdict.items() if v is not None}, {}, home(), jobdata)


def token_line(cluster):
    """The master's token as a raw request's header line."""
    return b"%s: %s\r\n" % (HEADER.encode(), cluster.token.encode())


def post(cluster, body, headers=None):
    """POST a job pack to the cluster's master, with its token."""
    conn = http.client.HTTPConnection("localhost", cluster.port, timeout=120)
    try:
        conn.request("POST", "/disco/job/new", body=body,
                     headers={HEADER: cluster.token, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def jobs_named(disco, prefix):
    return [name for _, _, name in disco.joblist() if name.startswith(prefix + "@")]


def incoming(cluster):
    """The uploads the master has not finished with (its temporary files)."""
    from disco_core.settings import DiscoSettings
    path = os.path.join(DiscoSettings()["DISCO_MASTER_ROOT"], ".incoming")
    return os.listdir(path) if os.path.isdir(path) else []


def master_pid(cluster):
    from disco_core.settings import DiscoSettings
    s = DiscoSettings()
    with open(os.path.join(s["DISCO_PID_DIR"], "%s.pid" % s["DISCO_NAME"])) as f:
        return int(f.read())


def peak_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for process %d" % pid)


# -- replies ---------------------------------------------------------------------------------

def test_an_error_is_a_200_reply_the_originals_clients_can_read(disco_cluster):
    disco = disco_cluster.disco
    status, reply = post(disco_cluster, pack(prefix="a.b").dumps())
    assert status == 200
    kind, message = json.loads(reply)
    assert kind == "error"
    assert message.startswith("Job failed to start: invalid prefix")
    # a program of the original's time reads the reply from Disco.request itself
    kind, message = json.loads(disco.request("/disco/job/new", pack(prefix="a/b").dumps()))
    assert (kind, message[:35]) == ("error", "Job failed to start: invalid prefix")
    with pytest.raises(DiscoError, match="Failed to submit jobpack: Job failed to start: "
                                         "invalid prefix"):
        disco.submit(pack(prefix="a.b"))


def test_an_accepted_pack_is_the_jobs_jobfile_byte_for_byte(disco_cluster):
    disco = disco_cluster.disco
    data = pack(prefix="Kept", jobdata=os.urandom(300000)).dumps()
    status, reply = post(disco_cluster, data)
    assert status == 200
    kind, name = json.loads(reply)
    assert kind == "ok" and name.startswith("Kept@")
    assert disco.request("/disco/ctrl/parameters?name=" + name, as_bytes=True) == data
    assert disco.wait(name, timeout=120) == []
    assert incoming(disco_cluster) == []


def test_every_way_to_hand_over_a_pack(disco_cluster, tmp_path):
    disco = disco_cluster.disco
    the_pack = pack(prefix="Handed", jobdata=b"payload")
    path = tmp_path / "pack"
    path.write_bytes(the_pack.dumps())
    with open(path, "rb") as f:
        names = [disco.submit(the_pack.dumps()), disco.submit(the_pack), disco.submit(f)]
    assert len(set(names)) == 3
    for name in names:
        assert disco.jobpack(name) == the_pack
    # and the command line's `disco submit FILE`
    name = disco_cluster.cli("submit", str(path)).stdout.strip()
    assert name.startswith("Handed@") and disco.jobpack(name) == the_pack
    missing = disco_cluster.cli("submit", str(tmp_path / "nothing"), check=False)
    assert missing.returncode != 0
    assert "cannot read the job pack %s" % (tmp_path / "nothing") in missing.stderr


def test_a_bad_submission_token_is_refused_by_name(disco_cluster):
    status, reply = post(disco_cluster, pack(prefix="Token").dumps(),
                         {SUBMISSION_HEADER: "no spaces/or slashes"})
    assert status == 200
    kind, message = json.loads(reply)
    assert kind == "error" and "invalid X-Disco-Submission header" in message
    assert jobs_named(disco_cluster.disco, "Token") == []


def test_403_while_the_cluster_takes_no_new_jobs(disco_cluster):
    disco = disco_cluster.disco
    token = "resubmitted-while-closed"
    name = json.loads(post(disco_cluster, pack(prefix="BeforeClosing").dumps(),
                           {SUBMISSION_HEADER: token})[1])[1]
    disco.request("/disco/ctrl/save_settings", json.dumps({"accept_new_jobs": 0}))
    try:
        status, reply = post(disco_cluster, pack(prefix="Closed").dumps())
        assert status == 403
        assert json.loads(reply) == "No new jobs should be submitted to this cluster."
        with pytest.raises(DiscoError, match="No new jobs should be submitted"):
            disco.submit(pack(prefix="Closed"))
        # a retry of a pack the master took before closing still gets its job
        status, reply = post(disco_cluster, pack(prefix="BeforeClosing").dumps(),
                             {SUBMISSION_HEADER: token})
        assert (status, json.loads(reply)) == (200, ["ok", name])
    finally:
        disco.request("/disco/ctrl/save_settings", json.dumps({"accept_new_jobs": 1}))
    assert jobs_named(disco, "Closed") == []
    assert jobs_named(disco, "BeforeClosing") == [name]
    assert disco.submit(pack(prefix="Reopened")).startswith("Reopened@")


# -- size ------------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [(1 << 30) + 1, 5 << 30])
def test_413_by_content_length_before_the_body_is_sent(disco_cluster, length):
    """Over 1 GiB (the original's limit, the default) the master answers at once."""
    with socket.create_connection(("localhost", disco_cluster.port), timeout=30) as s:
        s.sendall(b"POST /disco/job/new HTTP/1.1\r\nHost: localhost\r\n"
                  + token_line(disco_cluster) + b"Content-Length: %d\r\n\r\n" % length)
        reply = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            reply += data
    assert reply.startswith(b"HTTP/1.1 413 "), reply
    head, _, body = reply.partition(b"\r\n\r\n")
    assert json.loads(body) == "Job packet too large"  # and nothing after it
    assert incoming(disco_cluster) == []
    assert disco_cluster.disco.submit(pack(prefix="AfterHuge")).startswith("AfterHuge@")


def test_a_client_gone_halfway_leaves_nothing_behind(disco_cluster):
    data = pack(prefix="Halfway", jobdata=os.urandom(4 << 20)).dumps()
    with socket.create_connection(("localhost", disco_cluster.port), timeout=30) as s:
        s.sendall(b"POST /disco/job/new HTTP/1.1\r\nHost: localhost\r\n"
                  + token_line(disco_cluster)
                  + b"Content-Length: %d\r\n\r\n" % len(data) + data[:len(data) // 2])
        wait_for(lambda: incoming(disco_cluster), 10)  # the upload is under way
    wait_for(lambda: incoming(disco_cluster) == [], 10)
    assert jobs_named(disco_cluster.disco, "Halfway") == []
    assert disco_cluster.disco.submit(pack(prefix="AfterHalfway")).startswith("AfterHalfway@")


@pytest.fixture(scope="module")
def small_limit_cluster():
    with running_cluster(extra_env={"DISCO_MAX_JOBPACK_SIZE": str(1 << 20)}) as cluster:
        yield cluster


def test_413_once_a_body_without_a_length_passes_the_limit(small_limit_cluster):
    cluster = small_limit_cluster
    sent = []

    def zeros():  # chunked: the master only learns the size by counting
        for _ in range(4096):  # 256 MiB
            sent.append(1)
            yield b"\0" * 65536
    with pytest.raises(CommError) as err:
        cluster.disco.request("/disco/job/new", zeros())
    assert err.value.code == 413 and "Job packet too large" in str(err.value)
    assert len(sent) < 1024  # refused on the way: not even 64 MiB went
    wait_for(lambda: incoming(cluster) == [], 10)
    # with a length, the client shows the master's reason
    with pytest.raises(DiscoError, match="Job packet too large"):
        cluster.disco.submit(pack(prefix="TooBig", jobdata=b"x" * (2 << 20)))
    assert jobs_named(cluster.disco, "TooBig") == []
    name = cluster.disco.submit(pack(prefix="JustFits", jobdata=b"x" * ((1 << 20) - 4096)))
    assert cluster.disco.wait(name, timeout=120) == []


def test_a_large_pack_never_sits_in_the_masters_memory(disco_cluster):
    disco = disco_cluster.disco
    pid = master_pid(disco_cluster)
    jobdata = b"\x5a" * (200 << 20)
    the_pack = pack(prefix="Large", jobdata=jobdata)
    digest = hashlib.md5(the_pack.dumps()).hexdigest()
    before = peak_rss(pid)
    name = disco.submit(the_pack)
    assert peak_rss(pid) - before < 40 << 20, "the master's peak RSS grew by %d MiB" % (
        (peak_rss(pid) - before) >> 20)
    # the node's way to the pack streams it too
    resp = open_remote("%s/disco/ctrl/parameters?name=%s" % (disco_cluster.master, name),
                       headers={HEADER: disco_cluster.token})
    md5, size = hashlib.md5(), 0
    while True:
        chunk = resp.read(1 << 20)
        if not chunk:
            break
        md5.update(chunk)
        size += len(chunk)
    resp.close()
    assert (size, md5.hexdigest()) == (len(the_pack.dumps()), digest)
    assert peak_rss(pid) - before < 40 << 20, "the master's peak RSS grew by %d MiB" % (
        (peak_rss(pid) - before) >> 20)
    disco.purge(name)


# -- retries ---------------------------------------------------------------------------------

def _read_message(sock):
    """One HTTP message with a Content-Length from a socket: (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("closed before the headers ended")
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        more = sock.recv(1 << 20)
        if not more:
            raise ConnectionError("closed before the body ended")
        body += more
    return head, body


class LosingProxy:
    """A TCP proxy in front of the master. It passes each request on and the reply back,
    except that for the first ``lose`` requests it closes the client's connection instead of
    sending the reply (a reply lost on the way back); ``early`` closes it as soon as the
    request went on, before the master has answered."""

    def __init__(self, port, lose=1, early=False):
        self.port = port
        self.lose = lose
        self.early = early
        self.heads = []
        self.lost = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client):
        with client, socket.create_connection(("127.0.0.1", self.port)) as upstream:
            head, body = _read_message(client)
            self.heads.append(head)
            lose = len(self.heads) <= self.lose
            upstream.sendall(head + b"\r\n\r\n" + body)
            if lose and self.early:
                client.shutdown(socket.SHUT_RDWR)
            reply_head, reply = _read_message(upstream)
            if lose:
                self.lost.append(reply)
            else:
                client.sendall(reply_head + b"\r\n\r\n" + reply)

    def tokens(self):
        out = []
        for head in self.heads:
            for line in head.split(b"\r\n"):
                if line.lower().startswith(SUBMISSION_HEADER.lower().encode() + b":"):
                    out.append(line.partition(b":")[2].strip().decode())
        return out

    def close(self):
        self.listener.close()


@pytest.mark.parametrize("early", [False, True], ids=["reply_lost", "dropped_before_reply"])
def test_a_retried_submission_whose_reply_was_lost_makes_one_job(disco_cluster, early):
    prefix = "Retried" + ("Early" if early else "")
    proxy = LosingProxy(disco_cluster.port, early=early)
    try:
        client = Disco(proxy.url, settings=DiscoSettings(disco_cluster.env))  # its token
        name = client.submit(pack(prefix=prefix, jobdata=os.urandom(1 << 20)))
    finally:
        proxy.close()
    assert len(proxy.heads) == 2, "the client did not retry"
    first, again = proxy.tokens()
    assert first == again and first
    wait_for(lambda: proxy.lost, 10)
    assert json.loads(proxy.lost[0]) == ["ok", name]
    assert jobs_named(disco_cluster.disco, prefix) == [name]
    assert disco_cluster.disco.wait(name, timeout=120) == []


def test_packs_without_a_token_are_each_a_job(disco_cluster):
    """The original's clients send no token: the same bytes twice are two jobs."""
    data = pack(prefix="Tokenless").dumps()
    names = [json.loads(post(disco_cluster, data)[1])[1] for _ in range(2)]
    assert len(set(names)) == 2
    assert sorted(jobs_named(disco_cluster.disco, "Tokenless")) == sorted(names)


def test_same_token_twice_is_one_job_even_after_an_error_in_between(disco_cluster):
    cluster = disco_cluster
    bad = post(cluster, pack(prefix="Twice", scheduler=None).dumps(), {SUBMISSION_HEADER: "t-2"})
    assert json.loads(bad[1])[1].endswith("jobpack missing key 'scheduler'")
    # a refused pack is forgotten: sent again (fixed) it becomes a job, once
    replies = [json.loads(post(cluster, pack(prefix="Twice").dumps(),
                               {SUBMISSION_HEADER: "t-2"})[1])
               for _ in range(3)]
    assert replies[0][0] == "ok" and replies == [replies[0]] * 3
    assert jobs_named(disco_cluster.disco, "Twice") == [replies[0][1]]


# -- the registry of submissions, driven directly ----------------------------------------

def test_a_retry_arriving_while_the_first_is_still_set_up_waits_for_it(tmp_path):
    """Two submissions with one token, the second while the first is held up reading its
    inputs: both get the one job's name."""
    from disco_core.master.app import Master
    from disco_core.settings import DiscoSettings

    class HeldUpMaster(Master):
        async def _job_inputs(self, pack):
            self.setting_up.set()
            await asyncio.wait_for(self.release.wait(), 30)
            return await super()._job_inputs(pack)

    async def main():
        settings = DiscoSettings(DISCO_HOME=str(tmp_path), DISCO_SETTINGS_FILE="")
        master = HeldUpMaster(settings)
        master.setting_up, master.release = asyncio.Event(), asyncio.Event()
        data = pack(prefix="HeldUp").dumps()
        first = asyncio.ensure_future(master.submit(data, "same-token"))
        await asyncio.wait_for(master.setting_up.wait(), 10)
        second = asyncio.ensure_future(master.submit(data, "same-token"))
        await asyncio.sleep(0.05)
        assert not second.done()
        master.release.set()
        names = await asyncio.gather(first, second)
        other = await master.submit(data, "another-token")
        for job in master.jobs.values():
            job.events.close()
        return names, other, list(master.jobs), os.listdir(master.incoming())

    (one, two), other, jobs, left = asyncio.run(main())
    assert one == two and other != one
    assert jobs == [one, other]
    assert left == []


def test_a_job_that_takes_too_long_to_set_up_is_dropped(tmp_path):
    from disco_core.master.app import Master
    from disco_core.settings import DiscoSettings

    class StuckMaster(Master):
        async def _job_inputs(self, pack):
            await asyncio.sleep(30)

    async def main():
        master = StuckMaster(DiscoSettings(DISCO_HOME=str(tmp_path), DISCO_SETTINGS_FILE=""))
        master.setup_timeout = 0.2
        with pytest.raises(DiscoError, match=r"timed out after 0.2s \(master busy\?\)"):
            await master.submit(pack(prefix="Stuck").dumps(), "stuck-token")
        assert master.submissions.get("stuck-token") is None  # a retry tries again
        return master.jobs, os.listdir(master.incoming())
    jobs, left = asyncio.run(main())
    assert jobs == {} and left == []


def test_submissions_are_remembered_within_bounds():
    async def main():
        recent = Submissions(max_count=3, max_age=3600)
        for n in range(5):
            fut = recent.start("t%d" % n)
            recent.done(fut, "job%d" % n)
        kept = [t for t in ("t0", "t1", "t2", "t3", "t4") if recent.get(t) is not None]
        assert kept == ["t2", "t3", "t4"] and recent.get("t4").result() == "job4"
        old = Submissions(max_age=0)
        fut = old.start("pending")
        assert old.get("pending") is fut  # being set up: kept however old
        old.done(fut, "job")
        assert old.get("pending") is None and len(old) == 0
        assert recent.get(None) is None
    asyncio.run(main())
