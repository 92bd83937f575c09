"""Saving a job's results on the nodes (``disco_save_outputs``): the node hands a saving job's
last-stage outputs to the storage plugin its ``save_info`` names, the plugin's URLs become
the job's results, and what the plugin raises fails the task (a DataError is retried,
anything else ends the job). A real cluster with a storage plugin installed."""
import pytest

from disco.core import Job, result_iterator
from disco.error import JobError
from disco_core.testing import install_plugin as install_fake, running_cluster

STORE = """
    import asyncio, os, shutil
    from disco_core.errors import DataError
    from disco_core.hookspecs import hookimpl

    @hookimpl
    def disco_results_storage(save_info):
        return "copy" if save_info.startswith("ddfs,copy") else None

    @hookimpl
    async def disco_save_outputs(save_info, jobname, stage, taskid, runid, outputs):
        kind = save_info.split(",")[2]
        if kind == "ignore":
            return None
        if kind == "garbage":
            return 42
        if kind == "flaky" and runid == 0:
            raise DataError("the store is busy", "copy://store")
        await asyncio.sleep(0)  # an async implementation is awaited
        folder = os.path.join(os.environ["COPY_STORE"], jobname.replace(":", "_"))
        os.makedirs(folder, exist_ok=True)
        saved = []
        for n, (label, path, size) in enumerate(outputs):
            target = os.path.join(folder, "%s-%d-%d" % (stage, taskid, n))
            shutil.copy(path, target)
            saved.append((label, "file://" + target, size))
        return saved
"""


@pytest.fixture(scope="module")
def store_cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugins")
    store = tmp_path_factory.mktemp("store")
    install_fake(root, "fake-copy-store", "fake_copy_store", STORE,
                 "[disco]\ncopystore = fake_copy_store\n")
    with running_cluster(extra_env={"PYTHONPATH": str(root), "COPY_STORE": str(store)}) as c:
        c.store = store
        yield c


def words(line, params):
    for word in line.split():
        yield word, 1


def total(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def run(kind, **kw):
    return Job().run(input=["raw://b a b", "raw://c"], map=words, reduce=total,
                     save_results=True, save_info="ddfs,copy,%s" % kind, **kw)


def messages(job):
    return [event[2] for _offset, event in job.events()]


def test_the_plugins_urls_are_the_results(store_cluster):
    job = run("all")
    results = job.wait(timeout=120)
    assert results and all(r[0].startswith("file://%s" % store_cluster.store) for r in results)
    assert sorted(result_iterator(results)) == [("a", 1), ("b", 2), ("c", 1)]
    assert any("Saved 1 results to ddfs" in m for m in messages(job))
    assert not any("save_results is ignored" in m for m in messages(job))


def test_a_data_error_of_the_plugin_is_retried(store_cluster):
    job = run("flaky")
    assert sorted(result_iterator(job.wait(timeout=120))) == [("a", 1), ("b", 2), ("c", 1)]
    assert any("the store is busy" in m for m in messages(job))


def test_nothing_saved_leaves_the_results_on_the_nodes(store_cluster):
    job = run("ignore")
    results = job.wait(timeout=120)
    assert all(r[0].startswith("dir://") for r in results)
    assert sorted(result_iterator(results)) == [("a", 1), ("b", 2), ("c", 1)]


def test_an_answer_that_is_not_urls_ends_the_job(store_cluster):
    job = run("garbage")
    with pytest.raises(JobError) as err:
        job.wait(timeout=120)
    assert "saving the results of reduce:" in str(err.value)
    assert not any("seconds before retrying" in m for m in messages(job))


def test_only_the_last_stage_is_saved(store_cluster):
    job = run("all")
    job.wait(timeout=120)
    assert {m.split("[", 1)[1].split(":", 1)[0] for m in messages(job) if "Saved" in m} == \
        {"reduce"}
