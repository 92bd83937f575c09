"""Classic jobs through the public Python API, on a real one-machine cluster."""
import csv
import functools
import sys
import textwrap

import pytest

from disco.core import Disco, Job, result_iterator
from disco.error import JobError
from disco.worker.classic.func import default_partition, sum_combiner, sum_reduce
from disco.worker.task_io import chain_reader

TEXT = "the cat sat\non the mat\nthe end\n"
COUNTS = [("cat", 1), ("end", 1), ("mat", 1), ("on", 1), ("sat", 1), ("the", 3)]


def words(line, params):
    for word in line.split():
        yield word, 1


def count_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


class WordCount(Job):
    partitions = 3
    map = staticmethod(words)

    def reduce(self, iter, params):
        totals = {}
        for word, n in iter:
            totals[word] = totals.get(word, 0) + n
        return sorted(totals.items())


class OutReduce(Job):
    @staticmethod
    def map(line, params):
        for word in line.split():
            yield word, len(word)

    @staticmethod
    def reduce(iter, out, params):
        for word, length in sorted(iter):
            out.add(word.upper(), length)


@pytest.fixture
def text_url(http_server):
    return http_server.add("text.txt", TEXT)


def stage_tasks(job, stage):
    for name, pending, waiting, running, done, failed in job.jobinfo()["pipeline"]:
        if name == stage:
            return done
    raise AssertionError("no stage %s" % stage)


def test_job_subclass_with_partitions(disco_cluster, text_url):
    job = WordCount().run(input=[text_url])
    assert sorted(result_iterator(job.wait(timeout=120))) == COUNTS
    assert job.name.startswith("WordCount@")
    # a reduce for each label the words got
    labels = {default_partition(word, 3, None) for word, _ in COUNTS}
    assert stage_tasks(job, "reduce") == len(labels) > 1


def test_reduce_with_out_add(disco_cluster, text_url):
    job = OutReduce().run(input=[text_url])
    assert list(result_iterator(job.wait(timeout=120))) == [
        ("CAT", 3), ("END", 3), ("MAT", 3), ("ON", 2), ("SAT", 3), ("THE", 3), ("THE", 3),
        ("THE", 3)]


def test_lambdas_closures_and_params(disco_cluster, text_url):
    from disco.core import Params
    suffix = "!"
    job = Job().run(input=[text_url],
                    map=lambda line, params: ((w + suffix, params.n) for w in line.split()),
                    reduce=sum_reduce, params=Params(n=10))
    assert sorted(result_iterator(job.wait(timeout=120))) == [(w + "!", n * 10) for w, n in COUNTS]


def test_functools_partial_map(disco_cluster, text_url):
    def weighted(line, params, weight):
        for w in line.split():
            yield w, weight
    job = Job().run(input=[text_url], map=functools.partial(weighted, weight=2),
                    reduce=sum_reduce)
    assert sorted(result_iterator(job.wait(timeout=120))) == [(w, 2 * n) for w, n in COUNTS]


def test_sort_across_maps_and_external_spill(disco_cluster, http_server):
    urls = [http_server.add("n%d.txt" % i, "".join("%d\n" % ((j * 7919 + i) % 1000)
                                                  for j in range(500))) for i in range(3)]

    def ident(iter, params):
        for k, v in iter:
            yield k, v
    job = Job().run(input=urls, map=lambda line, params: [(int(line), None)],
                    reduce=ident, sort=True, sort_buffer_size=2000)
    keys = [k for k, _ in result_iterator(job.wait(timeout=120))]
    assert len(keys) == 1500
    assert keys == sorted(keys)


def test_combiner_and_partition_functions(disco_cluster, text_url):
    calls = []

    def first_letter(key, nr, params):
        return 0 if key < "m" else 1

    def combine(key, value, buf, done, params):
        if done:
            return [(k, v) for k, v in sorted(buf.items())]
        buf[key] = buf.get(key, 0) + value

    job = Job().run(input=[text_url], map=words, combiner=combine, partition=first_letter,
                    partitions=2, reduce=sum_reduce)
    assert sorted(result_iterator(job.wait(timeout=120))) == COUNTS
    assert calls == []


def test_sum_combiner_with_default_partition(disco_cluster, http_server):
    urls = [http_server.add("p%d.txt" % i, TEXT * 50) for i in range(4)]
    job = Job().run(input=urls, map=words, combiner=sum_combiner, reduce=sum_reduce,
                    partitions=2)
    assert sorted(result_iterator(job.wait(timeout=120))) == [(w, n * 200) for w, n in COUNTS]


def mixed_values(line, params):
    yield from [("one", True), ("two", True), ("two", True), ("half", 0.5), ("half", 1)]
    if line == "lists":
        yield "list", [1]


def test_sum_combiner_sums_as_the_function_does(disco_cluster):
    job = Job().run(input=["raw://x"], map=mixed_values, combiner=sum_combiner)
    got = dict(result_iterator(job.wait(timeout=120)))
    assert got == {"one": 1, "two": 2, "half": 1.5}
    assert type(got["one"]) is int and type(got["half"]) is float  # 0 + True is 1
    job = Job().run(input=["raw://lists"], map=mixed_values, combiner=sum_combiner)
    with pytest.raises(JobError) as info:
        job.wait(timeout=120)
    assert "unsupported operand type(s) for +: 'int' and 'list'" in str(info.value)
    assert "During handling" not in str(info.value)


def test_map_only_and_reduce_only_jobs(disco_cluster, text_url):
    mapped = Job().run(input=[text_url], map=words, partitions=2)
    results = mapped.wait(timeout=120)
    assert all(r[0].startswith("dir://") for r in results)
    assert sorted(result_iterator(results)) == sorted((w, 1) for w, n in COUNTS
                                                       for _ in range(n))
    reduced = Job().run(input=results, reduce=count_reduce)
    assert list(result_iterator(reduced.wait(timeout=120))) == COUNTS


def test_raw_inputs_and_custom_text_reader(disco_cluster, http_server):
    url = http_server.add("rows.csv", "name,qty\npear,3\nfig,5\n")

    def read_csv(fd, size, url, params):
        rows = csv.reader(fd)
        next(rows)
        for row in rows:
            yield row

    job = Job().run(input=[url, "raw://plum,7"], map_reader=read_csv,
                    map=lambda row, params: [(row[0], int(row[1]))] if len(row) == 2 else [])
    # the raw input has no header line, so read_csv skips its only row
    assert sorted(result_iterator(job.wait(timeout=120))) == [("fig", 5), ("pear", 3)]


def test_print_in_map_shows_in_events(disco_cluster):
    def chatty(line, params):
        print("looking at", line.strip())
        yield line.strip(), 1
    job = Job().run(input=["raw://hello"], map=chatty)
    job.wait(timeout=120)
    messages = [event[2] for _offset, event in job.events()]
    assert any("MSG: [map:0] looking at hello" in m for m in messages), messages


def test_wait_show_prints_progress(disco_cluster, capsys):
    job = Job().run(input=["raw://a b"], map=words, reduce=sum_reduce)
    job.wait(show=True, timeout=120)
    err = capsys.readouterr().err
    assert "READY: Job done" in err
    assert "Status: [" in err


def test_required_modules_are_shipped(disco_cluster, tmp_path, monkeypatch):
    (tmp_path / "helpers_for_test.py").write_text(textwrap.dedent("""
        def shout(word):
            return word.upper()
        """))
    (tmp_path / "jobs_for_test.py").write_text(textwrap.dedent("""
        from disco.job import Job
        import helpers_for_test

        class ShoutJob(Job):
            @staticmethod
            def map(line, params):
                for word in line.split():
                    yield helpers_for_test.shout(word), 1
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import jobs_for_test
    job = jobs_for_test.ShoutJob().run(input=["raw://a b"])
    assert sorted(result_iterator(job.wait(timeout=120))) == [("A", 1), ("B", 1)]
    # the node could not have imported them from anywhere but the job home
    for mod in ("jobs_for_test", "helpers_for_test"):
        sys.modules.pop(mod, None)


def test_chain_reader_reads_previous_results(disco_cluster):
    first = Job().run(input=["raw://1", "raw://2"], map=lambda line, p: [(int(line), "x")])
    second = Job().run(input=first.wait(timeout=120), map_reader=chain_reader,
                       map=lambda kv, p: [(kv[0] * 10, kv[1])])
    assert sorted(result_iterator(second.wait(timeout=120))) == [(10, "x"), (20, "x")]


def test_client_methods(disco_cluster):
    disco = Disco()
    job = Job().run(input=["raw://x"], map=words)
    assert job.wait(timeout=120) == disco.results(job.name)[1]
    assert any(name == job.name for _t, status, name in disco.joblist())
    info = disco.jobinfo(job.name)
    assert info["active"] == "ready"
    assert [s[0] for s in info["pipeline"]] == ["map", "map_shuffle"]
    assert "localhost" in disco.nodeinfo()
    disco.purge(job.name)
    assert disco.results(job.name) == ("unknown job", [])


def test_kill_running_job(disco_cluster):
    import time

    def slow(line, params):
        time.sleep(60)
        yield line, 1
    job = Job().run(input=["raw://x"], map=slow)
    job.kill()
    with pytest.raises(JobError) as err:
        job.wait(timeout=120)
    assert "dead" in str(err.value)


def test_a_job_without_inputs_finishes_with_no_results(disco_cluster):
    # the original ran a job with no inputs (input=[], or none given) as an empty job
    for job in (Job().run(map=words), Job().run(input=[], map=words, reduce=sum_reduce)):
        assert list(result_iterator(job.wait(timeout=60))) == []
        assert job.jobinfo()["active"] == "ready"
