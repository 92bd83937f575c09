"""Programs written for the original Disco run unchanged: the habits of its jobs and tests.

Each test is a small job in the style of the original's era (``disco.compat`` helpers,
``JobChain`` of jobs, ``map_init`` reading a header, modules used without an import,
``print`` per line, replicas that break while they are read, bytes text inputs).
"""
import io
import os
import sys
import textwrap

import pytest

from disco.compat import BytesIO, bytes_to_str, file, http_server, str_to_bytes
from disco.core import Job, result_iterator
from disco.error import DataError, DiscoError, JobError
from disco.job import JobChain
from disco.worker.classic.func import nop_reduce
from disco.worker.task_io import chain_reader, disco_input_stream

# -- disco.compat ----------------------------------------------------------------------------


def test_compat_conversions_accept_either_type():
    assert bytes_to_str(b"caf\xc3\xa9") == "caf\u00e9" == bytes_to_str("caf\u00e9")
    assert str_to_bytes("caf\u00e9") == b"caf\xc3\xa9" == str_to_bytes(b"caf\xc3\xa9")
    assert bytes_to_str(7) == 7 and str_to_bytes(None) is None
    assert isinstance(BytesIO(b"x"), file) and isinstance(io.StringIO(), file)
    assert issubclass(http_server.HTTPServer, object)


class HeaderJob(Job):
    params = {"offset": 10}

    @staticmethod
    def map_init(entries, params):
        assert next(entries).strip() == "header"  # an iterator, which map goes on with
        params["offset"] += 100

    @staticmethod
    def map(line, params):
        yield line.strip(), int(line) + params["offset"]

    @staticmethod
    def reduce_init(records, params):
        params["seen_first"] = next(records)  # the reduce starts after it

    @staticmethod
    def reduce(records, params):
        yield params["seen_first"]
        yield from records


def test_map_init_and_reduce_init_get_the_iterators_the_functions_go_on_with(disco_cluster,
                                                                             http_server):
    url = http_server.add("with-header.txt", "header\n1\n2\n3\n")
    job = HeaderJob().run(input=[url])
    assert sorted(result_iterator(job.wait(timeout=120))) == [("1", 111), ("2", 112),
                                                              ("3", 113)]


# -- JobChain --------------------------------------------------------------------------------


class Tag(Job):
    partitions = 2

    @staticmethod
    def map(line, params):
        yield line.strip() + params, ""

    reduce = staticmethod(nop_reduce)


class Retag(Tag):
    map_reader = staticmethod(chain_reader)

    @staticmethod
    def map(pair, params):
        yield pair[0] + params, ""


def test_a_chain_job_may_name_one_job_as_its_whole_input(disco_cluster):
    first, second, both = Tag(), Retag(), Retag()
    first.params, second.params, both.params = "-a", "-b", "-c"
    chain = JobChain({first: ["raw://x", "raw://y"], second: first, both: [first, second]})
    chain.wait(poll_interval=0.2, timeout=120)
    assert sorted(k for k, _ in result_iterator(second.wait(timeout=120))) == ["x-a-b", "y-a-b"]
    assert sorted(k for k, _ in result_iterator(both.wait(timeout=120))) == \
        ["x-a-b-c", "x-a-c", "y-a-b-c", "y-a-c"]
    chain.purge()


# -- modules and helpers as globals ----------------------------------------------------------


@pytest.fixture
def helper_module(tmp_path, monkeypatch):
    """A user module on the client's path that the job's module never imports."""
    (tmp_path / "unimported_helper.py").write_text(textwrap.dedent("""
        BASE = 1000

        def bump(x):
            return BASE + int(x)
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    yield "unimported_helper"
    sys.modules.pop("unimported_helper", None)


def uses_modules_it_never_imports(line, params):
    # unimported_helper, math and the task's helpers are globals the task gives the job
    yield unimported_helper.bump(line.strip()), math.floor(2.5)  # noqa: F821


def uses_the_task_helpers(line, params):
    assert re.match("raw", this_inputs()[0])  # noqa: F821
    yield Task.stage, (this_partition(), callable(chain_reader))  # noqa: F821


def test_modules_found_automatically_are_globals_of_the_job_functions(disco_cluster,
                                                                       helper_module):
    job = Job().run(input=["raw://5"], map=uses_modules_it_never_imports)
    assert list(result_iterator(job.wait(timeout=120))) == [(1005, 2)]


def test_required_modules_are_globals_of_the_job_functions(disco_cluster, helper_module):
    path = os.path.join(sys.path[0], "unimported_helper.py")
    job = Job().run(input=["raw://7"], map=uses_modules_it_never_imports,
                    required_modules=["math", ("unimported_helper", path)])
    assert list(result_iterator(job.wait(timeout=120))) == [(1007, 2)]


def test_a_required_module_named_alone_is_shipped_or_refused(disco_cluster, helper_module):
    # a user module named without its path is shipped from the client's path
    job = Job().run(input=["raw://7"], map=uses_modules_it_never_imports,
                    required_modules=["math", "unimported_helper"])
    assert list(result_iterator(job.wait(timeout=120))) == [(1007, 2)]
    with pytest.raises(DiscoError, match="required_modules names 'no_such_mod_xyz'"):
        Job().run(input=["raw://7"], map=uses_modules_it_never_imports,
                  required_modules=["no_such_mod_xyz"])


def test_the_task_helpers_are_globals_of_the_job_functions(disco_cluster):
    job = Job().run(input=["raw://a"], map=uses_the_task_helpers)
    [(stage, (partition, reader))] = list(result_iterator(job.wait(timeout=120)))
    assert (stage, reader) == ("map", True) and isinstance(partition, int)


# -- printing ----------------------------------------------------------------------------------


def prints_three_lines(line, params):
    for i in range(3):
        print("--marker-%d--" % i)
    yield line, 1


def prints_every_record(line, params):
    print(line)
    yield line.strip(), 1


def test_each_printed_line_is_one_event(disco_cluster):
    job = Job().run(input=["raw://p"], map=prints_three_lines)
    job.wait(timeout=120)
    printed = [msg for _off, (_ts, _host, msg) in job.events() if "--marker-" in msg]
    assert len(printed) == 3


def test_a_task_printing_per_record_is_stopped_by_the_message_rate_limit(disco_cluster,
                                                                         http_server):
    url = http_server.add("many.txt", "line\n" * 200)
    job = Job().run(input=[url], map=prints_every_record)
    with pytest.raises(JobError) as err:
        job.wait(timeout=120)
    assert "messages a second" in str(err.value)
    assert job.jobinfo()["active"] == "dead"


# -- records: damaged files and the original's text format -------------------------------------


def _record_file(n, hunk):
    from disco_core.records import RecordWriter
    buf = io.BytesIO()
    writer = RecordWriter(buf, hunk_size=hunk)
    for i in range(n):
        writer.add("key%05d" % i, i)
    writer.close()
    return buf.getvalue()


def _damaged(data, at):
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def test_chain_reader_skips_damaged_hunks_when_asked(tmp_path):
    data = _record_file(20000, 16 * 1024)
    whole = list(chain_reader(io.BytesIO(data), len(data), "mem://ok"))
    assert len(whole) == 20000
    for at in (40, 3):  # inside the first hunk's body; inside its header
        bad = _damaged(data, at)
        with pytest.raises(DataError, match="mem://bad"):
            list(disco_input_stream(io.BytesIO(bad), len(bad), "mem://bad"))
        kept = list(disco_input_stream(io.BytesIO(bad), len(bad), "mem://bad",
                                       ignore_corrupt=True))
        assert 0 < len(kept) < len(whole)
        assert kept == whole[len(whole) - len(kept):]  # the hunks after the damage, intact


def test_chain_reader_reads_the_original_text_format_as_str_pairs():
    data = b"3 cat 1 1\n5 a dog 0 \n"
    assert list(chain_reader(io.BytesIO(data), len(data), "mem://v0")) == \
        [("cat", "1"), ("a dog", "")]
    with pytest.raises(DataError, match="is it text"):
        list(chain_reader(io.BytesIO(b"plain words\n"), 12, "mem://text"))


# -- replicas that fail while they are read ---------------------------------------------------


def breaks_after_the_first(fd, size, url, params):
    yield "first"
    if "broken" in url:
        raise DataError("the replica broke while it was read", url)
    yield "second"


def test_result_iterator_resumes_a_replica_that_breaks_on_the_next():
    replicas = ["raw://broken-1", "raw://broken-2", "raw://whole"]
    assert list(result_iterator([replicas], reader=breaks_after_the_first)) == \
        ["first", "second"]
    with pytest.raises(DataError, match="broken-2"):
        list(result_iterator([replicas[:2]], reader=breaks_after_the_first))


def test_a_map_input_that_breaks_part_way_goes_on_from_the_next_replica(disco_cluster):
    job = Job().run(input=[["raw://broken", "raw://whole"], "raw://single"],
                    map_reader=breaks_after_the_first,
                    map=lambda entry, params: [(entry, 1)], reduce=nop_reduce)
    assert sorted(result_iterator(job.wait(timeout=120))) == \
        [("first", 1), ("first", 1), ("second", 1), ("second", 1)]


# -- DISCO_TEXT_INPUTS ------------------------------------------------------------------------


def kinds(line, params):
    yield type(line).__name__, line.strip()


def test_text_inputs_are_str_by_default_and_bytes_when_asked(disco_cluster, http_server,
                                                             monkeypatch):
    url = http_server.add("word.txt", "word\n")
    job = Job().run(input=[url, "raw://raw"], map=kinds)
    assert sorted(result_iterator(job.wait(timeout=120))) == [("str", "raw"), ("str", "word")]
    # the job's setting, as the original handed text to job functions: bytes lines; raw://
    # data was always text
    job = Job().run(input=[url, "raw://raw"], map=kinds, text_inputs="bytes")
    assert sorted(result_iterator(job.wait(timeout=120))) == [("bytes", b"word"),
                                                              ("str", "raw")]
    # the client's setting travels in the job pack, and result_iterator follows it
    monkeypatch.setenv("DISCO_TEXT_INPUTS", "bytes")
    job = Job().run(input=[url], map=kinds)
    assert list(result_iterator(job.wait(timeout=120))) == [("bytes", b"word")]
    assert list(result_iterator([url], reader=None)) == [b"word\n"]
    monkeypatch.delenv("DISCO_TEXT_INPUTS")
    assert list(result_iterator([url], reader=None)) == ["word\n"]


def test_an_unknown_text_inputs_mode_is_refused_naming_the_choices(disco_cluster,
                                                                   monkeypatch):
    with pytest.raises(DiscoError, match="text_inputs='utf16' is not one of str, bytes"):
        Job().run(input=["raw://x"], map=kinds, text_inputs="utf16")
    monkeypatch.setenv("DISCO_TEXT_INPUTS", "latin1")
    with pytest.raises(DiscoError, match="DISCO_TEXT_INPUTS='latin1' is not one of"):
        list(result_iterator(["raw://x"], reader=None))


# -- many inputs -----------------------------------------------------------------------------


def jobdict_seen_by_the_task(line, params):
    from disco_core.jobpack import SMALL_JOBDICT
    with open(os.path.join(os.path.dirname(Task.jobfile), SMALL_JOBDICT)) as f:  # noqa: F821
        import json
        small = json.load(f)
    yield line.strip(), sorted(small)


def test_tasks_read_the_jobdict_without_the_jobs_inputs(disco_cluster, tmp_path):
    # a job of 50,000 inputs has a jobdict of megabytes: each task reads the node's copy
    # without the inputs instead of parsing it all
    from disco_core.jobpack import SMALL_JOBDICT, task_jobdict
    job = Job().run(input=["raw://0", "raw://1", "raw://2"], map=jobdict_seen_by_the_task)
    keys = dict(result_iterator(job.wait(timeout=120)))["0"]
    assert "input" not in keys and "prefix" in keys and "worker" in keys
    pack = job.jobpack()
    jobfile = tmp_path / "jobfile"
    jobfile.write_bytes(pack.dumps())
    assert "input" not in task_jobdict(str(jobfile))  # without the node's copy too
    assert task_jobdict(str(jobfile))["prefix"] == "Job"
    (tmp_path / SMALL_JOBDICT).write_text('{"prefix": "from the copy"}')
    assert task_jobdict(str(jobfile)) == {"prefix": "from the copy"}
