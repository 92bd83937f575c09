"""DDFS with jobs on real clusters: tag:// inputs (one input per blob, its replicas, tokens
in the URL), chunked data, results saved under a tag, and several nodes on distinct
loopback addresses: blobs on distinct nodes, tasks beside their blob, a corrupt replica
passed over."""
import io
import os

import pytest

from disco.core import Job, result_iterator
from disco.ddfs import DDFS
from disco.worker.task_io import chain_reader
from disco_core.errors import CommError, DataError
from disco_core.testing import running_cluster


def lines(line, params):
    yield line.strip(), 1


def count(iter, params):
    from disco.util import kvgroup
    for key, ones in kvgroup(sorted(iter)):
        yield key, sum(ones)


def events(job):
    return [e[2] for _o, e in job.events()]


def test_a_tag_input_is_one_input_per_blob(disco_cluster):
    ddfs = DDFS()
    ddfs.push("test:jobs:two", [(io.BytesIO(b"a\nb\n"), "one"), (io.BytesIO(b"c\n"), "two")])
    job = Job().run(input=["tag://test:jobs:two"], map=lines)
    assert sorted(result_iterator(job.wait(timeout=120))) == [("a", 1), ("b", 1), ("c", 1)]
    assert any("Stage map scheduled with 2 tasks" in e for e in events(job)), events(job)
    ddfs.delete("test:jobs:two")


def test_the_master_expands_tags_of_a_pack_made_without_the_python_client(disco_cluster):
    """A job pack from another client may carry tag:// inputs as they are: the master gives
    its tasks the blobs, each with its replicas."""
    ddfs = DDFS()
    ddfs.push("test:jobs:raw", [(io.BytesIO(b"p\n"), "p"), (io.BytesIO(b"q\n"), "q")])
    ddfs.push("test:jobs:rawsecret", [(io.BytesIO(b"s\n"), "s")])
    ddfs.setattr("test:jobs:rawsecret", "ddfs:read-token", "k")

    def pack_with(inputs):
        job = Job()
        pack = job.worker.jobpack(job, input=["raw://placeholder"], map=lines)
        pack.jobdict["input"] = inputs
        return job, pack
    job, pack = pack_with(["tag://test:jobs:raw"])
    job.name = disco_cluster.disco.submit(pack)
    assert sorted(result_iterator(job.wait(timeout=120))) == [("p", 1), ("q", 1)]
    assert any("Stage map scheduled with 2 tasks" in e for e in events(job)), events(job)
    job, pack = pack_with(["tag://k@/test:jobs:rawsecret"])
    job.name = disco_cluster.disco.submit(pack)
    assert list(result_iterator(job.wait(timeout=120))) == [("s", 1)]
    _job, pack = pack_with(["tag://test:jobs:rawsecret"])
    with pytest.raises(Exception) as err:
        disco_cluster.disco.submit(pack)
    assert "cannot expand input tag://test:jobs:rawsecret" in str(err.value)
    assert "Incorrect or missing token" in str(err.value)
    ddfs.delete("test:jobs:raw")
    ddfs.delete("test:jobs:rawsecret", token="k")


def test_a_token_in_the_tag_url_reads_a_protected_tag(disco_cluster):
    ddfs = DDFS()
    ddfs.push("test:jobs:secret", [(io.BytesIO(b"hidden\n"), "s")])
    ddfs.setattr("test:jobs:secret", "ddfs:read-token", "r")
    with pytest.raises(CommError) as err:
        Job().run(input=["tag://test:jobs:secret"], map=lines)
    assert err.value.code == 401
    job = Job().run(input=["tag://user:r@/test:jobs:secret"], map=lines)
    assert list(result_iterator(job.wait(timeout=120))) == [("hidden", 1)]
    ddfs.delete("test:jobs:secret")


def test_chunked_data_is_read_by_records(disco_cluster, http_server):
    text = "".join("%04d %s\n" % (i, os.urandom(12).hex()) for i in range(3000))
    url = http_server.add("big.txt", text)
    ddfs = DDFS()
    _reply, blobs = ddfs.chunk("test:jobs:chunks", [url], chunk_size=16 * 1024)
    assert len(blobs) > 2
    assert [b[0].rsplit("/", 1)[1].split("$")[0] for b in blobs[:2]] == ["big_txt-0",
                                                                          "big_txt-1"]
    records = list(result_iterator(["tag://test:jobs:chunks"]))
    assert sorted(records) == sorted(text.splitlines(keepends=True))
    job = Job().run(input=["tag://test:jobs:chunks"], map=lines, map_reader=chain_reader,
                    reduce=count)
    counted = dict(result_iterator(job.wait(timeout=120)))
    assert len(counted) == 3000 and set(counted.values()) == {1}
    ddfs.delete("test:jobs:chunks")


def test_saved_results_are_a_tag(disco_cluster, http_server):
    from disco.worker.classic.func import default_partition
    assert {default_partition(k, 2, None) for k in ("x", "d")} == {0, 1}  # a blob each
    url = http_server.add("in.txt", "x\nd\nx\n")
    job = Job().run(input=[url], map=lines, reduce=count, partitions=2, save_results=True)
    results = job.wait(timeout=120)
    tag = "disco:results:%s" % job.name
    assert results == ["tag://%s" % tag]
    assert sorted(result_iterator(results)) == [("d", 1), ("x", 2)]
    ddfs = DDFS()
    blobs = list(ddfs.blobs(tag))
    assert len(blobs) == 2 and all(b[0].startswith("disco://localhost/ddfs/") for b in blobs)
    assert all(DDFS.blob_name(b[0]).startswith(DDFS.safe_name(job.name)) for b in blobs)
    assert any(e.startswith("Results saved: tag://") for e in events(job))
    assert disco_cluster.disco.results(job.name)[1] == ["tag://%s" % tag]
    ddfs.delete(tag)


def test_ddfs_saves_only_for_its_own_save_info(disco_cluster):
    # "ddfs,..." is no form of DDFS's: another storage may answer for it; none does here
    job = Job().run(input=["raw://x"], map=lines, save_results=True, save_info="ddfs,other")
    results = job.wait(timeout=120)
    assert results and all(r[0].startswith("dir://") for r in results)
    assert list(result_iterator(results)) == [("x", 1)]
    assert any("save_results is ignored" in e and "'ddfs,other'" in e for e in events(job))
    assert not any(e.startswith("Results saved") for e in events(job))


HOSTS = [("127.0.0.2", 1), ("127.0.0.3", 1)]


@pytest.fixture(scope="module")
def two_nodes():
    with running_cluster(hosts=HOSTS) as cluster:
        yield cluster


def test_replicas_go_to_distinct_nodes(two_nodes):
    ddfs = DDFS()
    _reply, [replicas] = ddfs.push("test:multi:both", [(io.BytesIO(b"twice\n"), "b")],
                                   replicas=2)
    hosts = sorted(u.split("/")[2] for u in replicas)
    assert hosts == ["127.0.0.2", "127.0.0.3"]
    for url in replicas:
        host = url.split("/")[2]
        local = os.path.join(two_nodes.home, "root", "ddfs", url.split("/ddfs/", 1)[1])
        assert local.startswith(os.path.join(two_nodes.home, "root", "ddfs", host, "vol0"))
        assert open(local, "rb").read() == b"twice\n"
        assert oct(os.stat(local).st_mode & 0o777) == "0o400"


def test_placement_honours_exclude_and_include(two_nodes):
    ddfs = DDFS()
    for _ in range(5):
        [url] = ddfs.new_blob("p", exclude=["127.0.0.2"])
        assert url.startswith("http://127.0.0.3:")
        [url] = ddfs.new_blob("p", include=["127.0.0.2"])
        assert url.startswith("http://127.0.0.2:")
    with pytest.raises(CommError) as err:
        ddfs.new_blob("p", replicas=2, exclude=["127.0.0.3"])
    assert err.value.code == 403 and "Not enough nodes for replicas" in str(err.value)


def test_a_task_runs_beside_its_blob(two_nodes):
    ddfs = DDFS()
    for host in ("127.0.0.2", "127.0.0.3"):
        tag = "test:multi:on:%s" % host.replace(".", "_")
        ddfs.push(tag, [(io.BytesIO(b"here\n"), "h")], forceon=[host])
        [[url]] = list(ddfs.blobs(tag))
        assert url.startswith("disco://%s/" % host)

        def where(line, params):
            yield this_host(), line.strip()  # noqa: F821

        job = Job().run(input=["tag://" + tag], map=where)
        assert list(result_iterator(job.wait(timeout=120))) == [(host, "here")]


def test_a_corrupt_replica_is_passed_over(two_nodes):
    ddfs = DDFS()
    _reply, [replicas] = ddfs.push("test:multi:rot", [(io.BytesIO(b"intact\n"), "r")],
                                   replicas=2)
    bad = os.path.join(two_nodes.home, "root", "ddfs", replicas[0].split("/ddfs/", 1)[1])
    os.chmod(bad, 0o600)
    with open(bad, "wb") as f:
        f.write(b"rotten\n")
    with pytest.raises(DataError) as err:
        list(result_iterator([[replicas[0]]], reader=None))
    assert "checksum mismatch" in str(err.value)
    assert list(result_iterator([replicas], reader=None)) == ["intact\n"]  # bad one first


def test_saved_results_across_nodes(two_nodes, http_server):
    urls = [http_server.add("part%d.txt" % i, "a b\nb\n") for i in range(4)]

    def words(line, params):
        for w in line.split():
            yield w, 1
    job = Job().run(input=urls, map=words, reduce=count, partitions=2, save_results=True)
    results = job.wait(timeout=120)
    assert dict(result_iterator(results)) == {"a": 4, "b": 8}
    hosts = {b[0].split("/")[2] for b in DDFS().blobs(results[0])}
    assert hosts <= {"127.0.0.2", "127.0.0.3"}
