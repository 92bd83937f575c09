"""What one task attempt reads and writes, as the worker protocol asks and tells it.

:class:`TaskData` holds the inputs side (the TASK reply, INPUT replies a message at a
time, replicas ordered by their failures, the master's ``inputs`` for a concurrent stage)
and the outputs side (OUTPUT checks, saving by a storage plugin, the task's index file
and the outputs reported with DONE) of :class:`~.runner.TaskRun`, which sets the state
these methods use (``inputs``, ``failed_replicas``, ``outputs``, ``remote_outputs``,
``jobhome``, ``fixed``, ...) when the attempt starts and is the only one to call them.
"""
from __future__ import annotations

import asyncio
import inspect
import os
import time
from typing import Any

from ..jobpack import hexhash
from ..protocol import MAX_PAYLOAD
from ..util import schemesplit


class TaskData:
    """The inputs and outputs of one attempt (mixed into :class:`~.runner.TaskRun`)."""

    #: The most bytes of inputs one INPUT reply carries (the protocol's limit is 100 MiB).
    reply_limit = MAX_PAYLOAD // 2

    def taskinfo(self) -> dict:
        """The TASK reply. A worker that offered reuse gets the task's inputs in it too
        (``inputs``: the items of an INPUT reply) when they are all known and fit, which
        saves it the INPUT round trip; other workers get the reference's fields only."""
        info = {"taskid": self.taskid, "master": self.node.master_url,
                **self.fixed["taskinfo"], "stage": self.stage, "grouping": self.grouping,
                "group": self.group,
                "jobfile": os.path.join(self.jobhome, "jobfile"), "jobname": self.job,
                "host": self.node.host}
        if self.reuse and self.inputs_done:
            flag, items = self.input_reply("")
            if flag == "done":
                info["inputs"] = items
        return info

    def replicas(self, input_id: int) -> list[list]:
        reps = self.inputs[input_id][1]
        failed = self.failed_replicas
        return sorted(reps, key=lambda r: (failed.get((input_id, r[0]), 0.0), r[0]))

    def set_inputs(self, inputs: list) -> None:
        self.inputs = [[label, [[i, u] for i, u in enumerate(urls)]] for label, urls in inputs]

    def input_reply(self, payload: Any) -> list:
        """The INPUT reply: the inputs asked for, as many as fit in one protocol message
        (at most :attr:`reply_limit` bytes); with flag ``more`` when some were left out, so
        the worker asks again for the rest (excluding those it has)."""
        ids = list(range(len(self.inputs)))
        if isinstance(payload, list):
            mode, chosen = payload
            chosen = set(chosen)
            ids = [i for i in ids if (i in chosen) == (mode == "include")]
        items = []
        size = 0
        for i in ids:
            item = [i, "ok", self.inputs[i][0], self.replicas(i)]
            size += 16 + len(str(item[2])) + sum(len(u) + 16 for _r, u in item[3])
            if size > self.reply_limit and items:
                return ["more", items]
            items.append(item)
        return ["done" if self.inputs_done else "more", items]

    def feed(self, msg: dict) -> None:
        """An ``inputs`` message of the master: applied now, or in its turn after one whose
        inputs come by reference (:class:`~.feeds.InputFeed`)."""
        if self.input_feed is None:
            if "inputs_ref" not in msg:
                self.add_inputs(msg["inputs"], msg["done"])
                return
            from .feeds import InputFeed
            self.input_feed = InputFeed(self)
        self.input_feed.take(msg)

    def add_inputs(self, inputs: list, done: bool) -> None:
        """The master's news for a concurrent stage: more inputs, or the end of them."""
        for label, urls in inputs:
            self.inputs.append([label, [[i, u] for i, u in enumerate(urls)]])
        self.inputs_done = self.inputs_done or done
        self.inputs_changed.set()

    def lost_inputs(self) -> list[str]:
        """The URLs of the inputs the worker could read no replica of (INPUT_ERR for each)."""
        failed = self.failed_replicas
        return [url for i, (_label, reps) in enumerate(self.inputs)
                if reps and all((i, rep) in failed for rep, _url in reps)
                for _rep, url in reps]

    def input_failed(self, input_id: int, rep_ids: list[int]) -> list[list]:
        if not 0 <= input_id < len(self.inputs):
            return []
        now = time.time()
        for rep in rep_ids:
            self.failed_replicas[(input_id, rep)] = now
        bad = set(rep_ids)
        return [r for r in self.replicas(input_id) if r[0] not in bad]

    def add_output(self, label: int, location: str, size: int) -> str | None:
        scheme, _ = schemesplit(location)
        if scheme:
            self.remote_outputs.append((label, location, size))
            return None
        if os.path.isabs(location):
            return "invalid_output: %r is an absolute path; give a path relative to the job home" \
                % location
        path = os.path.normpath(os.path.join(self.jobhome, location))
        if not path.startswith(self.jobhome + os.sep):
            return "invalid_output: %r is outside the job home" % location
        if not os.path.isfile(path):
            return "invalid_output: %r does not exist on %s" % (location, self.node.host)
        self.outputs.append((label, os.path.relpath(path, self.jobhome), size))
        return None

    async def save_outputs(self, save_info: str) -> tuple[str, str, list] | None:
        """Have the plugin of ``save_info``'s storage save the task's local outputs
        (``disco_save_outputs``, in a thread); they become the URLs it gives. What the
        plugin raises fails the task: a DataError is retried, anything else is fatal."""
        from ..errors import DataError
        from ..plugins import get_host
        local = [(label, os.path.join(self.jobhome, rel), size)
                 for label, rel, size in self.outputs]
        hook = get_host().hook.disco_save_outputs
        loop = asyncio.get_running_loop()
        try:
            saved = await loop.run_in_executor(None, lambda: hook(
                save_info=save_info, jobname=self.job, stage=self.stage, taskid=self.taskid,
                runid=self.runid, outputs=local))
            if inspect.isawaitable(saved):
                saved = await saved
            if saved is None:  # saved elsewhere (the master's disco_job_finished), or
                return None    # nowhere, which the master's events say
            saved = [(int(label), str(url), int(size)) for label, url, size in saved]
        except Exception as exc:
            kind = "error" if isinstance(exc, (DataError, OSError)) else "fatal"
            return (kind, "saving the results of %s (save_info %r) failed: %s: %s"
                    % (self.key, save_info, type(exc).__name__, exc), [])
        self.outputs = []
        self.remote_outputs.extend(saved)
        self.event("SYS: [%s] Saved %d results to %s" % (self.key, len(saved),
                                                         save_info.split(",", 1)[0]))
        return None

    def finish_outputs(self) -> list:
        host = self.node.host
        result = []
        if self.outputs:
            hh = hexhash(self.job)
            name = "%s-%d-%d.results" % (self.stage, self.taskid, int(time.time() * 1e6))
            index_dir = os.path.join(self.jobhome, ".disco")
            path = os.path.join(index_dir, name)
            sizes: dict[int, int] = {}
            lines = []
            for label, rel, size in self.outputs:
                url = "disco://%s/disco/%s/%s/%s/%s" % (host, host, hh, self.job, rel)
                lines.append("%d %s %d\n" % (label, url, size))
                sizes[label] = sizes.get(label, 0) + size
            _write_index(path, "".join(lines).encode("utf-8"),
                         self.fixed["fsync"])  # as the outputs are
            dir_url = "dir://%s/disco/%s/%s/%s/.disco/%s" % (host, host, hh, self.job, name)
            result.append(["dir", host, dir_url, sorted(sizes.items())])
        for label, url, size in self.remote_outputs:
            result.append(["data", label, size, [url]])
        return result


def _write_index(path: str, data: bytes, sync: bool) -> None:
    """Write a task's new index file (its folder made on the job's first one). Written in
    place, not renamed into it: its name is new, and nothing reads it before the master
    has the task's DONE, which is sent after."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
