"""The local-directory volumes (``disco.volumes`` driver ``local``, the default of
``DDFS_VOLUMES``) against the volume contract, and how they place and keep blobs."""
import os

from disco_core.testing import VolumeContract
from disco_plugin_ddfs.names import hexhash
from disco_plugin_ddfs.volumes import LocalVolumes


class TestLocalVolumes(VolumeContract):
    volume = "local"


def test_the_contracts_layout_is_the_one_blob_urls_name(tmp_path):
    from disco_core.volume_contracts import hexdir
    for name in ("a$1-2-3", "results-of-day$5f3b1-2a-1c", "\u00e9t\u00e9$9-9-9"):
        assert hexdir(name) == hexhash(name)


def test_volumes_are_listed_in_number_order(tmp_path):
    for sub in ("vol10", "vol2", "vol0"):
        os.makedirs(tmp_path / sub)
    assert LocalVolumes(str(tmp_path)).volumes() == ["vol0", "vol2", "vol10"]


def test_a_new_blob_goes_to_the_volume_with_most_room(tmp_path):
    os.makedirs(tmp_path / "vol0")
    os.makedirs(tmp_path / "vol1")
    vols = LocalVolumes(str(tmp_path))
    room = {"vol0": 5, "vol1": 9}
    vols.free = room.get
    assert vols.choose() == "vol1"
    room["vol0"] = 10
    assert vols.choose() == "vol0"
