"""Jobs that read hdfs:// inputs and save their results to HDFS, on a real cluster and the
WebHDFS protocol fixture server."""
import pytest

from disco.core import Job, result_iterator
from disco.error import JobError


def words(line, params):
    for word in line.split():
        yield word, 1


def total(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def test_a_job_reads_files_and_a_directory_from_hdfs(disco_cluster, webhdfs):
    one = webhdfs.put("/books/a.txt", "the cat\nthe hat\n")
    webhdfs.put("/books/more/part-00000", "a cat\n")
    webhdfs.put("/books/more/part-00001", "the end\n")
    webhdfs.put("/books/more/_SUCCESS", "")
    job = Job().run(input=[one, webhdfs.url("/books/more")], map=words, reduce=total)
    assert sorted(result_iterator(job.wait(timeout=120))) == [
        ("a", 1), ("cat", 2), ("end", 1), ("hat", 1), ("the", 3)]
    assert webhdfs.of("datanode", "OPEN")  # read from the datanode the namenode named


def test_results_saved_to_hdfs_are_the_jobs_results(disco_cluster, webhdfs):
    source = webhdfs.put("/in/text", "b a b\nc b\n" + "".join("w%d\n" % i for i in range(20)))
    info = "hdfs,%s,carol,/user/carol/results" % webhdfs.address
    job = Job().run(input=[source], map=words, reduce=total, partitions=2,
                    save_results=True, save_info=info)
    results = job.wait(timeout=120)  # a list of replica lists, as every job's
    folder = "/user/carol/results/%s" % job.name.replace("@", "_").replace(":", "_")
    assert sorted(results) == sorted([webhdfs.url("%s/%s" % (folder, name))]
                                     for name in webhdfs.listdir(folder))
    assert len(results) == 2
    assert sorted(result_iterator(results)) == sorted(
        [("a", 1), ("b", 3), ("c", 1)] + [("w%d" % i, 1) for i in range(20)])
    assert {webhdfs.owners["%s/%s" % (folder, n)] for n in webhdfs.listdir(folder)} == {"carol"}
    messages = [event[2] for _offset, event in job.events()]
    assert any("Saved 1 results to hdfs" in m for m in messages), messages
    assert not any("save_results is ignored" in m for m in messages), messages


def test_a_map_only_job_saves_its_last_stages_outputs(disco_cluster, webhdfs):
    sources = [webhdfs.put("/in/%d" % i, "x y\n") for i in range(2)]
    job = Job().run(input=sources, map=words, save_results=True,
                    save_info="hdfs,%s,dave,/maps/" % webhdfs.address)
    results = job.wait(timeout=120)
    # the last stage is the node-local shuffle of the map outputs: one task on one node
    assert all(len(r) == 1 and r[0].startswith(webhdfs.url("/maps/")) for r in results)
    assert sorted(result_iterator(results)) == [("x", 1), ("x", 1), ("y", 1), ("y", 1)]


def test_a_save_info_of_the_wrong_form_ends_the_job_saying_the_form(disco_cluster, webhdfs):
    job = Job().run(input=["raw://a b"], map=words, save_results=True,
                    save_info="hdfs,%s,/no-user" % webhdfs.address)
    with pytest.raises(JobError) as err:
        job.wait(timeout=120)
    assert "hdfs,NAMENODE:PORT,USER,/DIR/" in str(err.value)
    messages = [event[2] for _offset, event in job.events()]
    assert not any("seconds before retrying" in m for m in messages), messages


def test_a_namenode_that_refuses_the_results_fails_the_tasks(disco_cluster, webhdfs):
    webhdfs.read_only.add("/locked")
    job = Job().run(input=["raw://a b"], map=words, save_results=True,
                    save_info="hdfs,%s,erin,/locked/" % webhdfs.address)
    with pytest.raises(JobError) as err:
        job.wait(timeout=120)
    assert "AccessControlException: Permission denied: user=erin" in str(err.value)
    messages = [event[2] for _offset, event in job.events()]
    assert any("seconds before retrying" in m for m in messages), messages  # retried first


def test_without_the_plugin_hdfs_urls_and_save_info_name_the_package(webhdfs):
    from disco.error import DiscoError
    from disco_core.testing import running_cluster
    url = webhdfs.put("/x", "a\n")
    with running_cluster(extra_env={"DISCO_DISABLE_PLUGINS": "disco-plugin-hdfs"}) as cluster:
        with pytest.raises(DiscoError) as err:
            Job().run(input=[url], map=words).wait(timeout=120)
        assert "no plugin handles 'hdfs://': pip install disco-plugin-hdfs" in str(err.value)
        job = Job().run(input=["raw://a"], map=words, save_results=True,
                        save_info="hdfs,%s,u,/r/" % webhdfs.address)
        assert list(result_iterator(job.wait(timeout=120))) == [("a", 1)]  # left on the nodes
        messages = [event[2] for _offset, event in job.events()]
        assert any("save_results is ignored" in m and "pip install disco-plugin-hdfs" in m
                   for m in messages), messages
        assert "DISCO_HDFS_USER" not in cluster.cli("-v").stdout
    assert webhdfs.listdir("/") == ["x"]


def test_the_plugins_setting_shows_in_disco_v(disco_cluster):
    assert "DISCO_HDFS_USER = \n" in disco_cluster.cli("-v").stdout
