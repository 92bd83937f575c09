"""Jobs that write DiscoDB results and jobs that query them, on a real cluster."""
import pytest

from disco.core import Job, result_iterator

DOCS = ["doc1 the cat sat", "doc2 the hat", "doc3 a cat in a hat"]


def index(line, params):
    doc, *words = line.split()
    for word in words:
        yield word, doc


def keep(iter, params):
    for word, doc in iter:
        yield word, doc


def found(record, params):
    yield record, 1


def an_index(disco_cluster, unique=True, partitions=1):
    from disco.schemes.scheme_discodb import discodb_stream
    job = Job().run(input=["raw://%s" % d for d in DOCS], map=index, reduce=keep,
                    partitions=partitions, reduce_output_stream=discodb_stream,
                    params={"unique_items": unique})  # doc3 has "a" twice
    return job.wait(timeout=120)


def test_a_job_writes_discodbs_and_the_next_queries_them(disco_cluster):
    from disco.schemes.scheme_discodb import inputs
    results = an_index(disco_cluster)  # one DiscoDB, of every word
    urls = inputs(results, "query/cat/hat")  # the documents with both words
    assert len(urls) == 1 and urls[0].startswith("discodb://")
    query = Job().run(input=urls, map=found)
    assert sorted(result_iterator(query.wait(timeout=120))) == [("doc3", 1)]
    split = an_index(disco_cluster, partitions=2)  # two DiscoDBs, each of some words
    assert len(inputs(split)) == 2
    keys = Job().run(input=inputs(split), map=found)
    assert sorted(k for k, _ in result_iterator(keys.wait(timeout=120))) == [
        "a", "cat", "hat", "in", "sat", "the"]


def test_a_discodb_with_a_value_twice_under_a_key_cannot_be_queried(disco_cluster):
    from disco.error import JobError
    from disco.schemes.scheme_discodb import inputs
    urls = inputs(an_index(disco_cluster, unique=False), "query/a")
    with pytest.raises(JobError) as err:
        Job().run(input=urls, map=found).wait(timeout=120)
    assert "write it with the job's params unique_items=True" in str(err.value)


def by_reader(db, size, url, params):
    """A map_reader written for the original: it gets the DiscoDB and queries it."""
    for doc in db.query(params["q"]):
        yield doc.decode()


def test_a_map_reader_gets_the_discodb(disco_cluster):
    from disco.schemes.scheme_discodb import inputs
    job = Job().run(input=inputs(an_index(disco_cluster)), map_reader=by_reader,
                    map=found, params={"q": "the"})
    assert sorted(result_iterator(job.wait(timeout=120))) == [("doc1", 1), ("doc2", 1)]


def test_without_the_plugin_discodb_urls_and_the_stream_name_the_package():
    from disco.error import DiscoError, JobError
    from disco.schemes.scheme_discodb import discodb_stream
    from disco_core.testing import running_cluster
    with running_cluster(extra_env={"DISCO_DISABLE_PLUGINS": "disco-plugin-discodb"}):
        with pytest.raises(DiscoError) as err:
            Job().run(input=["discodb://localhost/disco/x"], map=found).wait(timeout=120)
        assert "no plugin handles 'discodb://': pip install disco-plugin-discodb" in \
            str(err.value)
        with pytest.raises(JobError) as err:
            Job().run(input=["raw://a b"], map=index, reduce=keep,
                      reduce_output_stream=discodb_stream).wait(timeout=120)
        assert "no plugin handles 'discodb://': pip install disco-plugin-discodb" in \
            str(err.value)
