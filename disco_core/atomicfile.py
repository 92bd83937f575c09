"""Files that appear under their name only complete: written under a temporary name and
renamed into place on close, fsynced first where the file must survive a machine crash.

A module of its own at the bottom of the house, so the worker's task (its outputs), its data
I/O and :mod:`disco_core.fileutils` share it without importing each other.

What is fsynced: a file renamed into place survives any process being killed (its data is
in the page cache), so the fsync only matters when the machine itself goes down. The
master's own files (journals, job packs, the node table, the purged list) are fsynced
always. A task's outputs are fsynced only with ``DISCO_FSYNC_OUTPUTS`` on (the node gives
its tasks its settings in the environment): by default they are not, as the original never
did, since an fsync per task output costs more than the task itself when tasks are small,
and intermediate outputs lost with a machine are made again by the master when a later task
cannot read them. Turn it on where the results of finished jobs must outlive a power loss.
"""
from __future__ import annotations

import io
import os

#: The setting that says whether task outputs are fsynced (off, "0", "no" or "off").
FSYNC_SETTING = "DISCO_FSYNC_OUTPUTS"


def outputs_synced(environ: "os._Environ[str] | dict[str, str] | None" = None) -> bool:
    """Whether task outputs are fsynced: ``DISCO_FSYNC_OUTPUTS`` of the environment; on
    where it is not set (outside a task, as for any file that must survive a crash)."""
    value = (os.environ if environ is None else environ).get(FSYNC_SETTING)
    if value is None:
        return True
    return value.strip().lower() not in ("", "0", "no", "off", "false")


class AtomicFile(io.FileIO):
    """A file written as ``<path>.partial`` and renamed to ``path`` when closed without error.

    ``abort()`` removes the partial file instead. With ``sync`` (the default), the data is
    fsynced before the rename, so a file under its final name is complete even after a
    machine crash; ``sync=None`` does as :func:`outputs_synced` says (a task's outputs)."""

    def __init__(self, path: str, sync: bool | None = True) -> None:
        self.final = path
        self.partial = path + ".partial"
        try:
            super().__init__(self.partial, "w")
        except FileNotFoundError:
            # its folder is made only when it is missing: a task writes its outputs into
            # the folder it made, and a mkdir for each would cost as much as the file
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            super().__init__(self.partial, "w")
        self.aborted = False
        self.sync = outputs_synced() if sync is None else sync

    def close(self) -> None:
        if self.closed:
            return
        if not self.aborted:
            self.flush()
            if self.sync:
                os.fsync(self.fileno())
        super().close()
        if self.aborted:
            try:
                os.unlink(self.partial)
            except FileNotFoundError:
                pass
        else:
            os.replace(self.partial, self.final)

    def abort(self) -> None:
        self.aborted = True
        self.close()
