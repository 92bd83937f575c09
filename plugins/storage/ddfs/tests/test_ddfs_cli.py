"""The ddfs commands on a real cluster, as `disco ddfs ...` and as the `ddfs` command."""
import os
import subprocess
import sys

import pytest


def ddfs(cluster, *args, check=True, input=None):
    """The plugin's own `ddfs` command, with the cluster's settings."""
    exe = os.path.join(os.path.dirname(sys.executable), "ddfs")
    env = dict(os.environ)
    env.update(cluster.env)
    proc = subprocess.run([exe, *args], capture_output=True, text=True, env=env, input=input,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError("ddfs %s failed (%d):\n%s%s" % (" ".join(args), proc.returncode,
                                                              proc.stdout, proc.stderr))
    return proc


@pytest.fixture
def files(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("apple\nbanana\n")
    b = tmp_path / "b file.txt"
    b.write_text("cherry\n")
    return str(a), str(b)


def test_push_ls_blobs_cat_xcat_and_rm(disco_cluster, files):
    out = ddfs(disco_cluster, "push", "test:cli:fruit", *files).stdout
    assert "pushing..." in out
    assert "test:cli:fruit" in ddfs(disco_cluster, "ls", "test:cli").stdout.split()
    assert disco_cluster.cli("ddfs", "exists", "test:cli:fruit").stdout.strip() == "True"
    blobs = ddfs(disco_cluster, "blobs", "test:cli:fruit").stdout.split()
    assert sorted(os.path.basename(b).split("$")[0] for b in blobs) == ["a_txt", "b_file_txt"]
    cat = ddfs(disco_cluster, "cat", "test:cli:fruit").stdout
    assert sorted(cat.splitlines()) == ["apple", "banana", "cherry"]
    assert disco_cluster.cli("ddfs", "urls", "test:cli:fruit").stdout.split() == blobs
    xcat = ddfs(disco_cluster, "xcat", "-R", "", "test:cli:fruit").stdout
    assert sorted(xcat.splitlines()) == ["apple", "banana", "cherry"]
    assert ddfs(disco_cluster, "rm", "test:cli:fruit").stdout.strip() == "deleted"
    missing = ddfs(disco_cluster, "exists", "test:cli:fruit", check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "False"


def test_chunk_then_xcat_decodes_the_records(disco_cluster, tmp_path):
    big = tmp_path / "lines.txt"
    big.write_text("".join("%d %s\n" % (i, os.urandom(8).hex()) for i in range(2000)))
    out = ddfs(disco_cluster, "chunk", "-S", "0.01", "test:cli:chunks", str(big)).stdout
    created = [line for line in out.splitlines() if line.startswith("created: ")]
    assert len(created) > 1
    xcat = ddfs(disco_cluster, "xcat", "test:cli:chunks").stdout.splitlines()
    assert sorted(xcat) == sorted(big.read_text().splitlines())
    ddfs(disco_cluster, "rm", "test:cli:chunks")
    ddfs(disco_cluster, "chunk", "test:cli:stdin", "-", input="from\nstdin\n")
    assert ddfs(disco_cluster, "xcat", "test:cli:stdin").stdout == "from\nstdin\n"
    ddfs(disco_cluster, "rm", "test:cli:stdin")


def test_tag_put_cp_attributes_stat_and_get(disco_cluster):
    c = disco_cluster
    ddfs(c, "tag", "test:cli:t", "http://x/1", "http://x/2")
    assert ddfs(c, "urls", "test:cli:t").stdout.split() == ["http://x/1", "http://x/2"]
    ddfs(c, "put", "test:cli:t", input="r1 r2\nr3\n")
    assert ddfs(c, "urls", "test:cli:t").stdout.splitlines() == ["r1\tr2", "r3"]
    ddfs(c, "cp", "test:cli:t", "test:cli:copy")
    assert ddfs(c, "urls", "test:cli:copy").stdout.splitlines() == ["r1\tr2", "r3"]
    ddfs(c, "setattr", "test:cli:t", "color", "blue")
    assert ddfs(c, "getattr", "test:cli:t", "color").stdout.strip() == "blue"
    assert ddfs(c, "attrs", "test:cli:t").stdout.strip() == "color\tblue"
    ddfs(c, "delattr", "test:cli:t", "color")
    assert ddfs(c, "attrs", "test:cli:t").stdout.strip() == ""
    stat = ddfs(c, "stat", "test:cli:t").stdout
    assert "id: test:cli:t$" in stat and "urls" not in stat
    assert "'urls': [['r1', 'r2'], ['r3']]" in ddfs(c, "get", "test:cli:t").stdout
    ddfs(c, "touch", "test:cli:empty")
    assert ddfs(c, "urls", "test:cli:empty").stdout == ""
    ddfs(c, "tag", "test:cli:meta", "tag://test:cli:t")
    found = ddfs(c, "find", "test:cli:meta").stdout.splitlines()
    assert found == ["test:cli:meta", "test:cli:meta\ttest:cli:t"]
    ddfs(c, "rm", "-p", "test:cli:")
    assert ddfs(c, "ls", "test:cli:").stdout == ""


def test_tokens_from_the_command_line(disco_cluster):
    c = disco_cluster
    ddfs(c, "-t", "sesame", "touch", "test:cli:locked")  # created with the token
    refused = ddfs(c, "urls", "test:cli:locked", check=False)
    assert refused.returncode == 1 and "Incorrect or missing token" in refused.stderr
    assert ddfs(c, "urls", "-t", "sesame", "test:cli:locked").returncode == 0
    ddfs(c, "chtok", "-t", "sesame", "-r", "test:cli:locked", "open")
    assert ddfs(c, "urls", "-t", "open", "test:cli:locked").returncode == 0
    ddfs(c, "rm", "-t", "sesame", "test:cli:locked")


def test_bad_input_is_one_line_and_status_1(disco_cluster, tmp_path):
    c = disco_cluster
    bad = ddfs(c, "tag", "bad name", "http://x/1", check=False)
    assert bad.returncode == 1 and "Invalid tag" in bad.stderr
    assert bad.stderr.startswith("ddfs: ")
    assert "Traceback" not in bad.stderr
    missing = ddfs(c, "push", "test:cli:x", str(tmp_path / "nope"), check=False)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    nosuch = ddfs(c, "get", "test:cli:nosuch", check=False)
    assert nosuch.returncode == 1 and "Tag not found." in nosuch.stderr
    d = tmp_path / "dir"
    d.mkdir()
    assert "is a directory (not pushing)." in ddfs(c, "push", "test:cli:d", str(d)).stdout
    help_text = ddfs(c, "-h").stdout
    assert "chunk" in help_text and "xcat" in help_text
