"""A warm interpreter that forks Python workers, so a task starts in milliseconds.

The node starts one fork server per node process. It imports the worker, cloudpickle,
zstandard and the reader/scheme plugins once; each task is then a ``fork()`` of it. Requests
and replies are JSON datagrams on a ``SOCK_SEQPACKET`` Unix socket; the worker's stdin and
stderr pipe ends travel with the request as file descriptors (``SCM_RIGHTS``).

Request ``{"id", "cwd", "env", "entry": "module:function", "nice"}`` + two fds
-> reply ``{"id", "pid"}`` (or ``{"id", "error"}``); when a child exits the server sends
``{"exited": pid, "status": code}`` (negative: killed by that signal).

A forked child runs exactly what the job's launcher script would run, in the same
environment (cwd = job home, the task's environment, ``nice``; the worker puts ``lib/``
first on ``sys.path`` and caps its own memory), and its stdin/stdout/stderr are the given
pipes.
"""
from __future__ import annotations

import importlib
import json
import os
import select
import signal
import socket
import sys
from typing import Any

MAX_REQUEST = 1 << 20


def preload() -> None:
    """Import what every Python task needs, before any fork."""
    from disco_core.worker.jobpath import preload
    preload()


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent (the fork server, or the node for
    a worker started without it) ends, as it does when its node dies: a worker never
    outlives the node that would take its results."""
    parent = os.getppid()
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before the request took effect
        os._exit(1)


def child(request: dict, fds: list[int], sock: socket.socket, wake_r: int) -> None:
    """In the forked child: become the task's worker. Never returns."""
    code = 1
    try:
        os.setsid()
        die_with_parent()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        sock.close()
        os.close(wake_r)
        stdin_fd, err_fd = fds
        os.dup2(stdin_fd, 0)
        os.dup2(err_fd, 1)
        os.dup2(err_fd, 2)
        os.close(stdin_fd)
        os.close(err_fd)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        cwd = request["cwd"]
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(request["env"])
        for entry in reversed(request["env"].get("PYTHONPATH", "").split(os.pathsep)):
            if entry:
                sys.path.insert(0, os.path.join(cwd, entry))
        if request.get("nice"):
            os.nice(int(request["nice"]))
        import random
        random.seed()
        module, _, func = request["entry"].partition(":")
        getattr(importlib.import_module(module), func or "main")()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback
        try:
            os.write(2, traceback.format_exc().encode("utf-8", "replace"))
        except OSError:
            pass
    os._exit(code)


def serve(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    preload()

    def send(msg: dict) -> None:
        try:
            sock.send(json.dumps(msg).encode("utf-8"))
        except OSError:
            pass

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            send({"exited": pid, "status": os.waitstatus_to_exitcode(status)})

    while True:
        try:
            ready, _, _ = select.select([sock, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
            reap()
        if sock in ready:
            try:
                data, fds, _flags, _addr = socket.recv_fds(sock, MAX_REQUEST, 2)
            except OSError:
                return
            if not data:
                return  # the node went away
            request: dict[str, Any] = {}
            try:
                request = json.loads(data)
                pid = os.fork()
            except Exception as exc:
                for f in fds:
                    os.close(f)
                send({"id": request.get("id"), "error": "%s: %s" % (type(exc).__name__, exc)})
                continue
            if pid == 0:
                child(request, fds, sock, wake_r)
            for f in fds:
                os.close(f)
            send({"id": request["id"], "pid": pid})
            reap()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
