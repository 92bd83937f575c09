"""``disco start | stop | restart | status | nodaemon``: the master process on this host."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import Any

from ..errors import DiscoError
from . import Command, Context

START_TIMEOUT = 60.0


def pid_file(ctx: Context) -> str:
    return os.path.join(ctx.settings["DISCO_PID_DIR"], "%s.pid" % ctx.settings["DISCO_NAME"])


def address(ctx: Context) -> str:
    return "%s:%s" % (ctx.settings["DISCO_MASTER_HOST"], ctx.settings["DISCO_PORT"])


def running_pid(ctx: Context) -> int | None:
    try:
        with open(pid_file(ctx)) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    if _zombie(pid):  # killed, and not yet reaped by whoever inherited it
        return None
    return pid


def _zombie(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False  # no /proc (macOS): os.kill said it is there


def master_ready(ctx: Context) -> bool:
    try:
        info = ctx.disco.nodeinfo()
    except Exception:
        return False
    return all(n.get("connected") or n.get("problem") for n in info.values())


def start(args: argparse.Namespace, ctx: Context) -> int:
    if running_pid(ctx) is not None:
        raise DiscoError("Master %s already running" % address(ctx))
    check_node_table(ctx)
    check_timeouts(ctx)
    ctx.settings.ensuredirs()
    log_path = os.path.join(ctx.settings["DISCO_LOG_DIR"], "%s.log" % ctx.settings["DISCO_NAME"])
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "disco_core.master"],
                                stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=ctx.settings.env)
    with open(pid_file(ctx), "w") as f:
        f.write(str(proc.pid))
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if proc.poll() is not None:
            os.unlink(pid_file(ctx))
            raise DiscoError("the master exited at start (code %s); its log %s ends:\n%s"
                             % (proc.returncode, log_path, _tail(log_path)))
        if master_ready(ctx):
            print("Master %s started" % address(ctx))
            print_login(ctx)
            return 0
        time.sleep(0.05)
    raise DiscoError("the master did not come up in %.0fs; see %s" % (START_TIMEOUT, log_path))


def print_login(ctx: Context) -> None:
    """The web UI's address, with the token that logs a browser in."""
    from ..access import load_token
    url = "http://%s/" % address(ctx)
    if not ctx.settings.flag("DISCO_TOKEN_REQUIRED"):
        print("Web UI: %s" % url)
        return
    token = load_token(ctx.settings["DISCO_TOKEN_FILE"])
    print("Web UI: %s?token=%s" % (url, token))


def check_node_table(ctx: Context) -> None:
    """A broken node table is said in one line before the master starts (not as the end of
    a traceback in its log)."""
    from ..master.nodetable import read_config
    read_config(ctx.settings["DISCO_MASTER_CONFIG"], ctx.settings["DISCO_WORKERS"])


#: Settings the master reads as positive numbers of seconds when it starts.
TIMEOUTS = ("DISCO_NODE_PING_INTERVAL", "DISCO_NODE_PING_TIMEOUT")


def check_timeouts(ctx: Context) -> None:
    """A timeout that is not a positive number is said in one line before the master
    starts, as a broken node table is."""
    for name in TIMEOUTS:
        try:
            ctx.settings.seconds(name)
        except ValueError as exc:
            raise DiscoError(str(exc)) from None


def _tail(path: str, lines: int = 20) -> str:
    with open(path, "rb") as f:
        return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")


def stop(args: argparse.Namespace, ctx: Context) -> int:
    pid = running_pid(ctx)
    if pid is None:
        print("Master %s stopped" % address(ctx))
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    try:
        os.unlink(pid_file(ctx))
    except FileNotFoundError:
        pass
    print("Master %s stopped" % address(ctx))
    return 0


def restart(args: argparse.Namespace, ctx: Context) -> int:
    stop(args, ctx)
    return start(args, ctx)


def status(args: argparse.Namespace, ctx: Context) -> int:
    state = "running" if running_pid(ctx) is not None else "stopped"
    print("Master %s %s" % (address(ctx), state))
    return 0


def nodaemon(args: argparse.Namespace, ctx: Context) -> int:
    if running_pid(ctx) is not None:
        raise DiscoError("Master %s already running" % address(ctx))
    check_node_table(ctx)
    check_timeouts(ctx)
    from ..master.app import main
    main([])
    return 0


def server_commands() -> list[Any]:
    return [Command("start", "start the master (and its local nodes) as a daemon", start),
            Command("stop", "stop the master and its nodes", stop),
            Command("restart", "stop, then start the master", restart),
            Command("status", "say whether the master is running", status),
            Command("nodaemon", "run the master in the foreground, logging to stderr", nodaemon)]
