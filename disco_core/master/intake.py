"""What a submitted job pack becomes before it is a job: its checked head and its inputs.

The master (:meth:`~.app.Master.submit`) hands a pack's file here in a thread to be checked
and synced, then asks each input's scheme what the input stands for: a scheme that keeps an
index (``dir://``) gives one input per partition with its size, one that expands (a storage
plugin's tag) gives one input per item with its replicas, so tasks can be placed beside them;
any other input stays as it is.

:class:`JobIntake` is the master's side of ``POST /disco/job/new``, mixed into
:class:`~.app.Master`: the body streamed to a file under ``.incoming`` (at most
``DISCO_MAX_JOBPACK_SIZE``), a retried submission known by its token (:mod:`.submissions`),
the pack checked and its inputs read within ``setup_timeout``, and the job made, journaled
and synced before its name is sent. It changes the master's state (``jobs``, ``scheduler``,
``journal``, ``submissions``) as the master's own methods do.
"""
from __future__ import annotations

import asyncio
import os

from .. import jobpack as jp
from ..errors import DiscoError, JobPackError, PluginError
from ..plugins import PluginHost
from ..util import schemesplit
from . import saving
from .events import EventLog
from .journal import JournaledJob, first_line_synced
from .pipeline import Output
from .submissions import Upload


def check_and_sync(path: str) -> jp.PackHead:
    """The validated head of the pack in ``path``, whose bytes are on disk when it returns."""
    with open(path, "rb") as f:
        head = jp.check_file(f)
        os.fsync(f.fileno())
    return head


def unlink(path: str) -> None:
    """Delete ``path`` if it is still there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


async def job_inputs(plugins: PluginHost, pack: jp.JobPack) -> list[Output]:
    """The first stage's inputs of ``pack``; a :class:`JobPackError` naming an input whose
    scheme no plugin provides, or whose index or expansion cannot be read."""
    known = set(plugins.names("scheme"))
    loop = asyncio.get_running_loop()
    outputs = []
    for label, size, urls in jp.inputs_of(pack):
        for url in urls:
            scheme = schemesplit(url)[0] or "file"
            if scheme not in known:
                raise JobPackError(plugins.unknown_message("scheme", scheme)
                                   + " (input %s)" % url)
        drv = plugins.driver("scheme", schemesplit(urls[0])[0] or "file")
        url = urls[0]
        if hasattr(drv, "read_index"):
            try:
                lines = await loop.run_in_executor(None, lambda: list(drv.read_index(url)))
            except Exception as exc:
                raise JobPackError("cannot read the index of input %s: %s" % (url, exc)) \
                    from None
            sizes: dict[int, int] = {}
            for lab, _u, sz in lines:
                sizes[lab] = sizes.get(lab, 0) + sz
            host = url.split("://", 1)[1].split("/", 1)[0]
            outputs.append(Output.dir(host, url, sizes.items()))
        elif hasattr(drv, "expand"):
            try:
                items = await loop.run_in_executor(
                    None, lambda: list(drv.expand(url, "all", None)))
            except Exception as exc:
                raise JobPackError("cannot expand input %s: %s" % (url, exc)) from None
            for item in items:
                outputs.append(Output.data(label, size,
                                           [item] if isinstance(item, str) else list(item)))
        else:
            outputs.append(Output.data(label, size, urls))
    return outputs


class JobIntake:
    """Submitting a job pack: the methods :class:`~.app.Master` takes them through."""

    def incoming(self) -> str:
        """Where job packs are written while they arrive (renamed into a job's directory)."""
        return os.path.join(self.root, ".incoming")

    def upload(self) -> Upload:
        """A temporary file for the body of a submission, at most ``max_jobpack`` bytes."""
        return Upload(self.incoming(), self.max_jobpack)

    def accepts(self, submission: str | None) -> bool:
        """Whether a submission may go on: new jobs are welcome, or it repeats one that was."""
        return bool(self.accept_new_jobs) or self.submissions.get(submission) is not None

    async def submit(self, source: str | bytes, submission: str | None = None) -> str:
        """Make a job of a pack, given as the path of a file the master may take (renamed
        into the job's directory, or deleted if the pack is refused) or as bytes; its name.

        ``submission`` is the client's token for this pack: a retry carrying a token seen
        recently gets the earlier job's name and makes no job (see :mod:`.submissions`)."""
        if isinstance(source, str):
            path = source
        else:
            path = await asyncio.get_running_loop().run_in_executor(None, self._incoming_file,
                                                                    source)
        try:
            earlier = self.submissions.get(submission)
            if earlier is not None:
                return await asyncio.shield(earlier)
            if submission is None:
                return await self._create_job_in_time(path)
            fut = self.submissions.start(submission)
            try:
                name = await self._create_job_in_time(path)
            except BaseException as exc:
                self.submissions.failed(submission, fut, exc)
                raise
            self.submissions.done(fut, name)
            return name
        finally:
            if os.path.exists(path):  # refused: freeing a GiB file's blocks takes a while
                await asyncio.get_running_loop().run_in_executor(None, unlink, path)

    def _incoming_file(self, data: bytes) -> str:
        upload = self.upload()
        if not upload.write(data):
            raise JobPackError("the job pack is %d bytes, more than the %d this master takes "
                               "(DISCO_MAX_JOBPACK_SIZE)" % (len(data), self.max_jobpack))
        return upload.close()

    async def _create_job_in_time(self, path: str) -> str:
        """The new job, or an error after ``setup_timeout`` seconds (as the original: the
        job is dropped, with nothing of it left behind, if it takes longer to set up)."""
        try:
            return await asyncio.wait_for(self._create_job(path), self.setup_timeout)
        except asyncio.TimeoutError:
            raise DiscoError("timed out after %gs (master busy?)" % self.setup_timeout) \
                from None

    async def _create_job(self, path: str) -> str:
        if not self.accept_new_jobs:
            raise PermissionError("No new jobs should be submitted to this cluster.")
        if self.missing:
            raise PluginError("this master cannot schedule jobs: %s" % "; ".join(self.missing))
        loop = asyncio.get_running_loop()
        pack = await loop.run_in_executor(None, check_and_sync, path)
        pipeline = jp.pipeline_of(pack)
        inputs = await self._job_inputs(pack)
        name = jp.job_name(pack.jobdict["prefix"])
        while name in self.jobs or os.path.exists(self.job_dir(name)):
            await asyncio.sleep(0.000001)
            name = jp.job_name(pack.jobdict["prefix"])
        jobdir = self.job_dir(name)
        os.makedirs(jobdir, exist_ok=True)
        os.replace(path, os.path.join(jobdir, "jobfile"))
        events = EventLog(os.path.join(jobdir, "events"), self._event_hook(name))
        job = JournaledJob(name, pack.jobdict, pipeline, inputs, events, self,
                           self.max_failure_rate, self.retry)
        job.begin(self.journal, jobdir)
        await first_line_synced(self.journal, job, jobdir)  # on disk before it is answered
        job.node_failure_limit = int(self.settings["DISCO_JOB_NODE_FAILURES"])
        self.jobs[name] = job
        self.scheduler.add_job(job)
        events.add("master", 'Created job "%s"' % name)
        job.storage = saving.storage_for(self.plugins, pack.jobdict, events)
        job.start()
        self.kick()
        return name

    async def _job_inputs(self, pack: jp.JobPack) -> list[Output]:
        return await job_inputs(self.plugins, pack)
