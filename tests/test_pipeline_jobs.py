"""Pipeline jobs (``disco.worker.pipeline``) on a real cluster: every grouping, labels chosen
by tasks, several stages."""
import pytest

from disco.core import Job, result_iterator
from disco.error import DiscoError
from disco.worker.pipeline.worker import Stage, Worker


def split_words(interface, state, label, inp):
    for line in inp:
        for word in line.split():
            interface.output(len(word) % 3).add(word, 1)


def count(interface, state, label, inp):
    totals = {}
    for word, n in inp:
        totals[word] = totals.get(word, 0) + n
    for word, n in sorted(totals.items()):
        interface.output(label).add(word, n)


def run(pipeline, inputs):
    job = Job(worker=Worker(pipeline)).run(input=inputs)
    return job, job.wait(timeout=120)


def stage_done(job, name):
    for stage, pending, waiting, running, done, failed in job.jobinfo()["pipeline"]:
        if stage == name:
            return done
    raise AssertionError(name)


INPUTS = ["raw://a bb ccc a", "raw://dddd bb a", "raw://eeeee ccc"]
TOTALS = [("a", 3), ("bb", 2), ("ccc", 2), ("dddd", 1), ("eeeee", 1)]


@pytest.mark.parametrize("grouping,tasks", [("group_label", 3), ("group_node_label", 3),
                                            ("group_node", 1), ("group_all", 1),
                                            ("split", 7)])
def test_groupings_after_a_labelled_map(disco_cluster, grouping, tasks):
    job, results = run([("split", Stage("map", process=split_words)),
                        (grouping, Stage("reduce", process=count, combine=True))], INPUTS)
    records = list(result_iterator(results))
    if grouping == "split":
        # one task per (map task, label): partial counts, which still add up
        totals = {}
        for word, n in records:
            totals[word] = totals.get(word, 0) + n
        assert sorted(totals.items()) == TOTALS
    else:
        assert sorted(records) == TOTALS
    assert stage_done(job, "map") == 3
    assert stage_done(job, "reduce") == tasks


def test_labels_decide_the_number_of_reduce_tasks(disco_cluster):
    def one_label(interface, state, label, inp):
        for line in inp:
            interface.output(7).add(line.strip(), 1)
    job, results = run([("split", Stage("map", process=one_label)),
                        ("group_label", Stage("reduce", process=count, combine=True))],
                       ["raw://x", "raw://y"])
    assert stage_done(job, "reduce") == 1
    assert sorted(result_iterator(results)) == [("x", 1), ("y", 1)]


def test_three_stages_with_init_done_hook_and_sort(disco_cluster):
    def init(interface, params):
        return {"seen": []}

    def collect(interface, state, label, inp):
        for k, v in inp:
            state["seen"].append((k, v))

    def done(interface, state):
        for k, v in state["seen"]:
            interface.output(0).add(k, v * 10)

    def in_order(interface, state, label, inp):
        previous = None
        for k, v in inp:
            assert previous is None or previous <= k
            previous = k
            interface.output(0).add(k, v)

    job, results = run([("split", Stage("map", process=split_words)),
                        ("group_node_label", Stage("condense", init=init, process=collect,
                                                   done=done,
                                                   input_hook=lambda st, labels: labels[::-1])),
                        ("group_all", Stage("reduce", process=in_order, combine=True,
                                            sort=True))],
                       INPUTS)
    records = list(result_iterator(results))
    assert [k for k, _ in records] == sorted(k for k, _ in records)
    assert sorted(records) == sorted((w, 10) for w, n in TOTALS for _ in range(n))
    assert [s[0] for s in job.jobinfo()["pipeline"]] == ["map", "condense", "reduce"]


def test_taskinfo_and_interface(disco_cluster):
    def tag(interface, state, label, inp):
        info = stage.taskinfo
        for line in inp:
            interface.output(0).add(line.strip(), [info.stage, info.label, interface.host])
    stage = Stage("map", process=tag)
    job, results = run([("split", stage)], ["raw://q"])
    assert list(result_iterator(results)) == [("q", ["map", 0, "localhost"])]


def test_bad_pipelines_are_refused_at_run(disco_cluster):
    with pytest.raises(DiscoError, match="Unknown grouping"):
        Job(worker=Worker([("sideways", Stage("map"))])).run(input=["raw://x"])
    with pytest.raises(DiscoError, match="Repeated stage"):
        Job(worker=Worker([("split", Stage("a")), ("split", Stage("a"))])).run(input=["raw://x"])
    with pytest.raises(DiscoError, match="Bad Stage"):
        Job(worker=Worker([("split", "map")])).run(input=["raw://x"])


class PipeJob(Job):
    worker = None
    pipeline = [("split", Stage("map", process=split_words)),
                ("group_label", Stage("reduce", process=count, combine=True))]


def test_pipeline_as_job_attribute(disco_cluster):
    job = PipeJob(worker=Worker()).run(input=INPUTS)
    assert sorted(result_iterator(job.wait(timeout=120))) == TOTALS


def test_concurrent_stage_starts_before_its_inputs_are_complete(disco_cluster):
    def slow_words(interface, state, label, inp):
        import time
        for line in inp:
            time.sleep(float(line.split()[0]))
            for word in line.split()[1:]:
                interface.output(len(word) % 2).add(word, 1)

    job, results = run([("split", Stage("map", process=slow_words)),
                        ("group_label", Stage("reduce", process=count, combine=True), True)],
                       ["raw://0 aa b", "raw://1.5 aa cc", "raw://0 b"])
    assert sorted(result_iterator(results)) == [("aa", 2), ("b", 2), ("cc", 1)]
    events = [e[2] for _o, e in job.events()]
    started = next(i for i, e in enumerate(events) if "Stage reduce started concurrently" in e)
    first_reduce = next(i for i, e in enumerate(events) if e.startswith("reduce:"))
    map_finished = next(i for i, e in enumerate(events) if e.startswith("Stage map finished"))
    assert started < first_reduce < map_finished, events
    assert stage_done(job, "reduce") == 2
