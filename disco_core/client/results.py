"""``result_iterator``: the records of a job's results (or of any inputs).

Each item of ``urls`` is a URL or a list of replica URLs; index URLs (``dir://``) are
expanded to the files they list. Each file goes through ``input_stream`` and ``reader``
(``chain_reader`` by default: the internal record format); replicas are tried in turn, and
a replica that fails while it is read is resumed on the next one.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from ..util import isiterable


def _default_reader() -> Any:
    from ..worker.task_io import chain_reader
    return chain_reader


def _default_stream() -> tuple:
    from ..worker.task_io import task_input_stream
    return (task_input_stream,)


def result_iterator(urls: Iterable, reader: Any = "default", input_stream: Any = None,
                    notifier: Any = None, params: Any = None, ddfs: Any = None) -> Iterator:
    from ..worker.dataio import apply_input_chain, expand, is_index
    from ..worker.inout import Input
    if reader == "default":
        reader = _default_reader()
    chain = list(input_stream or _default_stream()) + ([reader] if reader else [])
    for item in urls:
        replicas = list(item) if isiterable(item) else [item]
        if notifier is not None:
            notifier(replicas)
        if replicas and is_index(replicas[0]):
            for url in expand(replicas[0], "all"):
                if isiterable(url):  # a tag's blob: its replicas
                    yield from Input(list(url), open=chain, params=params).read(list(url))
                else:
                    yield from apply_input_chain(url, chain, params)
            continue
        # replicas in turn; one that fails part-way is resumed on the next replica after
        # the records already given, so none comes twice
        yield from Input(replicas, open=chain, params=params).read(replicas)
