"""The cluster's nodes: the node table, starting node processes, and their connections.

The node table is ``DISCO_MASTER_CONFIG`` (:mod:`.nodetable` reads and writes it).

Nodes on this machine (``localhost``, any ``127.x.y.z`` address, the master's own host)
are started as child processes of the master (unless a node process an earlier master
started still runs for the host: then it is adopted, :mod:`.adopt`), nodes on other hosts
(and those ``DISCO_SSH_HOSTS`` names) over SSH (:mod:`.remote`). Each node connects back to
the master over a WebSocket (``/disco/node/connect``) authenticated with the cluster secret
and naming its core version (another version is refused); the master sends it tasks and it
reports events and results on the same connection.

Each connection is a session: a newer one of the same host replaces (and closes) the older,
whose messages are ignored from then on. A session gets tasks only after the node's
``hello`` says which attempts it still runs (``Master.node_hello`` settles the rest).
Removing a host from the table kills its tasks there, closes its session and runs them
elsewhere; a node's messages (:mod:`.messages`) are checked before they change anything.

Both ends ping every ``DISCO_NODE_PING_INTERVAL`` seconds and drop a connection whose ping
goes unanswered for ``DISCO_NODE_PING_TIMEOUT`` (at most the interval). A node that lost
its connection (a network blip, or a master too busy to answer its pings) reconnects at
once, and its tasks go on: the master waits ``DISCO_NODE_PING_TIMEOUT`` for it before it
takes the node for gone and runs its tasks elsewhere; its ``hello`` settles them when it is
back (``Master.node_hello``). A wait that ends late because the master's own loop was held
up is granted once more, so the master's pause is never counted against its nodes. A local
node process that died ends the wait at once: its tasks died with it, and count as failed.
"""
from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from typing import Any, Protocol

from ..children import ChildWatcher
from ..errors import DiscoError
from .adopt import AdoptedPid, running_node
from .nodetable import expand_table, is_local_host, read_config, same_address, write_config
from .scheduler import Scheduler

log = logging.getLogger("disco.master.nodes")


#: A local node process that ran this long (seconds) before it died is restarted without
#: the growing delay of one that keeps dying as it starts.
STEADY = 5.0
#: How late (seconds) a timer may fire before the master takes it that its loop was held up.
LATE = 0.5


class NodeProcess:
    """A node process the master started on this machine; restarted if it dies."""

    ran = True  # it was started (a node over SSH may not have been: :mod:`.remote`)

    def __init__(self, host: str, argv: list[str], env: dict[str, str], log_path: str,
                 adopted: AdoptedPid | None = None) -> None:
        self.host = host
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.stopping = False
        #: a node process an earlier master started, adopted (:mod:`.adopt`) until it exits
        self.adopted = adopted
        self.started = 0.0

    def start(self) -> None:
        self.adopted = None
        self.started = time.monotonic()
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        logf.close()

    def alive(self) -> bool:
        if self.adopted is not None:
            return self.adopted.alive()
        return self.proc is not None and self.proc.poll() is None

    async def end(self, children: ChildWatcher, timeout: float = 5.0) -> None:
        """:meth:`stop` without holding the loop while the process exits."""
        self.stopping = True
        if self.adopted is not None:
            await self.adopted.end(timeout)
            return
        if self.proc is None or self.proc.poll() is not None:
            return
        exited = children.wait(self.proc)
        self.proc.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout)
        except asyncio.TimeoutError:
            log.warning("node %s did not exit %gs after SIGTERM: killing it", self.host, timeout)
            self.proc.kill()
            await exited

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process and wait for it (SIGKILL after ``timeout``); blocks, so
        only for a master that is shutting down."""
        self.stopping = True
        if self.adopted is not None:
            self.adopted.stop(timeout)
            return
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class NodeOwner(Protocol):
    """What a :class:`NodeManager` needs of the master that owns it (:class:`.app.Master`):
    its settings, address and cluster secret, the scheduler whose view of the nodes the
    manager keeps, and the calls through which a node's comings and goings reach the master.
    An interface rather than an import of :mod:`.app`, which imports this module."""

    settings: Any
    url: str
    secret: str
    token: str
    scheduler: Scheduler

    def kick(self) -> None: ...

    def node_hello(self, host: str, running: list[tuple[str, int, int]]) -> None: ...

    def node_gone(self, host: str, why: str) -> None: ...

    def node_removed(self, host: str) -> None: ...


class NodeManager:
    """The node table (``table``, ``blacklist``, ``gc_blacklist``, saved in
    ``DISCO_MASTER_CONFIG``), the node processes it started (``processes``) and each node's
    current connection (``connections``, one session per host), plus what went wrong with
    each node (``problems``).

    The master owns it and alone changes it: the control operations through
    :meth:`set_table` and :meth:`set_blacklisted`, the nodes' sockets through
    :meth:`connected`, :meth:`hello` and :meth:`disconnected`. It keeps the scheduler's view
    of the nodes (``master.scheduler.nodes``) in step with the table and the connections, and
    tells the master of a node's comings and goings (:class:`NodeOwner`) rather than changing
    jobs or tasks itself.
    """

    def __init__(self, master: NodeOwner) -> None:
        self.master = master
        self.settings = master.settings
        self.processes: dict[str, NodeProcess] = {}
        self.connections: dict[str, Any] = {}
        self.sessions = 0
        self.table: list = []
        self.blacklist: list[str] = []
        self.gc_blacklist: list[str] = []
        self.problems: dict[str, str] = {}
        self.listen_address: str | None = None  # where the master listens, once it does
        self.widened: set[str] = set()  # addresses it serves on too, for nodes added later
        self.ping_interval = self.settings.seconds("DISCO_NODE_PING_INTERVAL")
        self.ping_timeout = self.settings.seconds("DISCO_NODE_PING_TIMEOUT")
        self.missing: dict[str, asyncio.TimerHandle] = {}  # disconnected, awaited back
        self.children = ChildWatcher()
        self.ending: set[asyncio.Future] = set()  # node processes being stopped
        self._saving = asyncio.Lock()

    # -- the node table -----------------------------------------------------------------
    @property
    def config_path(self) -> str:
        return self.settings["DISCO_MASTER_CONFIG"]

    def load(self) -> None:
        """Read the node table file (see :func:`read_config`) and start using it."""
        config = read_config(self.config_path, self.settings["DISCO_WORKERS"])
        self.table = config["hosts"]
        self.blacklist, self.gc_blacklist = config["blacklist"], config["gc_blacklist"]
        self.apply(config["nodes"])

    async def save(self) -> None:
        """Write the node table file as it is now (fsynced: in a thread, one save at a time,
        so the newest table is the one left on disk)."""
        config = {"hosts": self.table, "blacklist": list(self.blacklist),
                  "gc_blacklist": list(self.gc_blacklist)}
        async with self._saving:
            await asyncio.get_running_loop().run_in_executor(None, write_config,
                                                             self.config_path, config)

    async def set_table(self, table: list, empty: bool = False) -> None:
        """Replace the node table; an empty one only with ``empty``. A bad table is a
        :class:`DiscoError` and leaves the old one as it was."""
        hosts = expand_table(table, empty)
        self.table = [[str(h).strip(), str(c).strip()] for h, c in table]
        self.blacklist = [h for h in self.blacklist if h in hosts]
        self.gc_blacklist = [h for h in self.gc_blacklist if h in hosts]
        await self.save()
        self.apply(hosts)

    def apply(self, hosts: dict[str, int]) -> None:
        """Make the scheduler's view and the running node processes match ``hosts``."""
        from .scheduler import NodeSlots
        nodes = self.master.scheduler.nodes
        for host in list(nodes):
            if host not in hosts:
                self._stop_waiting(host)
                self.master.node_removed(host)
                del nodes[host]
                conn = self.connections.pop(host, None)
                if conn is not None:
                    conn.close(4004, "%s was removed from the node table" % host)
                proc = self.processes.pop(host, None)
                if proc is not None:
                    ending = asyncio.ensure_future(proc.end(self.children))
                    self.ending.add(ending)
                    ending.add_done_callback(self.ending.discard)
        for host, cores in hosts.items():
            node = nodes.get(host)
            if node is None:
                node = nodes[host] = NodeSlots(host, cores)
            node.max_workers = cores
            node.blacklisted = host in self.blacklist

    async def set_blacklisted(self, host: str, value: bool, gc: bool = False) -> None:
        if host not in self.master.scheduler.nodes:
            raise DiscoError("unknown node %r: add it to the node table first" % host)
        target = self.gc_blacklist if gc else self.blacklist
        if value and host not in target:
            target.append(host)
        if not value and host in target:
            target.remove(host)
        if not gc:
            self.master.scheduler.nodes[host].blacklisted = value
        await self.save()

    # -- node processes -----------------------------------------------------------------
    async def start_all(self) -> None:
        for host in list(self.master.scheduler.nodes):
            await self.ensure_started(host)

    async def ensure_started(self, host: str) -> None:
        proc = self.processes.get(host)
        if proc is not None and proc.alive():
            return
        master_host = self.settings["DISCO_MASTER_HOST"]
        loop = asyncio.get_running_loop()
        if self.over_ssh(host):
            await self.start_remote(host)
            return
        serve = not await loop.run_in_executor(None, same_address, host, master_host)
        adopted, problem = await loop.run_in_executor(None, running_node, self.settings, host,
                                                      self.master.url)
        if self._started_meanwhile(host):  # the table may have changed meanwhile
            return
        argv = [sys.executable, "-m", "disco_core.node", "--host", host,
                "--master", self.master.url]
        if not serve:
            argv.append("--no-data-server")
        env = self.settings.env
        env["DISCO_CLUSTER_SECRET"] = self.master.secret
        if self.master.token:
            env["DISCO_TOKEN"] = self.master.token  # for the tasks' requests to the master
        log_path = os.path.join(self.settings["DISCO_LOG_DIR"], "node-%s.log" % host)
        proc = NodeProcess(host, argv, env, log_path, adopted)
        if adopted is None:
            proc.start()
        else:  # left running by an earlier master: it reconnects by itself (.adopt)
            log.info("node %s: adopted the node process %d already running", host, adopted.pid)
            if problem:
                self.problems[host] = problem
        self.processes[host] = proc

    def over_ssh(self, host: str) -> bool:
        """Whether ``host``'s node is started over SSH (:mod:`.remote`): another machine,
        or a host ``DISCO_SSH_HOSTS`` names."""
        from .remote import ssh_hosts
        return host in ssh_hosts(self.settings) \
            or not is_local_host(host, self.settings["DISCO_MASTER_HOST"])

    async def start_remote(self, host: str) -> None:
        """Start ``host``'s node over SSH (see :mod:`.remote`); what goes wrong is its
        problem. The DNS look-ups (this machine's name, the route to ``host``) run in an
        executor: a resolver that takes seconds must not hold the loop and its pings."""
        import shlex

        from . import remote
        loop = asyncio.get_running_loop()
        port = remote.ssh_hosts(self.settings).get(host, int(self.settings["DISCO_SSH_PORT"]))
        url = await loop.run_in_executor(None, remote.master_url_for, host, self.settings,
                                         self.master.url)
        if self._started_meanwhile(host):
            return
        if self.listen_address is not None and not remote.is_loopback(host) \
                and (remote.is_loopback(self.listen_address) or self.widened) \
                and not self.settings["DISCO_NODE_MASTER"]:
            # a master on loopback only serves also where this host reaches it
            route = await loop.run_in_executor(None, remote.route_address, host)
            if self._started_meanwhile(host):
                return
            address, why = remote.listen_for(host, self.master.server, self.settings,
                                             self.listen_address, self.widened, route)
            if why:
                self.refused(host, "cannot start node %s: %s" % (host, why))
                return
            self.listen_address = address
            url = remote.url_of(address, self.settings["DISCO_PORT"])
        command = "%s --host %s --master %s --settings-stdin" % (
            self.settings["DISCO_NODE_COMMAND"], shlex.quote(host), shlex.quote(url))
        values = remote.node_settings(self.settings, url, self.master.secret, self.master.token)
        log_path = os.path.join(self.settings["DISCO_LOG_DIR"], "node-%s.log" % host)
        proc = remote.RemoteNode(host, port, self.settings, command, values, log_path,
                                 self._ssh_problem)
        proc.start()
        self.processes[host] = proc

    def _started_meanwhile(self, host: str) -> bool:
        """Whether, while a start of ``host``'s node waited, the table lost the host or
        another start got there."""
        proc = self.processes.get(host)
        return host not in self.master.scheduler.nodes or (proc is not None and proc.alive())

    def remote_hosts(self) -> list[str]:
        """The hosts of the node table whose nodes are started over SSH."""
        return [h for h in self.master.scheduler.nodes if self.over_ssh(h)]

    def _ssh_problem(self, host: str, why: str) -> None:
        """A node over SSH could not start or ended: its problem, unless the host's node is
        connected all the same (started by other means), which the log alone tells."""
        if host in self.connections:
            log.warning("%s (its node is connected all the same)", why)
        else:
            self.refused(host, why)

    def refused(self, host: str, why: str) -> None:
        """A node of the table could not be started or was refused: its ``problem`` (in
        ``nodeinfo``) and a warning in the log; nothing for a host not in the table."""
        if host in self.master.scheduler.nodes:
            self.problems[host] = why
            log.warning("%s", why)

    async def watch(self) -> None:
        """Restart local node processes that died (with a growing delay)."""
        while True:
            await asyncio.sleep(1.0)
            for host, proc in list(self.processes.items()):
                if proc.stopping or proc.alive():
                    continue
                if host in self.missing and proc.ran:  # its tasks died with it: no use waiting
                    self._stop_waiting(host)
                    self.master.node_gone(host, "its process exited")
                if time.monotonic() - proc.started >= STEADY:
                    proc.restarts = 0  # it had been running: not a crash loop, no back-off
                proc.restarts += 1
                delay = min(30.0, 0.5 * 2 ** min(proc.restarts, 6))
                log.warning("node %s exited (%s); restarting in %.1fs", host,
                            proc.proc.returncode if proc.proc else getattr(proc, "why", "?"),
                            delay)
                proc.stopping = True
                asyncio.get_running_loop().call_later(delay, self._restart, host)

    def _restart(self, host: str) -> None:
        proc = self.processes.get(host)
        if proc is None or proc.alive() or host not in self.master.scheduler.nodes:
            return
        proc.stopping = False
        proc.start()

    def stop_all(self) -> None:
        for conn in list(self.connections.values()):
            try:
                conn.send({"op": "stop"})
            except Exception:
                pass
        # from now on what the nodes say (or their going) changes no job: a job's tasks stay
        # as they are for the next master to resume (.restore)
        self.connections.clear()
        deadline = time.time() + 5
        for proc in self.processes.values():
            proc.stopping = True
        for proc in self.processes.values():
            if proc.proc is not None:
                try:
                    proc.proc.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    pass
            proc.stop()

    # -- connections --------------------------------------------------------------------
    def connected(self, host: str, conn: Any) -> None:
        """A node opened a connection: it starts a new session, which takes over from the
        host's earlier one (closed). The node gets tasks once its ``hello`` says which
        attempts it still runs (:meth:`hello`)."""
        self.sessions += 1
        conn.session = self.sessions
        old = self.connections.get(host)
        self.connections[host] = conn
        if old is not None and old is not conn:
            old.close()
        self.problems.pop(host, None)
        node = self.master.scheduler.nodes.get(host)
        if node is not None:
            node.connected = False

    def current(self, host: str, conn: Any) -> bool:
        """Whether ``conn`` is the host's session now (messages of older ones are ignored)."""
        return self.connections.get(host) is conn

    def hello(self, host: str, conn: Any, running: list[tuple[str, int, int]]) -> None:
        if not self.current(host, conn):
            return
        node = self.master.scheduler.nodes.get(host)
        if node is None:
            return
        self._stop_waiting(host)
        self.master.node_hello(host, running)
        node.connected = True
        self.master.kick()

    def disconnected(self, host: str, conn: Any) -> None:
        if self.connections.get(host) is not conn:
            return  # a later session took over: its hello settles this one's attempts
        del self.connections[host]
        node = self.master.scheduler.nodes.get(host)
        if node is not None:
            node.connected = False
        proc = self.processes.get(host)
        if proc is not None and proc.ran and not proc.alive():  # its tasks died with it
            self._stop_waiting(host)
            self.master.node_gone(host, "its process exited")
        elif host not in self.missing:  # (a session that ended before its hello: same wait)
            log.warning("node %s lost its connection to the master; its tasks wait %gs for "
                        "it to come back", host, self.ping_timeout)
            self._await_return(host)

    def _await_return(self, host: str) -> None:
        self._stop_waiting(host)
        loop = asyncio.get_running_loop()
        due = loop.time() + self.ping_timeout
        self.missing[host] = loop.call_at(due, self._not_back, host, due)

    def _not_back(self, host: str, due: float) -> None:
        """The wait for a disconnected node is over: it is gone, unless the wait ended late
        (the master's loop was held up, and the node's reconnection may be waiting to be
        read), which earns it one more wait."""
        late = asyncio.get_running_loop().time() - due
        if late > LATE:
            log.warning("the master's loop was held up for %.1fs: node %s gets %gs more to "
                        "come back", late, host, self.ping_timeout)
            self._await_return(host)
            return
        self.missing.pop(host, None)
        self.master.node_gone(host, "did not come back in %gs" % self.ping_timeout)

    def _stop_waiting(self, host: str) -> None:
        timer = self.missing.pop(host, None)
        if timer is not None:
            timer.cancel()

    def send(self, host: str, message: dict) -> bool:
        conn = self.connections.get(host)
        if conn is None:
            return False
        conn.send(message)
        return True

    def send_all(self, host: str, messages: list[dict]) -> bool:
        """:meth:`send` of several messages in one: a ``batch`` of them (the node handles
        each in turn, as if it came alone)."""
        if len(messages) == 1:
            return self.send(host, messages[0])
        return self.send(host, {"op": "batch", "messages": messages})

    def broadcast(self, message: dict) -> None:
        for conn in list(self.connections.values()):
            conn.send(message)

    def info(self) -> dict[str, Any]:
        out = {}
        for host, node in sorted(self.master.scheduler.nodes.items()):
            entry: dict[str, Any] = {}
            for extra in self.master.plugins.call("disco_node_info", host=host):
                if isinstance(extra, dict):
                    entry.update(extra)
            entry.update({"max_workers": node.max_workers, "connected": node.connected,
                          "blacklisted": node.blacklisted})
            entry.update(node.stats)
            if node.running:
                entry["tasks"] = [t.job.name for t in node.running]
            if host in self.problems:
                entry["problem"] = self.problems[host]
            out[host] = entry
        return out
