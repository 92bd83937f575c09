"""A real node process against a master played by this test: what the node does with
messages it cannot handle."""
import json
import os
import queue
import subprocess
import sys

import pytest
import tornado.websocket

from disco_core.testing import TornadoServer

SECRET = "test-secret"


class MasterSide(tornado.websocket.WebSocketHandler):
    def initialize(self, got, conns):
        self.got = got
        self.conns = conns

    def open(self):
        assert self.request.headers.get("X-Disco-Secret") == SECRET
        self.conns.put(self)

    def on_message(self, message):
        self.got.put(json.loads(message))


@pytest.fixture
def node_and_master(tmp_path):
    got, conns = queue.Queue(), queue.Queue()
    server = TornadoServer([(r"/disco/node/connect", MasterSide, {"got": got, "conns": conns})])
    env = dict(os.environ, DISCO_HOME=str(tmp_path), DISCO_CLUSTER_SECRET=SECRET,
               DISCO_SETTINGS_FILE="", DISCO_NODE_ORPHAN_TIMEOUT="20")
    proc = subprocess.Popen([sys.executable, "-m", "disco_core.node", "--host", "localhost",
                             "--master", server.url(), "--no-data-server"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    conn = conns.get(timeout=30)

    def send(msg):
        text = msg if isinstance(msg, str) else json.dumps(msg)
        server.loop.call_soon_threadsafe(conn.write_message, text)

    def receive(op, timeout=15):
        while True:
            msg = got.get(timeout=timeout)
            if msg["op"] == op:
                return msg
    try:
        yield proc, send, receive
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        server.close()


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", {"op": "run", "job": "J"},
                                 {"op": "kill"}, {"op": "purge"}, {"op": "no such op"},
                                 {"op": "run", "job": "J", "taskid": 0, "runid": 0,
                                  "stage": "map", "grouping": "split", "group": [0, ""],
                                  "jobpack": "", "inputs": "not a list"}])
def test_a_bad_message_is_answered_and_the_node_goes_on(node_and_master, bad):
    proc, send, receive = node_and_master
    send(bad)
    error = receive("error")
    assert "cannot handle the message" in error["message"]
    send(bad)  # its loop still reads: the same message gets the same answer
    assert receive("error")["message"] == error["message"]
    assert proc.poll() is None
    send({"op": "stop"})
    assert proc.wait(timeout=15) == 0
    log = proc.stdout.read().decode()
    assert "cannot handle the message" in log
