"""Counters for job functions: ``from disco import counters; counters.add("bad_lines")``
(see :mod:`disco_core.worker.counters`)."""
from disco_core.worker.counters import add, flush, values

__all__ = ["add", "flush", "values"]
