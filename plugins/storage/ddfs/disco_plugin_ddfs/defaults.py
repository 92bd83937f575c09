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


def register_client_defaults() -> None:
    register_defaults(CLIENT)
