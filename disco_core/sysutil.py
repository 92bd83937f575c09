"""Process limits (``disco.sysutil``): the memory cap a node puts on its workers
(DISCO_WORKER_MAX_MEM)."""
from __future__ import annotations

import os
import re
import resource
import subprocess
from typing import Any

from .errors import DiscoError

_LIMIT = re.compile(r"^(\d+(?:\.\d*)?)\s*([%KMGT]?)B?$", re.I)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def available_memory() -> int:
    """The machine's physical memory in bytes (what ``"80%"`` limits are a share of)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # macOS has no SC_PHYS_PAGES
        return int(subprocess.check_output(["sysctl", "-n", "hw.memsize"]))


def parse_mem_limit(limit: Any) -> int:
    """Bytes from a limit as written in DISCO_WORKER_MAX_MEM: bytes (an int or digits),
    ``"512M"``-style sizes, or a share of physical memory like ``"80%"``; 0 for no limit
    (``""``, ``0`` or None)."""
    if limit is None or limit == "":
        return 0
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        if limit < 0:
            raise DiscoError("memory limit %r is negative: give bytes, \"512M\" or \"80%%\""
                             % (limit,))
        return int(limit)
    m = _LIMIT.match(str(limit).strip())
    if m is None:
        raise DiscoError("memory limit %r is not a size: give bytes, \"512M\" or \"80%%\" "
                         "(DISCO_WORKER_MAX_MEM)" % (limit,))
    number, unit = float(m.group(1)), m.group(2).upper()
    if unit == "%":
        if number > 100:
            raise DiscoError("memory limit %r is more than all of the memory" % (limit,))
        return int(available_memory() * number / 100)
    return int(number * _UNITS[unit])


def set_mem_limit(limit: Any) -> int:
    """Cap this process's address space (RLIMIT_AS, soft and hard) at ``limit``
    (:func:`parse_mem_limit`); a cap already lower is kept. Returns the new soft limit in
    bytes, or -1 when unlimited (a limit of 0 changes nothing)."""
    value = parse_mem_limit(limit)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if value > 0:
        def lower(current: int) -> int:
            return value if current == resource.RLIM_INFINITY or current < 0 \
                else min(current, value)
        hard = lower(hard)
        soft = min(lower(soft), hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return -1 if soft == resource.RLIM_INFINITY else soft
