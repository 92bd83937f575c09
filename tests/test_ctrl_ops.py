"""``/disco/ctrl/<op>`` answers from the master's table of operations (``Master.ctrl_ops``):
the original's operations are entries of it, an operation registered later answers the same
way, and a name no operation has gets the 404 it always got."""
import json
import re

import pytest
import tornado.web

from disco_core import comm
from disco_core.errors import CommError, DiscoError
from disco_core.master.app import Master
from disco_core.master.ctrl import CtrlOps, core_ops
from disco_core.master.handlers import routes
from disco_core.settings import DiscoSettings
from disco_core.testing import TornadoServer


@pytest.fixture
def master(tmp_path):
    return Master(DiscoSettings(DISCO_HOME=str(tmp_path), DISCO_SETTINGS_FILE="",
                                DISCO_MAX_JOBPACK_SIZE=1000))


def serve(master):
    return TornadoServer(routes(master))


def status_and_message(method, url, data=None):
    try:
        return 200, json.loads(comm.request(method, url, data))
    except CommError as exc:
        return exc.code, exc.msg


def test_the_originals_operations_are_in_the_table():
    ops = core_ops()
    assert ops.names("GET") == sorted([
        "joblist", "jobinfo", "taskinfo", "jobevents", "rawevents", "parameters",
        "get_stageresults", "nodeinfo", "load_config_table", "get_blacklist",
        "get_gc_blacklist", "get_settings", "plugins", "oob_list", "oob_get",
        "counters"])
    assert ops.names("POST") == sorted([
        "oob_put", "kill_job", "clean_job", "purge_job", "get_results", "blacklist",
        "whitelist", "gc_blacklist", "gc_whitelist", "save_config_table", "save_settings"])
    assert ops.get("POST", "oob_put").streams
    assert not ops.get("GET", "joblist").streams


def test_a_registered_operation_answers_over_http(master):
    async def echo(handler, m, body):
        handler.reply({"name": handler.get_query_argument("name"),
                       "port": m.settings["DISCO_PORT"]})

    async def double(handler, m, body):
        if not isinstance(body, list):
            raise tornado.web.HTTPError(400, "expected a JSON list")
        handler.reply(body * 2)

    master.ctrl_ops.register("GET", "echo", echo)
    master.ctrl_ops.register("post", "double", double)
    server = serve(master)
    try:
        base = server.url("/disco/ctrl/")
        assert status_and_message("GET", base + "echo?name=x") == (
            200, {"name": "x", "port": master.settings["DISCO_PORT"]})
        assert status_and_message("POST", base + "double", "[1, 2]") == (200, [1, 2, 1, 2])
        assert status_and_message("POST", base + "double", '"no"') == (400, "expected a JSON list")
        # the table knows the method: a GET of a POST operation is unknown
        assert status_and_message("GET", base + "double") == (
            404, "unknown operation 'double'")
        # the built-in ones still answer beside them
        assert status_and_message("GET", base + "get_settings")[0] == 200
    finally:
        server.close()


def test_an_unknown_operation_is_a_404_naming_it(master):
    server = serve(master)
    try:
        base = server.url("/disco/ctrl/")
        assert status_and_message("GET", base + "nosuch") == (404, "unknown operation 'nosuch'")
        assert status_and_message("POST", base + "nosuch", '"x"') == (
            404, "unknown operation 'nosuch'")
    finally:
        server.close()


def test_a_streamed_operation_takes_a_large_body_and_its_413_names_it(master):
    got = []

    async def store(handler, m, upload):
        path = upload.close()
        with open(path, "rb") as f:
            got.append(f.read())
        handler.reply("stored")

    master.ctrl_ops.register("POST", "store", store, streams=True, what="the stored blob")
    server = serve(master)
    try:
        base = server.url("/disco/ctrl/")
        blob = b"\0\1" * 400  # not JSON, and within DISCO_MAX_JOBPACK_SIZE (1000)
        assert status_and_message("POST", base + "store", blob) == (200, "stored")
        assert got == [blob]
        code, message = status_and_message("POST", base + "store", b"x" * 2000)
        assert code == 413
        assert message == ("the stored blob is more than the 1000 bytes this master takes "
                           "(DISCO_MAX_JOBPACK_SIZE)")
    finally:
        server.close()


@pytest.mark.parametrize("method, name, error", [
    ("GET", "joblist", "GET /disco/ctrl/joblist is registered already"),
    ("PUT", "thing", "the methods are GET, POST"),
    ("GET", "a/b", "an operation's name is letters, digits and '_'"),
])
def test_registering_refuses_what_the_table_cannot_serve(method, name, error):
    ops = core_ops()
    with pytest.raises(DiscoError, match=re.escape(error)):
        ops.register(method, name, lambda *args: None)


def test_a_new_table_is_empty():
    assert CtrlOps().names("GET") == [] and CtrlOps().get("GET", "joblist") is None
