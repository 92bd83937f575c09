"""Submit ``upper.sh`` (a Disco worker in POSIX sh) as a one-stage map job.

Put this directory on ``sys.path``; ``submit_upper(["raw://hello", ...])`` returns the
job name. Each input gets a ``map`` task (grouping ``split``) whose one output file holds
the input's text upper-cased; read the results with
``result_iterator(results, reader=None)`` (text lines).
"""
from __future__ import annotations

import io
import os
import zipfile
from typing import Any, Iterable

from disco_core.jobpack import JobPack

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "upper.sh")


def upper_jobpack(inputs: Iterable[Any], prefix: str = "ShUpper") -> bytes:
    home = io.BytesIO()
    with zipfile.ZipFile(home, "w") as z:
        info = zipfile.ZipInfo("upper.sh")
        info.external_attr = 0o755 << 16
        with open(SCRIPT, "rb") as f:
            z.writestr(info, f.read())
    jobdict = {"prefix": prefix, "worker": "upper.sh", "owner": "shworker@localhost",
               "scheduler": {}, "pipeline": [["map", "split", False]],
               "inputs": [[0, 0, [u] if isinstance(u, str) else list(u)] for u in inputs]}
    return JobPack(2, jobdict, {}, home.getvalue(), b"").dumps()


def submit_upper(inputs: Iterable[Any], disco: Any = None, **kw: Any) -> str:
    if disco is None:
        from disco_core.client import Disco
        disco = Disco()
    return disco.submit(upper_jobpack(inputs, **kw))
