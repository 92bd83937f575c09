"""A task's inputs and outputs as the original's ``disco.worker`` offered them to a Worker.

* :class:`IDedInput` -- one input of the task as the node's INPUT reply gives it: ``id``,
  ``label``, ``replicas`` (``(rep_id, url)`` pairs), plus ``locations``, ``isindex`` and
  ``unavailable(tried)`` (INPUT_ERR: the node's other replicas, if any).
* :class:`ReplicaIter` -- the URLs to try for one input, each once.
* :class:`Input` -- the records of one input, read from the first replica that works and
  resumed on the next when one fails in the middle.
* :class:`SerialInput`, :class:`ParallelInput`, :class:`MergedInput` -- the records of
  several inputs: one after the other, round-robin, or heap-merged.
* :class:`BaseOutput`, :class:`Output` -- an output file of the task, ``(path, type,
  label)`` and the record writer ``file`` over it.

What an input's records are is decided by ``open``: a function ``open(url) -> records``
(the original's convention) or an input chain, a list of stream functions
(:mod:`disco_core.worker.task_io`). Left out, the running stage decides: the job's first
stage reads its inputs as text lines, later stages read the previous stage's record files.
"""
from __future__ import annotations

import functools
import heapq
import io
import itertools
import operator
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from ..errors import DataError, DiscoError
from .task import Input as InputSpec, Task, active_task

_first_stages: dict[str, str] = {}


def _running_task() -> Task | None:
    return active_task()


def first_stage(task: Task) -> str:
    """The name of the first stage of the task's job (read from its job file)."""
    name = _first_stages.get(task.jobfile)
    if name is None:
        from ..jobpack import task_jobdict
        jobdict = task_jobdict(task.jobfile)
        pipeline = jobdict.get("pipeline")
        name = pipeline[0][0] if pipeline else "map"
        _first_stages[task.jobfile] = name
    return name


def default_input_chain(first: bool) -> list[Callable]:
    """The input chain of a stage: text lines for the first, record files for the others."""
    from . import task_io
    if first:
        return [task_io.task_input_stream]
    return [task_io.task_input_stream, task_io.chain_reader]


def default_output_chain() -> list[Callable]:
    """The output chain of a task: an atomic file of the internal record format."""
    from . import task_io
    return [task_io.task_output_stream, task_io.disco_output_stream]


def opener(open: Any, params: Any = None) -> Callable[[str], Iterable[Any]]:
    """``open(url) -> records`` from a function of that kind or an input chain."""
    if callable(open):
        return open
    if isinstance(open, (list, tuple)) and all(callable(fn) for fn in open):
        chain = list(open)

        def open_chain(url: str) -> Any:
            from .dataio import apply_input_chain
            return apply_input_chain(url, chain, params)
        return open_chain
    raise DiscoError("open=%r is not usable: give a function open(url) returning the records "
                     "of a URL, or an input chain (a list of input stream functions)" % (open,))


def check_label(label: Any) -> int:
    """An output label: a non-negative integer."""
    if isinstance(label, bool) or not isinstance(label, int) or label < 0:
        raise DiscoError("output labels must be non-negative integers, got %r" % (label,))
    return label


@dataclass
class IDedInput(InputSpec):
    """One input of a task, as the INPUT reply gives it; ``worker`` (the running Worker)
    is whom :meth:`unavailable` asks for other replicas."""

    worker: Any = field(default=None, repr=False, compare=False)

    @property
    def locations(self) -> list[str]:
        """The replicas' URLs, in the order to try them."""
        return self.urls

    @property
    def isindex(self) -> bool:
        """Whether the input is an index (``dir://``) of files rather than data."""
        from .dataio import is_index
        return bool(self.replicas) and is_index(self.replicas[0][1])

    def unavailable(self, tried: Iterable[int]) -> list[tuple[int, str]]:
        """Report the replicas ``tried`` (ids) as unreadable; the node's other replicas of
        this input, ``[]`` when it has none (INPUT_ERR, then RETRY or FAIL)."""
        if self.worker is None:
            return []
        return [tuple(r) for r in self.worker.input_failed(self.id, sorted(tried))]

    def __str__(self) -> str:
        return str(self.urls)


def _replicas(input: Any) -> list[tuple[int, str]]:
    if isinstance(input, InputSpec):
        return [(int(rid), str(url)) for rid, url in input.replicas]
    if isinstance(input, str):
        return [(0, input)]
    if isinstance(input, (list, tuple)) and all(isinstance(u, str) for u in input):
        return list(enumerate(input))
    raise DiscoError("%r is not an input: give an input of the task (Worker.get_inputs()), a "
                     "URL or a list of replica URLs" % (input,))


def _is_local(url: str, task: Task | None) -> bool:
    """Whether ``url`` is read from this node's disk (``file://``, or job data of this host)."""
    from ..util import schemesplit
    scheme, rest = schemesplit(url)
    if scheme in ("", "file"):
        return True
    if scheme in ("disco", "dir") and task is not None and task.host:
        return rest.partition("/")[0].partition(":")[0] == task.host
    return False


class ReplicaIter:
    """The URLs to try for one input, each replica once.

    A replica on this node's disk comes first; then the others in the order the node gave
    them (it puts replicas that failed lately last, so this order is the one to keep, where
    the original picked at random). When all are used, the input's ``unavailable`` (an
    :class:`IDedInput`'s INPUT_ERR) is asked for others; iteration ends when there are none.
    ``input`` is an input of the task, a URL or a list of replica URLs.
    """

    def __init__(self, input: Any, task: Task | None = None) -> None:
        self.input = input
        self.task = task if task is not None else _running_task()
        self.replicas = _replicas(input)
        self.used: set[int] = set()
        self.checked_local = False

    def __iter__(self) -> "ReplicaIter":
        return self

    def __next__(self) -> str:
        while True:
            fresh = [(rid, url) for rid, url in self.replicas if rid not in self.used]
            if fresh:
                pick = fresh[0]
                if not self.checked_local:
                    self.checked_local = True
                    pick = next((r for r in fresh if _is_local(r[1], self.task)), pick)
                self.used.add(pick[0])
                return pick[1]
            unavailable = getattr(self.input, "unavailable", None)
            if unavailable is None:
                raise StopIteration
            more = [(int(rid), str(url)) for rid, url in unavailable(self.used)]
            if not any(rid not in self.used for rid, _url in more):
                raise StopIteration
            self.replicas = more


_first = operator.itemgetter(0)
#: ``(record, n)`` -> ``(record,)``: a record alone, as :meth:`Input.read` chains them.
_alone = operator.itemgetter(slice(0, 1))
#: Bytes of lines a text stream reads at a time for :meth:`Input.read`.
LINES_BLOCK = 1 << 16


def _line_blocks(records: Any) -> Iterator[list] | None:
    """The lines of a text input in lists of about :data:`LINES_BLOCK` bytes, when
    ``records`` is a stream of the io module's own classes (whose ``readlines`` splits
    them in C, as iterating it would), else None."""
    if type(records) in (io.TextIOWrapper, io.BufferedReader):
        return iter(functools.partial(records.readlines, LINES_BLOCK), [])
    return None


def _close(obj: Any) -> None:
    close = getattr(obj, "close", None)
    if close is not None:
        close()


class Input:
    """The records of one input of a task.

    ``input`` is an input of the task (:meth:`Worker.get_inputs`), a URL or a list of
    replica URLs; an index input (``dir://``) gives the records of each file it lists for
    its label, one file after the other. ``task`` defaults to the running task. ``open``
    is ``open(url) -> records`` or an input chain (whose functions get ``params``); left
    out, the stage decides (text lines in the job's first stage, records later).

    Replicas are tried as :class:`ReplicaIter` orders them. A replica that fails to open or
    to read (:class:`DataError`, ``OSError``) is left for the next one, which resumes after
    the last record already given, so no record comes twice. When every replica failed,
    :class:`DataError` names each with its error.
    """

    def __init__(self, input: Any, task: Task | None = None, open: Any = None,
                 params: Any = None) -> None:
        self.input = input
        self.task = task if task is not None else _running_task()
        self.params = params
        self.open = None if open is None else opener(open, params)
        self.worker = getattr(input, "worker", None)
        _replicas(input)  # a clear error now for something that is not an input

    def opener(self) -> Callable[[str], Iterable[Any]]:
        """``open(url) -> records``: the one given, or the stage's input chain."""
        if self.open is None:
            first = self.task is None or self.task.stage == first_stage(self.task)
            self.open = opener(default_input_chain(first), self.params)
        return self.open

    def sources(self) -> list[Any]:
        """What to read, in order: the input itself, or the files an index input lists."""
        replicas = _replicas(self.input)
        if replicas:
            from .dataio import is_index, read_index
            url = replicas[0][1]
            if is_index(url):
                label = getattr(self.input, "label", "all")
                self._note(url)
                return [[u] for lab, u, _size in self._read_index(replicas, read_index)
                        if label == "all" or lab == label]
        return [self.input]

    def _read_index(self, replicas: list[tuple[int, str]], read_index: Any) -> list:
        """The lines of the first replica of an index input that can be read."""
        errors = []
        for _rid, url in replicas:
            try:
                return read_index(url, self.task)
            except (DataError, OSError) as exc:
                errors.append(exc)
        self._lost()
        raise errors[0]

    def _lost(self) -> None:
        """Tell the node that no replica of this input could be read (INPUT_ERR), so the
        master can have it made again when an earlier stage made it."""
        unavailable = getattr(self.input, "unavailable", None)
        if unavailable is not None:
            unavailable([rid for rid, _url in _replicas(self.input)])

    def _note(self, url: str) -> None:
        if self.worker is not None:
            self.worker.current_input = url

    def read(self, source: Any) -> Iterator[Any]:
        """The records of one source (from :meth:`sources`), replica by replica. The lines
        of a text stream are read a block at a time and handed over in C, with no Python
        frame per line (:func:`_line_blocks`); other records one at a time."""
        return itertools.chain.from_iterable(self._pieces(source))

    def _pieces(self, source: Any) -> Iterator[Any]:
        """:meth:`read`'s records in pieces: lists of lines, or each record alone in a
        tuple."""
        records_of = self.opener()
        done = 0
        errors: list[str] = []
        for url in ReplicaIter(source, self.task):
            self._note(url)
            try:
                records = iter(records_of(url))
            except (DataError, OSError) as exc:
                errors.append("%s: %s" % (url, exc))
                continue
            n = 0
            given = None
            taken: int | None = None
            try:
                if done:  # a replica after one that failed: skip what was given already
                    for n, _record in enumerate(itertools.islice(records, done), 1):
                        pass
                blocks = _line_blocks(records)
                if blocks is not None:
                    # a block is read only once the one before was taken whole
                    taken = n
                    for block in blocks:
                        yield block
                        taken += len(block)
                else:
                    # the records counted in C (the counter moves once a record is read)
                    given = itertools.count(n + 1)
                    yield from map(_alone, zip(records, given))
            except (DataError, OSError) as exc:
                if taken is not None:
                    done = max(done, taken)
                elif given is not None:
                    done = max(done, next(given) - 1)
                errors.append("%s: %s (after %d records)" % (url, exc, max(n, done)))
                _close(records)
                continue
            _close(records)
            self._note("")
            return
        if source is not self.input:  # a file an index lists: the index input is lost
            self._lost()
        given = [url for _rid, url in _replicas(source)]
        what = "input %d" % source.id if isinstance(source, InputSpec) else "input %s" % given
        raise DataError("no replica of %s could be read (%s)"
                        % (what, "; ".join(errors) or "it has no replicas"),
                        given[0] if given else "?")

    def parts(self) -> list[Iterator[Any]]:
        """One record iterator per source (each sorted when the files are)."""
        return [self.read(source) for source in self.sources()]

    def __iter__(self) -> Iterator[Any]:
        return itertools.chain.from_iterable(self._all_pieces())

    def _all_pieces(self) -> Iterator[Any]:
        for source in self.sources():
            yield from self._pieces(source)


class SerialInput:
    """The records of several inputs, one input after the other."""

    def __init__(self, inputs: Iterable[Any], task: Task | None = None, open: Any = None,
                 params: Any = None) -> None:
        self.inputs = list(inputs)
        self.task = task
        self.open = open
        self.params = params
        for inp in self.inputs:
            _replicas(inp)

    def each(self) -> list[Input]:
        """An :class:`Input` per input."""
        return [Input(inp, self.task, self.open, self.params) for inp in self.inputs]

    def __iter__(self) -> Iterator[Any]:
        for inp in self.each():
            yield from inp


class ParallelInput(SerialInput):
    """The records of several inputs, round-robin: one record of each input in turn (an
    input that ends drops out), so a task works on all its inputs at once."""

    def __iter__(self) -> Iterator[Any]:
        iters = [iter(inp) for inp in self.each()]
        while iters:
            for it in list(iters):
                try:
                    record = next(it)
                except StopIteration:
                    iters.remove(it)
                    continue
                yield record


def merge_key(record: Any) -> Any:
    """What :class:`MergedInput` orders by: the key of a ``(key, value)`` record, the
    record itself otherwise."""
    if type(record) is tuple and len(record) == 2:
        return record[0]
    return record


class MergedInput(SerialInput):
    """The records of several sorted inputs, merged into one sorted sequence.

    Each input -- each file of an index input -- must already be sorted. Records are ordered
    by :func:`merge_key` (so values need not be comparable); equal keys keep the order of
    the inputs.
    """

    def __iter__(self) -> Iterator[Any]:
        parts = itertools.chain.from_iterable(inp.parts() for inp in self.each())
        return heapq.merge(*parts, key=merge_key)


def open_output_chain(chain: Iterable[Callable], label: int, path: str,
                      params: Any = None) -> list[Any]:
    """The streams of an output chain opened for ``path``: each function gets the previous
    one's stream; the last must have ``add(key, value)``."""
    from ..util import argcount
    streams: list[Any] = []
    stream: Any = None
    try:
        for fn in chain:
            if argcount(fn) >= 4:
                stream = fn(stream, label, path, params)
            else:
                stream = fn(stream, label, path)
            streams.append(stream)
        if not hasattr(stream, "add"):
            raise DiscoError("the last function of an output chain must return an object "
                             "with add(key, value); got %r" % (stream,))
    except BaseException:
        _abort(streams)
        raise
    return streams


def _abort(streams: list[Any]) -> None:
    for stream in reversed(streams):
        abort = getattr(stream, "abort", None)
        if abort is not None:
            abort()


class BaseOutput:
    """An output file of a task: ``path``, ``type`` (``disco``, ``part`` or ``dir``) and
    ``label`` (None is 0), from a ``(path, type, label)`` such as ``task.output(label)``."""

    def __init__(self, path_type_label: Any) -> None:
        try:
            path, typ, label = path_type_label
        except (TypeError, ValueError):
            raise DiscoError("an output is a (path, type, label) triple such as "
                             "task.output(label) gives; got %r" % (path_type_label,)) from None
        self.path = path
        self.type = typ
        self.label = check_label(0 if label is None else label)

    def nonempty(self) -> bool:
        """Whether the file holds anything."""
        return os.path.getsize(self.path) > 0

    def size(self) -> int:
        return os.path.getsize(self.path)

    def __str__(self) -> str:
        return "(%s, %s)" % (self.path, self.type)


class Output(BaseOutput):
    """An output file of a task with a writer, ``file``, over it.

    ``open`` is ``open(path) -> file`` or an output chain (a list of output stream
    functions, which get ``params``); left out, the file is written in the internal record
    format, atomically: it appears under ``path`` only when :meth:`close` finishes it, and
    :meth:`abort` discards it. ``add(key, value)`` and ``append(record)`` write records.
    """

    def __init__(self, path_type_label: Any, open: Any = None, params: Any = None) -> None:
        super().__init__(path_type_label)
        if open is None:
            open = default_output_chain()
        if callable(open):
            self.streams = [open(self.path)]
        elif isinstance(open, (list, tuple)) and open and all(callable(fn) for fn in open):
            self.streams = open_output_chain(open, self.label, self.path, params)
        else:
            raise DiscoError("open=%r is not usable for output %s: give a function "
                             "open(path) returning a file, or an output chain (a list of "
                             "output stream functions)" % (open, self.path))
        self.file = self.streams[-1]
        self.closed = False

    def add(self, key: Any, value: Any) -> None:
        self.file.add(key, value)

    def append(self, record: Any) -> None:
        append = getattr(self.file, "append", None)
        if append is None:
            key, value = record
            self.file.add(key, value)
        else:
            append(record)

    def close(self) -> None:
        """Finish the file (every stream of the chain, last first)."""
        if self.closed:
            return
        self.closed = True
        for stream in reversed(self.streams):
            _close(stream)

    def abort(self) -> None:
        """Discard the file; a file from ``open(path)`` that cannot be discarded is closed."""
        if self.closed:
            return
        self.closed = True
        if any(hasattr(stream, "abort") for stream in self.streams):
            _abort(self.streams)
        else:
            for stream in reversed(self.streams):
                _close(stream)

    def __repr__(self) -> str:
        return "Output(%r, label=%d)" % (self.path, self.label)


__all__ = ["IDedInput", "ReplicaIter", "Input", "SerialInput", "ParallelInput", "MergedInput",
           "BaseOutput", "Output", "merge_key", "open_output_chain"]
