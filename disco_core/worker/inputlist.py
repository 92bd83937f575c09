"""The original's job input lists (``disco.util``'s ``inputlist``, ``inputexpand``, ``deref``,
``parse_dir``, ``read_index``): ``dir://`` indexes and ``tag://`` names opened through the
scheme plugins and replaced by the URLs they list.

They live beside :mod:`.dataio`, which reads the indexes, and not in :mod:`disco_core.util`,
which stays below the plugins; ``disco.util`` re-exports them.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from .. import plugins
from ..errors import DiscoError, PluginError
from ..util import chainify, identity, ispartitioned, isiterable, iterify, urlresolve
from .dataio import read_index as _read_index


def parse_dir(dir_url: str, label: Any = None) -> list[str]:
    """The URLs a ``dir://`` index lists, sorted by label and URL; only ``label``'s when
    one is given."""
    return [url for lab, url, _size in sorted(read_index(dir_url))
            if label is None or lab == label]


def read_index(dir_url: str) -> list[tuple[int, str, int]]:
    """The ``(label, url, size)`` lines of a ``dir://`` index."""
    return _read_index(dir_url)


def _expand_tag(url: str, label: Any) -> list:
    try:
        drv = plugins.driver("scheme", "tag")
    except PluginError:
        drv = None
    if drv is None or not hasattr(drv, "expand"):
        raise DiscoError("cannot expand the input %s: no storage plugin is installed "
                         "(tag:// inputs need one that provides the tag scheme, with "
                         "expand)" % url)
    return list(drv.expand(url, "all" if label in (None, False) else label, None))


def inputexpand(input: Any, label: Any = None, settings: Any = None) -> list:  # noqa: A002
    """The inputs one job input stands for: a ``dir://`` index gives one input per URL it
    lists (of ``label`` if given; left as it is when ``label is False``), paired up as
    replicas when a list of indexes is given; a list is one input of replicas; a
    ``tag://`` gives the tag's blobs (needs DDFS); anything else stays as it is."""
    if label is not False and ispartitioned(input):
        return [list(reps) for reps in zip(*(parse_dir(i, label=label)
                                              for i in iterify(input)))]
    if isiterable(input):
        return [inputlist(input, label=label, settings=settings)]
    if isinstance(input, str) and input.startswith("tag://"):
        return _expand_tag(input, label)
    return [input]


def inputlist(inputs: Any, label: Any = None, partition: Any = None,
              settings: Any = None) -> list:
    """Every input of ``inputs`` expanded (:func:`inputexpand`), as a flat list; empty
    entries are dropped. ``partition`` is the older name of ``label``."""
    if partition is not None:
        if label is not None and label != partition:
            raise DiscoError("inputlist: give label=%r or partition=%r, not both"
                             % (label, partition))
        label = partition
    if not isiterable(inputs):
        raise DiscoError("inputs must be a list of input URLs (or of lists of replicas), "
                         "got %r" % (inputs,))
    return [i for i in chainify(inputexpand(i, label=label, settings=settings) for i in inputs)
            if i]


def deref(inputs: Iterable, resolve: bool = False) -> Iterator:
    """Each input with every ``dir://`` index replaced by the URLs it lists (a list of
    replicas stays a list); with ``resolve``, every URL made an http URL (:func:`urlresolve`)."""
    fix = urlresolve if resolve else identity

    def urls(url: str) -> list[str]:
        return parse_dir(url) if url.startswith("dir://") else [url]
    for input in inputs:  # noqa: A001
        if isiterable(input):
            yield [fix(u) for url in input for u in urls(url)]
        else:
            yield from (fix(u) for u in urls(input))
