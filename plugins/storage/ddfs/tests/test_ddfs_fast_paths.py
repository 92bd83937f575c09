"""The ddfs command's quick start and its fast ways of moving bytes, on a real cluster: what
they skip (the plugin host, copies through Python, the master's proxy) and that the bytes
and the behaviour stay the same."""
import json
import os
import subprocess
import sys

import pytest

HEAVY = ("pluggy", "tornado", "asyncio", "paramiko", "disco_core.plugins",
         "disco_plugin_ddfs.gc", "disco_plugin_ddfs.node")


def run(cluster, code, *args, stdout=subprocess.PIPE):
    env = dict(os.environ)
    env.update(cluster.env)
    proc = subprocess.run([sys.executable, "-c", code, *args], stdout=stdout,
                          stderr=subprocess.PIPE, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


def ddfs(cluster, *args, stdout=subprocess.PIPE, check=True):
    exe = os.path.join(os.path.dirname(sys.executable), "ddfs")
    env = dict(os.environ)
    env.update(cluster.env)
    proc = subprocess.run([exe, *args], stdout=stdout, stderr=subprocess.PIPE, env=env,
                          timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


MODULES_AFTER = """
import sys
from disco_plugin_ddfs.cli import main
status = main(sys.argv[1:])
print("MODULES " + " ".join(sorted(sys.modules)), file=sys.stderr)
sys.exit(status)
"""


def modules_of(cluster, *args):
    proc = run(cluster, MODULES_AFTER, *args)
    line = [x for x in proc.stderr.decode().splitlines() if x.startswith("MODULES ")][-1]
    return proc.stdout.decode(), set(line.split()[1:])


def test_a_plain_command_builds_no_plugin_host_and_imports_no_server(disco_cluster):
    ddfs(disco_cluster, "touch", "test:fast:one")
    out, modules = modules_of(disco_cluster, "ls", "test:fast:")
    assert out.split() == ["test:fast:one"]
    assert not [m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY]
    # global options before the subcommand, and abbreviated, still work on the short path
    out, modules = modules_of(disco_cluster, "-M", disco_cluster.master, "--tok", "x", "ls",
                              "test:fast:")
    assert out.split() == ["test:fast:one"] and "disco_core.plugins" not in modules


def test_verbose_and_help_are_what_disco_ddfs_gives(disco_cluster):
    # -v prints every plugin's settings (the GC's too): the whole host is built for it
    verbose = ddfs(disco_cluster, "-v", "ls", "test:nothing:").stdout.decode()
    assert "DDFS_GC_INTERVAL = " in verbose and "DISCO_PORT = " in verbose
    for args in (["ls", "-h"], ["-h"], ["push", "--help"]):
        own = ddfs(disco_cluster, *args).stdout.decode()
        assert own == disco_cluster.cli("ddfs", *args).stdout
    bad = ddfs(disco_cluster, "ls", "--nosuch", check=False)
    assert bad.returncode == 1 and bad.stderr.decode().startswith("ddfs: unrecognized")
    assert "ls" in ddfs(disco_cluster, "-h").stdout.decode()


@pytest.fixture
def blobs(tmp_path):
    """Two files whose sizes are not multiples of any buffer, one over several MB."""
    paths = []
    for name, size in (("big.bin", 3 * 1024 * 1024 + 17), ("small.bin", 4099)):
        path = tmp_path / name
        path.write_bytes(os.urandom(size))
        paths.append(str(path))
    return paths


def test_cat_gives_every_byte_into_a_pipe_a_file_and_a_terminalless_stream(
        disco_cluster, blobs, tmp_path):
    ddfs(disco_cluster, "push", "test:fast:bytes", *blobs)
    order = [os.path.basename(u.split("$")[0]) for u in
             ddfs(disco_cluster, "blobs", "test:fast:bytes").stdout.decode().split()]
    want = b"".join(open(p, "rb").read() for p in sorted(
        blobs, key=lambda p: order.index(os.path.basename(p).replace(".", "_"))))
    assert ddfs(disco_cluster, "cat", "test:fast:bytes").stdout == want  # a pipe
    out = tmp_path / "out.bin"
    with open(out, "wb") as f:  # a regular file
        ddfs(disco_cluster, "cat", "test:fast:bytes", stdout=f)
    assert out.read_bytes() == want
    with open(out, "ab") as f:  # appended to, as `>>` does
        ddfs(disco_cluster, "cat", "test:fast:bytes", stdout=f)
    assert out.read_bytes() == want + want
    # a local file among the inputs, and an output that is no file descriptor at all
    code = ("import io, sys\nfrom disco_plugin_ddfs import cli\nbuf = io.BytesIO()\n"
            "sys.stdout = io.TextIOWrapper(buf)\n"
            "status = cli.main(['cat', sys.argv[1], 'test:fast:bytes'])\n"
            "sys.stdout.flush()\nsys.__stdout__.buffer.write(buf.getvalue())\n"
            "sys.exit(status)\n")
    got = run(disco_cluster, code, blobs[1]).stdout
    assert got == open(blobs[1], "rb").read() + want


def test_cat_of_a_local_file_and_a_missing_one(disco_cluster, blobs, tmp_path):
    assert ddfs(disco_cluster, "cat", blobs[0]).stdout == open(blobs[0], "rb").read()
    out = tmp_path / "copy.bin"
    with open(out, "wb") as f:
        ddfs(disco_cluster, "cat", blobs[0], blobs[1], stdout=f)
    assert out.read_bytes() == open(blobs[0], "rb").read() + open(blobs[1], "rb").read()
    missing = ddfs(disco_cluster, "cat", str(tmp_path / "nosuch"), check=False)
    assert missing.returncode == 1 and "nosuch" in missing.stderr.decode()


def test_a_blob_on_the_node_beside_the_master_is_read_from_the_node(disco_cluster, blobs):
    """The node that shares the master's host and port serves its data on a loopback port
    of its own, behind the master: a reader on this machine goes there directly."""
    from disco.ddfs import DDFS
    ddfs(disco_cluster, "push", "test:fast:direct", blobs[1])
    info = json.loads(disco_cluster.urlopen("/disco/ctrl/nodeinfo").read())
    port = info["localhost"]["data_port"]
    assert isinstance(port, int) and port != int(disco_cluster.env["DISCO_PORT"])
    ddfs_client = DDFS(disco_cluster.master)
    replicas = list(ddfs_client.blobs("test:fast:direct"))[0]
    with ddfs_client.reader().open(replicas) as conn:
        assert conn.url.startswith("http://127.0.0.1:%d/ddfs/" % port)
        assert conn.read() == open(blobs[1], "rb").read()
    # and through the master's port when the node's own is not reachable (another machine)
    with ddfs_client.reader().open(replicas, direct=False) as conn:
        assert conn.url == replicas[0]  # disco://localhost/..., the master's port
        assert conn.read() == open(blobs[1], "rb").read()


def test_chunk_of_a_text_file_keeps_its_lines_as_a_text_input_gives_them(disco_cluster,
                                                                         tmp_path):
    """A local text file is chunked a block of lines at a time: the records are still the
    lines a job would get (ends at "\\n" only, "\\r\\n" kept, the last without one), across
    block boundaries, as str or, with DISCO_TEXT_INPUTS=bytes, as bytes."""
    from disco_core.client.results import result_iterator
    text = tmp_path / "odd.txt"
    lines = ["%d %s\r\n" % (i, os.urandom(30).hex()) for i in range(30000)]
    lines[7] = "a\rb\x0bc\x85d\u2028e \u20ac\n"
    text.write_text("".join(lines) + "tail without a newline", encoding="utf-8",
                    newline="")
    want = list(result_iterator(["file://" + str(text)], reader=None))
    assert want[7] == "a\rb\x0bc\x85d\u2028e \u20ac\n" and want[-1] == "tail without a newline"
    out = ddfs(disco_cluster, "chunk", "-S", "0.25", "test:fast:chunk", str(text)).stdout
    assert out.decode().count("created: ") > 1
    assert list(result_iterator(["tag://test:fast:chunk"])) == want
    env = dict(os.environ, DISCO_TEXT_INPUTS="bytes", **disco_cluster.env)
    exe = os.path.join(os.path.dirname(sys.executable), "ddfs")
    subprocess.run([exe, "chunk", "test:fast:chunkbytes", str(text)], env=env, check=True,
                   capture_output=True, timeout=120)
    got = list(result_iterator(["tag://test:fast:chunkbytes"]))
    assert got == [line.encode("utf-8") for line in want]


def test_chunk_of_a_bad_text_file_says_what_is_wrong(disco_cluster, tmp_path):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes(b"ok\ncaf\xe9\n")
    bad = ddfs(disco_cluster, "chunk", "test:fast:bad", str(latin), check=False)
    assert bad.returncode == 1 and "latin1.txt is not UTF-8 text" in bad.stderr.decode()
    long = tmp_path / "long.txt"
    long.write_text("short\n" + "x" * 3000 + "\n")
    bad = ddfs(disco_cluster, "chunk", "-Z", "0.001", "test:fast:bad", str(long), check=False)
    assert bad.returncode == 1 and "record 1 is" in bad.stderr.decode()
    assert "test:fast:bad" not in ddfs(disco_cluster, "ls", "test:fast:").stdout.decode()
