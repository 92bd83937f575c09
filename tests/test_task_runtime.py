"""What a task can do besides map and reduce: runtime helpers, OOB values, required files,
binary inputs, redundant inputs, save_results without storage."""
from disco.core import Disco, Job, result_iterator


def test_runtime_helpers_and_oob(disco_cluster):
    def mapper(line, params):
        put("seen-" + line.strip(), line.strip().upper())  # noqa: F821
        yield this_name(), [this_host(), this_partition(), this_inputs()]  # noqa: F821
    job = Job().run(input=["raw://a", "raw://b"], map=mapper)
    results = sorted(result_iterator(job.wait(timeout=120)), key=lambda kv: kv[1][2])
    assert [r[0] for r in results] == [job.name, job.name]
    assert results[0][1] == ["localhost", 0, ["raw://a"]]
    disco = Disco()
    assert sorted(disco.oob_list(job.name)) == ["seen-a", "seen-b"]
    assert disco.oob_get(job.name, "seen-b") == b"B"
    assert disco_cluster.cli("oob", "get", "seen-a", job.name).stdout == "A"


def test_required_files_reach_the_task(disco_cluster, tmp_path):
    data = tmp_path / "lookup.txt"
    data.write_text("x=10\ny=20\n")

    def mapper(line, params):
        import os
        table = dict(kv.split("=") for kv in open(os.path.join("lib", "lookup.txt")).read().split())
        yield line.strip(), int(table[line.strip()])
    job = Job().run(input=["raw://y"], map=mapper, required_files=[str(data)])
    assert list(result_iterator(job.wait(timeout=120))) == [("y", 20)]


def test_binary_input_read_whole_by_a_custom_reader(disco_cluster, http_server):
    image = bytes(range(256)) * 40 + b"\x89PNG\r\n\x1a\n\xff\x00"
    url = http_server.add("picture.bin", image)

    def whole(fd, size, url, params):
        yield fd.buffer.read()
    job = Job().run(input=[url], map_reader=whole,
                    map=lambda data, params: [(len(data), data[-10:])])
    assert list(result_iterator(job.wait(timeout=120))) == [(len(image), image[-10:])]


def test_redundant_inputs_use_the_replica_that_works(disco_cluster, http_server):
    good = http_server.add("good.txt", "fine\n")
    bad = http_server.url("missing.txt")
    job = Job().run(input=[[bad, good]], map=lambda line, p: [(line.strip(), 1)])
    assert list(result_iterator(job.wait(timeout=120))) == [("fine", 1)]


def test_save_results_without_storage_says_so():
    from disco_core.testing import running_cluster
    with running_cluster(extra_env={"DISCO_DISABLE_PLUGINS": "disco-plugin-ddfs"}):
        job = Job().run(input=["raw://s"], map=lambda line, p: [(line, 1)], save_results=True)
        assert list(result_iterator(job.wait(timeout=120))) == [("s", 1)]
        events = [e[2] for _o, e in job.events()]
    assert any("save_results is ignored: no storage plugin is installed" in e for e in events)


def _address_space_limit(line, params):
    import resource
    yield "limit", resource.getrlimit(resource.RLIMIT_AS)[0]


def test_workers_memory_is_capped_by_disco_worker_max_mem():
    from disco_core.testing import running_cluster
    with running_cluster(extra_env={"DISCO_WORKER_MAX_MEM": "3G"}):
        job = Job().run(input=["raw://m"], map=_address_space_limit)
        assert list(result_iterator(job.wait(timeout=120))) == [("limit", 3 << 30)]
    # a value that is not a size is reported in the job's events, and the task still runs
    # (here on the path that starts workers without the fork server)
    with running_cluster(extra_env={"DISCO_WORKER_MAX_MEM": "lots",
                                    "DISCO_WORKER_FORK": "0"}):
        job = Job().run(input=["raw://m"], map=_address_space_limit)
        import resource
        assert list(result_iterator(job.wait(timeout=120))) == [
            ("limit", resource.getrlimit(resource.RLIMIT_AS)[0])]
        events = [e[2] for _o, e in job.events()]
        assert any("DISCO_WORKER_MAX_MEM='lots' is not applied" in e for e in events)
