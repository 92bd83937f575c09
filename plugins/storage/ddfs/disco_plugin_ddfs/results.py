"""``save_results``: a finished job's results stored as blobs under ``disco:results:<job>``.

Each result file (the files a ``dir://`` index lists, or a result URL itself) is copied
into a blob named ``<jobname>:<file name>`` (illegal characters made ``_``) on
``DDFS_BLOB_REPLICAS`` nodes, and the tag's urls are *replaced* by the blobs (the
master's own token, so a tag of that name with tokens of its own is overwritten too). The
job's results then read ``["tag://disco:results:<job>"]``. The copies are made by the
master, from the nodes' data servers to the nodes' PUT ports, in a thread, so the master's
loop goes on meanwhile.
"""
from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any

from .names import safe_name
from .tags import INTERNAL


def result_files(results: list) -> list[list[str]]:
    """The files behind a job's results: one list of replica URLs each."""
    from disco_core.worker.dataio import expand, is_index
    files: list[list[str]] = []
    for replicas in results:
        replicas = [replicas] if isinstance(replicas, str) else list(replicas)
        if replicas and is_index(replicas[0]):
            files.extend([url] for url in expand(replicas[0], "all"))
        elif replicas:
            files.append(replicas)
    return files


def _copy_blobs(ddfs: Any, jobname: str, files: list[list[str]]) -> list[list[str]]:
    from disco_core.worker.dataio import open_url
    from .client import DDFS
    client = DDFS(ddfs.master.url)
    blobs = []
    for replicas in files:
        errors = []
        for url in replicas:
            try:
                with tempfile.TemporaryFile() as spool:
                    src = open_url(url)
                    try:
                        while True:
                            data = src.read(1 << 20)
                            if not data:
                                break
                            spool.write(data)
                    finally:
                        src.close()
                    name = safe_name("%s:%s" % (jobname, os.path.basename(url.rstrip("/"))))

                    def reopen(f: Any = spool) -> Any:
                        f.seek(0)
                        return _Shared(f)
                    blobs.append(client._upload(reopen, name, None, (), 10))
                break
            except Exception as exc:
                errors.append("%s: %s" % (url, exc))
        else:
            raise RuntimeError("cannot save result %s: %s" % (replicas[0], "; ".join(errors)))
    return blobs


class _Shared:
    """A spool file lent to one upload (the next replica reads it again)."""

    def __init__(self, f: Any) -> None:
        self.f = f

    def read(self, n: int = -1) -> bytes:
        return self.f.read(n)

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos, whence)

    def __enter__(self) -> "_Shared":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


async def save_results(ddfs: Any, jobname: str, results: list) -> list[str]:
    loop = asyncio.get_running_loop()
    files = await loop.run_in_executor(None, result_files, results)
    blobs = await loop.run_in_executor(None, _copy_blobs, ddfs, jobname, files)
    tag = "disco:results:%s" % jobname
    await ddfs.tags.replace(tag, blobs, INTERNAL)
    return ["tag://%s" % tag]
