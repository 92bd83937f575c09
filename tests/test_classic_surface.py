"""More of the classic worker's parameters, through the public API."""
from disco.core import Job, result_iterator
from disco.worker.classic.func import nop_map, sum_reduce


def test_map_init_and_reduce_init(disco_cluster):
    def map_init(input_iter, params):
        params.factor = 3

    def reduce_init(input_iter, params):
        params.offset = 100

    def mapper(line, params):
        yield line.strip(), params.factor

    def reducer(iter, params):
        for k, v in iter:
            yield k, v + params.offset
    job = Job().run(input=["raw://a"], map=mapper, map_init=map_init, reduce=reducer,
                    reduce_init=reduce_init)
    assert list(result_iterator(job.wait(timeout=120))) == [("a", 103)]


def test_unpartitioned_map_only_job(disco_cluster):
    job = Job().run(input=["raw://a", "raw://b", "raw://c"],
                    map=lambda line, p: [(line, 1)], partitions=None)
    results = job.wait(timeout=120)
    assert sorted(result_iterator(results)) == [("a", 1), ("b", 1), ("c", 1)]


def test_custom_output_stream_and_reader(disco_cluster):
    from disco.worker.task_io import task_output_stream

    class TextOut:
        def __init__(self, stream):
            self.stream = stream

        def add(self, k, v):
            self.stream.write(("%s=%s\n" % (k, v)).encode())

        def close(self):
            pass

    def text_output(stream, partition, url, params):
        return TextOut(stream)

    def text_reader(fd, size, url, params):
        for line in fd:
            k, v = line.rstrip("\n").split("=")
            yield k, int(v)

    job = Job().run(input=["raw://x y x"], map=lambda line, p: [(w, 1) for w in line.split()],
                    map_output_stream=(task_output_stream, text_output),
                    reduce_reader=text_reader, reduce=sum_reduce)
    assert sorted(result_iterator(job.wait(timeout=120))) == [("x", 2), ("y", 1)]


def test_explicit_required_modules(disco_cluster, tmp_path, monkeypatch):
    import sys
    (tmp_path / "explicit_helper.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def mapper(line, params):
        import explicit_helper
        yield line, explicit_helper.VALUE
    try:
        job = Job().run(input=["raw://q"], map=mapper, required_modules=["explicit_helper"])
        assert list(result_iterator(job.wait(timeout=120))) == [("q", 42)]
    finally:
        sys.modules.pop("explicit_helper", None)


def test_nop_map_passes_entries(disco_cluster):
    first = Job().run(input=["raw://k"], map=lambda line, p: [(line, "v")])
    from disco.worker.task_io import chain_reader
    second = Job().run(input=first.wait(timeout=120), map=nop_map, map_reader=chain_reader)
    assert list(result_iterator(second.wait(timeout=120))) == [("k", "v")]


def test_job_chain_runs_jobs_when_their_inputs_are_ready(disco_cluster):
    from disco.core import JobChain
    from disco.worker.task_io import chain_reader
    first = Job(name="First")
    second = Job(name="Second")
    chain = JobChain({first: ["raw://1", "raw://2"], second: [first]})
    # a chain runs each job with its own attributes as parameters
    first.map = lambda line, p: [(int(line), 1)]
    second.map = lambda kv, p: [(kv[0] * 100, kv[1])]
    second.map_reader = chain_reader
    chain.wait(poll_interval=0.1, timeout=120)
    assert sorted(result_iterator(second.wait(timeout=120))) == [(100, 1), (200, 1)]


def test_disco_client_accepts_the_masters_address_forms(disco_cluster):
    from disco.core import Disco
    port = disco_cluster.port
    for given in ("localhost:%d" % port, "http://localhost:%d/" % port,
                  "disco://localhost"):
        disco = Disco(given)
        assert disco.master == "http://localhost:%d" % port, given
        assert repr(disco) == "Disco master at http://localhost:%d" % port
        assert disco.master_version()
