"""Helper functions for classic jobs (``disco.worker.classic.func``)."""
from __future__ import annotations

import builtins
import zlib
from typing import Any, Callable, Iterable, Iterator

from .task_io import *  # noqa: F401,F403  (upstream re-exports task_io here)
from .task_io import map_input_stream, map_output_stream, reduce_input_stream  # noqa: F401
from .task_io import reduce_output_stream  # noqa: F401


def _key_bytes(key: Any) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode("utf-8")
    return str(key).encode("utf-8")


_crc32 = zlib.crc32
_map = builtins.map  # this module's own ``map`` (below) documents the job function


def default_partition(key: Any, nr_partitions: int, params: Any) -> int:
    """A stable partition of ``key``: the CRC-32 of its bytes (UTF-8 of a ``str``, of
    ``str(key)`` for other types), the same in every process, on every node and run."""
    if type(key) is str:
        return _crc32(key.encode("utf-8")) % nr_partitions
    return _crc32(_key_bytes(key)) % nr_partitions


def default_partitions(keys: list, nr_partitions: int) -> list[int]:
    """``[default_partition(k, nr_partitions, None) for k in keys]``, computed in C when
    the keys are all ``str`` or all ``bytes``."""
    types = set(_map(type, keys))
    if types == {str}:
        hashes = _map(_crc32, _map(str.encode, keys))
    elif types == {bytes}:
        hashes = _map(_crc32, keys)
    else:
        return [default_partition(k, nr_partitions, None) for k in keys]
    return list(_map(nr_partitions.__rmod__, hashes))


def make_range_partition(min_val: int, max_val: int) -> Callable[[Any, int, Any], int]:
    """A partition function for integer keys spread evenly over ``[min_val, max_val]``."""
    span = max_val - min_val

    def range_partition(key: Any, nr_partitions: int, params: Any) -> int:
        return min(nr_partitions - 1, int((int(key) - min_val) * nr_partitions / (span + 1)))
    return range_partition


def noop(*args: Any, **kwargs: Any) -> None:
    pass


def nop_map(entry: Any, params: Any) -> Iterator[Any]:
    yield entry


def nop_reduce(iter: Iterable, out: Any, params: Any) -> None:
    for k, v in iter:
        out.add(k, v)


def sum_combiner(key: Any, value: Any, buf: dict, done: bool, params: Any) -> Any:
    """Sum values per key inside a map task; emits the sums when the task is done."""
    if not done:
        buf[key] = buf.get(key, 0) + value
        return None
    return buf.items()


def sum_reduce(iter: Iterable, params: Any) -> Any:
    """Sum values per key: ``(key, total)`` pairs."""
    buf: dict = {}
    for key, value in iter:
        buf[key] = buf.get(key, 0) + value
    return buf.items()


def notifier(urls: Any) -> None:
    pass


# Interface documentation (what job functions look like).
def map(entry: Any, params: Any) -> Iterable:  # noqa: A001
    """``map(entry, params)`` yields ``(key, value)`` pairs for one input record."""
    return ()


def partition(key: Any, nr_partitions: int, params: Any) -> int:
    """``partition(key, nr_partitions, params)`` returns a label in ``range(nr_partitions)``."""
    return 0


def combiner(key: Any, value: Any, buffer: dict, done: bool, params: Any) -> Any:
    """``combiner(key, value, buffer, done, params)`` returns pairs to output, or None."""
    return None


def reduce(input_stream: Iterable, output_stream: Any, params: Any) -> None:
    """``reduce(iter, out, params)`` calls ``out.add(k, v)``."""


def reduce2(input_stream: Iterable, params: Any) -> Iterable:
    """``reduce(iter, params)`` yields ``(key, value)`` pairs."""
    return ()


def init(input_iter: Any, params: Any) -> None:
    """``map_init`` / ``reduce_init``: called once before the task's first record."""
