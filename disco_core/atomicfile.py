"""Files that appear under their name only complete: written under a temporary name, fsynced
and renamed into place on close (the house rule for writes that must survive a crash).

A module of its own at the bottom of the house, so the worker's task (its outputs), its data
I/O and :mod:`disco_core.fileutils` share it without importing each other.
"""
from __future__ import annotations

import io
import os


class AtomicFile(io.FileIO):
    """A file written as ``<path>.partial`` and renamed to ``path`` when closed without error.

    ``abort()`` removes the partial file instead. The data is fsynced before the rename,
    so a file under its final name is always complete.
    """

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.final = path
        self.partial = path + ".partial"
        super().__init__(self.partial, "w")
        self.aborted = False

    def close(self) -> None:
        if self.closed:
            return
        if not self.aborted:
            self.flush()
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
