"""``disco.util``."""
from disco_core.util import (argcount, chainify, flatten, format_size, hexhash, identity,  # noqa: F401
                             ilen, isiterable, iskv, iterify, jobname, key, kvgroup, kvify,
                             listify, partition, reify, schemesplit, shuffled, urljoin,
                             urlsplit)
from disco_core.worker.dataio import expand as _expand
from disco_core.worker.dataio import read_index as _read_index


def read_index(dir: str) -> list:
    """``(label, url, size)`` entries of a ``dir://`` index."""
    return _read_index(dir)


def parse_dir(dir_url: str, label=None) -> list:
    """The URLs listed in a ``dir://`` index, sorted, optionally only those of ``label``."""
    entries = sorted((lab, url) for lab, url, _size in _read_index(dir_url))
    return [url for lab, url in entries if label is None or lab == label]


def inputexpand(input, label=None, settings=None) -> list:
    return _expand(input, "all" if label is None else label)
