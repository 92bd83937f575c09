"""What a reduce gets from the maps of its job: every pair, each map's pairs grouped by key
(in key order when the keys are str or bytes, each key's values in the order the map yielded
them), keys of other types exactly as they were yielded."""
import io

import pytest
from disco.core import Job, result_iterator
from disco.error import JobError
from disco.worker.classic.worker import Worker

from disco_core.records import RecordWriter, read_records


def yield_params(line, params):
    return list(params)


def as_seen(iter, params):
    # one output record: the whole input in the order the reduce got it
    yield "seen", list(iter)


def seen(job):
    [(_, pairs)] = list(result_iterator(job.wait(timeout=120)))
    return pairs


def stable_by_key(pairs):
    return sorted(pairs, key=lambda kv: kv[0])


PAIRS = [("b", 1), ("a", 2), ("c", 3), ("a", 4), ("b", 5), ("a", 6)]


def test_a_map_hands_its_reduce_the_pairs_in_key_order(disco_cluster):
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=PAIRS)
    assert seen(job) == stable_by_key(PAIRS)


def test_every_map_gives_a_run_and_a_reduce_that_sorts_gets_them_all(disco_cluster):
    inputs = ["raw://x%d" % i for i in range(3)]
    job = Job().run(input=inputs, map=yield_params, reduce=as_seen, params=PAIRS)
    got = seen(job)
    assert sorted(got) == sorted(PAIRS * 3)
    # the input is the maps' sorted runs one after the other
    runs = [got[i:i + len(PAIRS)] for i in range(0, len(got), len(PAIRS))]
    assert runs == [stable_by_key(PAIRS)] * 3


def test_keys_of_other_types_reach_the_reduce_as_they_were_yielded(disco_cluster):
    pairs = [("b", 1), ("a", 2), (1, "int"), (1.0, "float"), (True, "bool"), ("a", 3),
             ((2, "t"), "tuple"), ("b", 4)]
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=pairs)
    got = seen(job)
    # the str pairs before the first other key come grouped, the rest as they came
    assert got == [("a", 2), ("b", 1)] + pairs[2:]
    assert [type(k) for k, _ in got[2:5]] == [int, float, bool]


def test_str_and_bytes_keys_together(disco_cluster):
    pairs = [("b", 1), (b"a", 2), ("a", 3), (b"a", 4), ("b", 5)]
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=pairs)
    # they do not compare: grouped in the order each key first came
    assert seen(job) == [("b", 1), ("b", 5), (b"a", 2), (b"a", 4), ("a", 3)]


def test_many_distinct_keys_come_in_order(disco_cluster):
    pairs = [("k%05d" % (i * 7919 % 10007), i) for i in range(10007)]
    pairs += [("k00001", -1), ("k10006", -2)]
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=pairs)
    assert seen(job) == stable_by_key(pairs)


def test_keys_that_come_once_each_come_in_order_in_every_partition(disco_cluster):
    pairs = [("k%05d" % (i * 7919 % 10007), (i % 2, str(i))) for i in range(10007)]
    for partitions in (1, 2):
        job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=pairs,
                        partitions=partitions)
        results = list(result_iterator(job.wait(timeout=120)))
        assert len(results) == partitions
        everything = []
        for _, got in results:
            assert got == sorted(got)
            everything.extend(got)
        assert sorted(everything) == sorted(pairs)


def test_partitions_each_get_their_keys_in_order(disco_cluster):
    pairs = [("k%03d" % (i * 37 % 100), i) for i in range(300)]
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=pairs,
                    partitions=3)
    results = list(result_iterator(job.wait(timeout=120)))
    assert len(results) == 3
    everything = []
    for _, got in results:
        assert got == stable_by_key(got)
        everything.extend(got)
    assert sorted(everything) == sorted(pairs)


def test_a_custom_partition_and_a_map_only_job_keep_the_order_yielded(disco_cluster):
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=PAIRS,
                    partitions=1, partition=lambda key, n, params: 0)
    assert seen(job) == PAIRS
    job = Job().run(input=["raw://x"], map=yield_params, params=PAIRS)
    assert list(result_iterator(job.wait(timeout=120))) == PAIRS


def test_runs_are_bounded_by_the_sort_buffer(disco_cluster):
    # a buffer of a few pairs: runs of at least 1000 pairs (the size is sampled there)
    pairs = [("k%d" % (i % 7), i) for i in range(2500)]
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=pairs,
                    sort_buffer_size=100)
    got = seen(job)
    assert sorted(got) == sorted(pairs)
    assert got != stable_by_key(pairs)  # more than one run
    assert got[:1000] == stable_by_key(pairs[:1000])


def test_status_messages_keep_under_the_nodes_rate(disco_cluster):
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=PAIRS * 50,
                    status_interval=1)
    job.wait(timeout=120)
    said = [e[2] for _o, e in job.events() if "entries reduced" in e[2]]
    assert said[-1].endswith("%d entries reduced" % (len(PAIRS) * 50))
    assert len(said) < len(PAIRS) * 50  # not one for every record


def test_status_sends_at_most_four_a_second_and_always_the_last(capsys):
    worker = Worker()
    for n in range(1, 101):
        worker.status(n, "reduced")
    worker.status(100, "reduced", final=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["1 entries reduced", "2 entries reduced", "3 entries reduced",
                     "4 entries reduced", "100 entries reduced"]


def test_record_writer_extend_across_batches():
    out = io.BytesIO()
    writer = RecordWriter(out)
    writer.add("first", 0)
    writer.extend(("k", i) for i in range(5000))
    writer.extend(iter([]))
    writer.add("last", 1)
    writer.close()
    got = list(read_records(io.BytesIO(out.getvalue())))
    assert got == [("first", 0)] + [("k", i) for i in range(5000)] + [("last", 1)]
    assert writer.count == 5002



def test_distinct_keys_of_str_and_bytes_keep_their_first_come_order(disco_cluster):
    pairs = [(("k%d" % i) if i % 2 else b"k%d" % i, i) for i in range(3000, 0, -1)]
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=pairs)
    assert seen(job) == pairs


def test_distinct_keys_yielded_as_lists_reach_the_reduce_as_pairs(disco_cluster):
    pairs = [["k%05d" % (i * 7919 % 10007), i] for i in range(3000)]
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=pairs)
    got = seen(job)
    assert got == stable_by_key([tuple(p) for p in pairs])
    assert {type(p) for p in got} == {tuple}


def test_distinct_keys_then_another_type_of_key(disco_cluster):
    head = [("k%05d" % (i * 7919 % 10007), i) for i in range(3000)]
    tail = [(7, "int"), ("b", 1), ("a", 2)]
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen, params=head + tail)
    assert seen(job) == stable_by_key(head) + tail


def test_a_map_that_yields_a_bad_pair_fails_its_job(disco_cluster):
    job = Job().run(input=["raw://x"], map=yield_params, reduce=as_seen,
                    params=[("a", 1), ("b", 2, 3)])
    with pytest.raises(JobError) as err:
        job.wait(timeout=120)
    assert "unpack" in str(err.value)
