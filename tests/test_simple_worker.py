"""The simple worker (``disco.worker.simple``) and ``disco.job.SimpleJob``: a job's stages
are its methods, reading ``worker.input(task)`` and writing ``worker.output(task, label)``."""
from __future__ import annotations

import pytest

from disco.core import result_iterator
from disco.error import DiscoError, JobError
from disco.job import JOBPACK_VERSION2, SimpleJob
from disco.worker.simple import Worker
from disco_core.worker import FatalError
from disco_core.worker.task import Task

TEXT_A = "the cat saw the dog\n"
TEXT_B = "a dog\nthe end"


class WordCount(SimpleJob):
    def map(self, worker, task, **jobargs):
        out = worker.output(task)
        assert worker.output(task, None) is out  # one Output per label
        for line in worker.input(task):
            for word in line.split():
                out.add(word, 1)

    def reduce(self, worker, task, **jobargs):
        counts = {}
        for word, n in worker.input(task):
            counts[word] = counts.get(word, 0) + n
        out = worker.output(task)
        for word in sorted(counts):
            out.add(word, counts[word])
        out.file.append(("total", sum(counts.values())))


class Lengths(SimpleJob):
    """Map only: words go to label 0 (short) or 1 (long); ``jobargs`` reach the method."""

    def map(self, worker, task, limit=3, **jobargs):
        for line in worker.input(task):
            for word in line.split():
                worker.output(task, int(len(word) > limit)).add(word, task.stage)


class SortedMerge(SimpleJob):
    """Each map writes its words sorted; the reduce merges the sorted inputs."""

    def map(self, worker, task, **jobargs):
        words = sorted(w for line in worker.input(task) for w in line.split())
        out = worker.output(task)
        for word in words:
            out.add(word, task.group_label)

    def reduce(self, worker, task, **jobargs):
        out = worker.output(task)
        for word, _label in worker.input(task, merged=True):
            out.add(word, "")


class ThreeStages(SimpleJob):
    """Named stages: split -> group_label -> group_all."""

    stages = [("split_words", "split"), ("count", "group_label"), ("total", "group_all")]

    def split_words(self, worker, task, **jobargs):
        for line in worker.input(task):
            for word in line.split():
                worker.output(task, len(word) % 2).add(word, 1)

    def count(self, worker, task, **jobargs):
        counts = {}
        for word, n in worker.input(task):
            counts[word] = counts.get(word, 0) + n
        worker.output(task, task.group_label).add("distinct", len(counts))

    def total(self, worker, task, **jobargs):
        per_label = sorted(n for _key, n in worker.input(task))
        worker.output(task).add("distinct per label", per_label)


class Failing(SimpleJob):
    def map(self, worker, task, **jobargs):
        raise ValueError("the map of %s broke" % task.jobname)


class NoStages(SimpleJob):
    pass


class MissingStage(SimpleJob):
    stages = [("map", "split"), ("combine", "group_node")]

    def map(self, worker, task, **jobargs):
        pass


def test_a_simple_job_with_map_and_reduce_gives_exact_results(disco_cluster, http_server):
    job = WordCount().run(input=["raw://" + TEXT_A, http_server.add("b.txt", TEXT_B)])
    assert isinstance(job.worker, Worker) and job.worker.jobpack_version == JOBPACK_VERSION2
    results = job.wait(timeout=120)
    assert len(results) == 1  # one reduce task over every map output
    assert list(result_iterator(results)) == [
        ("a", 1), ("cat", 1), ("dog", 2), ("end", 1), ("saw", 1), ("the", 3), ("total", 9)]
    assert [row[0] for row in job.jobinfo()["pipeline"]] == ["map", "reduce"]


def test_a_map_only_simple_job_writes_labelled_outputs(disco_cluster):
    job = Lengths().run(input=["raw://a bird sang", "raw://to me"], limit=2)
    results = job.wait(timeout=120)
    assert sorted(result_iterator(results)) == [
        ("a", "map"), ("bird", "map"), ("me", "map"), ("sang", "map"), ("to", "map")]
    # every map task wrote label 0 (short words) and, the first, label 1 (long words)
    from disco_core.worker.dataio import read_index
    labels = sorted(label for [url] in results for label, _url, _size in read_index(url))
    assert labels == [0, 0, 1]


def test_merged_input_merges_sorted_map_outputs(disco_cluster):
    job = SortedMerge().run(input=["raw://pear apple fig", "raw://kiwi banana", "raw://date"])
    words = [w for w, _ in result_iterator(job.wait(timeout=120))]
    assert words == ["apple", "banana", "date", "fig", "kiwi", "pear"]


def test_named_stages_with_their_own_groupings(disco_cluster):
    job = ThreeStages().run(input=["raw://aa b cc b", "raw://ddd aa e"])
    assert list(result_iterator(job.wait(timeout=120))) == [("distinct per label", [2, 3])]
    assert [row[0] for row in job.jobinfo()["pipeline"]] == ["split_words", "count", "total"]


def test_an_error_in_a_stage_method_fails_the_job_with_its_traceback(disco_cluster):
    job = Failing().run(input=["raw://x"])
    with pytest.raises(JobError) as info:
        job.wait(timeout=120)
    assert "ValueError: the map of %s broke" % job.name in str(info.value)


def test_a_simple_job_without_stage_methods_is_refused(disco_cluster):
    with pytest.raises(DiscoError, match="NoStages has no stage to run: define map\\(self, "
                                         "worker, task, \\*\\*jobargs\\) and/or reduce"):
        NoStages().run(input=["raw://x"])
    with pytest.raises(DiscoError, match="MissingStage has no method for its stage 'combine': "
                                         "define combine\\(self, worker, task, \\*\\*jobargs\\)"):
        MissingStage().run(input=["raw://x"])
    with pytest.raises(DiscoError, match="unknown grouping 'by_magic' of stage 'map'"):
        WordCount().run(input=["raw://x"], stages=[("map", "by_magic")])


def test_a_simple_job_with_no_inputs_finishes_with_no_results(disco_cluster):
    job = WordCount().run(input=[])
    assert list(result_iterator(job.wait(timeout=60))) == []


def test_a_run_argument_may_give_a_stage_function(disco_cluster):
    def shout(worker, task, **jobargs):
        for line in worker.input(task):
            worker.output(task).add(line.strip().upper(), len(jobargs["input"]))
    job = NoStages().run(input=["raw://hi", "raw://yo"], map=shout)
    assert sorted(result_iterator(job.wait(timeout=120))) == [("HI", 2), ("YO", 2)]


def test_a_task_of_a_stage_the_job_lacks_is_fatal(tmp_path):
    task = Task(stage="reduce", jobfile=str(tmp_path / "jobfile"))
    job = Lengths()
    with pytest.raises(FatalError, match="the job's stages are map; it has no stage 'reduce'"):
        job.worker.start(task, job, {}, None)
