"""With DDFS installed, a job's out-of-band values are also in its OOB tag
``disco:job:oob:<job>`` (one blob per key, the key its prefix), while ``oob_get`` and
``oob_list`` go on answering from the master; purging the job deletes the tag."""
from disco.core import Job
from disco.ddfs import DDFS
from disco_core.testing import wait_for


def putting(line, params):
    put("oob-" + line, ("value of %s" % line).encode())  # noqa: F821 (a task's helper)
    yield line, 1


def read_blob(ddfs, replicas):
    conn = ddfs.reader().open(replicas)
    try:
        return conn.read()
    finally:
        conn.close()


def test_a_job_s_oob_values_live_in_its_oob_tag_until_it_is_purged(disco_cluster):
    job = Job().run(input=["raw://one", "raw://two", "raw://three"], map=putting)
    job.wait(timeout=120)
    ddfs = DDFS()
    tag = DDFS.job_oob(job.name)
    assert tag == "disco:job:oob:%s" % job.name
    keys = ["oob-one", "oob-three", "oob-two"]
    wait_for(lambda: ddfs.exists(tag) and len(list(ddfs.blobs(tag))) == 3, timeout=30)
    blobs = list(ddfs.blobs(tag))
    by_key = {DDFS.blob_name(replicas[0]).split("$")[0]: replicas for replicas in blobs}
    assert sorted(by_key) == keys
    for key in keys:
        assert read_blob(ddfs, by_key[key]) == b"value of " + key[4:].encode()
    assert sorted(job.oob_list()) == keys  # the master's own store answers as before
    assert job.oob_get("oob-two") == b"value of two"
    job.purge()
    wait_for(lambda: not ddfs.exists(tag), timeout=30)
