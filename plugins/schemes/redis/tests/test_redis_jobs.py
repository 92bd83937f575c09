"""Jobs that read from and write to a real redis-server, on a real cluster."""
import functools
import os
import time

import pytest

from disco.core import Job, result_iterator


def words(record, params):
    _doc, line = record
    for word in line.split():
        yield word, 1


def total(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def lists(client):
    return {k.decode(): [v.decode() for v in client.lrange(k, 0, -1)] for k in client.keys()}


def test_a_job_reads_one_database_and_writes_another(disco_cluster, redis_server, fill):
    from disco.schemes.scheme_redis import redis_output_stream
    lines = [("doc:1", "the cat sat"), ("doc:1", "on the mat"), ("doc:2", "the end")]
    source = fill(redis_server, 1, lines)
    target = redis_server.url(2)
    job = Job().run(input=[source], map=words, reduce=total, partitions=2,
                    reduce_output_stream=(redis_output_stream,), params={"url": target})
    results = job.wait(timeout=120)
    assert len(results) == 2  # one output per reduce task, each naming the database
    assert lists(redis_server.client(2)) == {"the": ["3"], "cat": ["1"], "sat": ["1"],
                                              "on": ["1"], "mat": ["1"], "end": ["1"]}
    assert lists(redis_server.client(1)) == {"doc:1": ["the cat sat", "on the mat"],
                                              "doc:2": ["the end"]}


def split(interface, state, label, inp):
    for _doc, line in inp:
        for word in line.split():
            interface.output(0).add(word, "1")


def count(interface, state, label, inp):
    counts = {}
    for word, one in inp:
        counts[word] = counts.get(word, 0) + int(one)
    for word in sorted(counts):
        interface.output(0).add(word, counts[word])


def test_intermediate_data_in_redis_between_pipeline_stages(disco_cluster, redis_server, fill):
    from disco.schemes.scheme_redis import redis_inter_stream_in, redis_inter_stream_out
    from disco.worker.pipeline.worker import Stage, Worker
    from disco.worker.task_io import task_input_stream
    source = fill(redis_server, 1, [("d", "a b a"), ("d", "c a")])
    port = redis_server.port

    def server(partition, url, params):
        return "redis://127.0.0.1:%d:%d" % (port, 6 + partition)
    out = functools.partial(redis_inter_stream_out, redis_server=server)
    pipeline = [("split", Stage("map", process=split, output_chain=[out])),
                ("group_label", Stage("reduce", process=count,
                                      input_chain=[task_input_stream, redis_inter_stream_in]))]
    job = Job(worker=Worker(pipeline)).run(input=[source])
    assert sorted(result_iterator(job.wait(timeout=120))) == [("a", 3), ("b", 1), ("c", 1)]
    assert lists(redis_server.client(6)) == {"a": ["1"] * 3, "b": ["1"], "c": ["1"]}


def slow_start(record, params):
    """Waits, on the first record of the first try, until the test says go."""
    started = os.path.join(params["dir"], "started")
    if not os.path.exists(started):
        open(started, "w").close()
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(params["dir"], "go")):
            assert time.time() < deadline, "the test never said go"
            time.sleep(0.05)
    key, value = record
    yield key, int(value)


def test_the_input_server_going_away_mid_job_fails_the_task_and_the_retry_reads_it_all(
        disco_cluster, redis_server, fill, tmp_path_factory):
    from conftest import RedisServer

    from disco.schemes.scheme_redis import redis_output_stream
    records = [("k%d" % i, str(n)) for i in range(1000) for n in (1, 2)]
    source = RedisServer(str(tmp_path_factory.mktemp("source"))).start()
    try:
        url = fill(source, 0, records)
        target = redis_server.url(3)
        work = tmp_path_factory.mktemp("flags")
        job = Job().run(input=[url], map=slow_start, reduce=total,
                        reduce_output_stream=(redis_output_stream,),
                        params={"url": target, "dir": str(work)})
        deadline = time.time() + 60
        while not (work / "started").exists():
            assert time.time() < deadline, "the map task never started"
            time.sleep(0.05)
        source.kill()  # mid-read: the task holds its first hundred keys, not the rest
        source.start()  # the same port, empty: the retry reads the data put back now
        fill(source, 0, records)
        (work / "go").touch()
        job.wait(timeout=120)
        messages = [event[2] for _offset, event in job.events()]
        failed = [m for m in messages if "went away" in m]
        assert failed and url in failed[0], messages
        assert any("seconds before retrying" in m for m in messages), messages
        got = lists(redis_server.client(3))
        assert got == {"k%d" % i: ["3"] for i in range(1000)}  # every key once: the retry's
    finally:
        source.stop()


def test_without_the_plugin_redis_urls_name_the_package(redis_server):
    from disco.error import DiscoError
    from disco_core.testing import running_cluster
    with running_cluster(extra_env={"DISCO_DISABLE_PLUGINS": "disco-plugin-redis"}):
        with pytest.raises(DiscoError) as err:
            Job().run(input=[redis_server.url(0)], map=words).wait(timeout=120)
        assert "no plugin handles 'redis://': pip install disco-plugin-redis" in str(err.value)
        # the output stream is named in the job pack and looked up on the node
        from disco.error import JobError
        from disco.schemes.scheme_redis import redis_output_stream
        with pytest.raises(JobError) as err:
            Job().run(input=["raw://a b"], map=lambda line, params: [(line, 1)],
                      reduce_output_stream=(redis_output_stream,), reduce=total,
                      params={"url": redis_server.url(0)}).wait(timeout=120)
        assert "no plugin handles 'redis://': pip install disco-plugin-redis" in str(err.value)
    assert redis_server.client(0).dbsize() == 0
