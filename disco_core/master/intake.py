"""What a submitted job pack becomes before it is a job: its checked head and its inputs.

The master (:meth:`~.app.Master.submit`) hands a pack's file here in a thread to be checked
and synced, then asks each input's scheme what the input stands for: a scheme that keeps an
index (``dir://``) gives one input per partition with its size, one that expands (a storage
plugin's tag) gives one input per item with its replicas, so tasks can be placed beside them;
any other input stays as it is.
"""
from __future__ import annotations

import asyncio
import os

from .. import jobpack as jp
from ..errors import JobPackError
from ..plugins import PluginHost
from ..util import schemesplit
from .pipeline import Output


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
