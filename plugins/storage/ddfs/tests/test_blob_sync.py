"""``DDFS_BLOB_SYNC``: a node answers a blob's PUT once its bytes are in the page cache (the
default, as HDFS's datanodes do), or only after fsyncing the blob, its checksum and its
folder; either way a blob under its name is whole and checked, and a bad value is refused
naming the setting."""
import io
import os

import pytest

from disco.ddfs import DDFS
from disco_core.testing import running_cluster
from disco_plugin_ddfs import node as ddfs_node
from disco_plugin_ddfs.defaults import blob_sync


@pytest.mark.parametrize("value,want", [(None, False), ("", False), ("0", False),
                                        ("off", False), ("1", True), ("on", True),
                                        ("YES", True), ("true", True)])
def test_the_setting_says_whether_blobs_are_synced(value, want):
    assert blob_sync({"DDFS_BLOB_SYNC": value}) is want


def test_a_value_that_is_not_a_switch_is_refused_naming_the_setting():
    with pytest.raises(ValueError, match="DDFS_BLOB_SYNC='sometimes'"):
        blob_sync({"DDFS_BLOB_SYNC": "sometimes"})


@pytest.mark.parametrize("sync,fsyncs", [(True, 3), (False, 0)])
def test_finishing_an_upload_fsyncs_only_when_asked(tmp_path, monkeypatch, sync, fsyncs):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    blob_dir = tmp_path / "blob" / "ab"
    blob_dir.mkdir(parents=True)
    partial = blob_dir / "!partial-1.name$1"
    final = blob_dir / "name$1"
    sums = tmp_path / "sums" / "ab" / "name$1"
    fileobj = open(partial, "xb")
    fileobj.write(b"the bytes\n")
    ddfs_node._finish_upload(str(partial), str(final), str(sums), "crc32:1234", fileobj,
                             sync)
    assert len(calls) == fsyncs  # the blob, its checksum, its folder
    assert final.read_bytes() == b"the bytes\n" and not partial.exists()
    assert sums.read_text() == "crc32:1234"
    assert os.stat(final).st_mode & 0o777 == 0o400


def test_a_cluster_that_syncs_blobs_stores_and_serves_them():
    with running_cluster(extra_env={"DDFS_BLOB_SYNC": "1"}):
        ddfs = DDFS()
        data = os.urandom(3 << 20)
        ddfs.push("test:sync:blobs", [(io.BytesIO(data), "synced")])
        [replicas] = ddfs.blobs("test:sync:blobs")
        with ddfs.reader().open(replicas) as conn:
            assert conn.read() == data
