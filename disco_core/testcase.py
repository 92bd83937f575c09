"""The original's test harness for jobs (``disco.test``): unittest cases that run real jobs.

A :class:`TestCase` talks to the master named by its settings (``DISCO_MASTER``). A test that
defines ``serve(path)`` gets a small HTTP server (:class:`TestServer`) on
``DISCO_TEST_HOST:DISCO_TEST_PORT`` for the duration of each test, so inputs can be generated
on the fly: ``self.test_server.urls(["a", "b"])`` are URLs whose content is ``serve("a")``...
A test that stores its job in ``self.job`` has it purged afterwards when ``DISCO_TEST_PURGE`` is
set (the default). ``DISCO_TEST_PORT=0`` picks a free port.

::

    class WordCountTestCase(TestCase):
        def serve(self, path):
            return "%s\\n" % path

        def runTest(self):
            self.job = TestJob().run(input=self.test_server.urls(["a b", "b"]), map=fmap, ...)
            self.assertResults(self.job, [("a", 1), ("b", 2)])
"""
from __future__ import annotations

import http.server
import itertools
import signal
import socket
import socketserver
import sys
import threading
import unittest
import urllib.parse
from typing import Any, Callable, Iterable

from .client import Disco, Job, result_iterator
from .errors import CommError
from .settings import DiscoSettings, register_defaults
from .worker.pipeline import Worker as PipelineWorker

register_defaults({
    "DISCO_TEST_HOST": lambda s: socket.gethostname(),
    "DISCO_TEST_PORT": 9444,
    "DISCO_TEST_PROFILE": "",
    "DISCO_TEST_PURGE": "purge",
})

SkipTest = unittest.SkipTest


class FailedReply(Exception):
    """Raised by ``serve(path)`` to make the test server answer 500 with the message."""


class InterruptTest(SkipTest):
    """The test was interrupted (Ctrl-C): reported as skipped, the run goes on."""


class TestServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """An HTTP server whose ``GET /<path>`` answers ``data_generator(path)``."""

    __test__ = False  # not a test case for pytest

    allow_reuse_address = True
    daemon_threads = True

    @classmethod
    def create(cls, address: tuple[str, int], data_generator: Callable[[str], Any]
               ) -> "TestServer":
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urllib.parse.unquote(self.path[1:])
                try:
                    data = data_generator(path)
                    status = 200
                except FailedReply as exc:
                    data, status = str(exc), 500
                if isinstance(data, str):
                    data = data.encode("utf-8")
                elif not isinstance(data, (bytes, bytearray)):
                    data = b"".join(d.encode("utf-8") if isinstance(d, str) else d
                                    for d in data)
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return cls(address, Handler)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return "http://%s:%d" % (host, port)

    def urls(self, inputs: Iterable[Any]) -> list[list[str]]:
        """One replica list per input; an input may itself be a list of replica paths."""
        def serverify(path: str) -> str:
            return "%s/%s" % (self.address, path)
        return [[serverify(p) for p in (inp if isinstance(inp, (list, tuple)) else [inp])]
                for inp in inputs]

    def start(self) -> None:
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join()


class TestCase(unittest.TestCase):
    settings = DiscoSettings()

    @property
    def disco_master_url(self) -> str:
        return self.settings["DISCO_MASTER"]

    @property
    def disco(self) -> Disco:
        return Disco(self.disco_master_url, settings=self.settings)

    @property
    def ddfs(self) -> Any:
        """A DDFS client for the master; tests that need it are skipped without DDFS."""
        try:
            from disco.ddfs import DDFS  # type: ignore[import-not-found]
        except ImportError:
            raise SkipTest("DDFS is not installed on this client") from None
        return DDFS(self.disco_master_url)

    @property
    def nodes(self) -> dict[str, int]:
        """``{host: max_workers}`` of the nodes that are not blacklisted."""
        return {host: info["max_workers"] for host, info in self.disco.nodeinfo().items()
                if not info.get("blacklisted")}

    @property
    def num_workers(self) -> int:
        return sum(self.nodes.values())

    @property
    def test_server_address(self) -> tuple[str, int]:
        return str(self.settings["DISCO_TEST_HOST"]), int(self.settings["DISCO_TEST_PORT"])

    def assertAllEqual(self, results: Iterable, answers: Iterable) -> None:
        marker = object()
        for n, (result, answer) in enumerate(itertools.zip_longest(results, answers,
                                                                     fillvalue=marker)):
            if result is marker:
                self.fail("results end after %d items; expected %r next" % (n, answer))
            if answer is marker:
                self.fail("more results than expected: item %d is %r" % (n, result))
            self.assertEqual(result, answer)

    def assertCommErrorCode(self, code: int, callable: Callable[[], Any]) -> None:
        try:
            callable()
        except CommError as exc:
            self.assertEqual(code, exc.code)
            return
        except Exception as exc:
            raise AssertionError("CommError not raised, got %r" % exc) from exc
        raise AssertionError("CommError not raised (expected %d)" % code)

    def assertResults(self, job: Any, answers: Iterable) -> None:
        self.assertAllEqual(self.results(job), answers)

    def results(self, job: Any, **kwargs: Any) -> Any:
        return result_iterator(job.wait(), **kwargs)

    def setUp(self) -> None:
        if hasattr(self, "serve"):
            self.test_server = TestServer.create(self.test_server_address, self.serve)
            self.test_server.start()

    def tearDown(self) -> None:
        if hasattr(self, "serve"):
            self.test_server.stop()
        if self.settings["DISCO_TEST_PURGE"] and hasattr(self, "job"):
            try:
                self.job.purge()
            except CommError:
                pass

    def run(self, result: Any = None) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return super().run(result)

        def interrupted(signum: int, frame: Any) -> None:
            raise InterruptTest("interrupted")

        previous = signal.signal(signal.SIGINT, interrupted)
        try:
            return super().run(result)
        finally:
            signal.signal(signal.SIGINT, previous)


class TestJob(Job):
    __test__ = False  # not a test case for pytest

    @property
    def profile(self) -> bool:
        return bool(DiscoSettings()["DISCO_TEST_PROFILE"])


class TestPipe(TestJob):
    """A test job on the pipeline worker (``Worker(pipeline=[...])``)."""

    Worker = PipelineWorker


class TestLoader(unittest.TestLoader):
    """Loads test cases that use ``settings`` (a :class:`DiscoSettings`)."""

    __test__ = False  # not a test case for pytest

    def __init__(self, settings: DiscoSettings) -> None:
        super().__init__()
        self.settings = settings

    def loadTestsFromTestCase(self, testCaseClass: type) -> unittest.TestSuite:
        if issubclass(testCaseClass, TestCase):
            testCaseClass.settings = self.settings
        return super().loadTestsFromTestCase(testCaseClass)


class TestRunner(unittest.TextTestRunner):
    """``TestRunner(settings).run("test_simple", "test_sort.SortTestCase")``; verbosity
    follows ``DISCO_DEBUG`` (``off`` quiet, ``log``/``trace`` verbose)."""

    __test__ = False  # not a test case for pytest

    def __init__(self, settings: DiscoSettings, stream: Any = None) -> None:
        debug = str(settings["DISCO_DEBUG"]).lower()
        verbosity = 2 if debug in ("log", "trace", "1", "2", "on") else 1
        super().__init__(stream=stream or sys.stderr, verbosity=verbosity)
        self.settings = settings

    def run(self, *names: str) -> unittest.TestResult:  # type: ignore[override]
        suite = TestLoader(self.settings).loadTestsFromNames(names)
        return super().run(suite)
