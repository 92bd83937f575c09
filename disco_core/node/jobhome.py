"""Job homes on a node: ``DISCO_DATA/<host>/<hh>/<jobname>/``, unpacked once per job.

The first task of a job on a node fetches the job pack from the master, streaming it to
``jobfile`` (a pack can be a GiB: it is never held in memory), and unpacks its job home (a
ZIP) from there; a ``.jobhome`` marker says it is complete. Tasks of the same job running
at once wait for the first one's unpacking. All of it runs in a thread, beside the loop.
"""
from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import zipfile
from typing import BinaryIO

from ..comm import CHUNK, open_remote
from ..jobpack import check_file, hexhash, jobhome_file, write_small_jobdict

EXTRACT_TIMEOUT = 300.0


class JobHomes:
    def __init__(self, disco_data: str, host: str) -> None:
        self.root = os.path.join(disco_data, host)
        self.locks: dict[str, asyncio.Lock] = {}
        self.jobdicts: dict[str, dict] = {}

    def path(self, job: str) -> str:
        return os.path.join(self.root, hexhash(job), job)

    async def prepare(self, job: str, jobpack_url: str) -> tuple[str, dict]:
        """The job home's path and ``{"jobdict": ..., "jobenvs": ...}``."""
        home = self.path(job)
        if job in self.jobdicts and os.path.exists(os.path.join(home, ".jobhome")):
            return home, self.jobdicts[job]
        lock = self.locks.setdefault(job, asyncio.Lock())
        async with lock:
            if not os.path.exists(os.path.join(home, ".jobhome")):
                loop = asyncio.get_running_loop()
                await asyncio.wait_for(loop.run_in_executor(None, self._unpack, home, jobpack_url),
                                       EXTRACT_TIMEOUT)
            if job not in self.jobdicts:
                self.jobdicts[job] = self._jobdict(home)
        return home, self.jobdicts[job]

    @staticmethod
    def _unpack(home: str, url: str) -> None:
        os.makedirs(home, exist_ok=True)
        tmp = os.path.join(home, "jobfile.partial")
        resp = open_remote(url)
        try:
            expected = resp.getheader("Content-Length")
            with open(tmp, "wb") as f:
                shutil.copyfileobj(resp, f, CHUNK)
                size = f.tell()
        finally:
            resp.close()
        if expected is not None and expected.isdigit() and size != int(expected):
            raise ValueError("the job pack from %s ended after %d of its %s bytes"
                             % (url, size, expected))
        with open(tmp, "rb") as f:
            pack = check_file(f)
            _extract(jobhome_file(f, pack), home)
        worker = os.path.join(home, pack.jobdict["worker"])
        if os.path.isfile(worker):
            os.chmod(worker, 0o755)
        os.replace(tmp, os.path.join(home, "jobfile"))
        write_small_jobdict(home, pack.jobdict)
        with open(os.path.join(home, ".jobhome"), "w") as f:
            f.write(json.dumps({"jobdict": pack.jobdict, "jobenvs": pack.jobenvs}))

    @staticmethod
    def _jobdict(home: str) -> dict:
        with open(os.path.join(home, ".jobhome")) as f:
            return json.load(f)

    def forget(self, job: str) -> None:
        """Drop what this node remembers of a job whose home is gone."""
        self.jobdicts.pop(job, None)
        self.locks.pop(job, None)

    async def purge(self, job: str) -> None:
        """Delete a job's home, in a thread (it can hold many files)."""
        self.forget(job)
        await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(shutil.rmtree, self.path(job), ignore_errors=True))


def _extract(zipped: BinaryIO, home: str) -> None:
    """Unpack a job home's ZIP into ``home``, refusing entries that would land outside it."""
    with zipfile.ZipFile(zipped) as z:
        for info in z.infolist():
            target = os.path.normpath(os.path.join(home, info.filename))
            if not target.startswith(home + os.sep):
                raise ValueError("job home entry %r escapes the job home" % info.filename)
            z.extract(info, home)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)
