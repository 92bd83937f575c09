"""Counters: job functions count things; only the attempt whose output was accepted
counts, so retries and failed attempts never double-count; they are live while the job
runs, over REST, in the client, in `disco counters` and on the job page."""
import urllib.error
import urllib.request

import pytest

from disco.core import Job, result_iterator
from disco.worker.pipeline.worker import Stage, Worker as PipelineWorker
from disco_core.protocol import is_counts
from disco_core.testing import wait_for


def counting_map(line, params):
    """Counts its words; fails after counting on the first attempt of each input."""
    import os
    for word in line.split():
        counters.add("words")  # noqa: F821 (a global job functions are given)
        if word.startswith("x"):
            counters.add("x_words", 1)  # noqa: F821
        yield word, 1
    marker = os.path.join(params["dir"], "tried-" + line.replace(" ", "_"))
    if params.get("fail_first") and not os.path.exists(marker):
        open(marker, "w").close()
        raise IOError("the first attempt fails after counting")


def counting_reduce(iter, params):
    from disco import counters as imported
    from disco.util import kvgroup
    for word, ones in kvgroup(sorted(iter)):
        imported.add("distinct")
        yield word, sum(ones)


def test_counts_of_a_job_without_failures(disco_cluster, tmp_path):
    job = Job().run(input=["raw://a xb c", "raw://xd e"], map=counting_map,
                    reduce=counting_reduce, params={"dir": str(tmp_path)})
    assert dict(result_iterator(job.wait(timeout=120))) == {
        "a": 1, "xb": 1, "c": 1, "xd": 1, "e": 1}
    assert job.counters() == {"words": 5, "x_words": 2, "distinct": 5}
    assert disco_cluster.disco.counters(job.name, running=True) == {
        "counters": {"words": 5, "x_words": 2, "distinct": 5}, "running": {}}
    out = disco_cluster.cli("counters", job.name).stdout.split("\n")
    assert [line.split() for line in out if line] == [["distinct", "5"], ["words", "5"],
                                                     ["x_words", "2"]]
    job.purge()


def test_a_retried_attempt_does_not_count_twice(disco_cluster, tmp_path):
    job = Job().run(input=["raw://a b c", "raw://d e", "raw://xf"], map=counting_map,
                    params={"dir": str(tmp_path), "fail_first": True})
    words = sorted(w for w, _ in result_iterator(job.wait(timeout=120)))
    assert words == ["a", "b", "c", "d", "e", "xf"]
    # every map ran twice and counted both times; only the accepted attempts count
    assert job.counters() == {"words": 6, "x_words": 1}
    events = disco_cluster.cli("events", job.name).stdout
    assert events.count("failed on \\\"localhost\\\"") == 3  # three retries
    job.purge()


def slow_counting_map(line, params):
    import time
    for i in range(int(params["n"])):
        counters.add("ticks")  # noqa: F821
        time.sleep(0.05)
    yield line, 1


def test_counters_are_live_while_the_job_runs(disco_cluster):
    job = Job().run(input=["raw://slow"], map=slow_counting_map, params={"n": 80})
    # ~4 s of counting: the running attempt's counts show before it ends
    view = wait_for(lambda: (lambda v: v["running"].get("ticks", 0) > 0 and v)(
        disco_cluster.disco.counters(job.name, running=True)), timeout=30)
    assert view["counters"] == {} and 0 < view["running"]["ticks"] < 80
    out = disco_cluster.cli("counters", job.name).stdout
    assert "ticks" in out and "running" in out
    job.wait(timeout=120)
    assert job.counters() == {"ticks": 80}
    assert disco_cluster.disco.counters(job.name, running=True)["running"] == {}
    job.purge()


def bad_counter(line, params):
    counters.add("", 1)  # noqa: F821
    yield line, 1


def bad_amount(line, params):
    counters.add("n", "three")  # noqa: F821
    yield line, 1


@pytest.mark.parametrize("fun, words", [(bad_counter, "a counter's name is a string"),
                                        (bad_amount, "n is a finite number")])
def test_a_bad_counter_fails_the_task_with_a_clear_error(disco_cluster, fun, words):
    job = Job().run(input=["raw://a"], map=fun)
    with pytest.raises(Exception):
        job.wait(timeout=120)
    assert words in disco_cluster.cli("events", job.name).stdout
    job.purge()


def pipeline_count(interface, state, label, inp):
    from disco import counters
    for record in inp:
        counters.add("records")
        interface.output(0).add(record, 1)


def test_pipeline_jobs_count_too(disco_cluster):
    job = Job(worker=PipelineWorker([("split", Stage("count", process=pipeline_count))]))
    job.run(input=["raw://one", "raw://two", "raw://three"])
    assert sorted(k for k, _ in result_iterator(job.wait(timeout=120))) == ["one", "three", "two"]
    assert job.counters() == {"records": 3}
    job.purge()


def test_counters_of_an_unknown_job_are_a_404(disco_cluster):
    with pytest.raises(urllib.error.HTTPError) as exc:
        disco_cluster.urlopen("/disco/ctrl/counters?name=NoSuchJob")
    assert exc.value.code == 404


def test_count_messages_are_checked():
    assert is_counts({"a": 1, "b": 2.5})
    assert not is_counts({"a": True}) and not is_counts({"": 1}) and not is_counts([1])
    assert not is_counts({"a": float("nan")}) and not is_counts({"a": "1"})
    assert not is_counts({str(i): 1 for i in range(1001)})


def test_counters_survive_the_job_leaving_memory(tmp_path):
    from disco_core.testing import running_cluster
    with running_cluster(extra_env={"DISCO_KEEP_FINISHED_JOBS": "1"}) as cluster:
        first = Job().run(input=["raw://a xb"], map=counting_map, params={"dir": str(tmp_path)})
        first.wait(timeout=120)
        second = Job().run(input=["raw://c"], map=counting_map, params={"dir": str(tmp_path)})
        second.wait(timeout=120)
        assert cluster.disco.counters(first.name) == {"words": 2, "x_words": 1}
