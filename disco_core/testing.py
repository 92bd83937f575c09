"""Test helpers: real clusters on loopback, a local HTTP server, chosen plugin sets.

Used as a pytest plugin (``pytest_plugins = ["disco_core.testing"]``) it provides:

* ``disco_cluster`` (session): a master started with ``disco start`` under a fresh
  ``DISCO_HOME`` on a free port, its local node(s), and the environment set so that
  ``Job()``, ``Disco()`` and the ``disco`` command all talk to it. Retries are fast
  (no back-off) so failure tests finish quickly.
* ``http_server``: a threaded HTTP server on 127.0.0.1 serving a temporary directory.
* ``plugin_host``: a :class:`~disco_core.plugins.PluginHost` with chosen plugins only.
* ``data_server``: a node's real data server (Tornado) on 127.0.0.2 over temporary dirs.
* :func:`install_plugin`: a one-module plugin distribution for a test's cluster.

and (from :mod:`disco_core.testcluster`) :func:`running_cluster`, a cluster for a ``with``
block (``ssh=True``: its nodes started over a real sshd), its :class:`Cluster` and
:func:`free_port`; (from :mod:`disco_core.testsshd`) :class:`SSHD`, that sshd, and
``needs_sshd``, the mark of tests that skip without it; (from :mod:`disco_core.contracts`), for
tests that drive the master's pure parts, :class:`RecordingActions` (the coordinator's window
on the network), :func:`make_job` and :class:`SchedulerSim`.

Contract suites, one per plugin kind, that every plugin's tests subclass:
:class:`SchemeContract`, :class:`ReaderContract`, :class:`WriterContract`,
:class:`SchedulerContract`, :class:`CommandContract` (CLI subcommands) and
:class:`RoutesContract` (master routes), the last two from :mod:`disco_core.hook_contracts`,
and :class:`VolumeContract` (storage volumes, ``disco.volumes``) from
:mod:`disco_core.volume_contracts`.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
import time
from typing import Any, Iterator

import pytest

from .testcluster import Cluster, free_port, running_cluster  # noqa: F401
from .testsshd import SSHD, keygen, sshd_missing  # noqa: F401

#: Marks a test that needs a real sshd (``running_cluster(..., ssh=True)``, :class:`SSHD`):
#: skipped, saying how to install it, where there is none.
needs_sshd = pytest.mark.skipif(bool(sshd_missing()), reason=sshd_missing() or "sshd")


def install_plugin(root: Any, dist: str, module: str, source: str, entry_points: str) -> None:
    """A distribution ``dist`` of one module, installed under the directory ``root``: a
    cluster started with ``root`` on its ``PYTHONPATH`` finds its entry points (a plugin
    made for one test, e.g. one that adds a master route doing what no real one may)."""
    import textwrap
    root = str(root)
    info = os.path.join(root, "%s-1.0.dist-info" % dist.replace("-", "_"))
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % dist)
    with open(os.path.join(info, "entry_points.txt"), "w") as f:
        f.write(textwrap.dedent(entry_points))
    with open(os.path.join(root, "%s.py" % module), "w") as f:
        f.write(textwrap.dedent(source))

@pytest.fixture(scope="session")
def disco_cluster() -> Iterator[Cluster]:
    with running_cluster() as cluster:
        yield cluster


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class HTTPServer:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        handler = functools.partial(_QuietHandler, directory=directory)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def add(self, name: str, data: bytes | str) -> str:
        path = os.path.join(self.directory, name)
        with open(path, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        return self.url(name)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_server(tmp_path: Any) -> Iterator[HTTPServer]:
    server = HTTPServer(str(tmp_path))
    yield server
    server.close()


@pytest.fixture
def plugin_host() -> Iterator[Any]:
    """Call it with plugin modules/objects; the process-wide host is restored afterwards."""
    from .plugins import PluginHost, set_host
    old = set_host(None)

    def make(*plugins: Any, entry_points: bool = False, **kw: Any) -> PluginHost:
        host = PluginHost(plugins, entry_points=entry_points, **kw)
        set_host(host)
        return host
    yield make
    set_host(old)


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in %.0fs" % timeout)


class TornadoServer:
    """A Tornado application served from its own thread on a loopback address (a real
    server, as the master and the nodes run them)."""

    def __init__(self, rules: list, host: str = "127.0.0.1", ssl_options: Any = None) -> None:
        import tornado.netutil
        self.host = host
        self.ssl_options = ssl_options  # an ssl.SSLContext: the server speaks https
        self.sockets = tornado.netutil.bind_sockets(0, address=host)
        self.port = self.sockets[0].getsockname()[1]
        self.rules = rules
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the test server did not start")

    def _run(self) -> None:
        import asyncio

        import tornado.httpserver
        import tornado.web
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        self.server = tornado.httpserver.HTTPServer(tornado.web.Application(self.rules),
                                                    ssl_options=self.ssl_options)
        self.server.add_sockets(self.sockets)
        loop.call_soon(self._started.set)
        loop.run_forever()
        loop.close()

    def url(self, path: str = "") -> str:
        return "%s://%s:%d/%s" % ("https" if self.ssl_options else "http", self.host,
                                  self.port, path.lstrip("/"))

    def close(self) -> None:
        def stop() -> None:
            self.server.stop()
            self.loop.stop()
        self.loop.call_soon_threadsafe(stop)
        self.thread.join(10)


class DataServer(TornadoServer):
    """A node's data server (:mod:`disco_core.dataserver`) over temporary directories, one
    per URL prefix (``disco`` by default; a plugin's test adds its own, as its
    ``disco_node_routes`` would), on ``host`` (default 127.0.0.2, a loopback address that
    is not one of this machine's names, so ``disco://`` URLs naming it are read over HTTP)."""

    def __init__(self, root: str, host: str = "127.0.0.2",
                 prefixes: tuple[str, ...] = ("disco",)) -> None:
        from .dataserver import data_route
        self.dirs = {prefix: os.path.join(root, "%s-data" % prefix) for prefix in prefixes}
        for path in self.dirs.values():
            os.makedirs(path, exist_ok=True)
        self.disco_data = self.dirs.get("disco", "")
        super().__init__([data_route(p, d) for p, d in self.dirs.items()], host)

    def add(self, relpath: str, data: bytes | str, prefix: str = "disco") -> str:
        """Store a file under the data directory of ``prefix``; its ``disco://`` URL."""
        path = os.path.join(self.dirs[prefix], relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        return "disco://%s/%s/%s" % (self.host, prefix, relpath)


@pytest.fixture
def data_server(tmp_path: Any, monkeypatch: Any) -> Iterator[DataServer]:
    """A real data server on 127.0.0.2; ``DISCO_PORT`` points at it for ``disco://``."""
    server = DataServer(str(tmp_path / "remote"))
    monkeypatch.setenv("DISCO_PORT", str(server.port))
    yield server
    server.close()


# -- contract suites for plugins -------------------------------------------------------------
#
#: Where browser tests put their screenshots (``DISCO_TEST_ARTIFACTS`` or ``.artifacts``).
ARTIFACTS = os.environ.get("DISCO_TEST_ARTIFACTS") or os.path.abspath(".artifacts")
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromedriver")
#: Chromium's flags for tests: headless, and none of its own network traffic (on a machine
#: with a closed network it would otherwise retry refused connections all the time).
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--window-size=1366,900")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by
    Selenium; ``browser.screenshot(name)`` saves a PNG under :data:`ARTIFACTS`."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed: ./scripts/install installs the test tools")
    binary, driver_path = CHROMIUM
    if not (os.path.exists(binary) and os.path.exists(driver_path)):
        pytest.skip("Chromium is not installed: ./run-tests installs it as root, or run "
                    "`apt-get install chromium chromium-driver`")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="disco-chromium-")
    options.add_argument("--user-data-dir=" + profile)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)

    def screenshot(name: str) -> str:
        os.makedirs(os.path.join(ARTIFACTS, "screenshots"), exist_ok=True)
        path = os.path.join(ARTIFACTS, "screenshots", name + ".png")
        driver.save_screenshot(path)
        return path

    driver.screenshot = screenshot
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# A plugin's tests subclass the suite of its kind (the class name must start with ``Test``)
# and fill in what the suite asks for. Every suite checks the plugin is installed under its
# name and loads through the plugin host the way the master, node and worker load it.


# The pure-logic drivers and the contract suites live in disco_core.contracts; they are
# re-exported here so plugin tests need one import.
from .contracts import (ReaderContract, RecordingActions, SchedulerContract,  # noqa: E402,F401
                        SchedulerSim, SchemeContract, WriterContract, event_messages,
                        make_job)
from .hook_contracts import CommandContract, RoutesContract  # noqa: E402,F401
from .volume_contracts import VolumeContract  # noqa: E402,F401
