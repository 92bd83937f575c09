"""The classic map/reduce worker (``disco.worker.classic.worker.Worker``).

Stages (the master builds them from the version-1 jobdict):

* ``map`` (split): read each input through ``map_input_stream`` (+ ``map_reader``), call
  ``map(entry, params)``, route pairs to labels with ``partition`` (label 0 when not
  partitioned), optionally ``combiner``, write one record file per label.
* ``map_shuffle`` (group_node): per node, concatenate that node's map outputs of each label
  into one file (record files concatenate).
* ``reduce`` (group_label / group_all): read the label's files through
  ``reduce_input_stream`` + ``reduce_reader``, optionally sort by key (external sort), call
  ``reduce(iter, params)`` (yields pairs) or ``reduce(iter, out, params)`` (``out.add``).

``map`` or ``reduce`` may also be an external program (a dict from
``disco.util.external``): the task runs it and talks to it over pipes
(:mod:`disco_core.worker.external`); its map replies go through the same partitioning,
combiner and outputs as a Python map's pairs.

Records are batched at every step: a map task pays one function call per pair for the
user's ``map`` and one dict or buffer operation per pair, nothing more. ``sum_combiner``
is recognised and run as a dict update; the default partition is memoised per key.
"""
from __future__ import annotations

import gc
import itertools
import os
import shutil
import time
from collections import defaultdict, deque
from contextlib import contextmanager
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from .. import jobpack as jp
from ..errors import DiscoError
from ..settings import DiscoSettings
from ..util import argcount, isiterable
from . import func as F
from .base import Params, Worker as BaseWorker
from .dataio import open_url
from .runs import keys_by_label, map_runs, write_pairs
from .sort import external_sort, parse_buffer_size
from .inout import check_label, open_output_chain
from .task import Input, Task

_MEMO_LIMIT = 1 << 20
_STATUS_RATE = 4  # progress messages a second; the node answers 5 a second at once
_CHUNK = 4096     # records a reduce is handed at a time when they are counted
_GC_THRESHOLD = (100_000, 50, 100)  # while a task's records are worked on (see below)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run a task's record loop with the cyclic garbage collector seldom at work.

    A map or reduce makes and keeps millions of small objects (pairs, runs, groups); at the
    default thresholds the collector walks those that survive again and again, which cost
    a quarter of a map task's time. The objects alive before the task (modules, the job's
    functions) are frozen out of its reach, and it runs after 100,000 allocations instead
    of 700; garbage that is not cyclic goes at once as always."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


class Outputs:
    """Output files of a task, one per label, opened on first use through an output chain."""

    def __init__(self, worker: "Worker", chain: Iterable[Callable], params: Any) -> None:
        self.worker = worker
        self.chain = list(chain)
        self.params = params
        self.open: dict[int, list[Any]] = {}

    def __getitem__(self, label: int) -> Any:
        streams = self.open.get(label)
        if streams is None:
            streams = self._open(label)
        return streams[-1]

    def _open(self, label: int) -> list[Any]:
        check_label(label)
        streams = open_output_chain(self.chain, label, self.worker.task.output_path(label),
                                    self.params)
        self.open[label] = streams
        return streams

    def close(self) -> None:
        for label in sorted(self.open):
            for stream in reversed(self.open[label]):
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            self.worker.add_output(label, self.worker.task.output_path(label))
        self.open = {}

    def abort(self) -> None:
        for streams in self.open.values():
            for stream in streams:
                abort = getattr(stream, "abort", None)
                if abort is not None:
                    abort()


class Worker(BaseWorker):
    """The classic map/reduce worker."""

    jobpack_version = jp.VERSION1

    def defaults(self) -> dict:
        d = super().defaults()
        d.update({"map": None, "reduce": None, "combiner": None,
                  "partition": F.default_partition, "partitions": 1,
                  "map_init": F.noop, "reduce_init": F.noop,
                  "map_reader": None, "reduce_reader": F.chain_reader,
                  "map_input_stream": (F.map_input_stream,),
                  "map_output_stream": (F.map_output_stream, F.disco_output_stream),
                  "reduce_input_stream": (F.reduce_input_stream,),
                  "reduce_output_stream": (F.reduce_output_stream, F.disco_output_stream),
                  "sort": False, "sort_buffer_size": None, "status_interval": 100000,
                  "ext_params": {}, "input": []})
        return d

    # -- client side --------------------------------------------------------------------
    def jobdict(self, job: Any, **jobargs: Any) -> dict:
        d = super().jobdict(job, **jobargs)
        has_map = bool(self.getitem("map", job, jobargs))
        has_reduce = bool(self.getitem("reduce", job, jobargs))
        inputs = normalize_inputs(self.getitem("input", job, jobargs) or [])
        partitions = self.getitem("partitions", job, jobargs)
        if partitions is not None and (not isinstance(partitions, int) or partitions < 0):
            raise DiscoError("partitions must be a non-negative integer or None, got %r"
                             % (partitions,))
        for what in ("map", "reduce"):
            program = self.getitem(what, job, jobargs)
            if isinstance(program, dict):  # an external program: check it before submitting
                from .external import check_program, encode_params
                check_program(program, what)
                encode_params(self.getitem("ext_params", job, jobargs, {}))
        if has_map:
            nr_reduces = partitions or 1
        else:
            nr_reduces = max(1, partitions or 1) if partitions else 1
        d.update({"input": inputs, "map?": has_map, "reduce?": has_reduce,
                  "reduce_shuffle?": False, "nr_reduces": nr_reduces})
        return d

    # -- task side ----------------------------------------------------------------------
    def param(self, key: str, default: Any = None) -> Any:
        return self.getitem(key, self.job, self.jobargs, default)

    def status(self, count: int, what: str, final: bool = False) -> None:
        """``N entries mapped`` (or ``reduced``). A task's progress messages come at most
        ``_STATUS_RATE`` a second, under what the node answers at once (more would each wait
        200 ms for their reply): one due sooner is left out, the next shows the count. The
        ``final`` one, a task's last, is always sent."""
        now = time.monotonic()
        sent = self.__dict__.setdefault("_status_sent", deque())
        while sent and now - sent[0] >= 1.0:
            sent.popleft()
        if not final and len(sent) >= _STATUS_RATE:
            return
        sent.append(now)
        print("%d entries %s" % (count, what))

    def stage_map(self, task: Task, inputs: list[Input]) -> None:
        with fewer_collections():
            self.map_task(task, inputs)

    def stage_reduce(self, task: Task, inputs: list[Input]) -> None:
        with fewer_collections():
            self.reduce_task(task, inputs)

    def map_task(self, task: Task, inputs: list[Input]) -> None:
        fmap = self.param("map")
        params = self.param("params")
        nr = self.param("partitions") or 0
        partition = self.param("partition") or F.default_partition
        combiner = self.param("combiner")
        reader = self.param("map_reader")
        chain = list(self.param("map_input_stream") or ()) + ([reader] if reader else [])
        outputs = Outputs(self, self.param("map_output_stream"), params)
        interval = self.param("status_interval") or 0
        init = self.param("map_init")
        # map_init(entries, params) gets the iterator of the task's entries, which map then
        # goes on with: what init takes from it (next(entries), a header line) is not mapped
        shared = iter(self.map_entries(inputs, chain)) if init and init is not F.noop else None
        if shared is not None:
            init(shared, params)
        part = _partitioner(partition, nr, params)
        count = 0
        program = None
        try:
            if shared is not None and not isinstance(fmap, dict):
                count = self.map_records(fmap, shared, params, part, combiner, outputs,
                                         interval, 0)
            elif isinstance(fmap, dict):
                # an external program: one process reads every input's entries and answers
                # each with a list of pairs, which the usual loop maps with ``reply_map``
                from .external import encode_entry, reply_map, start
                program = start(self, task, fmap, "map")
                entries = shared if shared is not None else self.map_entries(inputs, chain)
                program.feed(map(encode_entry, entries))
                count = self.map_records(reply_map, program.replies(), params, part, combiner,
                                         outputs, interval, 0)
                program.finish()
            else:
                for inp in inputs:
                    entries = self.open_source(inp, chain)
                    count += self.map_records(fmap, entries, params, part, combiner, outputs,
                                              interval, count)
                    close = getattr(entries, "close", None)
                    if close is not None:
                        close()
                    self.current_input = ""
            if not outputs.open:
                outputs[0]  # a map with no output still reports its (empty) result
            outputs.close()
        except BaseException:
            if program is not None:
                program.abort()
            outputs.abort()
            raise
        if interval:
            self.status(count, "mapped", final=True)

    def map_entries(self, inputs: list[Input], chain: list) -> Iterator[Any]:
        """The entries of every input in turn, each input closed after its last entry."""
        for inp in inputs:
            entries = self.open_source(inp, chain)
            yield from entries
            close = getattr(entries, "close", None)
            if close is not None:
                close()
            self.current_input = ""

    def map_records(self, fmap: Callable, entries: Iterable, params: Any, part: Any,
                    combiner: Any, outputs: Outputs, interval: int, base: int) -> int:
        """Map ``entries`` into ``outputs``; returns how many entries were mapped."""
        if combiner is F.sum_combiner:
            return _map_sum(fmap, entries, params, part, outputs, interval, self, base)
        if combiner is not None:
            return _map_combine(fmap, entries, params, part, combiner, outputs)
        if self.param("reduce") and (part is None or hasattr(part, "direct")):
            # the reduce gets runs in key order (see runs.py)
            size = self.param("sort_buffer_size") or DiscoSettings()["DISCO_SORT_BUFFER_SIZE"]

            def plain(rest: Iterable, count: int) -> int:
                return count + self.map_plain(fmap, rest, params, part, outputs, interval,
                                              count)
            return map_runs(fmap, entries, params, part, outputs, interval, self.status, base,
                            parse_buffer_size(size), plain)
        return self.map_plain(fmap, entries, params, part, outputs, interval, base)

    def map_plain(self, fmap: Callable, entries: Iterable, params: Any, part: Any,
                  outputs: Outputs, interval: int, base: int) -> int:
        """Map ``entries`` into ``outputs`` in the order the pairs come."""
        count = base
        if part is None:
            add = outputs[0].add
            for entry in entries:
                for k, v in fmap(entry, params):
                    add(k, v)
                count += 1
                if interval and count % interval == 0:
                    self.status(count, "mapped")
        else:
            for entry in entries:
                for k, v in fmap(entry, params):
                    outputs[part(k)].add(k, v)
                count += 1
                if interval and count % interval == 0:
                    self.status(count, "mapped")
        return count - base

    def stage_map_shuffle(self, task: Task, inputs: list[Input]) -> None:
        """Concatenate this node's map outputs label by label."""
        by_label: dict[int, list[str]] = defaultdict(list)
        for label, source in self.sources(inputs):
            by_label[label].append(source if isinstance(source, str) else source.urls[0])
        for label in sorted(by_label):
            path = task.output_path(label)
            from .dataio import AtomicFile
            out = AtomicFile(path, sync=None)
            try:
                for url in by_label[label]:
                    self.current_input = url
                    src = open_url(url, task)
                    try:
                        shutil.copyfileobj(src, out, 1 << 20)
                    finally:
                        src.close()
                out.close()
            except BaseException:
                out.abort()
                raise
            self.add_output(label, path)
        self.current_input = ""
        print("Shuffled %d inputs into %d label(s)" % (sum(map(len, by_label.values())),
                                                       len(by_label)))

    stage_reduce_shuffle = stage_map_shuffle

    def reduce_records(self, task: Task, inputs: list[Input]) -> Iterator[Any]:
        """The records of every input in turn, each opened when the one before is read (a
        chain of the inputs' iterators: nothing of ours runs between two records). The input
        last opened stays the worker's ``current_input`` until the reduce returns (the
        status counter reads a few thousand records ahead: a reduce that fails on one of
        the last records of an input may be told of the next)."""
        reader = self.param("reduce_reader")
        chain = list(self.param("reduce_input_stream") or ()) + ([reader] if reader else [])

        def opened() -> Iterator[Iterable]:
            for _label, source in self.sources(inputs):
                yield self.open_source(source, chain)
        return itertools.chain.from_iterable(opened())

    def reduce_task(self, task: Task, inputs: list[Input]) -> None:
        fred = self.param("reduce")
        params = self.param("params")
        records: Iterator[Any] = self.reduce_records(task, inputs)
        interval = self.param("status_interval") or 0
        external = isinstance(fred, dict)
        if external:  # an external program reads its input sorted by key, bytewise
            from .external import encode_record
            records = map(encode_record, records)
        if self.param("sort") or external:
            size = self.param("sort_buffer_size") or DiscoSettings()["DISCO_SORT_BUFFER_SIZE"]
            records = external_sort(records, task.path("sort"), parse_buffer_size(size))
        if interval:
            records = _counting(records, interval, self)
        records = iter(records)
        self.call_init("reduce_init", records, params)
        outputs = Outputs(self, self.param("reduce_output_stream"), params)
        program = None
        try:
            out = outputs[0]
            if external:
                from .external import start
                program = start(self, task, fred, "reduce")
                program.feed(records)
                _add_all(out, program.results())
                program.finish()
            elif argcount(fred) >= 3:
                fred(records, out, params)
            else:
                result = fred(records, params)
                if result is not None:
                    add = out.add
                    for k, v in result:
                        add(k, v)
            self.current_input = ""
            outputs.close()
        except BaseException:
            if program is not None:
                program.abort()
            outputs.abort()
            raise

    def call_init(self, name: str, arg: Any, params: Any) -> None:
        init = self.param(name)
        if init and init is not F.noop:
            init(arg, params)


def _counting(records: Iterable, interval: int, worker: Worker) -> Iterator:
    """``records``, with a status message after every ``interval`` of them and at the end.
    They are handed on in chunks (ending at each multiple of ``interval``), so counting
    costs nothing per record."""
    return itertools.chain.from_iterable(_counted_chunks(iter(records), interval, worker))


def _counted_chunks(records: Iterator, interval: int, worker: Worker) -> Iterator[list]:
    n = 0
    while True:
        chunk = list(islice(records, min(_CHUNK, interval - n % interval)))
        if not chunk:
            break
        yield chunk
        n += len(chunk)
        if n % interval == 0:
            worker.status(n, "reduced")
    worker.status(n, "reduced", final=True)


def _partitioner(partition: Callable, nr: int, params: Any) -> Callable[[Any], int] | None:
    """``key -> label`` for ``nr`` partitions (None when not partitioned)."""
    if not nr:
        return None
    if nr == 1 and partition is F.default_partition:
        return None  # one label: 0, as for an unpartitioned map
    if partition is F.default_partition:
        memo: dict = {}

        def part(key: Any) -> int:
            try:
                return memo[key]
            except KeyError:
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                label = memo[key] = partition(key, nr, params)
                return label
            except TypeError:  # unhashable key
                return partition(key, nr, params)
        part.direct = lambda key: partition(key, nr, params)  # type: ignore[attr-defined]
        part.many = lambda keys: F.default_partitions(keys, nr)  # type: ignore[attr-defined]
        return part

    def checked(key: Any) -> int:
        label = partition(key, nr, params)
        if not isinstance(label, int) or not 0 <= label < nr:
            raise DiscoError("partition(%r) returned %r: it must be an integer in 0..%d"
                             % (key, label, nr - 1))
        return label
    return checked


def _map_sum(fmap: Callable, entries: Iterable, params: Any, part: Any, outputs: Outputs,
             interval: int, worker: Worker, base: int) -> int:
    """map + sum_combiner as one dict update per pair; pairs are partitioned at the end."""
    # counts[k] += v, and 0 + v for a key's first value (sum_combiner's buf.get(k, 0) + v):
    # the common case, a key seen before, costs no method call
    counts: dict = {}
    n = 0
    if interval:
        for n, entry in enumerate(entries, 1):
            for k, v in fmap(entry, params):
                try:
                    counts[k] += v
                    continue
                except KeyError:
                    pass
                counts[k] = 0 + v  # out of the handler: its error comes alone
            if (base + n) % interval == 0:
                worker.status(base + n, "mapped")
    else:
        for n, entry in enumerate(entries, 1):
            for k, v in fmap(entry, params):
                try:
                    counts[k] += v
                    continue
                except KeyError:
                    pass
                counts[k] = 0 + v  # out of the handler: its error comes alone
    if part is None:
        write_pairs(outputs[0], counts.items(), True)
    else:
        # every key is distinct here: label each once, without the per-record memo
        for label, keys in keys_by_label(list(counts), part).items():
            write_pairs(outputs[label], zip(keys, map(counts.__getitem__, keys)), True)
    return n


def _add_all(out: Any, items: Iterable) -> None:
    add = out.add
    for k, v in items:
        add(k, v)


def _map_combine(fmap: Callable, entries: Iterable, params: Any, part: Any, combiner: Callable,
                 outputs: Outputs) -> int:
    bufs: dict[int, dict] = defaultdict(dict)
    n = 0
    for n, entry in enumerate(entries, 1):
        for k, v in fmap(entry, params):
            label = part(k) if part is not None else 0
            result = combiner(k, v, bufs[label], False, params)
            if result:
                add = outputs[label].add
                for rk, rv in result:
                    add(rk, rv)
    for label, buf in bufs.items():
        result = combiner(None, None, buf, True, params)
        if result:
            add = outputs[label].add
            for rk, rv in result:
                add(rk, rv)
    return n


def normalize_inputs(inputs: Any) -> list:
    """Inputs as the v1 jobdict wants them: URLs, or lists of replica URLs."""
    if isinstance(inputs, str):
        inputs = [inputs]
    out: list = []
    for item in inputs:
        if isinstance(item, str) and item.startswith("tag://"):
            # a tag stands for its blobs, each a list of replicas (through the tag scheme's
            # plugin), as the original's client expanded tags before submitting
            from .inputlist import inputexpand
            out.extend(normalize_inputs(inputexpand(item)))
        elif isinstance(item, str):
            out.append(_plain_url(item))
        elif isiterable(item):
            replicas = [_plain_url(u) for u in item]
            out.append(replicas[0] if len(replicas) == 1 else replicas)
        else:
            raise DiscoError("input %r is not a URL or a list of replica URLs" % (item,))
    return out


def _plain_url(url: str) -> str:
    if not isinstance(url, str):
        raise DiscoError("input %r is not a URL string" % (url,))
    if "://" not in url:
        return "file://" + os.path.abspath(url) if not url.startswith("/") else "file://" + url
    return url


__all__ = ["Worker", "Params"]
