"""Real clusters on loopback for tests: :func:`running_cluster` starts one with ``disco
start`` under a fresh ``DISCO_HOME`` on a free port, as a :class:`Cluster` (its settings as
environment, a ``disco`` command runner, its client). Re-exported by
:mod:`disco_core.testing` (whose ``disco_cluster`` fixture is one of them); below it so
that the contract suites of plugins (:mod:`disco_core.hook_contracts`) start clusters too.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from typing import Any, Iterator


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Cluster:
    """A running cluster: its settings (as environment) and a ``disco`` command runner."""

    def __init__(self, home: str, port: int, hosts: list[tuple[str, int]] | None = None,
                 extra_env: dict[str, str] | None = None, preexec: Any = None,
                 bindir: str | None = None, cwd: str | None = None) -> None:
        self.home = home
        self.preexec = preexec  # run in ``disco start`` before it starts (its limits, ...)
        # where the ``disco`` command is: this interpreter's, or another environment's
        self.bindir = bindir or os.path.dirname(sys.executable)
        self.cwd = cwd  # where its commands run (``python -m`` puts it on the path)
        self.port = port
        self.env = {"DISCO_HOME": home, "DISCO_PORT": str(port),
                    "DDFS_PUT_PORT": str(free_port()), "DISCO_MASTER_HOST": "localhost",
                    "DISCO_RETRY_BASE": "0", "DISCO_RETRY_JITTER": "0",
                    "DISCO_NODE_ORPHAN_TIMEOUT": "20", "DISCO_SETTINGS_FILE": ""}
        self.env.update(extra_env or {})
        self.hosts = hosts
        self.saved: dict[str, str | None] = {}
        self.sshd: Any = None  # the sshd its nodes are started through (running_cluster)

    @property
    def master(self) -> str:
        return "http://localhost:%d" % self.port

    def cli(self, *args: str, check: bool = True, input: str | None = None,
            timeout: float = 120, cwd: str | None = None,
            preexec: Any = None) -> subprocess.CompletedProcess:
        exe = os.path.join(self.bindir, "disco")
        env = dict(os.environ)
        env.update(self.env)
        proc = subprocess.run([exe, *args], capture_output=True, text=True, env=env,
                              input=input, timeout=timeout, cwd=cwd or self.cwd,
                              preexec_fn=preexec)
        if check and proc.returncode != 0:
            raise AssertionError("disco %s failed (%d):\n%s%s" % (
                " ".join(args), proc.returncode, proc.stdout, proc.stderr))
        return proc

    def start(self) -> None:
        for key, value in self.env.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value
        if self.hosts is not None:
            import json
            from .settings import DiscoSettings
            path = DiscoSettings()["DISCO_MASTER_CONFIG"]
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump({"hosts": [[h, str(n)] for h, n in self.hosts]}, f)
        self.cli("start", preexec=self.preexec)

    def stop(self) -> None:
        try:
            self.cli("stop", check=False)
        finally:
            for key, value in self.saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    @property
    def disco(self) -> Any:
        from .client import Disco
        from .settings import DiscoSettings
        return Disco(self.master, settings=DiscoSettings(self.env))

    @property
    def token(self) -> str:
        """The master's token (every request to it needs it: :mod:`disco_core.access`)."""
        from .access import load_token
        from .settings import DiscoSettings
        return load_token(DiscoSettings(self.env)["DISCO_TOKEN_FILE"])

    def urlopen(self, path: str, data: bytes | None = None, headers: dict | None = None,
                method: str | None = None, timeout: float = 60) -> Any:
        """``urllib.request.urlopen`` of ``path`` on the master, with its token."""
        import urllib.request
        from .access import HEADER
        request = urllib.request.Request(self.master + path, data=data, method=method,
                                         headers={HEADER: self.token, **(headers or {})})
        return urllib.request.urlopen(request, timeout=timeout)

    def node_pids(self, host: str | None = None) -> list[int]:
        """The pids of the node processes this cluster's master started (for ``host``)."""
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"disco_core.node" in argv and self.master.encode() in argv \
                    and (host is None or host.encode() in argv):
                pids.append(int(pid))
        return pids

    def log(self, name: str = "") -> str:
        logdir = os.path.join(self.home, "root", "log")
        out = []
        for fname in sorted(os.listdir(logdir)):
            if name in fname:
                with open(os.path.join(logdir, fname), errors="replace") as f:
                    out.append(f.read())
        return "\n".join(out)


@contextlib.contextmanager
def running_cluster(hosts: list[tuple[str, int]] | None = None,
                    extra_env: dict[str, str] | None = None,
                    preexec: Any = None, bindir: str | None = None,
                    cwd: str | None = None,
                    ssh: bool | list[str] = False) -> Iterator[Cluster]:
    """A cluster for the ``with`` block. ``preexec`` runs in the ``disco start`` process
    before it starts the master and nodes, which inherit what it sets (``setrlimit``).
    ``bindir`` is the ``bin`` folder of the environment whose ``disco`` runs it (by
    default this interpreter's), ``cwd`` the folder its commands run in.

    ``ssh``: the master starts the nodes of these hosts (``True``: of every host in
    ``hosts``, loopback addresses such as ``127.0.0.2``) over SSH, through a real sshd on
    them (:class:`~disco_core.testsshd.SSHD`, ``cluster.sshd``) rather than as its own
    children, as nodes on other machines are started; their ``DISCO_ROOT`` is
    ``<home>/nodes``, and the master listens on loopback (a host that is one of this
    machine's other addresses, such as its LAN address, is a node beyond loopback, which
    reaches it there). ``extra_env`` overrides these settings (another known-hosts file,
    another key). The sshd stops after the cluster, also when the block fails."""
    home = tempfile.mkdtemp(prefix="disco-test-")
    sshd = None
    env = dict(extra_env or {})
    port = free_port()
    try:
        if ssh:
            from .testsshd import SSHD
            addresses = [h for h, _n in hosts or []] if ssh is True else list(ssh)
            sshd = SSHD(addresses)
            # every "other host" is this machine: the master stays on loopback, where they
            # reach it
            env = {**sshd.env, "DISCO_NODE_ROOT": os.path.join(home, "nodes"),
                   "DISCO_MASTER_BIND": "127.0.0.1",
                   "DISCO_NODE_MASTER": "http://localhost:%d" % port, **env}
        cluster = Cluster(home, port, hosts, env, preexec, bindir, cwd)
        cluster.sshd = sshd
        try:
            cluster.start()  # inside: a start that fails still restores the environment
            yield cluster
        finally:
            cluster.stop()
    finally:
        try:
            if sshd is not None:
                sshd.stop()
        finally:
            shutil.rmtree(home, ignore_errors=True)
