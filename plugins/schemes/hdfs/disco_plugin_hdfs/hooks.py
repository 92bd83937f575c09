"""The hdfs plugin's hooks: its setting, and job results saved to HDFS (``save_info``).

Cheap to import: the WebHDFS client is imported only when a job saves its results."""
from __future__ import annotations

from typing import Any

from disco_core.hookspecs import hookimpl


def _ours(save_info: Any) -> bool:
    return isinstance(save_info, str) and save_info.split(",", 1)[0] == "hdfs"


@hookimpl
def disco_settings() -> dict[str, Any]:
    # the HDFS user of hdfs:// inputs (user.name); empty: none is sent
    return {"DISCO_HDFS_USER": ""}


@hookimpl
def disco_results_storage(save_info: str) -> str | None:
    return "hdfs" if _ours(save_info) else None


@hookimpl
def disco_save_outputs(save_info: str, jobname: str, stage: str, taskid: int, runid: int,
                       outputs: list) -> list | None:
    if not _ours(save_info):
        return None
    from .scheme import scheme
    return scheme.save_outputs(save_info, jobname, taskid, outputs)
