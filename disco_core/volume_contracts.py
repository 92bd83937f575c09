"""The contract suite of storage-volume drivers (the ``disco.volumes`` group).

A volume driver is a class made with one node's storage folder, ``driver(root)``; a storage
plugin makes one per node and asks it where blobs go and where they are. What it answers:

* ``root``: the folder it was made with;
* ``volumes()``: the names of the node's volumes, ``vol0``, ``vol1``, ... (folders
  ``root/volN``, made or mounted by the operator; ``vol0`` is made when there is none);
* ``choose()``: the volume a new blob goes to;
* ``relpath(volume, name, kind="blob")``: ``<volume>/<kind>/<hh>/<name>``, where ``hh`` is
  the first two hex digits of the md5 of ``name`` and ``kind`` is ``blob`` (the data) or
  ``sums`` (its checksum); ``path(...)`` is ``root/relpath(...)``. The node's data server
  serves these files as they lie, so the layout is the same for every driver;
* ``find(name)``: the volume holding blob ``name``, or None;
* ``drop_partials()``: delete the unfinished uploads (``blob/<hh>/!partial-...``) a previous
  node process left; the paths deleted;
* ``free(volume)``: bytes free for that volume; ``space()``: ``(free, used)`` bytes over all.

A plugin's tests subclass :class:`VolumeContract` and set ``volume`` (the driver's name).
Re-exported by :mod:`disco_core.testing`.
"""
from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import pytest

VOLUME_NAME = re.compile(r"vol\d+")
BLOB_NAME = "results-of-day$5f3b1-2a-1c"


def hexdir(name: str) -> str:
    """The folder of a volume's blob ``name`` holds it: 2 hex digits of its name's md5."""
    return hashlib.md5(name.encode("utf-8")).hexdigest()[:2]


class VolumeContract:
    """What every ``disco.volumes`` driver does (see the module docstring). Set ``volume``,
    its name in the group."""

    volume = ""

    @pytest.fixture
    def driver(self) -> Any:
        from .plugins import PluginHost
        return PluginHost().driver("volume", self.volume)

    @pytest.fixture
    def root(self, tmp_path: Any) -> str:
        return str(tmp_path / "node")

    @pytest.fixture
    def vols(self, driver: Any, root: str) -> Any:
        return driver(root)

    @staticmethod
    def write(path: str, data: bytes = b"data") -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def test_installed_under_its_name(self, driver: Any, vols: Any, root: str) -> None:
        from .plugins import PluginHost
        assert self.volume in PluginHost().names("volume")
        for method in ("volumes", "choose", "relpath", "path", "find", "drop_partials",
                       "free", "space"):
            assert callable(getattr(vols, method, None)), "no method %s" % method
        assert vols.root == root

    def test_a_new_node_gets_a_first_volume(self, vols: Any, root: str) -> None:
        names = vols.volumes()
        assert names and all(VOLUME_NAME.fullmatch(v) for v in names), names
        assert all(os.path.isdir(os.path.join(root, v)) for v in names)
        assert vols.volumes() == names

    def test_the_operators_volumes_are_listed_and_nothing_else(self, vols: Any,
                                                               root: str) -> None:
        for sub in ("vol0", "vol2", "vol10", "volume", "tmp"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        self.write(os.path.join(root, "vol3"))  # a file, not a volume
        names = vols.volumes()
        assert {"vol0", "vol2", "vol10"} <= set(names)
        assert not {"volume", "tmp", "vol3"} & set(names)

    def test_choose_gives_a_listed_volume(self, vols: Any, root: str) -> None:
        for sub in ("vol0", "vol1", "vol2"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        for _ in range(10):
            assert vols.choose() in vols.volumes()

    def test_the_layout_the_data_server_reads(self, vols: Any, root: str) -> None:
        volume = vols.choose()
        for kind in ("blob", "sums"):
            rel = vols.relpath(volume, BLOB_NAME, kind)
            assert rel == os.path.join(volume, kind, hexdir(BLOB_NAME), BLOB_NAME)
            assert vols.path(volume, BLOB_NAME, kind) == os.path.join(root, rel)
        assert vols.relpath(volume, BLOB_NAME) == vols.relpath(volume, BLOB_NAME, "blob")

    def test_find_names_the_volume_holding_a_blob(self, vols: Any, root: str) -> None:
        for sub in ("vol0", "vol1"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        assert vols.find(BLOB_NAME) is None
        self.write(vols.path("vol1", BLOB_NAME, "sums"))  # a checksum alone is no blob
        assert vols.find(BLOB_NAME) is None
        self.write(vols.path("vol1", BLOB_NAME))
        assert vols.find(BLOB_NAME) == "vol1"
        assert vols.find("other$5f3b1-2a-1d") is None

    def test_drop_partials_deletes_unfinished_uploads_only(self, vols: Any,
                                                           root: str) -> None:
        volume = vols.choose()
        blob = vols.path(volume, BLOB_NAME)
        partial = os.path.join(os.path.dirname(blob), "!partial-5f3b1-2a-1c.%s" % BLOB_NAME)
        self.write(blob)
        self.write(partial)
        self.write(vols.path(volume, BLOB_NAME, "sums"))
        assert vols.drop_partials() == [partial]
        assert not os.path.exists(partial)
        assert os.path.exists(blob) and vols.find(BLOB_NAME) == volume
        assert vols.drop_partials() == []

    def test_drop_partials_on_an_empty_node(self, vols: Any) -> None:
        assert vols.drop_partials() == []

    def test_free_and_used_space(self, vols: Any) -> None:
        free = {v: vols.free(v) for v in vols.volumes()}
        assert all(isinstance(n, int) and n >= 0 for n in free.values()), free
        total_free, used = vols.space()
        assert isinstance(total_free, int) and isinstance(used, int) and used >= 0
        assert total_free > 0, "a node with room on its disks reports free space"
