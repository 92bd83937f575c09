"""The maintenance commands of ``ddfs``: ``drain HOST`` (empty a node and remove it from
the node table), ``fsck`` / ``scrub`` (check every replica's checksum, repair from good
replicas), ``gc`` (start a GC run and wait for it). They use ``/ddfs/ctrl/`` (:mod:`.ctrl`).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from disco_core.cli import Context
from disco_core.errors import CommError, DiscoError

from .cli import _ddfs, command

if TYPE_CHECKING:
    import argparse


def _ctrl(ddfs: Any, method: str, op: str, body: Any = None, **query: str) -> Any:
    try:
        return ddfs._request(method, "/ddfs/ctrl/%s" % op, body, query=query or None)
    except CommError as exc:
        if exc.code in (400, 404, 409):  # the master refused and says why
            raise DiscoError(str(exc.msg)) from None
        raise


def drain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("host", help="the node to empty and remove")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS",
                   help="give up after this long (default 3600); the node stays "
                        "gc-blacklisted and in the table")


@command("re-replicate every blob of HOST elsewhere, then remove HOST from the node table",
         drain_args)
def drain(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    host = args.host
    status = _ctrl(ddfs, "POST", "drain", host)
    start_runs = status["runs"]
    left = status["blobs_left"]
    print("draining %s: %d blobs left" % (host, left), flush=True)
    deadline = time.time() + args.timeout
    stuck_at, idle_runs = left, 0
    while not status["safe"]:
        if time.time() > deadline:
            raise DiscoError("drain of %s did not finish in %gs: %d blobs left; it stays "
                             "gc-blacklisted and in the node table"
                             % (host, args.timeout, status["blobs_left"]))
        time.sleep(0.5)
        status = _ctrl(ddfs, "GET", "drain_status", host=host)
        if status["blobs_left"] != left:
            left = status["blobs_left"]
            print("draining %s: %d blobs left" % (host, left), flush=True)
        if status["safe"] or status["gc"] or status["runs"] <= start_runs:
            continue
        # a run ended and left blobs behind: one more run, then give up if no progress
        start_runs = status["runs"]
        idle_runs = idle_runs + 1 if left >= stuck_at else 0
        stuck_at = min(stuck_at, left)
        if idle_runs >= 2:
            report = status.get("report") or {}
            why = "; ".join("%s to %s: %s" % tuple(f) for f in report.get("failed", [])[:3])
            raise DiscoError("drain of %s cannot complete: %d blobs have no %s replicas on "
                             "other nodes%s; %s stays gc-blacklisted and in the node table, "
                             "nothing was removed" % (host, left, ddfs_replicas(ctx),
                                                      " (%s)" % why if why else "", host))
        _ctrl(ddfs, "GET", "gc_start")
    table = ctx.disco.get_config()
    kept = [entry for entry in table if entry[0] != host]
    if len(kept) == len(table):
        raise DiscoError("%s is drained (safe to remove) but is part of a range in the node "
                         "table: edit the table to take it out" % host)
    ctx.disco.set_config(kept)
    print("%s drained: every blob has its replicas on other nodes; removed from the node "
          "table" % host)
    return 0


def ddfs_replicas(ctx: Context) -> str:
    return str(ctx.settings["DDFS_BLOB_REPLICAS"])


def _scrub(ctx: Context) -> int:
    report = _ctrl(_ddfs(ctx), "POST", "scrub")
    if "error" in report:
        raise DiscoError(report["error"])
    for host, name, why in report["corrupt"]:
        print("corrupt: %s on %s: %s (deleted)" % (name, host, why))
    for host, name in report["missing"]:
        print("missing: %s on %s (a tag names it there)" % (name, host))
    for name, url in report["copied"]:
        print("repaired: %s -> %s" % (name, url))
    for name, host, why in report["failed"]:
        print("not repaired: %s on %s: %s" % (name, host, why))
    for name in report["lost"]:
        print("lost: %s (no node has a good replica)" % name)
    print("checked %d replicas: %d corrupt, %d missing, %d copies made, %d lost"
          % (report["checked"], len(report["corrupt"]), len(report["missing"]),
             len(report["copied"]), len(report["lost"])))
    return 1 if report["lost"] or report["failed"] else 0


@command("check every replica's checksum on every node; bad or missing replicas are "
         "deleted and copied again from good ones")
def fsck(args: argparse.Namespace, ctx: Context) -> int:
    return _scrub(ctx)


@command("the same as fsck")
def scrub(args: argparse.Namespace, ctx: Context) -> int:
    return _scrub(ctx)


@command("start a GC run (garbage collection and re-replication) and wait for its end")
def gc(args: argparse.Namespace, ctx: Context) -> int:
    ddfs = _ddfs(ctx)
    print(_ctrl(ddfs, "GET", "gc_start"), flush=True)
    time.sleep(0.5)
    while _ctrl(ddfs, "GET", "gc_status"):
        time.sleep(0.5)
    stats = _ctrl(ddfs, "GET", "gc_stats")
    if stats:
        for key, (files, size) in sorted(stats["stats"].items()):
            print("%s: %d files, %d bytes" % (key, files, size))
    balance = _ctrl(ddfs, "GET", "gc_balance")
    if balance:
        print(balance_line(balance))
    return 0


def balance_line(balance: dict) -> str:
    """What a GC run found of the disks' use (``gc_stats``' ``balance``), on one line."""
    use = balance.get("use") or {}

    def hosts(names: list[str]) -> str:
        return ", ".join("%s (%.0f%%)" % (h, 100 * use.get(h, 0)) for h in names) or "none"
    return ("Disk use: average %.0f%%, threshold %g; over-used: %s; under-used: %s; "
            "blobs moved: %d (%d bytes)"
            % (100 * balance.get("average", 0), balance.get("threshold", 0),
               hosts(balance.get("over", [])), hosts(balance.get("under", [])),
               len(balance.get("moved", [])), balance.get("bytes", 0)))
