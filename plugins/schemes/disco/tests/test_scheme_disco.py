"""disco:// and dir:// against the scheme contract: local files read directly, other
nodes' files over HTTP from a real data server, and index files expanded by label."""
import gzip
import itertools
import os
import types

import pytest

from disco_core.errors import DataError
from disco_core.testing import DataServer, SchemeContract, free_port


@pytest.fixture
def local_data(tmp_path, monkeypatch):
    """DISCO_DATA and DDFS_DATA of "this node"; DISCO_PORT points where nothing listens, so
    a read that went over HTTP instead of to the local file would fail."""
    disco_data = tmp_path / "local-disco"
    ddfs_data = tmp_path / "local-ddfs"
    disco_data.mkdir()
    ddfs_data.mkdir()
    monkeypatch.setenv("DISCO_DATA", str(disco_data))
    monkeypatch.setenv("DDFS_DATA", str(ddfs_data))
    monkeypatch.setenv("DISCO_PORT", str(free_port()))
    return disco_data


def put(base, relpath, data):
    path = os.path.join(str(base), relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


class TestDiscoSchemeLocal(SchemeContract):
    """disco://localhost/... with the file under this machine's DISCO_DATA."""

    scheme = "disco"

    @pytest.fixture
    def url_for(self, local_data):
        counter = itertools.count()

        def make(data):
            rel = "localhost/ab/Job@1:2:3/map-%d" % next(counter)
            put(local_data, rel, data)
            return "disco://localhost/disco/" + rel
        return make


class TestDiscoSchemeOverHTTP(SchemeContract):
    """disco://127.0.0.2/... read from that node's data server."""

    scheme = "disco"

    @pytest.fixture
    def url_for(self, data_server):
        counter = itertools.count()
        return lambda data: data_server.add("127.0.0.2/ab/Job@1:2:3/out-%d" % next(counter), data)

    @pytest.fixture
    def missing_url(self, data_server):
        return "disco://127.0.0.2/disco/127.0.0.2/ab/Job@1:2:3/no-such-output"


@pytest.fixture
def disco():
    from disco_core.plugins import PluginHost
    return PluginHost().driver("scheme", "disco")


@pytest.fixture
def dir_scheme():
    from disco_core.plugins import PluginHost
    return PluginHost().driver("scheme", "dir")


def task_on(host, disco_data, port=None, ddfs_data=None):
    """What a scheme sees of the task reading the URL (the worker's Task has these)."""
    return types.SimpleNamespace(host=host, disco_data=str(disco_data),
                                 ddfs_data=str(ddfs_data or disco_data), disco_port=port)


def test_local_shortcut_opens_the_file_itself(local_data, disco):
    path = put(local_data, "localhost/j/file", b"local bytes")
    with disco.open("disco://localhost/disco/localhost/j/file") as f:
        assert os.path.samefile(f.name, path)  # the file, not an HTTP response
        assert f.read() == b"local bytes" and f.size == 11


def test_ddfs_paths_map_to_ddfs_data(local_data, disco, tmp_path):
    put(tmp_path / "local-ddfs", "vol0/blob/ab/b$1", b"a blob")
    with disco.open("disco://localhost/ddfs/vol0/blob/ab/b$1") as f:
        assert f.read() == b"a blob"


def test_a_task_reads_files_of_its_own_host_locally(tmp_path, disco):
    data = tmp_path / "node-data"
    put(data, "node9/x/out", b"mine")
    task = task_on("node9", data, port=free_port())
    with disco.open("disco://node9/disco/node9/x/out", task) as f:
        assert f.read() == b"mine"
    with pytest.raises(DataError) as err:
        disco.open("disco://node9/disco/node9/x/missing", task)
    assert "no such file on node9" in str(err.value)
    assert err.value.url == "disco://node9/disco/node9/x/missing"


def test_a_task_reads_other_hosts_over_http(data_server, disco, tmp_path):
    url = data_server.add("127.0.0.2/x/out", b"remote bytes")
    # the task's own data dir holds a file of the same path: it must not be read
    put(tmp_path / "mine", "127.0.0.2/x/out", b"WRONG")
    task = task_on("node1", tmp_path / "mine", port=data_server.port)
    with disco.open(url, task) as f:
        assert f.read() == b"remote bytes"


def test_a_task_reads_other_hosts_ddfs_paths_over_http(disco, tmp_path, monkeypatch):
    # the storage plugin's node routes serve /ddfs/ the way core serves /disco/
    server = DataServer(str(tmp_path / "remote"), prefixes=("disco", "ddfs"))
    try:
        monkeypatch.setenv("DISCO_PORT", str(server.port))
        task = task_on("node1", tmp_path / "mine", port=server.port)
        ddfs_url = server.add("vol0/blob/cd/b$2", b"remote blob", prefix="ddfs")
        assert ddfs_url == "disco://127.0.0.2/ddfs/vol0/blob/cd/b$2"
        with disco.open(ddfs_url, task) as f:
            assert f.read() == b"remote blob"
    finally:
        server.close()


def test_the_data_server_refuses_paths_outside_its_root(data_server, disco):
    with pytest.raises(DataError) as err:
        disco.open("disco://127.0.0.2/disco/../../etc/passwd").read()
    assert err.value.code in (400, 403, 404)


def test_malformed_urls(disco):
    for url in ("disco://", "disco://hostonly", "disco:///path"):
        with pytest.raises(DataError) as err:
            disco.open(url)
        assert "malformed URL" in str(err.value) and err.value.url == url


# -- dir:// index files --------------------------------------------------------------------

def make_index(server, name, entries, gz=False):
    """Data files and an index naming them: entries are (label, relpath, data)."""
    lines = []
    for label, rel, data in entries:
        url = server.add(rel, data)
        lines.append("%d %s %d\n" % (label, url, len(data)))
    text = "".join(lines).encode()
    return server.add(name, gzip.compress(text) if gz else text).replace("disco://", "dir://", 1)


ENTRIES = [(0, "h/j/map-0-0", b"zero a\n"), (2, "h/j/map-0-2", b"two a\n"),
           (1, "h/j/map-1-1", b"one b\n"), (2, "h/j/map-1-2", b"two b\n")]


@pytest.mark.parametrize("gz", [False, True])
def test_dir_index_expands_by_label(data_server, dir_scheme, gz):
    url = make_index(data_server, "h/j/index" + (".gz" if gz else ""), ENTRIES, gz=gz)
    assert url.startswith("dir://127.0.0.2/disco/")
    urls = {rel: "disco://127.0.0.2/disco/" + rel for _, rel, _ in ENTRIES}
    assert dir_scheme.expand(url, 2) == [urls["h/j/map-0-2"], urls["h/j/map-1-2"]]
    assert dir_scheme.expand(url, 1) == [urls["h/j/map-1-1"]]
    assert dir_scheme.expand(url, 7) == []
    assert dir_scheme.expand(url, "all") == [urls[rel] for _, rel, _ in ENTRIES]
    assert list(dir_scheme.read_index(url)) == [(lab, urls[rel], len(d)) for lab, rel, d in ENTRIES]


def test_dir_index_through_the_worker(data_server):
    from disco_core.worker import dataio
    url = make_index(data_server, "h/j/index", ENTRIES)
    assert dataio.is_index(url) and not dataio.is_index("disco://127.0.0.2/disco/h/j/map-0-0")
    assert len(dataio.expand(url, 2)) == 2
    assert dataio.expand("raw://x", 2) == ["raw://x"]
    with dataio.open_url(dataio.expand(url, 0)[0]) as f:
        assert f.read() == b"zero a\n"


def test_opening_a_dir_url_reads_every_file_in_turn(data_server, dir_scheme):
    url = make_index(data_server, "h/j/index", ENTRIES)
    stream = dir_scheme.open(url)
    assert stream.size == sum(len(d) for _, _, d in ENTRIES)
    assert stream.read() == b"".join(d for _, _, d in ENTRIES)
    stream.close()


def test_opening_a_dir_url_streams(data_server, dir_scheme):
    big = os.urandom(1 << 20)
    url = make_index(data_server, "h/j/index", [(0, "h/j/a", big), (0, "h/j/b", b"tail")])
    # the last file is gone: the first one is still read before the error shows
    os.remove(os.path.join(data_server.disco_data, "h/j/b"))
    stream = dir_scheme.open(url)
    assert stream.read(len(big)) == big
    with pytest.raises(DataError) as err:
        stream.read()
    assert "h/j/b" in str(err.value)
    stream.close()


def test_a_local_dir_index(local_data, dir_scheme):
    put(local_data, "localhost/j/d0", b"local zero\n")
    put(local_data, "localhost/j/d1", b"local one\n")
    put(local_data, "localhost/j/index", b"0 disco://localhost/disco/localhost/j/d0 11\n"
                                          b"1 disco://localhost/disco/localhost/j/d1 10\n")
    url = "dir://localhost/disco/localhost/j/index"
    assert dir_scheme.expand(url, 1) == ["disco://localhost/disco/localhost/j/d1"]
    with dir_scheme.open(url) as f:
        assert f.read() == b"local zero\nlocal one\n"


def test_a_bad_index_line_is_named(data_server, dir_scheme):
    url = data_server.add("h/j/badindex", b"0 disco://h/x 1\nthis is not an index line\n")
    url = url.replace("disco://", "dir://", 1)
    with pytest.raises(DataError) as err:
        dir_scheme.expand(url, 0)
    assert "bad line 2 in index file" in str(err.value) and err.value.url == url
