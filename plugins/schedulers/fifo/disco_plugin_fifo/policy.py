"""The FIFO job policy: the oldest job with queued work gets every free slot first."""
from __future__ import annotations

from typing import Any


class FifoPolicy:
    name = "fifo"

    def __init__(self, settings: Any = None, cores: Any = None) -> None:
        pass

    def order(self, jobs: list[Any], host: str) -> list[Any]:
        return sorted(jobs, key=lambda j: j.started)
