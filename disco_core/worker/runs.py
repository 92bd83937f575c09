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

import itertools
import sys
from itertools import chain, compress, islice, repeat
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator

from ..records import RecordWriter

_SAMPLE = 1000
_SLOT = 8  # bytes of a list slot
_KEYS_AT_ONCE = 4096  # keys whose pairs are handed to the writer in one list
_only = itemgetter(0)
_second = itemgetter(1)
_BLOCK = 4096  # entries mapped at a time
_GROUPED = {str, bytes}  # key types a run groups
_FEW_LABELS = 16  # labels split off one pass each over the keys' labels


def mapped_blocks(fmap: Callable, entries: Iterable, params: Any, interval: int,
                  status: Callable[[int, str], None] | None, count: int
                  ) -> Iterator[tuple[list, int]]:
    """``(pairs, count)``: the pairs the map yields for the next ``_BLOCK`` entries (fewer,
    to end at each multiple of ``interval``, when a status message is due) in one list, and
    the count of entries mapped so far. The entries are read one at a time as the map
    goes, driven from C: nothing of ours runs between two pairs."""
    entries = iter(entries)
    more = repeat(params)
    while True:
        n = min(_BLOCK, interval - count % interval) if interval else _BLOCK
        ticks = itertools.count(1)
        pairs = list(chain.from_iterable(map(fmap, compress(islice(entries, n), ticks),
                                             more)))
        taken = next(ticks) - 1  # compress takes a tick after each entry it hands on
        if not taken:
            return
        count += taken
        if interval and count % interval == 0 and status is not None:
            status(count, "mapped")
        yield pairs, count
        if taken < n:
            return


def plain_pairs(pairs: list) -> bool:
    """Whether every item of ``pairs`` is a tuple of two (a pair as the map yielded it is
    also what unpacking it gives)."""
    return set(map(type, pairs)) <= {tuple} and set(map(len, pairs)) <= {2}


def map_runs(fmap: Callable, entries: Iterable, params: Any, part: Any, outputs: Any,
             interval: int, status: Callable[[int, str], None], base: int, buffer_size: int,
             plain: Callable[..., int]) -> int:
    """Map ``entries`` into ``outputs`` as key-ordered runs; returns how many were mapped.

    ``part`` is None (one label) or the memoised default partition; ``plain(entries, count)``
    maps the rest of the entries as they come (from ``count`` on) when a key is neither
    ``str`` nor ``bytes``, and returns the new count.

    A run is grouped one of two ways, to the same effect: when most keys come once (a
    join's), its pairs are kept in a list and sorted by key at the end (a stable sort keeps
    each key's values in order); when keys repeat, each pair goes to its key's list."""
    entries = iter(entries)
    run = _Run(part, outputs, buffer_size)
    count = base
    for pairs, count in mapped_blocks(fmap, entries, params, interval, status, count):
        if not plain_pairs(pairs):
            pairs = [(k, v) for k, v in pairs]
        keys = list(map(_only, pairs))
        if not set(map(type, keys)) <= _GROUPED:
            # a key that is neither str nor bytes: what is grouped goes out, the rest as
            # it comes
            i = next(i for i, k in enumerate(keys) if type(k) not in _GROUPED)
            run.add(pairs[:i], keys[:i])
            run.write()
            for k, v in pairs[i:]:
                (outputs[0] if part is None else outputs[part(k)]).add(k, v)
            return plain(entries, count) - base
        run.add(pairs, keys)
        if not run.sorting and run.sorting is not None:
            # keys repeat: a pair at a time into its key's list costs less than a list of
            # them all (whose tuples stay alive until it is grouped)
            return _map_grouped(fmap, entries, params, run, interval, status, count,
                                plain) - base
    run.write()
    return count - base


def _map_grouped(fmap: Callable, entries: Iterator, params: Any, run: "_Run", interval: int,
                 status: Callable[[int, str], None], count: int, plain: Callable[..., int]
                 ) -> int:
    """The rest of ``map_runs`` when keys repeat: each pair into its key's list of values
    as it comes. Returns the count of entries mapped in all."""
    part, outputs = run.part, run.outputs
    groups = run.groups
    get = groups.get
    pairs = run.count
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
            if pairs >= run.limit:
                run.count = pairs
                if run.limit == _SAMPLE:
                    run.limit = _run_limit(run.values(), run.buffer_size)
                if pairs >= run.limit:
                    run.write()
                    groups = run.groups
                    get = groups.get
                    pairs = 0
        else:
            count += 1
            if interval and count % interval == 0:
                status(count, "mapped")
            continue
        # a key that is neither str nor bytes: what is grouped goes out, the rest as it comes
        run.count = pairs
        run.write()
        (outputs[0] if part is None else outputs[part(k)]).add(k, v)
        for k, v in gen:
            (outputs[0] if part is None else outputs[part(k)]).add(k, v)
        count += 1
        if interval and count % interval == 0:
            status(count, "mapped")
        return plain(entries, count)
    run.count = pairs
    run.write()
    return count


class _Run:
    """The pairs of the run being made, grouped by key, written when it holds enough."""

    def __init__(self, part: Any, outputs: Any, buffer_size: int) -> None:
        self.part = part
        self.outputs = outputs
        self.buffer_size = buffer_size
        self.limit = _SAMPLE
        self.sorting: bool | None = None  # decided on the first pairs
        self.pairs: list = []
        self.groups: dict = {}
        self.count = 0

    def add(self, pairs: list, keys: list) -> None:
        """Add ``pairs`` (``keys`` their keys) to the run, which ends after ``limit``."""
        if self.sorting is None and keys:
            self.sorting = len(set(keys)) * 2 > len(keys)
        while len(pairs) > self.limit - self.count:
            room = self.limit - self.count
            self._add(pairs[:room], keys[:room])
            pairs, keys = pairs[room:], keys[room:]
        self._add(pairs, keys)

    def _add(self, pairs: list, keys: list) -> None:
        if not pairs:
            return
        if self.sorting:
            self.pairs.extend(pairs)
        else:
            groups = self.groups
            get = groups.get
            for k, v in pairs:
                vs = get(k)
                if vs is None:
                    groups[k] = [v]
                else:
                    vs.append(v)
        self.count += len(pairs)
        if self.count >= self.limit:
            if self.limit == _SAMPLE:
                self.limit = _run_limit(self.values(), self.buffer_size)
            if self.count >= self.limit:
                self.write()

    def values(self) -> Iterator[Any]:
        if self.sorting:
            return map(_second, self.pairs)
        return chain.from_iterable(self.groups.values())

    def write(self) -> None:
        if self.sorting and self.pairs:
            pairs = self.pairs
            try:
                pairs.sort(key=_only)
            except TypeError:  # str and bytes keys together: grouped in first-come order
                groups: dict = {}
                for k, v in pairs:
                    groups.setdefault(k, []).append(v)
                _write_run(groups, self.part, self.outputs, len(pairs))
            else:
                _write_sorted(pairs, self.part, self.outputs)
        elif self.groups:
            _write_run(self.groups, self.part, self.outputs, self.count)
        self.pairs = []
        self.groups = {}
        self.count = 0


def _run_limit(values: Iterable, buffer_size: int) -> int:
    """Pairs a run may hold, from the size of the values grouped so far."""
    size = n = 0
    for v in islice(values, _SAMPLE):
        size += _SLOT + sys.getsizeof(v)
        n += 1
    return max(_SAMPLE, buffer_size // max(1, size // max(1, n)))


def _write_sorted(pairs: list, part: Any, outputs: Any) -> None:
    """Write ``pairs``, sorted by key, as a run (in each label's output)."""
    if part is None:
        write_pairs(outputs[0], pairs, True)
        return
    keys = list(map(_only, pairs))
    many = getattr(part, "many", None)
    labels = many(keys) if many is not None else list(map(getattr(part, "direct", part), keys))
    for label in sorted(set(labels)):
        write_pairs(outputs[label], compress(pairs, map(label.__eq__, labels)), True)


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


def write_pairs(out: Any, pairs: Iterable, distinct: bool = False) -> None:
    """Write ``(key, value)`` pairs to an output: in batches to a record writer (see
    ``RecordWriter.extend`` for ``distinct``)."""
    if isinstance(out, RecordWriter):
        out.extend(pairs, distinct)
    else:
        add = out.add
        for k, v in pairs:
            add(k, v)


def _write_keys(out: Any, keys: list, groups: dict, single: bool) -> None:
    if single:  # the pairs made in C
        write_pairs(out, zip(keys, map(_only, map(groups.__getitem__, keys))), True)
    elif isinstance(out, RecordWriter):
        extend = out.extend
        for i in range(0, len(keys), _KEYS_AT_ONCE):
            extend([(k, v) for k in keys[i:i + _KEYS_AT_ONCE] for v in groups[k]])
    else:
        add = out.add
        for k in keys:
            for v in groups[k]:
                add(k, v)
