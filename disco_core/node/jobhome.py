"""Job homes on a node: ``DISCO_DATA/<host>/<hh>/<jobname>/``, unpacked once per job.

The first task of a job on a node fetches the job pack from the master, unpacks its
job home (a ZIP) and writes the pack as ``jobfile``; a ``.jobhome`` marker says it is
complete. Tasks of the same job running at once wait for the first one's unpacking.
"""
from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import zipfile

from ..comm import download
from ..jobpack import JobPack, hexhash, write_small_jobdict

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
        data = download(url)
        pack = JobPack.loads(data)
        os.makedirs(home, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(pack.jobhome)) as z:
            for info in z.infolist():
                target = os.path.normpath(os.path.join(home, info.filename))
                if not target.startswith(home + os.sep):
                    raise ValueError("job home entry %r escapes the job home" % info.filename)
                z.extract(info, home)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(target, mode)
        worker = os.path.join(home, pack.jobdict["worker"])
        if os.path.isfile(worker):
            os.chmod(worker, 0o755)
        tmp = os.path.join(home, "jobfile.partial")
        with open(tmp, "wb") as f:
            f.write(data)
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

    def purge(self, job: str) -> None:
        self.forget(job)
        shutil.rmtree(self.path(job), ignore_errors=True)
