"""The discodb:// scheme against the scheme contract, its methods and its output stream, on
DiscoDB files served by a real node data server."""
import io
import itertools

import pytest

from disco_core.errors import DataError, DiscoError
from disco_core.testing import SchemeContract


def discodb_bytes(records):
    from discodb import DiscoDBConstructor
    c = DiscoDBConstructor()
    for key, value in records:
        c.add(key.encode("utf-8") if isinstance(key, str) else key,
              value.encode("utf-8") if isinstance(value, str) else value)
    return c.finalize().dumps()


@pytest.fixture
def put(data_server):
    """``put(records, method="")``: a DiscoDB of the records on the data server; its URL."""
    names = itertools.count()

    def put(records, method=""):
        url = data_server.add("ddb/db-%d" % next(names), discodb_bytes(records))
        return "discodb://%s%s" % (url.split("://", 1)[1], "!" + method if method else "")
    return put


class TestDiscoDBScheme(SchemeContract):
    scheme = "discodb"
    records = True

    @pytest.fixture
    def url_for(self, put):
        return lambda records: put(records, "items")

    @pytest.fixture
    def missing_url(self, data_server):
        return "discodb://%s/disco/ddb/not-there.ddb" % data_server.host

    def same(self, got, data):
        """``!items`` gives ``(key, [values])``; a DiscoDB keeps a key's values in an
        order of its own, so they are compared as lists sorted."""
        pairs = [(key, value) for key, values in got for value in values]
        return super().same(sorted(pairs), sorted(data))


@pytest.fixture
def scheme():
    from disco_core.plugins import PluginHost
    return PluginHost().driver("scheme", "discodb")


RECORDS = [("cat", "doc1"), ("cat", "doc2"), ("hat", "doc2"), ("mat", "doc3")]


@pytest.mark.parametrize("method, expected", [
    ("", ["cat", "hat", "mat"]),
    ("keys", ["cat", "hat", "mat"]),
    ("values", ["doc1", "doc2", "doc2", "doc3"]),
    ("unique_values", ["doc1", "doc2", "doc3"]),
    ("items", [("cat", ["doc1", "doc2"]), ("hat", ["doc2"]), ("mat", ["doc3"])]),
    ("query/cat,mat", ["doc1", "doc2", "doc3"]),
    ("query/cat/hat", ["doc2"]),
    ("query/~cat", ["doc3"]),  # the values that are not among cat's
    ("metaquery/cat", [("cat", ["doc1", "doc2"])]),
])
def test_the_methods_of_the_url(put, scheme, method, expected):
    got = list(scheme.open(put(RECORDS, method)))
    assert sorted(got) == sorted(expected)


def test_bytes_with_disco_text_inputs_bytes(put, scheme, monkeypatch):
    monkeypatch.setenv("DISCO_TEXT_INPUTS", "bytes")
    url = put([(b"k\xff", b"\x00v")], "items")
    assert list(scheme.open(url)) == [(b"k\xff", [b"\x00v"])]


def test_the_discodbs_own_methods_are_there_for_a_map_reader(put, scheme):
    db = scheme.open(put(RECORDS))
    assert sorted(db.query("cat & hat")) == [b"doc2"]
    assert sorted(db.keys()) == [b"cat", b"hat", b"mat"]


def test_a_file_that_is_not_a_discodb_is_a_data_error(data_server, scheme):
    url = "discodb://%s" % data_server.add("ddb/text", b"just text\n").split("://", 1)[1]
    with pytest.raises(DataError) as err:
        scheme.open(url)
    assert "not a DiscoDB" in str(err.value) and err.value.url == url


@pytest.mark.parametrize("url, words", [
    ("discodb://", "HOST/PATH"), ("discodb://host", "HOST/PATH"),
    ("discodb://host/p!nosuch", "'nosuch' is not a method"),
    ("discodb://host/p!query", "query needs a query"),
    ("http://host/p", "not a discodb:// URL"),
])
def test_bad_urls_say_the_form(scheme, url, words):
    with pytest.raises(DiscoError) as err:
        scheme.open(url)
    assert not isinstance(err.value, DataError)
    assert words in str(err.value) and "discodb://HOST/PATH[!METHOD[/ARG]]" in str(err.value)


# -- the output stream --------------------------------------------------------------------

def test_discodb_output_writes_a_discodb_at_close():
    from discodb import DiscoDB

    from disco.schemes.scheme_discodb import discodb_output
    out = io.BytesIO()
    w = discodb_output(out, 0, "/tmp/out", {})
    w.add("cat", 1)
    w.add("cat", "two")
    w.add(b"\xff", b"v")
    assert out.getvalue() == b""
    w.close()
    db = DiscoDB.loads(out.getvalue())
    assert sorted(db[b"cat"]) == [b"1", b"two"] and list(db[b"\xff"]) == [b"v"]


def test_discodb_output_takes_the_discodbs_flags():
    from discodb import DiscoDB

    from disco.schemes.scheme_discodb import discodb_output
    for params, values in [({}, [b"1", b"1"]), ({"unique_items": True}, [b"1"])]:
        out = io.BytesIO()
        w = discodb_output(out, 0, "/tmp/out", params)
        w.add("k", "1")
        w.add("k", "1")
        w.close()
        assert list(DiscoDB.loads(out.getvalue())[b"k"]) == values


def test_discodb_stream_is_the_task_file_then_the_discodb(tmp_path):
    from discodb import DiscoDB

    from disco.schemes.scheme_discodb import discodb_stream
    from disco_core.worker.inout import open_output_chain
    path = str(tmp_path / "reduce-0")
    streams = open_output_chain(discodb_stream, 0, path, None)
    streams[-1].add("a", "b")
    for stream in reversed(streams):
        stream.close()
    with open(path, "rb") as f:
        assert list(DiscoDB.loads(f.read())[b"a"]) == [b"b"]


def test_discodb_output_alone_says_to_put_the_task_file_first():
    from disco.schemes.scheme_discodb import discodb_output
    w = discodb_output(None, 0, "/tmp/out", None)
    w.add("a", "b")
    with pytest.raises(DiscoError) as err:
        w.close()
    assert "task_output_stream" in str(err.value)


def test_disco_schemes_has_the_module():
    import disco.schemes
    import disco.schemes.scheme_discodb as mod
    assert disco.schemes.import_scheme("discodb://h/p") is mod
