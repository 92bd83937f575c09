"""Nodes on other machines: started over SSH (paramiko), watched through their channel.

A host of the node table is started over SSH when it is not this machine (see
:func:`.nodetable.is_local_host`) or when ``DISCO_SSH_HOSTS`` names it: a list of
``host[:port]`` (commas or spaces between), the SSH port of each (else ``DISCO_SSH_PORT``).
Naming a loopback address there (``127.0.0.2:2222``) starts that node through an sshd on
this machine, as a test does.

The master logs in as ``DISCO_SSH_USER`` (default: the master's user) with the key
``DISCO_SSH_KEY`` (default: the user's keys in ``~/.ssh`` and the SSH agent), checks the
host's key against ``DISCO_SSH_KNOWN_HOSTS`` (default ``~/.ssh/known_hosts``) and refuses a
host it does not know, unless ``DISCO_SSH_ACCEPT_NEW_HOST_KEYS`` is on: then a new host's key
is added to that file (logged); a host whose key changed is always refused. It runs
``DISCO_NODE_COMMAND --host H --master URL --settings-stdin`` there and writes the node's
settings on the channel's stdin, one JSON line (the cluster secret and the token with them:
never on a command line). ``DISCO_NODE_ROOT``, when set, is the node's ``DISCO_ROOT`` there;
paths of the master's own machine are not sent. The node's output is appended to
``node-H.log`` in the master's ``DISCO_LOG_DIR``.

The channel is the node's life line: the node exits when its stdin closes (the master or
its connection gone), and the channel closing tells the master the node process is gone, so
it is restarted as a local node process is. Why a node could not be started (no route,
connection refused, authentication refused, host key unknown or changed, the node command
or disco_core missing there, another disco_core version) is the node's ``problem`` in
``nodeinfo`` and a warning in the master's log.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import re
import shlex
import socket
import threading
import time
from typing import Any, Callable

from ..access import is_loopback

log = logging.getLogger("disco.master.remote")

#: Settings that are paths on the master's machine: a node on another host uses its own
#: (as it does for any setting whose value is a path under the master's DISCO_HOME or
#: DISCO_ROOT, such as a plugin's data directory).
LOCAL_PATHS = ("DISCO_HOME", "DISCO_ROOT", "DISCO_DATA", "DISCO_MASTER_ROOT",
               "DISCO_MASTER_CONFIG", "DISCO_LOG_DIR", "DISCO_PID_DIR", "DISCO_SECRET_FILE",
               "DISCO_TOKEN_FILE", "DISCO_SETTINGS_FILE")
#: The last lines of a node's output kept to explain why it exited.
TAIL = 20


def ssh_hosts(settings: Any) -> dict[str, int]:
    """``DISCO_SSH_HOSTS`` as ``host -> SSH port`` (a :class:`ValueError` naming a bad
    entry)."""
    out: dict[str, int] = {}
    for entry in re.split(r"[\s,]+", str(settings["DISCO_SSH_HOSTS"]).strip()):
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        if not sep:
            host, port = entry, str(settings["DISCO_SSH_PORT"])
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("DISCO_SSH_HOSTS entry %r is not host or host:port (an SSH port "
                             "1-65535)" % entry)
        out[host] = int(port)
    return out


def bind_address(settings: Any, remote_hosts: list[str]) -> str:
    """Where the master listens: ``DISCO_MASTER_BIND`` when set (``*`` or ``0.0.0.0``: every
    interface); else ``DISCO_MASTER_HOST`` when it is not ``localhost``; else every interface
    when some node is started over SSH on a host that is not a loopback address, and
    loopback only otherwise. Tornado's ``""`` is every interface."""
    explicit = str(settings["DISCO_MASTER_BIND"]).strip()
    if explicit:
        return "" if explicit in ("*", "0.0.0.0") else explicit
    host = settings["DISCO_MASTER_HOST"]
    if host != "localhost":
        return host
    if any(not is_loopback(h) for h in remote_hosts):
        return ""
    return "127.0.0.1"


def master_url_for(host: str, settings: Any, master_url: str) -> str:
    """The master's URL as a node on ``host`` reaches it: ``DISCO_NODE_MASTER`` when set;
    the master's own URL for a loopback address; else ``DISCO_MASTER_HOST`` (or, when that
    is ``localhost``, this machine's name, or the address this machine reaches ``host``
    from when its name stands for a loopback address, as Debian's ``/etc/hosts`` has it)
    and ``DISCO_PORT``."""
    explicit = str(settings["DISCO_NODE_MASTER"]).strip()
    if explicit:
        return explicit.rstrip("/")
    if is_loopback(host):
        return master_url
    name = settings["DISCO_MASTER_HOST"]
    if name == "localhost":
        name = socket.getfqdn()
        if is_loopback(name) or name.startswith("localhost"):
            name = socket.gethostname()
        if names_loopback(name):
            name = route_address(host) or name
    return url_of(name, settings["DISCO_PORT"])


def url_of(host: str, port: Any) -> str:
    """``http://host:port``, an IPv6 address in brackets."""
    return "http://%s:%s" % ("[%s]" % host if ":" in host else host, port)


#: :func:`listen_for`'s ``route`` when the caller did not look it up already.
LOOK_UP = "look up"


def listen_for(host: str, server: Any, settings: Any, listening: str,
               widened: set[str], route: str | None = LOOK_UP) -> tuple[str, str]:
    """Have the master (``server``, listening on the loopback address ``listening``) serve
    also on the address this machine reaches ``host`` from (``route``, its
    :func:`route_address`, looked up here unless given), once per address (``widened``):
    that address and "", or "" and why it cannot (``DISCO_MASTER_BIND`` chose loopback, no
    route to the host, the port taken there)."""
    if str(settings["DISCO_MASTER_BIND"]).strip():
        return "", ("the master listens on %s only (DISCO_MASTER_BIND), which a node there "
                    "cannot reach: set DISCO_MASTER_BIND to an address it reaches (or unset "
                    "it) and restart the master" % listening)
    address = route_address(host) if route == LOOK_UP else route
    if address is None:
        return "", "no route from this machine to %s (is the name right?)" % host
    if address in widened or is_loopback(address):
        return address, ""
    import tornado.netutil
    try:
        sockets = tornado.netutil.bind_sockets(int(settings["DISCO_PORT"]), address=address)
    except OSError as exc:
        return "", ("the master cannot listen on %s port %s for it: %s (set DISCO_MASTER_BIND "
                    "and restart the master)" % (address, settings["DISCO_PORT"], exc))
    server.add_sockets(sockets)
    widened.add(address)
    log.info("the master now serves on %s too, for node %s", address, host)
    return address, ""


def names_loopback(name: str) -> bool:
    """Whether ``name`` is, or resolves only to, loopback addresses (or not at all)."""
    if is_loopback(name):
        return True
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError:
        return True
    return all(is_loopback(info[4][0]) for info in infos)


def route_address(host: str) -> str | None:
    """This machine's address that its packets to ``host`` leave from (no packet is sent),
    or None when ``host`` cannot be resolved or reached."""
    try:
        family, _, _, _, addr = socket.getaddrinfo(host, 9, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            return s.getsockname()[0]
    except (OSError, IndexError):
        return None


def node_settings(settings: Any, master_url: str, secret: str, token: str) -> dict[str, str]:
    """The settings a node on another host gets on its stdin: the master's, less the paths
    of the master's machine (:data:`LOCAL_PATHS` and any under its ``DISCO_HOME`` or
    ``DISCO_ROOT``) and the SSH settings, plus the cluster secret and the token."""
    values = {}
    homes = tuple(os.path.join(str(settings[name]), "") for name in ("DISCO_HOME", "DISCO_ROOT"))
    for name in settings.names:
        if name in LOCAL_PATHS or name.startswith("DISCO_SSH_"):
            continue
        try:
            value = str(settings[name])
        except (KeyError, ValueError):
            continue
        if not value.startswith(homes):
            values[name] = value
    root = str(settings["DISCO_NODE_ROOT"]).strip()
    if root:
        values["DISCO_ROOT"] = root
    values["DISCO_MASTER"] = master_url
    values["DISCO_CLUSTER_SECRET"] = secret
    if token:
        values["DISCO_TOKEN"] = token
    return values


class HostKeyUnknown(Exception):
    pass


def _policies() -> tuple[Any, Any]:
    import paramiko

    class Refuse(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            raise HostKeyUnknown("%s %s" % (key.get_name(), _fingerprint(key)))

    class AcceptNew(paramiko.AutoAddPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            log.warning("accepting the new host key of %s (%s %s) into the known hosts "
                        "(DISCO_SSH_ACCEPT_NEW_HOST_KEYS)", hostname, key.get_name(),
                        _fingerprint(key))
            super().missing_host_key(client, hostname, key)

    return Refuse(), AcceptNew()


def _fingerprint(key: Any) -> str:
    import base64
    import hashlib
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class RemoteNode:
    """A node process the master started on another host over SSH; restarted (by the
    :class:`.nodes.NodeManager`) when its channel closes. The same face as a local
    :class:`.nodes.NodeProcess`: :meth:`start`, :meth:`alive`, :meth:`end`, :meth:`stop`,
    ``restarts``, ``stopping``, ``ran`` (whether its command ran: a start that failed
    left no node whose end counts) and ``why`` (how it ended, for the log)."""

    proc = None  # no local process to wait for

    def __init__(self, host: str, port: int, settings: Any, command: str,
                 values: dict[str, str], log_path: str,
                 report: Callable[[str, str], None]) -> None:
        self.host = host
        self.port = port
        self.settings = settings
        self.command = command
        self.values = values
        self.log_path = log_path
        self.report = report
        self.restarts = 0
        self.started = 0.0  # when it was last started (time.monotonic())
        self.stopping = False
        self.why = ""
        self.state = "new"  # starting, running, gone
        self.ran = False  # its command ran, this time: its end is the node's
        self.client: Any = None
        self.channel: Any = None
        self.gone = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- the face the node manager uses -------------------------------------------------
    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.state = "starting"
        self.started = time.monotonic()
        self.ran = False
        self.why = ""
        self.gone.clear()
        threading.Thread(target=self._run, name="ssh-node-%s" % self.host,
                         daemon=True).start()

    def alive(self) -> bool:
        return self.state in ("starting", "running")

    async def end(self, children: Any = None, timeout: float = 5.0) -> None:
        self.stopping = True
        await asyncio.get_running_loop().run_in_executor(None, self.stop, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the node's stdin (it exits), wait up to ``timeout`` for it, then close the
        SSH connection; blocks."""
        self.stopping = True
        channel = self.channel
        if channel is not None:
            try:
                channel.shutdown_write()
            except Exception:
                pass
        if self.state != "new":
            self.gone.wait(timeout)
        client = self.client
        if client is not None:
            client.close()

    # -- the SSH side (in its own thread) -----------------------------------------------
    def _say(self, problem: str) -> None:
        if self.loop is not None and not self.stopping:
            try:
                self.loop.call_soon_threadsafe(self.report, self.host, problem)
            except RuntimeError:  # the loop is closed: the master is gone
                pass

    def _run(self) -> None:
        try:
            try:
                self.client, self.channel = self._open()
            except Exception as exc:
                self.why = self.explain_failure(exc)
                self._say(self.why)
                return
            self.ran = True
            self.state = "running"
            status, tail = self._follow(self.channel)
            self.why = self.explain_exit(status, tail)
            if status != 0:
                self._say(self.why)
        finally:
            if self.client is not None:
                self.client.close()
            self.client = self.channel = None
            self.state = "gone"
            self.gone.set()

    def _open(self) -> tuple[Any, Any]:
        import paramiko
        s = self.settings
        client = paramiko.SSHClient()
        known = os.path.expanduser(str(s["DISCO_SSH_KNOWN_HOSTS"]))
        accept = s.flag("DISCO_SSH_ACCEPT_NEW_HOST_KEYS")
        if accept and not os.path.exists(known):
            os.makedirs(os.path.dirname(known) or ".", exist_ok=True)
            open(known, "a").close()
        if os.path.exists(known):
            client.load_host_keys(known)
        refuse, accept_new = _policies()
        client.set_missing_host_key_policy(accept_new if accept else refuse)
        key = os.path.expanduser(str(s["DISCO_SSH_KEY"]).strip())
        timeout = s.seconds("DISCO_SSH_TIMEOUT")
        try:
            client.connect(self.host, self.port, username=self._user(),
                           key_filename=key or None, look_for_keys=not key,
                           allow_agent=not key, timeout=timeout, banner_timeout=timeout,
                           auth_timeout=timeout)
            channel = client.get_transport().open_session(timeout=timeout)
            channel.set_combine_stderr(True)
            channel.exec_command(self.command)
            channel.sendall((json.dumps(self.values) + "\n").encode("utf-8"))
        except BaseException:
            client.close()
            raise
        return client, channel

    def _user(self) -> str:
        import getpass
        user = str(self.settings["DISCO_SSH_USER"]).strip()
        return user or getpass.getuser()

    def _follow(self, channel: Any) -> tuple[int, list[str]]:
        """Append the node's output to its log until the channel closes; its exit status
        (-1 when the connection ended without one) and its last lines."""
        tail: collections.deque[str] = collections.deque(maxlen=TAIL)
        rest = b""
        with open(self.log_path, "ab") as logf:
            while True:
                try:
                    data = channel.recv(65536)
                except Exception:
                    data = b""
                if not data:
                    break
                logf.write(data)
                logf.flush()
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                tail.extend(line.decode("utf-8", "replace") for line in lines)
        if rest:
            tail.append(rest.decode("utf-8", "replace"))
        status = channel.recv_exit_status() if channel.exit_status_ready() else -1
        return status, list(tail)

    # -- what went wrong, in words --------------------------------------------------------
    def where(self) -> str:
        return "%s@%s:%d" % (self._user(), self.host, self.port)

    def explain_failure(self, exc: BaseException) -> str:
        import paramiko
        where = self.where()
        known = self.settings["DISCO_SSH_KNOWN_HOSTS"]
        if isinstance(exc, HostKeyUnknown):
            return ("cannot start node %s: its host key (%s) is not in the known hosts %s: "
                    "add it (ssh-keyscan -p %d %s >> %s, after checking it) or set "
                    "DISCO_SSH_ACCEPT_NEW_HOST_KEYS=1 to accept new hosts' keys"
                    % (self.host, exc, known, self.port, self.host, known))
        if isinstance(exc, paramiko.BadHostKeyException):
            return ("cannot start node %s: its host key changed (%s %s, the known hosts %s "
                    "have another): if the host was reinstalled, remove its old line "
                    "(ssh-keygen -R '[%s]:%d' -f %s); otherwise someone may be in between"
                    % (self.host, exc.key.get_name(), _fingerprint(exc.key), known,
                       self.host, self.port, known))
        if isinstance(exc, paramiko.AuthenticationException):
            key = self.settings["DISCO_SSH_KEY"] or "the keys in ~/.ssh"
            return ("cannot start node %s: SSH authentication refused for %s with %s: "
                    "add the master's public key to that user's ~/.ssh/authorized_keys there, "
                    "or set DISCO_SSH_USER / DISCO_SSH_KEY" % (self.host, where, key))
        if isinstance(exc, socket.gaierror):
            return ("cannot start node %s: the host name does not resolve (%s): fix the node "
                    "table or the DNS" % (self.host, exc))
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) \
                or isinstance(exc, ConnectionRefusedError):
            return ("cannot start node %s: connection refused at %s: is sshd running there, "
                    "and is the SSH port right (DISCO_SSH_PORT, DISCO_SSH_HOSTS)?"
                    % (self.host, where))
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return ("cannot start node %s: no answer from %s in %gs (no route, or a "
                    "firewall)" % (self.host, where, self.settings.seconds("DISCO_SSH_TIMEOUT")))
        if isinstance(exc, OSError):
            return ("cannot start node %s: cannot reach %s: %s" % (self.host, where,
                                                                   exc.strerror or exc))
        return "cannot start node %s over SSH (%s): %s: %s" % (
            self.host, where, type(exc).__name__, exc)

    def explain_exit(self, status: int, tail: list[str]) -> str:
        text = "\n".join(tail)
        last = " | ".join(line for line in tail[-3:] if line.strip())
        program = shlex.split(self.command)[0] if self.command.strip() else "?"
        if status == 127:
            return ("cannot start node %s: %s: the node command %r is not there (exit 127: "
                    "%s): install Python and disco_core on that host, or set "
                    "DISCO_NODE_COMMAND" % (self.host, self.where(), program, last))
        if "No module named" in text and "disco_core" in text:
            return ("cannot start node %s: disco_core is not installed for %s there (%s): "
                    "install disco_core (the master's version) there, or set "
                    "DISCO_NODE_COMMAND" % (self.host, program, last))
        if "version mismatch" in text:
            versions = [line for line in tail if "version mismatch" in line]
            return "node %s refused: %s" % (self.host, versions[-1].split("version mismatch: ")
                                           [-1])
        if status == -1:
            return "the SSH connection to node %s (%s) ended" % (self.host, self.where())
        return "node %s exited with status %d over SSH%s" % (
            self.host, status, (": " + last) if last else "")
