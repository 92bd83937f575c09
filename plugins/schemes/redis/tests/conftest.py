"""A real redis-server (Debian's package) on a free loopback port, per test."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from disco_core.testing import free_port

INSTALL = ("redis-server is not installed: `apt-get install redis-server` (./scripts/install "
           "does it when run as root)")


class RedisServer:
    """``redis-server`` on 127.0.0.1:``port`` with its files in ``directory``, no snapshots."""

    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.proc = None

    def url(self, db=0):
        return "redis://127.0.0.1:%d:%d" % (self.port, db)

    def client(self, db=0):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, db=db)

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.directory, "--databases", "16",
             "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self.client().ping():
                    return self
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError("redis-server exited with %s" % self.proc.returncode)
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer on port %d" % self.port)

    def kill(self):
        """Stop the server at once, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _server(tmp_path_factory):
    if shutil.which("redis-server") is None:
        pytest.skip(INSTALL)
    return RedisServer(str(tmp_path_factory.mktemp("redis"))).start()


@pytest.fixture
def redis_server(tmp_path_factory):
    server = _server(tmp_path_factory)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fill():
    """``fill(server, db, records)``: push ``(key, value)`` records onto the db's lists."""
    def fill(server, db, records):
        client = server.client(db)
        client.flushdb()
        pipe = client.pipeline()
        for key, value in records:
            pipe.rpush(key, value)
        pipe.execute()
        client.close()
        return server.url(db)
    return fill
