"""External programs as map and reduce (``disco.worker.classic.external``), with the C
helper library of ``contrib/ext`` compiled by this test run, and failure cases written as
small Python and sh programs."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from disco.core import Job, result_iterator
from disco.error import DiscoError, JobError
from disco.worker.classic.external import (ExternalError, ExternalProgram, decode_netstring_fd,
                                           decode_netstring_str, encode_netstring_fd,
                                           encode_params, external)
from disco.worker.task_io import chain_reader
from disco_core.worker.external import encode_entry, encode_record

EXT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   "contrib", "ext")
TEXT_A = "The cat saw the dog\nthe DOG ran\n"
TEXT_B = "a cat and a dog\n\n  and   the end"
STOPWORDS = "a\nand\n"


def pair(key: bytes, value: bytes) -> bytes:
    return struct.pack("<I", len(key)) + key + struct.pack("<I", len(value)) + value


@pytest.fixture(scope="module")
def wordcount(tmp_path_factory) -> str:
    """contrib/ext/wordcount.c + disco.c compiled now, with every warning an error."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc or gcc) on PATH: the C helper library cannot be built")
    out = str(tmp_path_factory.mktemp("ext") / "wordcount")
    proc = subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", out,
                           os.path.join(EXT, "wordcount.c"), os.path.join(EXT, "disco.c")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def script(tmp_path, name: str, body: str, python: bool = True) -> str:
    """An executable program file: Python (run by this interpreter) or POSIX sh."""
    path = tmp_path / name
    head = "#!%s\n" % sys.executable if python else "#!/bin/sh\n"
    path.write_text(head + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


def events(job) -> list[str]:
    return [event[2] for _offset, event in job.events()]


# -- encodings ------------------------------------------------------------------------------

def test_dict_params_are_netstrings_with_a_length_line():
    assert encode_params({}) == b"0\n"
    assert encode_params(None) == b"0\n"
    assert encode_netstring_fd({"a": "xy"}) == b"9\n1 a 2 xy\n"
    encoded = encode_params({"lower": "1", b"k k": b"v\nv", "n": 42, "ü": "é"})
    assert encoded == (b"43\n5 lower 1 1\n3 k k 3 v\nv\n1 n 2 42\n2 \xc3\xbc 2 \xc3\xa9\n")
    import io
    assert decode_netstring_fd(io.BytesIO(encoded + b"rest")) == {
        b"lower": b"1", b"k k": b"v\nv", b"n": b"42", "ü".encode(): "é".encode()}
    with pytest.raises(DiscoError, match="malformed netstring at byte 0"):
        decode_netstring_str(b"x y")


def test_string_params_are_sent_as_they_are_and_other_types_are_refused():
    assert encode_params("raw text\n") == b"raw text\n"
    assert encode_params(b"\x00\x01") == b"\x00\x01"
    with pytest.raises(DiscoError, match="ext_params must be a dict .* or a str/bytes"):
        encode_params(["a", "b"])


def test_map_entries_and_reduce_records_become_byte_pairs():
    assert encode_entry("a line\n") == (b"", b"a line")
    assert encode_entry("crlf\r\n") == (b"", b"crlf\r")
    assert encode_entry(b"raw\n") == (b"", b"raw\n")
    assert encode_entry(("k", 5)) == (b"k", b"5")
    assert encode_record((b"\xff", "ü")) == (b"\xff", "ü".encode())
    with pytest.raises(DiscoError, match="reads \\(key, value\\) records"):
        encode_record("just a line")


def test_external_builds_the_upstream_dict(tmp_path):
    exe = script(tmp_path, "prog", "pass\n")
    (tmp_path / "extra.txt").write_bytes(b"data")
    program = external([exe, str(tmp_path / "extra.txt")])
    assert program == {"op": open(exe, "rb").read(), "extra.txt": b"data"}
    assert program.name == "prog"


def test_external_refuses_bad_file_lists(tmp_path):
    exe = script(tmp_path, "prog", "pass\n")
    with pytest.raises(DiscoError, match="at least the path of the executable"):
        external([])
    with pytest.raises(DiscoError, match="takes a list of paths"):
        external(exe)
    with pytest.raises(DiscoError, match="the executable /no/such/prog does not exist"):
        external(["/no/such/prog"])
    with pytest.raises(DiscoError, match="cannot read the file /no/such/file"):
        external([exe, "/no/such/file"])
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "op").write_text("x")
    with pytest.raises(DiscoError, match="two files are named 'op'.*executable's name"):
        external([exe, str(tmp_path / "sub" / "op")])


def test_a_job_with_a_broken_program_dict_or_params_is_refused_before_submitting(disco_cluster):
    with pytest.raises(DiscoError, match="map is a dict but has no 'op'"):
        Job().run(input=["raw://x"], map={"prog": b""})
    with pytest.raises(DiscoError, match="reduce: file name '../x' is not a plain base name"):
        Job().run(input=["raw://x"], map=lambda e, p: [], reduce={"op": b"", "../x": b""})
    with pytest.raises(DiscoError, match="ext_params must be a dict"):
        Job().run(input=["raw://x"], map={"op": b""}, ext_params=3)


# -- the C library, directly -----------------------------------------------------------------

def test_c_wordcount_map_and_reduce_over_pipes(wordcount):
    params = encode_params({"lower": "1"})
    data = params + pair(b"", b"The cat  THE") + pair(b"", b"") + pair(b"ignored", b"dog")
    proc = subprocess.run([wordcount, "map"], input=data, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (struct.pack("<I", 3) + pair(b"the", b"1") + pair(b"cat", b"1")
                           + pair(b"the", b"1") + struct.pack("<I", 0)
                           + struct.pack("<I", 1) + pair(b"dog", b"1"))
    assert proc.stderr == b"**<MSG> wordcount map: 3 lines, 4 words, 0 stopwords skipped\n"
    data = encode_params({}) + pair(b"a", b"1") + pair(b"a", b"2") + pair(b"b", b"5")
    proc = subprocess.run([wordcount, "reduce"], input=data, capture_output=True)
    assert proc.stdout == (struct.pack("<I", 1) + pair(b"a", b"3")
                           + struct.pack("<I", 1) + pair(b"b", b"5"))


@pytest.mark.parametrize("argv, data, error", [
    (["map"], b"9\n1 a 2 x", "truncated input: the parameters ended before its 9 bytes"),
    (["map"], b"5\n1 ab 1 c\n", "malformed parameters at byte 0"),
    (["map"], b"", "truncated parameters: no length line"),
    (["map"], b"0\n\x05\x00", "truncated input: a key length has 2 of 4 bytes"),
    (["map"], b"0\n\x00\x00\x00\x00\x09\x00\x00\x00ab", "the value ended before its 9 bytes"),
    (["reduce"], b"0\n" + pair(b"w", b"x1"), "the count of word 'w' is not a number: 'x1'"),
    (["count"], b"", "expected 'map' or 'reduce' as the first argument, got count"),
])
def test_c_library_reports_broken_input_as_err(wordcount, argv, data, error):
    proc = subprocess.run([wordcount, *argv], input=data, capture_output=True)
    assert proc.returncode == 1
    [line] = proc.stderr.decode().splitlines()
    assert line.startswith("**<ERR> ") and error in line, line


# -- ExternalProgram, without a cluster -------------------------------------------------------

def run_program(tmp_path, exe: str, mode: str, pairs, params=b"0\n"):
    program = external([exe])
    messages: list[str] = []
    ext = ExternalProgram(program, mode, str(tmp_path / ("ext." + mode)), params,
                          messages.append).start()
    ext.feed(pairs)
    try:
        out = list(ext.replies() if mode == "map" else ext.results())
        ext.finish()
    except BaseException:
        ext.abort()
        raise
    return out, messages


def test_program_gets_its_files_argv_and_working_directory(tmp_path):
    exe = script(tmp_path, "where", """\
        import os, struct, sys
        sys.stdin.buffer.read()
        data = ("%s|%s|%s" % (sys.argv[1], os.getcwd(), os.listdir("."))).encode()
        sys.stdout.buffer.write(struct.pack("<II", 1, 3) + b"cwd" + struct.pack("<I", len(data))
                                + data)
        """)
    out, _ = run_program(tmp_path, exe, "reduce", [])
    mode, cwd, names = out[0][1].decode().split("|")
    assert (mode, cwd, names) == ("reduce", str(tmp_path / "ext.reduce"), "['op']")
    assert os.access(os.path.join(cwd, "op"), os.X_OK)


def test_a_map_that_replies_to_fewer_pairs_than_it_got_is_malformed(tmp_path):
    exe = script(tmp_path, "lazy", "import sys\nsys.stdin.buffer.read()\n")
    with pytest.raises(ExternalError) as info:
        run_program(tmp_path, exe, "map", [(b"", b"x"), (b"", b"y")])
    assert "external map program 'lazy' (argv: op map, in %s)" % (tmp_path / "ext.map") \
        in str(info.value)
    assert "its output ended after 0 result lists but it was given 2 pairs" in str(info.value)


def test_a_map_that_replies_more_than_once_per_pair_is_malformed(tmp_path):
    exe = script(tmp_path, "chatty", """\
        import struct, sys
        sys.stdin.buffer.read()
        sys.stdout.buffer.write(struct.pack("<I", 0) * 3)
        """)
    with pytest.raises(ExternalError, match="it wrote 2 result lists but was given 1 pairs"):
        run_program(tmp_path, exe, "map", [(b"", b"x")])


def test_a_reduce_that_stops_reading_its_input_fails(tmp_path):
    exe = script(tmp_path, "quitter", "exit 0\n", python=False)
    big = [(b"k", b"v" * 1000)] * 2000
    with pytest.raises(ExternalError, match="stopped reading its input after"):
        run_program(tmp_path, exe, "reduce", big)


def test_an_input_error_is_the_error_not_the_program(tmp_path):
    exe = script(tmp_path, "reader", "import sys\nsys.stdin.buffer.read()\n")

    def failing():
        yield b"k", b"v"
        raise OSError("the input went away")
    with pytest.raises(OSError, match="the input went away"):
        run_program(tmp_path, exe, "reduce", failing())


def test_messages_and_plain_stderr_lines_are_forwarded(tmp_path):
    exe = script(tmp_path, "talker", """\
        echo "**<MSG> hello from the program" >&2
        echo "plain line" >&2
        cat > /dev/null
        """, python=False)
    out, messages = run_program(tmp_path, exe, "reduce", [(b"k", b"v")])
    assert out == []
    assert "\n".join(messages).splitlines() == ["hello from the program", "talker: plain line"]


def test_a_program_that_cannot_be_started_fails_clearly(tmp_path):
    path = tmp_path / "notexe"
    path.write_bytes(b"\x00\x01 not a program")
    with pytest.raises(ExternalError, match="external map program 'notexe' .* cannot be "
                                            "started: .*Exec format error"):
        run_program(tmp_path, str(path), "map", [])


# -- on a cluster --------------------------------------------------------------------------

def expected_counts(*texts, lower=False, stop=()):
    words = [w.lower() if lower else w for t in texts for w in t.split()]
    return {w.encode(): str(n).encode() for w, n in Counter(words).items() if w not in stop}


def test_c_wordcount_map_and_reduce_on_the_cluster(disco_cluster, wordcount, http_server,
                                                   tmp_path):
    (tmp_path / "stopwords.txt").write_text(STOPWORDS)
    inputs = ["raw://" + TEXT_A, http_server.add("b.txt", TEXT_B), "raw://Cat cat"]
    job = Job().run(input=inputs, partitions=2,
                    map=external([wordcount, str(tmp_path / "stopwords.txt")]),
                    reduce=external([wordcount]),
                    ext_params={"lower": "1", "stopwords": "stopwords.txt"})
    results = job.wait(timeout=120)
    pairs = list(result_iterator(results))
    want = expected_counts(TEXT_A, TEXT_B, "Cat cat", lower=True, stop={"a", "and"})
    assert dict(pairs) == want and len(pairs) == len(want)
    assert len(results) == 2  # two reduce tasks, each summing the words of its partition
    msgs = events(job)
    assert "MSG: [map:0] wordcount map: 2 lines, 8 words, 0 stopwords skipped" in msgs
    assert "MSG: [map:1] wordcount map: 3 lines, 4 words, 4 stopwords skipped" in msgs
    reduces = [m for m in msgs if "wordcount reduce:" in m]
    assert len(reduces) == 2
    # the reduce input is sorted: one output pair per word means equal words were adjacent
    assert sum(int(m.split(": ")[2].split()[0]) for m in reduces) == 14


def test_external_map_with_a_python_reduce_and_python_map_with_external_reduce(
        disco_cluster, wordcount):
    first = Job().run(input=["raw://b a b", "raw://c b"], map=external([wordcount]),
                      reduce=lambda it, params: ((k, int(v)) for k, v in it))
    assert sorted(result_iterator(first.wait(timeout=120))) == [(b"a", 1), (b"b", 1), (b"b", 1),
                                                     (b"b", 1), (b"c", 1)]
    second = Job().run(input=["raw://x y\nx", "raw://y x"],
                       map=lambda line, params: [(w, 1) for w in line.split()],
                       reduce=external([wordcount]))
    assert list(result_iterator(second.wait(timeout=120))) == [(b"x", b"3"), (b"y", b"2")]


def test_string_ext_params_and_chain_inputs(disco_cluster, tmp_path):
    # a Python program: params are the first line, then it echoes key=value with a prefix
    exe = script(tmp_path, "prefixer", """\
        import struct, sys
        inp, out = sys.stdin.buffer, sys.stdout.buffer
        prefix = inp.readline().rstrip(b"\\n")
        while True:
            head = inp.read(4)
            if not head:
                break
            key = inp.read(struct.unpack("<I", head)[0])
            value = inp.read(struct.unpack("<I", inp.read(4))[0])
            k = prefix + key
            out.write(struct.pack("<II", 1, len(k)) + k + struct.pack("<I", len(value)) + value)
            out.flush()
        """)
    first = Job().run(input=["raw://ignored"], map=lambda line, p: [("k1", "v1"), ("k2", 2)])
    second = Job().run(input=first.wait(timeout=120), map=external([exe]), ext_params="P:\n",
                       map_reader=chain_reader)
    assert sorted(result_iterator(second.wait(timeout=120))) == [(b"P:k1", b"v1"), (b"P:k2", b"2")]


def test_a_program_that_reports_err_and_exits_1_kills_the_job(disco_cluster, tmp_path):
    exe = script(tmp_path, "fail.sh", """\
        echo "**<MSG> starting" >&2
        echo "**<ERR> cannot parse the input" >&2
        exit 1
        """, python=False)
    job = Job().run(input=["raw://x"], map=external([exe]))
    with pytest.raises(JobError) as info:
        job.wait(timeout=120)
    text = str(info.value)
    assert "failed 4 times" in text
    assert "external map program 'fail.sh' (argv: op map, in " in text
    assert "reported an error: cannot parse the input; exited with status 1" in text
    msgs = events(job)
    warnings = [m for m in msgs if m.startswith("WARNING: [map:0]")]
    assert len(warnings) == 4  # the first try and three retries
    assert all("ExternalError" in w and "cannot parse the input" in w for w in warnings)
    assert "MSG: [map:0] starting" in msgs


def test_a_malformed_reply_fails_the_task_with_what_was_wrong(disco_cluster, tmp_path):
    exe = script(tmp_path, "texty", """\
        import sys
        sys.stdin.buffer.read(2)
        sys.stdout.write("hello world\\n")
        sys.stdout.flush()
        sys.stdin.buffer.read()
        """)
    job = Job().run(input=["raw://x"], map=external([exe]))
    with pytest.raises(JobError) as info:
        job.wait(timeout=120)
    assert "external map program 'texty'" in str(info.value)
    assert "wrote a malformed reply: a list count of 1819043176 pairs (bytes b'hell'): is it " \
        "writing text to stdout?" in str(info.value)


def test_a_program_killed_by_a_signal_fails_the_task(disco_cluster, tmp_path):
    exe = script(tmp_path, "crash", "kill -SEGV $$\n", python=False)
    job = Job().run(input=["raw://a b"], map=lambda line, p: [(line, 1)],
                    reduce=external([exe]))
    with pytest.raises(JobError) as info:
        job.wait(timeout=120)
    assert "external reduce program 'crash'" in str(info.value)
    assert "was killed by signal SIGSEGV (11)" in str(info.value)
