"""A map's output to its reduces as runs in key order.

When a job has a reduce, the map's pairs are grouped by key in memory and written a run at
a time, the run's keys in sorted order and each key's values in the order the map yielded
them. A reduce then reads its input as a few sorted runs instead of pairs in random order:
the ``sorted(iter)`` of the front page's reduce (Timsort finds the runs and merges them)
costs a few comparisons a pair instead of ``log2(n)``, and the record files compress and
decode better (the same key repeats). A reduce that does not sort gets the same pairs.

Only ``str`` and ``bytes`` keys are grouped (keys of other types may be equal across types,
``1 == 1.0 == True``, and must reach the reduce as they were yielded): from the first pair
with another key on, the rest of the task's pairs are written as they come. A run holds
about ``DISCO_SORT_BUFFER_SIZE`` bytes of values; keys that do not compare with each other
(``str`` and ``bytes`` together) keep the order they first came in.
"""
from __future__ import annotations

import sys
from itertools import compress
from operator import itemgetter
from typing import Any, Callable, Iterable

from ..records import RecordWriter

_SAMPLE = 1000
_SLOT = 8  # bytes of a list slot
_KEYS_AT_ONCE = 4096  # keys whose pairs are handed to the writer in one list
_only = itemgetter(0)
_FEW_LABELS = 16  # labels split off one pass each over the keys' labels


def map_runs(fmap: Callable, entries: Iterable, params: Any, part: Any, outputs: Any,
             interval: int, status: Callable[[int, str], None], base: int, buffer_size: int,
             plain: Callable[..., int]) -> int:
    """Map ``entries`` into ``outputs`` as key-ordered runs; returns how many were mapped.

    ``part`` is None (one label) or the memoised default partition; ``plain(entries, count)``
    maps the rest of the entries as they come (from ``count`` on) when a key is neither
    ``str`` nor ``bytes``, and returns the new count."""
    groups: dict = {}
    get = groups.get
    pairs = 0
    limit = _SAMPLE
    count = base
    entries = iter(entries)
    for entry in entries:
        gen = iter(fmap(entry, params))
        for k, v in gen:
            tk = type(k)
            if tk is not str and tk is not bytes:
                break
            vs = get(k)
            if vs is None:
                groups[k] = [v]
            else:
                vs.append(v)
            pairs += 1
            if pairs >= limit:
                if limit == _SAMPLE:
                    limit = _run_limit(groups, buffer_size)
                if pairs >= limit:
                    _write_run(groups, part, outputs, pairs)
                    groups.clear()
                    pairs = 0
        else:
            count += 1
            if interval and count % interval == 0:
                status(count, "mapped")
            continue
        # a key that is neither str nor bytes: what is grouped goes out, the rest as it comes
        _write_run(groups, part, outputs, pairs)
        groups.clear()
        out = outputs[0] if part is None else outputs[part(k)]
        out.add(k, v)
        for k, v in gen:
            (outputs[0] if part is None else outputs[part(k)]).add(k, v)
        count += 1
        if interval and count % interval == 0:
            status(count, "mapped")
        return plain(entries, count) - base
    _write_run(groups, part, outputs, pairs)
    return count - base


def _run_limit(groups: dict, buffer_size: int) -> int:
    """Pairs a run may hold, from the size of the values grouped so far."""
    size = n = 0
    for vs in groups.values():
        for v in vs:
            size += _SLOT + sys.getsizeof(v)
            n += 1
            if n >= _SAMPLE:
                break
        if n >= _SAMPLE:
            break
    return max(_SAMPLE, buffer_size // max(1, size // max(1, n)))


def _write_run(groups: dict, part: Any, outputs: Any, pairs: int) -> None:
    """Write the ``pairs`` grouped in ``groups`` as a run."""
    if not groups:
        return
    try:
        keys = sorted(groups)
    except TypeError:  # str and bytes keys together: they keep their first-come order
        keys = list(groups)
    single = pairs == len(groups)  # every key has one value (a join's keys, say)
    if part is None:
        _write_keys(outputs[0], keys, groups, single)
        return
    for label, ks in keys_by_label(keys, part).items():
        _write_keys(outputs[label], ks, groups, single)


def keys_by_label(keys: list, part: Any) -> dict[int, list]:
    """The distinct ``keys`` split by their label under ``part``, each list in the order
    of ``keys``. A partition with ``many(keys) -> labels`` (the default one) labels them
    all at once; with few labels the split is done in C too."""
    many = getattr(part, "many", None)
    if many is None:
        labels: Iterable[int] = map(getattr(part, "direct", part), keys)
    else:
        labels = many(keys)
        distinct = set(labels)
        if len(distinct) <= _FEW_LABELS:
            return {label: list(compress(keys, map(label.__eq__, labels)))
                    for label in sorted(distinct)}
    by_label: dict[int, list] = {}
    for k, label in zip(keys, labels):
        ks = by_label.get(label)
        if ks is None:
            by_label[label] = [k]
        else:
            ks.append(k)
    return by_label


def write_pairs(out: Any, pairs: Iterable) -> None:
    """Write ``(key, value)`` pairs to an output: in batches to a record writer."""
    if isinstance(out, RecordWriter):
        out.extend(pairs)
    else:
        add = out.add
        for k, v in pairs:
            add(k, v)


def _write_keys(out: Any, keys: list, groups: dict, single: bool) -> None:
    if single:  # the pairs made in C
        write_pairs(out, zip(keys, map(_only, map(groups.__getitem__, keys))))
    elif isinstance(out, RecordWriter):
        extend = out.extend
        for i in range(0, len(keys), _KEYS_AT_ONCE):
            extend([(k, v) for k in keys[i:i + _KEYS_AT_ONCE] for v in groups[k]])
    else:
        add = out.add
        for k in keys:
            for v in groups[k]:
                add(k, v)
