"""The settings of DDFS that its clients read, with their defaults (the master's GC adds its
own: :func:`.gc.settings_defaults`). Registered by the ``disco_settings`` hook, and by the
client itself (:class:`~.client.DDFS`), which so needs no plugin host to start."""
from __future__ import annotations

from typing import Any

from disco_core.settings import register_defaults

CLIENT: dict[str, Any] = {
    "DDFS_BLOB_REPLICAS": 1, "DDFS_TAG_REPLICAS": 1, "DDFS_TAG_MIN_REPLICAS": 1,
    "DDFS_READ_TOKEN": None, "DDFS_WRITE_TOKEN": None, "DDFS_VOLUMES": "local",
    "DDFS_CONNECT_TIMEOUT": 5.0, "DDFS_SPACE_AWARE": "", "DDFS_ABSOLUTE_SPACE": "",
    "DDFS_PUT_TIMEOUT": 30.0,  # client.PUT_TIMEOUT
}


#: The nodes' own: whether a blob is fsynced before its PUT is answered (see blob_sync).
NODE: dict[str, Any] = {"DDFS_BLOB_SYNC": ""}


def blob_sync(settings: Any) -> bool:
    """``DDFS_BLOB_SYNC``: whether a node fsyncs a blob (its bytes, its checksum and its
    folder) before it answers the PUT or keeps a copy it made. Off by default, as HDFS's
    datanodes do not sync a block when it is closed: a blob is answered once its bytes are
    in the page cache of each node that holds a replica (every replica, the client waits
    for all), which a process killed or restarted does not lose; only a machine losing power
    within the ~30 s its kernel takes to write them back can (its replicas on other machines
    are not touched). Turn it on
    (``1``/``on``/``yes``) where blobs have one replica and must outlive a power loss at
    once; tags are always fsynced."""
    value = str(settings.get("DDFS_BLOB_SYNC") or "").strip().lower()
    if value in ("", "0", "no", "off", "false"):
        return False
    if value in ("1", "yes", "on", "true"):
        return True
    raise ValueError("DDFS_BLOB_SYNC=%r: give 1 (fsync each blob before answering) or 0"
                     % settings.get("DDFS_BLOB_SYNC"))


def register_client_defaults() -> None:
    register_defaults(CLIENT)
