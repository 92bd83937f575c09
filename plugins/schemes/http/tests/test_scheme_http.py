"""The http:// scheme against the scheme contract, on real HTTP servers."""
import pytest
import tornado.web

from disco_core.errors import CommError, DataError
from disco_core.testing import SchemeContract, TornadoServer, free_port


class TestHTTPScheme(SchemeContract):
    scheme = "http"

    @pytest.fixture
    def url_for(self, http_server):
        names = iter(range(1000))
        return lambda data: http_server.add("input-%d" % next(names), data)

    @pytest.fixture
    def missing_url(self, http_server):
        return http_server.url("no-such-input")


class Chunked(tornado.web.RequestHandler):
    """Sends its body in small chunks without a Content-Length (chunked encoding)."""

    async def get(self, count):
        for i in range(int(count)):
            self.write(b"chunk %05d\n" % i)
            await self.flush()


class Status(tornado.web.RequestHandler):
    def get(self, code):
        self.set_status(int(code))
        self.finish('{"message": "the server says %s"}' % code)


@pytest.fixture
def tornado_server():
    server = TornadoServer([(r"/chunked/(\d+)", Chunked), (r"/status/(\d+)", Status)])
    yield server
    server.close()


@pytest.fixture
def scheme():
    from disco_core.plugins import PluginHost
    return PluginHost().driver("scheme", "http")


def test_chunked_transfer_encoding_is_streamed(tornado_server, scheme):
    stream = scheme.open(tornado_server.url("chunked/3000"))
    assert stream.getheader("Transfer-Encoding") == "chunked"
    assert getattr(stream, "size", None) is None
    lines = stream.read().splitlines()
    assert len(lines) == 3000 and lines[0] == b"chunk 00000" and lines[-1] == b"chunk 02999"


def test_http_errors_are_data_errors_with_the_status(tornado_server, scheme):
    url = tornado_server.url("status/404")
    with pytest.raises(CommError) as err:
        scheme.open(url)
    assert isinstance(err.value, DataError)
    assert err.value.code == 404 and err.value.url == url
    assert "the server says 404" in str(err.value)


def test_a_refused_connection_is_a_data_error(scheme):
    url = "http://127.0.0.1:%d/nothing-listens" % free_port()
    with pytest.raises(DataError) as err:
        scheme.open(url)
    assert err.value.url == url


def test_https_is_the_same_driver():
    from disco_core.plugins import PluginHost
    host = PluginHost()
    assert host.driver("scheme", "https") is host.driver("scheme", "http")
