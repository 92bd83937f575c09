"""The node table: ``DISCO_MASTER_CONFIG``, its rows and host ranges, and which hosts are
this machine.

The file is ``{"hosts": [[spec, cores], ...], "blacklist": [...], "gc_blacklist": [...]}``,
where a spec is a host or a range like ``nx01:30`` (``nx01`` .. ``nx30``). With no file,
the table is ``[["localhost", DISCO_WORKERS]]``. Reading it checks every row and names
what is wrong; writing it replaces the file whole (fsynced), so a crash leaves the old
table or the new one. :class:`~.nodes.NodeManager` is the one that applies it.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from typing import Any

from ..errors import DiscoError

#: The most hosts one range row may stand for (a typo like ``nx1:99999999`` would
#: otherwise make the master build a table it cannot hold).
MAX_RANGE = 10000
HOST_NAME = re.compile(r"[A-Za-z0-9._:\[\]-]+")
CORES = re.compile(r"\s*\d+\s*")


def expand_spec(spec: str) -> list[str]:
    """``nx01:30`` -> ``nx01 .. nx30`` (width from the right-hand number); else ``[spec]``."""
    m = re.match(r"^(.*?)(\d+):(\d+)$", spec)
    if not m:
        if spec.count(":") == 1 and not spec.startswith("["):  # one colon: meant as a range
            raise DiscoError("invalid config: range %r is not NAME<first>:<last> (like "
                             "nx01:30, both numbers)" % spec)
        return [spec]
    prefix, start, end = m.group(1), m.group(2), m.group(3)
    width = len(end) if len(end) >= len(start) else len(start)
    lo, hi = int(start), int(end)
    if hi < lo:
        raise DiscoError("invalid config: range %r ends before it starts" % spec)
    if hi - lo + 1 > MAX_RANGE:
        raise DiscoError("invalid config: range %r is %d hosts, more than the %d one row may "
                         "name: split it or fix the numbers" % (spec, hi - lo + 1, MAX_RANGE))
    return ["%s%0*d" % (prefix, width, i) for i in range(lo, hi + 1)]


def expand_table(table: Any, empty: bool = True) -> dict[str, int]:
    """``host -> cores`` of a node table, ranges expanded; a :class:`DiscoError` naming the
    bad row for anything else than ``[[host-or-range, cores], ...]`` (and for no rows at
    all unless ``empty``)."""
    if not isinstance(table, list):
        raise DiscoError("invalid config: expected a list of [host, cores] rows, got %s"
                         % type(table).__name__)
    if not table and not empty:
        raise DiscoError("empty node table: with no node no job can run; to mean it, save it "
                         "with save_config_table?empty=1 (disco config set --empty)")
    hosts: dict[str, int] = {}
    for row in table:
        if not (isinstance(row, (list, tuple)) and len(row) == 2):
            raise DiscoError("invalid config: row %r is not [host, cores]" % (row,))
        spec, cores = row
        if isinstance(cores, int) and not isinstance(cores, bool):
            count = cores
        elif isinstance(cores, str) and CORES.fullmatch(cores):
            count = int(cores)
        else:
            count = -1
        if count < 0:
            raise DiscoError("invalid config: cores %r of row %r is not a number of workers "
                             "(0 or more; 0: a node that keeps data and runs no task)"
                             % (cores, list(row)))
        cores = count
        if not isinstance(spec, str) or not HOST_NAME.fullmatch(spec.strip()):
            raise DiscoError("invalid config: host %r of row %r is not a host name or a range "
                             "like nx01:30" % (spec, list(row)))
        for host in expand_spec(spec.strip()):
            if host in hosts:
                raise DiscoError("duplicate nodes: %s appears twice" % host)
            hosts[host] = cores
    return hosts


def read_config(path: str, default_cores: int) -> dict[str, Any]:
    """The node table file: ``hosts`` (rows), ``nodes`` (expanded, ``host -> cores``),
    ``blacklist`` and ``gc_blacklist``; the one-machine table when there is no file. A
    broken file is a :class:`DiscoError` naming it (``disco start`` checks it this way
    before starting anything)."""
    if os.path.exists(path):
        try:
            with open(path) as f:
                config = json.load(f)
        except ValueError as exc:
            raise DiscoError("node table %s is not valid JSON (%s): fix it or delete it "
                             "to start with this host alone" % (path, exc)) from None
        if isinstance(config, list):
            config = {"hosts": config}
    else:
        config = {"hosts": [["localhost", str(default_cores)]]}
    try:
        if not isinstance(config, dict):
            raise DiscoError("invalid config: expected {\"hosts\": [[host, cores], ...]}")
        table = config.get("hosts", [])
        nodes = expand_table(table)
        lists = [config.get(key, []) for key in ("blacklist", "gc_blacklist")]
        if not all(isinstance(v, list) and all(isinstance(h, str) for h in v) for v in lists):
            raise DiscoError("invalid config: blacklist and gc_blacklist must be lists "
                             "of host names")
    except DiscoError as exc:
        raise DiscoError("node table %s: %s" % (path, exc)) from None
    return {"hosts": [[str(h).strip(), str(c).strip()] for h, c in table], "nodes": nodes,
            "blacklist": lists[0], "gc_blacklist": lists[1]}


def write_config(path: str, config: dict[str, Any]) -> None:
    """Write a node table file whole: a temporary file, fsynced, renamed into place."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(config, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def is_local_host(host: str, master_host: str) -> bool:
    if host in ("localhost", master_host, socket.gethostname()):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_address(a: str, b: str) -> bool:
    """Whether two host names are one address (a DNS look-up: call it off the loop)."""
    if a == b:
        return True
    try:
        return socket.gethostbyname(a) == socket.gethostbyname(b)
    except OSError:
        return False
