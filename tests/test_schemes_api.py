"""``disco.schemes``: the original's scheme modules on top of the scheme plugins, as units
over local, HTTP and data-server inputs, and in jobs on a real cluster."""
import io
import pickle

import pytest

import disco.schemes
from disco.error import DiscoError
from disco_core.errors import PluginError

MODULES = {"disco://h/disco/x": "disco", "dir://h/disco/x": "dir", "file:///tmp/x": "file",
           "/tmp/x": "file", "relative/path": "file", "http://h/x": "http",
           "https://h/x": "https", "raw://x": "raw", "url://h/x": "url"}


def write_records(path, records):
    from disco_core.plugins import driver
    with open(path, "wb") as f:
        writer = driver("writer", "chain")(f, 0, str(path), None)
        for k, v in records:
            writer.add(k, v)
        writer.close()
    return path


@pytest.mark.parametrize("url, name", sorted(MODULES.items()))
def test_import_scheme_gives_the_schemes_module(url, name):
    import importlib
    mod = disco.schemes.import_scheme(url)
    assert mod is importlib.import_module("disco.schemes.scheme_%s" % name)
    assert callable(mod.open) and callable(mod.input_stream)


@pytest.mark.parametrize("scheme", ["s3", "svn+ssh"])
def test_schemes_without_a_plugin_give_the_plugin_hosts_error(scheme):
    from disco_core.plugins import get_host
    with pytest.raises(PluginError) as err:
        disco.schemes.import_scheme("%s://host/path" % scheme)
    assert str(err.value) == get_host().unknown_message("scheme", scheme)
    assert "no plugin handles '%s://'" % scheme in str(err.value)
    assert "pip install disco-plugin-%s" % scheme in str(err.value)
    with pytest.raises(PluginError):
        disco.schemes.open("%s://host/path" % scheme)


def test_a_scheme_with_a_plugin_but_no_module_gets_one(plugin_host):
    class MemScheme:
        def open(self, url, task=None):
            data = url.split("://", 1)[1][::-1].encode()
            stream = io.BytesIO(data)
            stream.size = len(data)
            return stream
    host = plugin_host(entry_points=True)
    host.register_driver("scheme", "mem", MemScheme())
    mod = disco.schemes.import_scheme("mem://olleh")
    assert mod.__name__ == "disco.schemes.scheme_mem"
    assert mod is disco.schemes.import_scheme("mem://other")
    assert mod.open("mem://olleh").read() == b"hello"
    stream, size, url = disco.schemes.input_stream(None, None, "mem://2\n1", None)
    assert (list(stream), size, url) == (["1\n", "2"], 3, "mem://2\n1")


def test_open_reads_through_the_plugin(tmp_path, http_server):
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00bytes\xff")
    assert disco.schemes.open(str(path)).read() == b"\x00bytes\xff"
    assert disco.schemes.open("file://%s" % path).read() == b"\x00bytes\xff"
    assert disco.schemes.open(http_server.add("h.txt", b"over http")).read() == b"over http"
    assert disco.schemes.open("raw://after the scheme").read() == b"after the scheme"
    assert disco.schemes.open("url://h/p?q=1").read() == b"url://h/p?q=1"
    from disco.schemes import scheme_http
    assert scheme_http.open(http_server.url("h.txt")).read() == b"over http"


def test_a_missing_file_is_a_data_error_naming_it(tmp_path):
    from disco.error import DataError
    with pytest.raises(DataError) as err:
        disco.schemes.open(str(tmp_path / "nowhere.txt"))
    assert "nowhere.txt" in str(err.value)


def test_input_stream_gives_text_lines_with_the_bytes_under_them(http_server):
    url = http_server.add("lines.txt", "one\nt\u00e9o\n".encode())
    stream, size, got_url = disco.schemes.input_stream(None, None, url, None)
    assert got_url == url and size in (None, 9)
    assert list(stream) == ["one\n", "t\u00e9o\n"]
    from disco.schemes import scheme_raw
    stream, size, _ = scheme_raw.input_stream(None, None, "raw://\xff\u00e9", None)
    assert stream.buffer.read() == "\xff\u00e9".encode() and size == 4


def test_open_chain_reads_records(tmp_path, http_server):
    records = [("k%d" % i, {"v": i}) for i in range(100)]
    path = write_records(tmp_path / "part-0", records)
    assert list(disco.schemes.open_chain(str(path))) == records
    url = http_server.add("part-0", path.read_bytes())
    assert list(disco.schemes.open_chain(url)) == records


@pytest.fixture
def index(data_server):
    """An index of three record files on a node's data server: labels 0, 1, 1."""
    from disco_core.plugins import driver
    urls = []
    for n, (label, records) in enumerate([(0, [("a", 0)]), (1, [("b", 1)]), (1, [("c", 2)])]):
        buf = io.BytesIO()
        writer = driver("writer", "chain")(buf, label, "mem://", None)
        for k, v in records:
            writer.add(k, v)
        writer.close()
        urls.append((label, data_server.add("job/part-%d" % n, buf.getvalue()),
                     len(buf.getvalue())))
    text = "".join("%d %s %d\n" % u for u in urls)
    url = data_server.add("job/index", text).replace("disco://", "dir://")
    return url, urls


def test_scheme_dir_reads_and_expands_the_index(index):
    from disco.schemes import scheme_dir
    url, urls = index
    assert disco.schemes.import_scheme(url) is scheme_dir
    assert scheme_dir.read_index(url) == urls
    assert scheme_dir.expand(url) == [u for _l, u, _s in urls]
    assert scheme_dir.expand(url, 1) == [urls[1][1], urls[2][1]]
    assert list(scheme_dir.input_stream(None, None, url, None)) == [("a", 0), ("b", 1),
                                                                   ("c", 2)]
    assert list(disco.schemes.open_chain(url)) == [("a", 0), ("b", 1), ("c", 2)]


def test_scheme_dir_input_stream_keeps_the_running_tasks_label(index, data_server,
                                                               monkeypatch):
    import disco_core.worker.task
    from disco.schemes import scheme_dir
    from disco.task import Task
    url, _urls = index
    task = Task(host="elsewhere", disco_port=data_server.port, grouping="group_label",
                group=[1, ""], stage="reduce")
    monkeypatch.setattr(disco_core.worker.task, "_active_task", task)
    assert list(scheme_dir.input_stream(None, None, url, None)) == [("b", 1), ("c", 2)]
    task.grouping = "split"  # not grouped by label: every file
    assert list(scheme_dir.input_stream(None, None, url, None)) == [("a", 0), ("b", 1),
                                                                   ("c", 2)]


def test_scheme_functions_pickle_by_name():
    from disco.schemes import scheme_dir, scheme_http
    fn = pickle.loads(pickle.dumps(scheme_http.input_stream))
    assert fn.__self__.name == "http"
    assert pickle.loads(pickle.dumps(scheme_dir.expand)).__self__.name == "dir"


def test_the_schemes_package_names_only_the_originals_functions():
    assert sorted(disco.schemes.__all__) == ["import_scheme", "input_stream", "open",
                                             "open_chain"]
    with pytest.raises(DiscoError):  # a PluginError is a DiscoError
        disco.schemes.import_scheme("nosuch://x")


# -- jobs on a real cluster -------------------------------------------------------------------

def test_a_job_reads_url_inputs(disco_cluster):
    from disco.core import Job, result_iterator
    inputs = ["url://example.com/a?x=1", "url://example.org/b"]
    job = Job().run(input=inputs, map=lambda line, params: [(line, len(line))])
    assert sorted(result_iterator(job.wait(timeout=120))) == sorted((u, len(u)) for u in inputs)


def test_a_job_opens_its_inputs_through_the_scheme_modules(disco_cluster, http_server):
    from disco.core import Job, result_iterator
    from disco.schemes import scheme_url
    url = http_server.add("words.txt", "http words\n")
    job = Job().run(input=["raw://raw words", url],
                    map_input_stream=(disco.schemes.input_stream,),
                    map=lambda line, params: [(w, 1) for w in line.split()])
    assert sorted(result_iterator(job.wait(timeout=120))) == [("http", 1), ("raw", 1), ("words", 1),
                                                   ("words", 1)]
    job = Job().run(input=["url://only/url"], map_input_stream=(scheme_url.input_stream,),
                    map=lambda line, params: [(line, 0)])
    assert list(result_iterator(job.wait(timeout=120))) == [("url://only/url", 0)]
