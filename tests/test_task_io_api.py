"""``disco.worker.task_io`` (old_netstr_reader, re_reader, plain_output_stream,
StreamCombiner, InputStream/OutputStream) and ``disco.task`` (jobdata, Task), as units over
in-memory and file inputs, and in jobs on a real cluster."""
import functools
import io
import pickle

import pytest

from disco.error import DataError, DiscoError
from disco.worker.task_io import (InputStream, OutputStream, StreamCombiner, chain_reader,
                                  old_netstr_reader, plain_output_stream, re_reader,
                                  string_input_stream, task_input_stream, task_output_stream)
from disco_core.worker.dataio import text_stream


def netstrings(pairs):
    return b"".join(b"%d %b %d %b\n" % (len(k), k, len(v), v) for k, v in pairs)


PAIRS = [(b"cat", b"1"), (b"key with spaces", b"two\nlines"), (b"", b""), (b"\xff", b"x" * 9000)]


class Trickle(io.RawIOBase):
    """A binary stream that hands out at most ``step`` bytes per read."""

    def __init__(self, data, step=3):
        self.data, self.pos, self.step = data, 0, step

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.step, len(self.data) - self.pos)
        b[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


# -- old_netstr_reader ----------------------------------------------------------------------

def test_old_netstr_reader_reads_the_v0_format():
    data = netstrings(PAIRS)
    assert list(old_netstr_reader(io.BytesIO(data), len(data), "test://ns")) == PAIRS


def test_old_netstr_reader_reads_a_file_under_a_text_stream(tmp_path):
    path = tmp_path / "v0"
    path.write_bytes(netstrings(PAIRS))
    with open(path, "rb") as f:
        fd = text_stream(f)
        assert list(old_netstr_reader(fd, path.stat().st_size, str(path))) == PAIRS


def test_old_netstr_reader_continues_after_the_head_already_read():
    data = netstrings(PAIRS)
    for cut in (0, 1, 2, 5, 11, 30, len(data)):
        got = old_netstr_reader(Trickle(data[cut:]), len(data), "test://ns", data[:cut])
        assert list(got) == PAIRS, cut
    # by keyword too, as the original's callers passed it
    assert list(old_netstr_reader(io.BytesIO(data[4:]), len(data), "t", head=data[:4])) == PAIRS


def test_old_netstr_reader_stops_at_size_and_size_may_be_unknown():
    data = netstrings(PAIRS)
    first = netstrings(PAIRS[:1])
    assert list(old_netstr_reader(io.BytesIO(data), len(first), "t")) == PAIRS[:1]
    assert list(old_netstr_reader(io.BytesIO(data), None, "t")) == PAIRS


def test_old_netstr_reader_input_shorter_than_size_is_a_data_error():
    data = netstrings(PAIRS[:2])
    records = old_netstr_reader(io.BytesIO(data), len(data) + 10, "http://h/short")
    assert next(records) == PAIRS[0]
    assert next(records) == PAIRS[1]
    with pytest.raises(DataError) as err:
        next(records)
    assert "http://h/short" in str(err.value) and "expected %d bytes" % (len(data) + 10) \
        in str(err.value)
    cut = netstrings(PAIRS)[:-3]
    with pytest.raises(DataError) as err:
        list(old_netstr_reader(io.BytesIO(cut), None, "http://h/cut"))
    assert "http://h/cut" in str(err.value) and "ends inside a value" in str(err.value)


def test_old_netstr_reader_refuses_a_head_that_is_not_bytes():
    with pytest.raises(DiscoError) as err:
        list(old_netstr_reader(io.BytesIO(b""), None, "t", {"not": "bytes"}))
    assert "head must be the bytes" in str(err.value)


# -- re_reader --------------------------------------------------------------------------------

def test_re_reader_yields_groups_of_consecutive_matches():
    fd = text_stream(io.BytesIO(b"<a=1><bb=22><c=333>"))
    assert list(re_reader(r"<(\w+)=(\d+)>", fd, None, "t")) == [
        ("a", "1"), ("bb", "22"), ("c", "333")]


def test_re_reader_str_pattern_gives_str_and_bytes_pattern_gives_bytes():
    data = "caf\u00e9 na\u00efve \u2603 ".encode("utf-8")
    words = list(re_reader(r"(\S+) ", text_stream(io.BytesIO(data)), len(data), "t",
                           read_buffer_size=1))
    assert words == [("caf\u00e9",), ("na\u00efve",), ("\u2603",)]
    raw = list(re_reader(rb"(\S+) ", io.BytesIO(data), len(data), "t", read_buffer_size=2))
    assert raw == [(w[0].encode("utf-8"),) for w in words]
    binary = b"\x00\xff\x01|\xfe|"
    assert list(re_reader(rb"([^|]*)\|", io.BytesIO(binary), None, "t")) == [
        (b"\x00\xff\x01",), (b"\xfe",)]


def test_re_reader_items_are_not_cut_at_buffer_boundaries():
    text = "".join("%d:%s;" % (i, "x" * (i % 37)) for i in range(3000))
    data = text.encode()
    want = [(str(i), "x" * (i % 37)) for i in range(3000)]
    for size in (1, 7, 64, 8192):
        got = list(re_reader(r"(\d+):(x*);", io.BytesIO(data), len(data), "t",
                             read_buffer_size=size))
        assert got == want, size
    # greedy items: 123456 split over two reads is still one number
    assert list(re_reader(r"(\d+)\s*", io.BytesIO(b"123456 78"), None, "t",
                          read_buffer_size=4)) == [("123456",), ("78",)]


def test_re_reader_prints_the_unmatched_tail(capsys):
    data = b"a1 b2 ???"
    assert list(re_reader(r"(\w)(\d) ", io.BytesIO(data), len(data), "http://h/tail")) == [
        ("a", "1"), ("b", "2")]
    assert "Couldn't match the last 3 bytes in http://h/tail" in capsys.readouterr().out


def test_re_reader_yields_the_tail_with_output_tail(capsys):
    data = "a1 b2 \u00e9?".encode()
    got = list(re_reader(r"(\w)(\d) ", io.BytesIO(data), None, "t", output_tail=True))
    assert got == [("a", "1"), ("b", "2"), ("\u00e9?",)]
    assert capsys.readouterr().out == ""


def test_re_reader_truncated_input_is_a_data_error():
    data = b"a1 b2 "
    records = re_reader(r"(\w)(\d) ", io.BytesIO(data), 100, "http://h/short")
    assert list(next(records) for _ in range(2)) == [("a", "1"), ("b", "2")]
    with pytest.raises(DataError) as err:
        next(records)
    assert "http://h/short" in str(err.value) and "expected 100 bytes, got 6" in str(err.value)


def test_re_reader_reads_no_more_than_size():
    data = b"a1 b2 c3 "
    assert list(re_reader(r"(\w)(\d) ", io.BytesIO(data), 6, "t")) == [("a", "1"), ("b", "2")]


def test_re_reader_refuses_patterns_that_cannot_make_items():
    with pytest.raises(DiscoError) as err:
        list(re_reader(r"\w+ ", io.BytesIO(b"a b "), None, "t"))
    assert "has no groups" in str(err.value)
    with pytest.raises(DiscoError) as err:
        list(re_reader(r"(a*)", io.BytesIO(b"bbb"), None, "http://h/empty"))
    assert "matches an empty string" in str(err.value) and "http://h/empty" in str(err.value)


def test_re_reader_str_pattern_on_bytes_that_are_not_utf8_says_what_to_do():
    with pytest.raises(DiscoError) as err:
        list(re_reader(r"(.)", io.BytesIO(b"ab\xff\xfe"), None, "http://h/bin"))
    assert "http://h/bin is not UTF-8" in str(err.value) and "bytes pattern" in str(err.value)


def test_re_reader_closes_its_input():
    fd = io.BytesIO(b"a1 ")
    list(re_reader(r"(\w)(\d) ", fd, None, "t"))
    assert fd.closed


def test_readers_with_options_are_called_without_params_by_input_chains():
    """The chain passes params as a fourth argument only to functions that take it."""
    from disco_core.worker.dataio import apply_input_chain
    data = b"k1 k2 "
    reader = functools.partial(re_reader, r"(\w)(\d) ")
    chain = [lambda fd, size, url: string_input_stream(data), reader]
    assert list(apply_input_chain("t", chain, {"params": 1})) == [("k", "1"), ("k", "2")]
    v0 = netstrings(PAIRS)
    chain = [lambda fd, size, url: string_input_stream(v0), old_netstr_reader]
    assert list(apply_input_chain("t", chain, object())) == PAIRS


# -- plain_output_stream ----------------------------------------------------------------------

def test_plain_output_stream_writes_key_value_lines(tmp_path):
    path = str(tmp_path / "out-0")
    atomic = task_output_stream(None, 0, path, None)
    out = plain_output_stream(atomic, 0, path, None)
    assert isinstance(out, OutputStream)
    out.add("cat", 1)
    out.add(b"\xff", "\u00e9")
    out.add(("t", 1), None)
    for i in range(20000):  # past the buffer
        out.add("k%d" % i, i)
    out.close()
    atomic.close()
    lines = open(path, "rb").read().split(b"\n")
    assert lines[:3] == [b"cat 1", b"\xff \xc3\xa9", b"('t', 1) None"]
    assert lines[-2:] == [b"k19999 19999", b""] and len(lines) == 20004
    assert out.path == path


def test_plain_output_stream_under_a_text_stream_writes_bytes():
    buf = io.BytesIO()
    text = io.TextIOWrapper(buf, encoding="utf-8")
    out = plain_output_stream(text, 0, "t", None)
    out.add("a", "b")
    out.write("raw text\n")
    out.close()
    assert buf.getvalue() == b"a b\nraw text\n"


# -- StreamCombiner ---------------------------------------------------------------------------

def test_stream_combiner_chains_and_yields_the_last_streams_records(tmp_path):
    from disco_core.plugins import driver
    path = tmp_path / "records"
    with open(path, "wb") as f:
        w = driver("writer", "chain")(f, 0, str(path), None)
        for i in range(5):
            w.add("k%d" % i, [i])
        w.close()
    combined = StreamCombiner(str(path), [task_input_stream, chain_reader], None)
    assert isinstance(combined, InputStream)
    assert list(combined) == [("k%d" % i, [i]) for i in range(5)]
    combined.close()


def test_stream_combiner_closes_every_stream_and_passes_params():
    made = []

    def opener(fd, size, url):
        made.append(io.BytesIO(url[len("mem://"):].encode()))
        return made[-1], 99, url

    def upper(fd, size, url, params):
        assert size == 99 and params == {"p": 1}
        made.append(text_stream(fd))
        return made[-1]

    def words(fd, size, url, params):
        return (w.upper() if params["p"] else w for line in fd for w in line.split())

    combined = StreamCombiner("mem://a b\nc", [opener, upper, words], {"p": 1})
    assert list(combined) == ["A", "B", "C"]
    combined.close()
    assert all(s.closed for s in made)


def test_stream_combiner_starts_from_a_given_stream_and_reads():
    fd = io.BytesIO(b"line one\nline two\n")

    def text(stream, size, url):
        assert size == 18
        return text_stream(stream)
    with StreamCombiner("given://", [text], None, fd=fd, size=18) as combined:
        assert combined.read(4) == "line"
        assert list(combined) == [" one\n", "line two\n"]
    assert fd.closed
    records = StreamCombiner("given://", [lambda f, s, u: iter([1, 2])], None, fd=io.BytesIO())
    with pytest.raises(DiscoError) as err:
        records.read()
    assert "given://" in str(err.value) and "iterate it" in str(err.value)


def test_stream_combiner_opens_raw_urls_through_the_scheme_plugin():
    combined = StreamCombiner("raw://hello\nworld", [task_input_stream], None)
    assert list(combined) == ["hello\n", "world"]


def test_named_drivers_and_new_names_are_public():
    import disco.worker.classic.func as func
    import disco.worker.task_io as task_io
    for name in ("old_netstr_reader", "re_reader", "plain_output_stream", "StreamCombiner",
                 "InputStream", "OutputStream", "netstr_reader", "chain_reader",
                 "gzip_reader", "chain_stream", "default_stream"):
        assert hasattr(task_io, name) and hasattr(func, name), name


# -- disco.task -------------------------------------------------------------------------------

def test_jobdata_pickles_what_the_worker_unpickles():
    from disco.task import jobdata
    from disco_core.worker import Worker

    def square(x):
        return x * x
    data = jobdata("job", {"map": square, "n": 3})
    job, jobargs = pickle.loads(data)
    assert job == "job" and jobargs["n"] == 3 and jobargs["map"](4) == 16
    job, jobargs = pickle.loads(Worker().jobdata("job", {"n": 3}))
    assert pickle.loads(jobdata("job", {"n": 3})) == (job, jobargs)


@pytest.fixture
def task(tmp_path):
    from disco.task import Task
    home = tmp_path / "data" / "node1" / "ab" / "Job@5"
    home.mkdir(parents=True)
    return Task(host="node1", jobfile=str(home / "jobfile"), jobname="Job@5",
                master="http://127.0.0.1:1", stage="reduce", group=[2, "node1"],
                grouping="group_label", taskid=7)


def test_task_group_is_the_pair_and_prints_as_the_original_string(task):
    assert task.group == (2, "node1") and task.group[0] == 2
    assert task.group_label == 2 and task.group_host == "node1"
    assert str(task.group) == "2-node1" == "{}".format(task.group) == task.group_str
    assert "%s" % (task.group,) == "2-node1"
    assert pickle.loads(pickle.dumps(task.group)) == (2, "node1")
    from disco.task import Task
    assert Task.from_reply({"group": [0, ""], "extra": 1}).group == (0, "")
    with pytest.raises(DiscoError):
        Task(group=[1, 2, 3])


def test_task_paths_and_urls(task):
    import os
    from disco_core.jobpack import hexhash
    assert task.jobpath == "node1/%s/Job@5" % hexhash("Job@5")
    assert task.uid.startswith("reduce-2-node1-7-")
    assert task.taskpath == "%s/%s" % (hexhash(task.uid), task.uid)
    made = task.makedirs()
    assert made == os.path.join(task.jobhome, task.taskpath) and os.path.isdir(made)
    assert task.path("x").startswith(task.jobhome + "/" + task.taskpath)
    assert task.output_filename(3) == "reduce-2-node1-3"
    base = "disco://node1/disco/node1/%s/Job@5/" % hexhash("Job@5")
    assert task.url("a/b") == base + "a/b"
    assert task.url(task.path("f")) == base + task.taskpath + "/f"
    assert task.url(task.path("f"), "dir").startswith("dir://node1/disco/")
    with pytest.raises(DiscoError) as err:
        task.url("/etc/passwd")
    assert "not in the job home" in str(err.value)


def test_task_output_is_the_path_type_label_triple_with_url_and_file(task):
    out = task.output(3)
    path, typ, label = out
    assert (path, typ, label) == (task.output_path(3), "disco", 3)
    assert out.url == task.url(path)
    out.file.write(b"data")
    import os
    assert not os.path.exists(path)  # written under a temporary name until closed
    out.close()
    assert open(path, "rb").read() == b"data"
    assert task.output() == (task.output_path(0), "disco", 0)
    assert task.output(1, "part").url == task.url(task.output_path(1))
    assert task.output(1, "dir").url == task.url(task.output_path(1), "dir")
    with pytest.raises(ValueError):
        task.output("x")


def test_task_put_refuses_unsafe_keys(task):
    for key in ("a/b", "", "sp ace", "dot.ted", 5):
        with pytest.raises(DiscoError) as err:
            task.put(key, b"v")
        assert "not a safe name" in str(err.value)


def test_task_jobpack_and_jobobjs_come_from_the_jobfile(task):
    from disco.job import JobPack
    from disco.task import jobdata
    import sys
    jobdict = {"prefix": "Job", "python_version": "%d.%d" % sys.version_info[:2]}
    pack = JobPack(1, jobdict, {}, b"", jobdata("the job", {"n": 1}))
    with open(task.jobfile, "wb") as f:
        f.write(pack.dumps())
    assert task.jobpack.jobdict == jobdict and task.jobpack.version == 1
    assert task.jobobjs == ("the job", {"n": 1})


# -- jobs on a real cluster -------------------------------------------------------------------

RECORDS = "".join("<rec>w%d=%d</rec>\n" % (i % 50, i) for i in range(2000))


def test_a_job_reads_its_input_with_re_reader(disco_cluster, http_server):
    from disco.core import Job, result_iterator
    from disco.worker.classic.func import sum_reduce
    url = http_server.add("records.xml", RECORDS + "<rec>broken")
    job = Job().run(input=[url],
                    map_reader=functools.partial(re_reader, r"<rec>(\w+)=(\d+)</rec>\n"),
                    map=lambda groups, params: [(groups[0], int(groups[1]))],
                    reduce=sum_reduce)
    want = {}
    for i in range(2000):
        want["w%d" % (i % 50)] = want.get("w%d" % (i % 50), 0) + i
    assert dict(result_iterator(job.wait(timeout=120))) == want
    messages = [e[2] for _o, e in job.events()]
    assert any("Couldn't match the last 11 bytes in %s" % url in m for m in messages), messages


def test_a_job_reads_with_re_reader_through_a_lambda_in_bytes(disco_cluster, http_server):
    from disco.core import Job, result_iterator
    url = http_server.add("pairs.bin", b"\x01a|\x02b|\xffz|")
    job = Job().run(input=[url],
                    map_reader=lambda fd, size, url: re_reader(rb"(.)(.)\|", fd, size, url),
                    map=lambda groups, params: [(groups[1], groups[0])])
    assert sorted(result_iterator(job.wait(timeout=120))) == [(b"a", b"\x01"), (b"b", b"\x02"),
                                                   (b"z", b"\xff")]


def test_plain_output_of_a_job_reads_back_as_lines(disco_cluster):
    from disco.core import Job, result_iterator
    from disco.worker.classic.func import sum_reduce
    from disco.worker.task_io import line_reader
    job = Job().run(input=["raw://the cat the mat"],
                    map=lambda line, params: [(w, 1) for w in line.split()],
                    reduce=sum_reduce,
                    reduce_output_stream=(task_output_stream, plain_output_stream))
    results = job.wait(timeout=120)
    assert sorted(result_iterator(results, reader=None)) == ["cat 1\n", "mat 1\n", "the 2\n"]
    assert sorted(result_iterator(results, reader=line_reader)) == [
        "cat 1\n", "mat 1\n", "the 2\n"]


def test_plain_map_output_feeds_a_second_job(disco_cluster):
    from disco.core import Job, result_iterator
    first = Job().run(input=["raw://a b", "raw://c"], partitions=None,
                      map=lambda line, params: [(w, w.upper()) for w in line.split()],
                      map_output_stream=(task_output_stream, plain_output_stream))
    second = Job().run(input=first.wait(timeout=120),
                       map=lambda line, params: [tuple(line.split())])
    assert sorted(result_iterator(second.wait(timeout=120))) == [("a", "A"), ("b", "B"), ("c", "C")]


def test_a_task_uses_oob_values_and_its_own_output_file(disco_cluster):
    from disco.core import Disco, Job, result_iterator
    from disco.schemes import open as open_url

    def mapper(line, params):
        from disco.worker import active_task
        task = active_task()
        word = line.strip()
        task.put("seen-" + word, word.upper())
        out = task.output(7)
        out.file.write(("extra %s from %s\n" % (word, task.group)).encode())
        out.close()
        job, jobargs = task.jobobjs
        yield word, [task.get("seen-" + word).decode(), out.url, str(task.group),
                     [task.group_label, task.group_host], task.jobpack.jobdict["prefix"],
                     sorted(k for k in jobargs if k == "map")]

    job = Job().run(input=["raw://x", "raw://y"], map=mapper)
    results = dict(result_iterator(job.wait(timeout=120)))
    assert sorted(results) == ["x", "y"]
    for word, (value, url, group, (label, host), prefix, keys) in results.items():
        assert value == word.upper() and prefix == "Job" and keys == ["map"]
        assert group == "%s-%s" % (label, host) and label == 0
        assert url.startswith("disco://localhost/disco/") and url.endswith("-7")
        assert open_url(url).read() == ("extra %s from %s\n" % (word, group)).encode()
    assert sorted(Disco().oob_list(job.name)) == ["seen-x", "seen-y"]
    assert Disco().oob_get(job.name, "seen-y") == b"Y"


def test_a_bad_oob_key_fails_the_task_with_the_reason(disco_cluster):
    from disco.core import Job
    from disco.error import JobError

    def mapper(line, params):
        from disco.worker import active_task
        active_task().put("no/slashes", b"v")
        yield line, 1
    job = Job().run(input=["raw://z"], map=mapper)
    with pytest.raises(JobError):
        job.wait(timeout=120)
    messages = "\n".join(e[2] for _o, e in job.events())
    assert "not a safe name" in messages
