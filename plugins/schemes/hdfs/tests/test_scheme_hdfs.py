"""The hdfs:// scheme against the scheme contract and the WebHDFS protocol, on the protocol
fixture server (a namenode and a datanode; not a real HDFS)."""
import itertools

import pytest

from disco_core.errors import DataError, DiscoError
from disco_core.testing import SchemeContract, free_port


class TestHDFSScheme(SchemeContract):
    scheme = "hdfs"

    @pytest.fixture
    def url_for(self, webhdfs):
        names = itertools.count()
        return lambda data: webhdfs.put("/data/input-%d" % next(names), data)

    @pytest.fixture
    def missing_url(self, webhdfs):
        return webhdfs.url("/data/not-there")


@pytest.fixture
def scheme():
    from disco_core.plugins import PluginHost
    return PluginHost().driver("scheme", "hdfs")


def test_open_follows_the_namenodes_redirect_to_the_datanode(webhdfs, scheme):
    url = webhdfs.put("/logs/day1", b"one\ntwo\n")
    stream = scheme.open(url)
    assert stream.read() == b"one\ntwo\n" and stream.size == 8
    stream.close()
    (asked,) = webhdfs.of("namenode", "OPEN")
    (served,) = webhdfs.of("datanode", "OPEN")
    assert asked["path"] == served["path"] == "/logs/day1"
    assert "namenoderpcaddress" in served["query"]  # it came by the namenode's Location


def test_a_read_cut_off_goes_on_from_the_byte_it_stopped_at(webhdfs, scheme):
    data = bytes(range(256)) * 4000  # ~1 MB
    url = webhdfs.put("/big", data)
    webhdfs.cut_reads = [100000, 250000]  # two datanode reads die part-way
    stream = scheme.open(url)
    assert stream.read() == data
    stream.close()
    offsets = [r["query"].get("offset") for r in webhdfs.of("datanode", "OPEN")]
    assert offsets == [None, "100000", "350000"]


def test_a_datanode_that_keeps_dying_is_a_data_error(webhdfs, scheme):
    url = webhdfs.put("/flaky", b"x" * 100000)
    webhdfs.cut_reads = [1000] + [0] * 20  # after 1000 bytes, not one more
    stream = scheme.open(url)
    with pytest.raises(DataError) as err:
        stream.read()
    assert "dropped at byte" in str(err.value) and url in str(err.value)


def test_a_directory_is_its_files_in_name_order_without_hidden_ones(webhdfs, scheme):
    webhdfs.put("/out/part-00001", b"second\n")
    webhdfs.put("/out/part-00000", b"first\n")
    webhdfs.put("/out/_SUCCESS", b"")
    webhdfs.put("/out/.part-00000.crc", b"crc")
    webhdfs.put("/out/sub/part-9", b"not read\n")
    stream = scheme.open(webhdfs.url("/out"))
    assert stream.read() == b"first\nsecond\n" and stream.size == 13
    assert webhdfs.of("namenode", "LISTSTATUS")


def test_missing_files_name_the_namenodes_exception(webhdfs, scheme):
    url = webhdfs.url("/nothing/here")
    with pytest.raises(DataError) as err:
        scheme.open(url)
    text = str(err.value)
    assert "FileNotFoundException: File does not exist: /nothing/here" in text
    assert err.value.url == url and err.value.exception == "FileNotFoundException"


def test_a_namenode_that_is_not_there_is_a_data_error():
    from disco_core.plugins import PluginHost
    url = "hdfs://127.0.0.1:%d/x" % free_port()
    with pytest.raises(DataError) as err:
        PluginHost().driver("scheme", "hdfs").open(url)
    assert err.value.url == url and "cannot be reached" in str(err.value)


def test_the_user_setting_is_sent(webhdfs, scheme, monkeypatch):
    url = webhdfs.put("/u", b"data")
    monkeypatch.setenv("DISCO_HDFS_USER", "analyst")
    scheme.open(url).read()
    assert {r["user"] for r in webhdfs.requests} == {"analyst"}
    monkeypatch.delenv("DISCO_HDFS_USER")
    webhdfs.requests.clear()
    scheme.open(url).read()
    assert {r["user"] for r in webhdfs.requests} == {None}


@pytest.mark.parametrize("url", ["hdfs://", "hdfs://nn:50070", "hdfs://nn:50070/",
                                 "hdfs://nn:x/p", "hdfs://:1/p", "http://nn:1/p"])
def test_bad_urls_say_the_form(scheme, url):
    with pytest.raises(DiscoError) as err:
        scheme.open(url)
    assert not isinstance(err.value, DataError)
    assert url in str(err.value) and "hdfs://NAMENODE:PORT/PATH" in str(err.value)


def test_the_port_defaults_to_50070():
    from disco_plugin_hdfs.webhdfs import parse_url
    assert parse_url("hdfs://nn/a/b") == ("nn", 50070, "/a/b")
    assert parse_url("hdfs://nn:9870/a%20b") == ("nn", 9870, "/a b")


def test_a_path_with_a_space_and_a_percent(webhdfs, scheme, tmp_path):
    from disco_plugin_hdfs.webhdfs import WebHDFS
    webhdfs.put("/my logs/100% day.txt", b"odd names")
    url = webhdfs.url("/my%20logs/100%25%20day.txt")
    assert scheme.open(url).read() == b"odd names"
    source = tmp_path / "f"
    source.write_bytes(b"x")
    client, _path = WebHDFS.of(url)
    assert client.create("/out/a b", str(source)) == webhdfs.url("/out/a%20b")
    assert webhdfs.read("/out/a b") == b"x"


# -- results saved to HDFS -------------------------------------------------------------

def test_save_outputs_writes_each_output_under_the_jobs_folder(webhdfs, scheme, tmp_path):
    files = []
    for n, data in enumerate([b"first output", b"second"]):
        path = tmp_path / ("out-%d" % n)
        path.write_bytes(data)
        files.append((n + 3, str(path), len(data)))
    info = "hdfs,%s,alice,/results" % webhdfs.address
    saved = scheme.save_outputs(info, "Count@5a3:1b:2c", 7, files)
    assert saved == [(3, webhdfs.url("/results/Count_5a3_1b_2c/7_0"), 12),
                     (4, webhdfs.url("/results/Count_5a3_1b_2c/7_1"), 6)]
    assert webhdfs.read("/results/Count_5a3_1b_2c/7_0") == b"first output"
    assert webhdfs.owners["/results/Count_5a3_1b_2c/7_1"] == "alice"
    # the data went to the datanode only, after the namenode's redirect
    assert [r["body"] for r in webhdfs.of("namenode", "CREATE")] == [0, 0]
    assert [r["body"] for r in webhdfs.of("datanode", "CREATE")] == [12, 6]
    # a retried task overwrites what an earlier try saved
    (tmp_path / "out-0").write_bytes(b"again")
    scheme.save_outputs(info, "Count@5a3:1b:2c", 7, files[:1])
    assert webhdfs.read("/results/Count_5a3_1b_2c/7_0") == b"again"


def test_save_outputs_refused_by_the_namenode_is_a_data_error(webhdfs, scheme, tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"x")
    webhdfs.read_only.add("/locked")
    with pytest.raises(DataError) as err:
        scheme.save_outputs("hdfs,%s,bob,/locked/" % webhdfs.address, "J@1:2:3", 0,
                            [(0, str(path), 1)])
    assert "AccessControlException: Permission denied: user=bob" in str(err.value)
    assert webhdfs.listdir("/") == []


@pytest.mark.parametrize("info", ["hdfs", "hdfs,nn:50070,me", "hdfs,nn,me,/d",
                                  "hdfs,nn:port,me,/d", "hdfs,nn:50070,me,relative/"])
def test_bad_save_info_says_the_form(scheme, info, tmp_path):
    with pytest.raises(DiscoError) as err:
        scheme.save_outputs(info, "J@1:2:3", 0, [(0, str(tmp_path / "o"), 1)])
    assert not isinstance(err.value, DataError)
    assert repr(info) in str(err.value) and "hdfs,NAMENODE:PORT,USER,/DIR/" in str(err.value)


def test_the_storage_hook_answers_for_hdfs_save_info_only():
    from disco_plugin_hdfs import hooks
    assert hooks.disco_results_storage("hdfs,nn:1,u,/d/") == "hdfs"
    assert hooks.disco_results_storage("ddfs") is None
    assert hooks.disco_save_outputs("ddfs", "J@1:2:3", "reduce", 0, 0, [(0, "/x", 1)]) is None


def test_disco_schemes_has_a_module_for_hdfs(webhdfs):
    import disco.schemes
    mod = disco.schemes.import_scheme("hdfs://nn:1/x")
    assert mod.__name__ == "disco.schemes.scheme_hdfs"
    url = webhdfs.put("/m", b"via the module")
    assert mod.open(url).read() == b"via the module"
