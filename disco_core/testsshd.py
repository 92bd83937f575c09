"""A real sshd for tests: nodes on loopback addresses started over SSH, as on other machines.

:class:`SSHD` runs Debian's OpenSSH server (``/usr/sbin/sshd``, package ``openssh-server``)
as the current user on a free port of one or more loopback addresses (``127.0.0.2``,
``127.0.0.3``, ...), with a host key and a user key generated in a temporary directory and
its own ``sshd_config`` there: no PAM, public keys only, ``AuthorizedKeysFile`` in that
directory, ``StrictModes no``. It writes a known-hosts file with its host key for each
address, and :attr:`SSHD.env` is the master's settings to use it (``DISCO_SSH_HOSTS``,
``DISCO_SSH_KEY``, ``DISCO_SSH_KNOWN_HOSTS``, ``DISCO_SSH_USER``). :meth:`SSHD.stop` ends it
and removes the directory; as a context manager it is stopped also when the block fails.

``running_cluster(hosts, ssh=True)`` (:mod:`disco_core.testcluster`) starts one for the
cluster's hosts and starts their nodes through it. :func:`sshd_missing` says why there is
none (tests skip with it).
"""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any

SSHD_PATH = "/usr/sbin/sshd"
KEYGEN = "ssh-keygen"


def sshd_missing() -> str:
    """Why no sshd can run here ("" when one can)."""
    if not os.path.exists(SSHD_PATH):
        return ("%s is not installed: ./scripts/install --for-tests installs openssh-server "
                "as root, or run `apt-get install openssh-server`" % SSHD_PATH)
    if shutil.which(KEYGEN) is None:
        return "ssh-keygen is not installed: run `apt-get install openssh-client`"
    return ""


def keygen(path: str, comment: str = "disco-test") -> str:
    """A new ed25519 key pair at ``path`` (and ``path.pub``), no passphrase; the public
    key's line."""
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)
    with open(path + ".pub") as f:
        return f.read().strip()


def _free_port(addresses: tuple[str, ...]) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind((addresses[0], 0))
            port = s.getsockname()[1]
        try:
            for address in addresses[1:]:
                with socket.socket() as s:
                    s.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on all of %s" % (addresses,))


class SSHD:
    """A running sshd on ``addresses`` (see the module's docstring)."""

    def __init__(self, addresses: tuple[str, ...] | list[str] = ("127.0.0.2",)) -> None:
        why = sshd_missing()
        if why:
            raise RuntimeError(why)
        self.addresses = tuple(addresses)
        self.dir = tempfile.mkdtemp(prefix="disco-sshd-")
        self.user = getpass.getuser()
        self.proc: subprocess.Popen | None = None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _start(self) -> None:
        host_key = keygen(self.path("host_key"), "disco-test-host")
        self.user_key = self.path("id_ed25519")
        self.authorize(keygen(self.user_key))
        self.port = _free_port(self.addresses)
        self.known_hosts = self.path("known_hosts")
        with open(self.known_hosts, "w") as f:
            for address in self.addresses:
                f.write("[%s]:%d %s\n" % (address, self.port, host_key))
        config = ["Port %d" % self.port]
        config += ["ListenAddress %s" % a for a in self.addresses]
        config += ["HostKey " + self.path("host_key"), "PidFile " + self.path("sshd.pid"),
                   "AuthorizedKeysFile " + self.path("authorized_keys"), "UsePAM no",
                   "StrictModes no", "PubkeyAuthentication yes", "PasswordAuthentication no",
                   "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
                   "AllowUsers " + self.user, "MaxStartups 50:30:100", "LogLevel VERBOSE"]
        with open(self.path("sshd_config"), "w") as f:
            f.write("\n".join(config) + "\n")
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation
        self.log_path = self.path("sshd.log")
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen([SSHD_PATH, "-D", "-e", "-f", self.path("sshd_config")],
                                         stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited (%d): %s" % (self.proc.returncode, self.log()))
            try:
                for address in self.addresses:
                    socket.create_connection((address, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen on port %d in 15s: %s" % (self.port, self.log()))

    def authorize(self, public_key: str) -> None:
        """Let ``public_key`` (a ``.pub`` line) log in."""
        with open(self.path("authorized_keys"), "a") as f:
            f.write(public_key + "\n")

    def hosts(self) -> str:
        """``DISCO_SSH_HOSTS`` for this sshd's addresses."""
        return " ".join("%s:%d" % (a, self.port) for a in self.addresses)

    @property
    def env(self) -> dict[str, str]:
        """The master's settings for starting nodes on this sshd's addresses."""
        return {"DISCO_SSH_HOSTS": self.hosts(), "DISCO_SSH_KEY": self.user_key,
                "DISCO_SSH_KNOWN_HOSTS": self.known_hosts, "DISCO_SSH_USER": self.user}

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (OSError, AttributeError):
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            # its group: the listener and the sessions it forked (whose end closes the
            # channels of the nodes still running, which then exit)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(10)
                    break
                except subprocess.TimeoutExpired:
                    continue
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "SSHD":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
