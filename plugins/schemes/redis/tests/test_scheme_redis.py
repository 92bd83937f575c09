"""The redis:// scheme against the scheme contract, and its own rules, on a real
redis-server."""
import pytest

from disco_core.errors import DataError, DiscoError
from disco_core.testing import SchemeContract, free_port


class TestRedisScheme(SchemeContract):
    scheme = "redis"
    records = True

    @pytest.fixture
    def url_for(self, redis_server, fill):
        dbs = iter(range(16))
        return lambda records: fill(redis_server, next(dbs), records)

    @pytest.fixture
    def missing_url(self, redis_server):
        return redis_server.url(99)  # the server has databases 0-15


@pytest.fixture
def scheme():
    from disco_core.plugins import PluginHost
    return PluginHost().driver("scheme", "redis")


def test_records_are_list_items_in_list_order(redis_server, fill, scheme):
    url = fill(redis_server, 3, [("a", "1"), ("b", "x"), ("a", "2"), ("a", "3")])
    got = sorted(scheme.open(url), key=lambda r: r[0])
    assert got == [("a", "1"), ("a", "2"), ("a", "3"), ("b", "x")]


def test_bytes_with_disco_text_inputs_bytes(redis_server, fill, scheme, monkeypatch):
    url = fill(redis_server, 0, [("k", b"\xff\x00v")])
    monkeypatch.setenv("DISCO_TEXT_INPUTS", "bytes")
    assert list(scheme.open(url)) == [(b"k", b"\xff\x00v")]


def test_a_key_that_is_not_a_list_is_named(redis_server, scheme):
    redis_server.client(2).set("plain", "string")
    with pytest.raises(DiscoError) as err:
        list(scheme.open(redis_server.url(2)))
    assert "'plain'" in str(err.value) and "does not hold a list" in str(err.value)


@pytest.mark.parametrize("url", ["redis://", "redis://h:x:0", "redis://h:1:2:3", "redis://h:0:1",
                                 "redis://h:6379:-1", "http://h:1:0"])
def test_bad_urls_say_the_form(scheme, url):
    with pytest.raises(DiscoError) as err:
        scheme.open(url)
    assert url in str(err.value) and "redis://HOST:PORT:DB" in str(err.value)


def test_a_server_that_is_not_there_is_a_data_error():
    from disco_core.plugins import PluginHost
    url = "redis://127.0.0.1:%d:0" % free_port()
    with pytest.raises(DataError) as err:
        PluginHost().driver("scheme", "redis").open(url)
    assert err.value.url == url and "cannot be reached" in str(err.value)


def test_a_server_that_goes_away_while_read_is_a_data_error(redis_server, fill, scheme):
    url = fill(redis_server, 0, [("k%d" % i, "v") for i in range(1000)])
    records = iter(scheme.open(url))
    next(records)
    redis_server.kill()
    with pytest.raises(DataError) as err:
        list(records)
    assert err.value.url == url and "went away" in str(err.value)


def test_a_server_restarted_while_read_is_an_error_not_missing_keys(redis_server, fill, scheme):
    records = [("k%d" % i, "v") for i in range(1000)]
    url = fill(redis_server, 0, records)
    stream = iter(scheme.open(url))
    next(stream)
    redis_server.kill()
    redis_server.start()  # the same port and data, but SCAN's cursor means nothing there
    fill(redis_server, 0, records)
    with pytest.raises(DataError) as err:
        list(stream)
    assert "lost part-way" in str(err.value)


# -- the output and intermediate streams, as disco.schemes.scheme_redis names them ---------

def test_output_stream_appends_in_one_transaction(redis_server, tmp_path):
    from disco.schemes.scheme_redis import redis_output_stream
    redis_server.client(4).rpush("w", "old")
    path = str(tmp_path / "out-0")
    out = redis_output_stream(None, 0, path, {"url": redis_server.url(4)})
    for i in range(3):
        out.add("w", i)
        out.add(b"z", "\u00e9")
    assert redis_server.client(4).lrange("w", 0, -1) == [b"old"]  # nothing before close
    out.close()
    client = redis_server.client(4)
    assert client.lrange("w", 0, -1) == [b"old", b"0", b"1", b"2"]
    assert client.lrange("z", 0, -1) == [b"\xc3\xa9"] * 3
    with open(path) as f:
        assert f.read() == redis_server.url(4) + "\n"


def test_output_stream_needs_params_url(tmp_path):
    from disco.schemes.scheme_redis import redis_output_stream
    with pytest.raises(DiscoError) as err:
        redis_output_stream(None, 0, str(tmp_path / "o"), {})
    assert "params['url']" in str(err.value)


def test_values_redis_cannot_store_are_refused(redis_server, tmp_path):
    from disco.schemes.scheme_redis import redis_output_stream
    out = redis_output_stream(None, 0, str(tmp_path / "o"), {"url": redis_server.url(1)})
    with pytest.raises(DiscoError) as err:
        out.add("k", {"a": 1})
    assert "dict" in str(err.value) and "encode it first" in str(err.value)
    out.abort()


def test_server_gone_at_close_writes_nothing_and_no_output_file(redis_server, tmp_path):
    from disco.schemes.scheme_redis import redis_output_stream
    path = tmp_path / "out-0"
    out = redis_output_stream(None, 0, str(path), {"url": redis_server.url(0)})
    out.add("k", "v")
    redis_server.kill()
    with pytest.raises(DataError) as err:
        out.close()
    assert "none of it was written" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no output file, not even a partial one


def test_intermediate_streams_round_trip(redis_server, tmp_path):
    import functools

    from disco.schemes.scheme_redis import redis_inter_stream_in, redis_inter_stream_out
    from disco_core.worker.task_io import task_input_stream
    redis_server.client(5).rpush("stale", "from an earlier try")
    path = str(tmp_path / "map-out-0")
    out = functools.partial(redis_inter_stream_out,
                            redis_server=lambda part, url, params: redis_server.url(5 + part))
    stream = out(None, 0, path, None)
    stream.add("word", "1")
    stream.add("word", "1")
    stream.close()
    fd, size, url = task_input_stream(None, None, path)
    records, _size, target = redis_inter_stream_in(fd, size, url, None)
    assert target == redis_server.url(5)
    assert list(records) == [("word", "1"), ("word", "1")]


def test_inter_stream_in_refuses_a_file_without_a_url(tmp_path):
    from disco.schemes.scheme_redis import redis_inter_stream_in
    from disco_core.worker.task_io import task_input_stream
    path = tmp_path / "f"
    path.write_text("not a url\n")
    fd, size, url = task_input_stream(None, None, str(path))
    with pytest.raises(DiscoError) as err:
        redis_inter_stream_in(fd, size, url, None)
    assert "does not hold a redis URL" in str(err.value)


def test_disco_schemes_has_the_original_module():
    import pickle

    import disco.schemes
    import disco.schemes.scheme_redis as mod
    assert disco.schemes.import_scheme("redis://h:1:0") is mod
    fn = pickle.loads(pickle.dumps(mod.redis_output_stream))
    assert repr(fn) == "<disco.schemes.scheme_redis.redis_output_stream>"
    import inspect
    assert list(inspect.signature(fn).parameters) == ["stream", "partition", "url", "params"]


def test_without_the_plugin_the_module_names_the_package(plugin_host, tmp_path):
    from disco.schemes.scheme_redis import redis_output_stream
    from disco_core.errors import PluginError
    plugin_host(entry_points=True, disabled=["disco-plugin-redis"])
    with pytest.raises(PluginError) as err:
        redis_output_stream(None, 0, str(tmp_path / "o"), {"url": "redis://h:1:0"})
    assert "no plugin handles 'redis://': pip install disco-plugin-redis" in str(err.value)
