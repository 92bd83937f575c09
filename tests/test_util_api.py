"""``disco.util`` and ``disco.sysutil`` as a user imports them: URL helpers, input lists,
sorting (in memory with spills, and on disk with the system sort), OOB values and the
memory limit, with an end-to-end job that uses them inside its tasks."""
import functools
import os
import subprocess
import sys
import tempfile

import pytest

import disco.util as util
from disco.core import Disco, Job, result_iterator
from disco.error import DataError, DiscoError
from disco.sysutil import available_memory, parse_mem_limit
from disco.util import (decode, deref, disk_sort, dsorted, encode, globalize, inputexpand,
                        inputlist, ispartitioned, load_oob, localize, netloc, parse_dir,
                        proxy_url, save_oob, sort_reader, unix_sort, urljoin, urlresolve,
                        urlsplit, urltoken)


# -- netloc and URLs -----------------------------------------------------------------------
@pytest.mark.parametrize("text, host, port, shown", [
    ("node1:8989", "node1", "8989", "node1:8989"),
    ("node1", "node1", "", "node1"),
    ("secret@node1:80", "node1", "80", "node1:80"),
    ("user:secret@node1", "node1", "", "node1"),
    ("[::1]:8989", "::1", "8989", "[::1]:8989"),
    ("", "", "", ""),
])
def test_netloc_parse(text, host, port, shown):
    loc = netloc.parse(text)
    assert tuple(loc) == (host, port)
    assert (loc.host, loc.port) == (host, port)
    assert str(loc) == shown
    assert bool(loc) == bool(host)


@pytest.mark.parametrize("bad", ["[::1", "[::1]8989"])
def test_netloc_rejects_malformed_addresses(bad):
    with pytest.raises(DiscoError, match="malformed address"):
        netloc.parse(bad)


def test_a_named_port_is_kept_as_written_until_something_connects_to_it():
    assert urlsplit("http://web:www/a") == ("http", ("web", "www"), "a")
    assert tuple(netloc.parse("node1:http")) == ("node1", "http")
    with pytest.raises(DiscoError, match="port 'www' is not a number"):
        Disco("http://web:www".replace("http://", ""))


def test_urlresolve_wants_the_master_as_a_url():
    with pytest.raises(DiscoError, match="is not a URL: write http://boss:PORT"):
        urlresolve("tag://data", master="boss")


def test_netloc_from_a_pair_and_unpacking():
    host, port = netloc(("h", 9000))
    assert (host, port) == ("h", "9000")
    assert str(netloc(("h", None))) == "h"


def test_urlsplit_and_urljoin(monkeypatch, tmp_path):
    monkeypatch.setenv("DISCO_PORT", "9123")
    assert urlsplit("disco://n1/disco/n1/ab/job/out") == ("http", ("n1", "9123"),
                                                         "disco/n1/ab/job/out")
    assert urlsplit("dir://n1/disco/x", disco_port=77) == ("http", ("n1", "77"), "disco/x")
    assert urlsplit("http://web:81/a/b") == ("http", ("web", "81"), "a/b")
    assert urlsplit("tag://data:big") == ("tag", ("", ""), "data:big")
    assert urlsplit("tag://master2:9000/data") == ("tag", ("master2", "9000"), "data")
    assert urlsplit("tag://tok@/data") == ("tag", ("", ""), "data")
    scheme, loc, path = urlsplit("disco://n1/disco/n1/ab/job/out", localhost="n1",
                                 disco_data=str(tmp_path))
    assert (scheme, loc, path) == ("file", ("", ""), os.path.join(str(tmp_path), "n1/ab/job/out"))
    assert urljoin(urlsplit("http://web:81/a/b")) == "http://web:81/a/b"
    assert urljoin(("http", netloc(("n", 1)), "x")) == "http://n:1/x"
    assert urljoin(("", "", "/tmp/x")) == "/tmp/x"
    assert urlsplit("/tmp/x") == urlsplit("file:///tmp/x") == ("file", ("", ""), "/tmp/x")
    assert urljoin(urlsplit("file:///tmp/x")) == "file:///tmp/x"


def test_localize(monkeypatch, tmp_path):
    assert localize("disco/n1/ab/j/f", disco_data="/data") == "/data/n1/ab/j/f"
    assert localize("ddfs/vol0/blob/ab/b$1", ddfs_data="/ddfs") == "/ddfs/vol0/blob/ab/b$1"
    monkeypatch.setenv("DISCO_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("DDFS_DATA", str(tmp_path / "f"))
    assert localize("disco://n1/disco/n1/x") == str(tmp_path / "d" / "n1" / "x")
    assert localize("disco://n1/ddfs/vol0/y") == str(tmp_path / "f" / "vol0" / "y")
    assert localize("data/n1/x", disco_data="/data") == "/data/n1/x"  # any prefix but ddfs
    with pytest.raises(DiscoError, match="job data paths are disco/PATH"):
        localize("other")
    with pytest.raises(DiscoError, match="leaves"):
        localize("disco/../../etc/passwd", disco_data="/data")
    with pytest.raises(DiscoError, match="only disco://"):
        localize("http://h/disco/x")


def test_urlresolve(monkeypatch):
    monkeypatch.setenv("DISCO_PORT", "9555")
    monkeypatch.setenv("DISCO_MASTER", "http://boss:9555")
    assert urlresolve("tag://data:big") == "http://boss:9555/ddfs/tag/data:big"
    assert urlresolve("tag://data", master="http://m:1") == "http://m:1/ddfs/tag/data"
    assert urlresolve("tag://data", master="disco://m") == "http://m:9555/ddfs/tag/data"
    assert urlresolve("tag://other/data") == "http://other:9555/ddfs/tag/data"
    assert urlresolve("tag://other:77/data") == "http://other:77/ddfs/tag/data"
    assert urlresolve("tag://tok@/data") == "http://boss:9555/ddfs/tag/data"
    assert urlresolve("disco://n1/disco/a/b") == "http://n1:9555/disco/a/b"
    assert urlresolve("dir://n1/disco/a/index") == "http://n1:9555/disco/a/index"
    assert urlresolve("http://web/x?y=1") == "http://web/x?y=1"
    for local in ("/tmp/x", "file:///tmp/x"):
        with pytest.raises(DiscoError, match="names no host"):
            urlresolve(local)


def test_urltoken():
    assert urltoken("tag://secret@/data") == "secret"
    assert urltoken("tag://user:secret@/data") == "secret"
    assert urltoken("tag://@/data") == ""
    assert urltoken("tag://data") is None
    assert urltoken("http://h:1/x") is None


def test_proxy_url(monkeypatch):
    url = "disco://n1/disco/n1/ab/j/out"
    monkeypatch.setenv("DISCO_PROXY", "")
    assert proxy_url(url) == url
    monkeypatch.setenv("DISCO_PROXY", "http://proxy:8999/")
    assert proxy_url(url) == "http://proxy:8999/disco/n1/ab/j/out"
    assert proxy_url(url, to_master=False) == "http://proxy:8999/proxy/n1/GET/disco/n1/ab/j/out"
    assert proxy_url(url, meth="PUT", to_master=False).startswith("http://proxy:8999/proxy/n1/PUT/")
    assert proxy_url("dir://n1/disco/i", proxy="http://p") == "http://p/disco/i"
    assert proxy_url("tag://data") == "tag://data"
    assert proxy_url("http://web/x") == "http://web/x"
    assert proxy_url(url, proxy="") == url


# -- input lists ---------------------------------------------------------------------------
def make_index(server, name, entries):
    """Data files on the data server and a dir:// index naming them (label, relpath, data)."""
    lines = []
    for label, rel, data in entries:
        lines.append("%d %s %d\n" % (label, server.add(rel, data), len(data)))
    return server.add(name, "".join(lines)).replace("disco://", "dir://", 1)


@pytest.fixture
def index(data_server):
    return make_index(data_server, "h/j/index", [(1, "h/j/b1", b"x"), (0, "h/j/a0", b"y"),
                                                 (1, "h/j/a1", b"z")])


def test_parse_dir_and_read_index(index):
    base = "disco://127.0.0.2/disco/h/j/"
    assert util.read_index(index) == [(1, base + "b1", 1), (0, base + "a0", 1),
                                      (1, base + "a1", 1)]
    assert parse_dir(index) == [base + "a0", base + "a1", base + "b1"]
    assert parse_dir(index, label=1) == [base + "a1", base + "b1"]


def test_ispartitioned():
    assert ispartitioned("dir://h/disco/i")
    assert ispartitioned(["dir://h/disco/i", "dir://g/disco/i"])
    assert not ispartitioned("http://h/x")
    assert not ispartitioned(["http://h/x", ["raw://a"]])
    assert not ispartitioned([])
    with pytest.raises(DiscoError, match="mixed partitioned"):
        ispartitioned(["dir://h/disco/i", "http://h/x"])


def test_inputlist_expands_indexes_per_label(index):
    base = "disco://127.0.0.2/disco/h/j/"
    assert inputlist([index]) == [[base + "a0"], [base + "a1"], [base + "b1"]]
    assert inputlist([index], label=1) == [[base + "a1"], [base + "b1"]]
    assert inputlist([index], partition=0) == [[base + "a0"]]
    assert inputlist([index], label=False) == [index]
    assert inputlist(["raw://a", ["http://x/1", "http://y/1"]]) == [
        "raw://a", ["http://x/1", "http://y/1"]]
    assert inputexpand("raw://a") == ["raw://a"]
    with pytest.raises(DiscoError, match="not both"):
        inputlist([index], label=0, partition=1)
    with pytest.raises(DiscoError, match="must be a list"):
        inputlist("raw://a")


def test_a_list_of_indexes_pairs_their_urls_as_replicas(data_server):
    one = make_index(data_server, "h/r1/index", [(0, "h/r1/p", b"a")])
    two = make_index(data_server, "h/r2/index", [(0, "h/r2/p", b"a")])
    assert inputlist([[one, two]]) == [["disco://127.0.0.2/disco/h/r1/p",
                                        "disco://127.0.0.2/disco/h/r2/p"]]


def test_tag_inputs_need_ddfs(plugin_host):
    plugin_host()  # no plugins at all: no tag:// scheme
    with pytest.raises(DiscoError, match="no storage plugin is installed.*tag scheme"):
        inputlist(["tag://data"])


def test_tag_inputs_expand_through_a_tag_scheme_plugin(plugin_host):
    """A minimal tag:// scheme stands in for the DDFS plugin, which is not part of core:
    what inputlist asks of it is ``expand``."""
    class Tags:
        name = "tag"

        def expand(self, url, label="all", task=None):
            assert url == "tag://data"
            return [["disco://a/ddfs/b1", "disco://b/ddfs/b1"], ["disco://a/ddfs/b2"]]

    host = plugin_host()
    host.register_driver("scheme", "tag", Tags())
    assert inputlist(["tag://data", "raw://x"]) == [
        ["disco://a/ddfs/b1", "disco://b/ddfs/b1"], ["disco://a/ddfs/b2"], "raw://x"]


def test_deref(index, monkeypatch):
    base = "disco://127.0.0.2/disco/h/j/"
    assert list(deref([index, "raw://x"])) == [base + "a0", base + "a1", base + "b1", "raw://x"]
    assert list(deref([[index, "http://h/y"]])) == [[base + "a0", base + "a1", base + "b1",
                                                      "http://h/y"]]
    port = os.environ["DISCO_PORT"]
    assert list(deref([index], resolve=True))[0] == "http://127.0.0.2:%s/disco/h/j/a0" % port


# -- small helpers -------------------------------------------------------------------------
def test_globalize_adds_names_a_function_does_not_define():
    namespace = {"already": 1}
    exec("def fn(x):\n    return x + already + added\n", namespace)
    fn = namespace["fn"]
    globalize(fn, {"added": 10, "already": 1000})
    assert fn(1) == 12
    exec("def g(x, y):\n    return x * y * factor\n", namespace)
    part = functools.partial(namespace["g"], 2)
    globalize(part, {"factor": 5})
    assert part(3) == 30
    globalize(len, {"x": 1})  # no globals to give: left alone


def test_dsorted_spills_past_the_buffer(monkeypatch, tmp_path):
    import random
    opened = []
    real = tempfile.TemporaryFile

    def counting(*args, **kwargs):
        opened.append(kwargs.get("dir"))
        return real(*args, **kwargs)
    monkeypatch.setattr(tempfile, "TemporaryFile", counting)
    items = [(random.randrange(50), str(i)) for i in range(5000)]
    assert list(dsorted(items, buffer_size=1000, tempdir=str(tmp_path))) == sorted(items)
    assert len(opened) == 5 and set(opened) == {str(tmp_path)}
    opened.clear()
    assert list(dsorted(iter([3, 1, 2]), buffer_size=1e6)) == [1, 2, 3]
    assert opened == []   # fits the buffer: nothing spilled
    with pytest.raises(DiscoError, match="buffer_size"):
        list(dsorted([1], buffer_size=0))


# -- sorting on disk -----------------------------------------------------------------------
def test_encode_decode_keep_order_and_drop_separators():
    import random
    rnd = random.Random(7)
    samples = [bytes(rnd.choice([0, 1, 2, 10, 11, 12, 0x41, 0xfd, 0xfe, 0xff])
                     for _ in range(rnd.randrange(6))) for _ in range(3000)]
    encoded = [encode(s) for s in samples]
    for e in encoded:
        assert b"\x00" not in e and b"\xff" not in e and b"\n" not in e
    assert [decode(e) for e in encoded] == samples
    assert sorted(samples) == [decode(e) for e in sorted(encoded)]
    assert encode("é") == "é".encode("utf-8")
    with pytest.raises(DataError, match="bad escape"):
        decode(b"abc\x01")


def test_unix_sort_and_sort_reader(tmp_path):
    path = str(tmp_path / "records")
    keys = [b"pear", b"apple\x00x", b"apple", b"\xffz", b"apple"]
    with open(path, "wb") as f:
        for n, k in enumerate(keys):
            f.write(encode(k) + b"\xff" + encode(b"v%d" % n) + b"\x00")
    unix_sort(path, sort_buffer_size="1M")
    with open(path, "rb") as f:
        got = [(decode(k), decode(v)) for k, v in sort_reader(f, path, read_buffer_size=7)]
    assert got == [(b"apple", b"v2"), (b"apple", b"v4"), (b"apple\x00x", b"v1"),
                   (b"pear", b"v0"), (b"\xffz", b"v3")]
    with pytest.raises(DataError, match="no file to sort"):
        unix_sort(str(tmp_path / "missing"))
    with pytest.raises(DiscoError, match="not a size"):
        unix_sort(path, sort_buffer_size="lots")


def test_sort_reader_rejects_a_truncated_file(tmp_path):
    import io
    with pytest.raises(DataError, match="ends inside a record"):
        list(sort_reader(io.BytesIO(b"a\xffb\x00c\xffd"), "f"))


def test_disk_sort_keeps_key_types_and_values(tmp_path):
    class Chatty:
        def __init__(self):
            self.messages = []

        def send(self, name, text):
            self.messages.append((name, text))
    pairs = [("zebra", {"n": 1}), (b"\x00bin", [1, 2]), ("apple", None), ("zebra", 2.5),
             ("é", "accent"), (b"line\nbreak", b"\xff\x00")]
    worker = Chatty()
    out = list(disk_sort(worker, iter(pairs), str(tmp_path / "sortfile"), "1M"))
    assert out == [(b"\x00bin", [1, 2]), ("apple", None), (b"line\nbreak", b"\xff\x00"),
                   ("zebra", {"n": 1}), ("zebra", 2.5), ("é", "accent")]
    assert worker.messages and all(name == "MSG" for name, _ in worker.messages)
    assert not os.path.exists(str(tmp_path / "sortfile.partial"))
    with pytest.raises(DiscoError, match="keys must be bytes or str"):
        list(disk_sort(None, [(1, "x")], str(tmp_path / "bad")))
    assert not os.path.exists(str(tmp_path / "bad"))


# -- memory -----------------------------------------------------------------------------------
def test_parse_mem_limit():
    assert parse_mem_limit("1048576") == 1 << 20
    assert parse_mem_limit(4096) == 4096
    assert parse_mem_limit("512M") == 512 << 20
    assert parse_mem_limit("2g") == 2 << 30
    assert parse_mem_limit("") == 0
    assert parse_mem_limit("50%") == available_memory() // 2
    assert available_memory() == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for bad in ("lots", "150%", -1):
        with pytest.raises(DiscoError, match="memory limit"):
            parse_mem_limit(bad)


def test_set_mem_limit_caps_the_process():
    code = ("import resource\n"
            "from disco.sysutil import set_mem_limit\n"
            "assert set_mem_limit('400M') == 400 << 20\n"
            "assert resource.getrlimit(resource.RLIMIT_AS) == (400 << 20, 400 << 20)\n"
            "assert set_mem_limit('2G') == 400 << 20  # a lower cap is kept\n"
            "try:\n"
            "    block = bytearray(600 << 20)\n"
            "except MemoryError:\n"
            "    print('capped')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "capped"


def test_set_mem_limit_by_share_of_memory():
    code = ("import resource\n"
            "from disco.sysutil import available_memory, set_mem_limit\n"
            "set_mem_limit('10%')\n"
            "print(resource.getrlimit(resource.RLIMIT_AS)[0], available_memory() // 10)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    got, want = map(int, proc.stdout.split())
    assert abs(got - want) <= 1


# -- OOB values and disk_sort in a real job ---------------------------------------------------
def test_oob_values_from_the_client(disco_cluster):
    job = Job().run(input=["raw://a"], map=lambda line, params: [(line, 1)])
    job.wait(timeout=120)
    save_oob(disco_cluster.master, job.name, "client-key", "from the client")
    assert load_oob(disco_cluster.master, job.name, "client-key") == b"from the client"
    hostport = disco_cluster.master[len("http://"):]
    assert load_oob(hostport, job.name, "client-key") == b"from the client"
    with pytest.raises(DiscoError, match="Unknown key"):
        load_oob(disco_cluster.master, job.name, "no-such-key")
    with pytest.raises(DiscoError, match="OOB key"):
        save_oob(disco_cluster.master, job.name, "bad/key", b"x")


def test_a_job_sorts_on_disk_and_stores_oob_values_through_disco_util(disco_cluster):
    def mapper(line, params):
        for word in line.split():
            yield word, 1

    def reducer(iter, params):
        from disco.util import disk_sort, kvgroup, load_oob, save_oob
        master, name = this_master(), this_name()  # noqa: F821
        total = 0
        for word, counts in kvgroup(disk_sort(None, iter, "sort-%s" % this_partition())):  # noqa: F821
            n = sum(counts)
            total += n
            yield word, n
        save_oob(master, name, "total-%s" % this_partition(), str(total))  # noqa: F821
        assert load_oob(master, name, "total-%s" % this_partition()) == str(total).encode()  # noqa: F821

    job = Job().run(input=["raw://pear apple zebra apple", "raw://zebra apple fig"],
                    map=mapper, reduce=reducer, partitions=2)
    results = list(result_iterator(job.wait(timeout=120)))
    assert sorted(results) == [("apple", 3), ("fig", 1), ("pear", 1), ("zebra", 2)]
    disco = disco_cluster.disco
    keys = sorted(disco.oob_list(job.name))
    assert keys == ["total-0", "total-1"]
    assert sum(int(load_oob(disco_cluster.master, job.name, k)) for k in keys) == 7
    # each reduce task's output came out of the system sort in key order
    outputs = job.wait(timeout=120)
    assert len(outputs) == 2
    for output in outputs:
        words = [w for w, _ in result_iterator([output])]
        assert words == sorted(words)


# -- kvgroup ---------------------------------------------------------------------------------
def test_kvgroup_groups_consecutive_keys_only_and_takes_pairs_of_any_kind():
    pairs = [("a", 1), ["a", 2], ("b", 3), ("a", 4), ((1, 2), "t"), ((1, 2), "u")]
    got = [(k, list(vs)) for k, vs in util.kvgroup(pairs)]
    assert got == [("a", [1, 2]), ("b", [3]), ("a", [4]), ((1, 2), ["t", "u"])]
    groups = util.kvgroup(iter(sorted([("y", 2), ("x", 1), ("y", 1)])))
    key, values = next(groups)
    assert key == "x" and next(values) == 1  # values come as an iterator
    assert [(k, sum(vs)) for k, vs in groups] == [("y", 3)]
    assert list(util.kvgroup([])) == []
