"""Submit the C word-count worker (``wordcount.c``) as a Disco pipeline job.

Put this directory on ``sys.path`` and::

    from cworker import submit_wordcount, read_counts
    name = submit_wordcount(["raw://a b a", "http://host/file.txt"], partitions=2)
    results = Disco().wait(name)
    counts = dict(result_iterator(results, reader=count_reader))

The job is a version-2 job pack whose job home holds only the compiled binary (named
``wordcount``, mode 0755); no Python runs in its tasks. Pipeline: ``map`` (``split``),
then ``reduce`` (``group_label``, or ``group_all`` for one partition). The number of
partitions reaches the worker as the job environment variable ``CWORDCOUNT_PARTITIONS``.
Outputs are text lines ``word<TAB>count``.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from typing import Any, Iterable, Iterator

from disco_core.jobpack import JobPack

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "wordcount.c")
BINARY = os.path.join(HERE, "wordcount")
CFLAGS = ["-O2", "-Wall", "-Wextra"]


class BuildError(RuntimeError):
    """The worker could not be compiled (no gcc, or a compiler error)."""


def build(output: str | None = None, force: bool = False) -> str:
    """Compile ``wordcount.c`` with gcc unless the binary is newer; returns its path."""
    output = output or BINARY
    if not force and os.path.exists(output) and \
            os.path.getmtime(output) >= os.path.getmtime(SOURCE):
        return output
    gcc = shutil.which("gcc")
    if gcc is None:
        raise BuildError("gcc not found on PATH: it is needed to compile %s" % SOURCE)
    tmp = "%s.tmp%d" % (output, os.getpid())
    proc = subprocess.run([gcc, *CFLAGS, "-o", tmp, SOURCE], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError("gcc failed (%d):\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
    os.replace(tmp, output)
    return output


def normalise_inputs(inputs: Iterable[Any]) -> list[list]:
    """Each input: a URL, a list of replica URLs, or ``(label, size, [urls])``."""
    out = []
    for item in inputs:
        if isinstance(item, str):
            out.append([0, 0, [item]])
        elif len(item) == 3 and isinstance(item[0], int) and not isinstance(item[2], str):
            out.append([item[0], item[1], list(item[2])])
        else:
            out.append([0, 0, list(item)])
    return out


def wordcount_jobpack(inputs: Iterable[Any], partitions: int = 2, binary: str | None = None,
                      prefix: str = "CWordCount", owner: str | None = None,
                      concurrent: bool = False) -> bytes:
    """The job pack of a word count over ``inputs`` (see :func:`normalise_inputs`)."""
    if int(partitions) < 1:
        raise ValueError("partitions must be >= 1")
    binary = binary or build()
    home = io.BytesIO()
    with zipfile.ZipFile(home, "w") as z:
        info = zipfile.ZipInfo("wordcount")
        info.external_attr = 0o755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(binary, "rb") as f:
            z.writestr(info, f.read())
    reduce_grouping = "group_all" if int(partitions) == 1 else "group_label"
    jobdict = {"prefix": prefix, "worker": "wordcount",
               "owner": owner or os.environ.get("DISCO_JOB_OWNER", "cworker@localhost"),
               "scheduler": {},
               "pipeline": [["map", "split", False], ["reduce", reduce_grouping, bool(concurrent)]],
               "inputs": normalise_inputs(inputs)}
    jobenvs = {"CWORDCOUNT_PARTITIONS": str(int(partitions))}
    return JobPack(2, jobdict, jobenvs, home.getvalue(), b"").dumps()


def submit_wordcount(inputs: Iterable[Any], partitions: int = 2, disco: Any = None,
                     **kw: Any) -> str:
    """Compile the worker if needed, submit the word count job; returns the job name.

    ``disco`` is a :class:`disco_core.client.Disco` (default: the configured master).
    Extra keywords go to :func:`wordcount_jobpack` (``prefix``, ``concurrent``, ...).
    """
    if disco is None:
        from disco_core.client import Disco
        disco = Disco()
    return disco.submit(wordcount_jobpack(inputs, partitions, **kw))


def count_reader(fd: Any, size: Any = None, url: str = "", params: Any = None) -> Iterator:
    """``result_iterator`` reader: ``(word, int(count))`` from ``word\\tcount`` lines."""
    for line in fd:
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        line = line.rstrip("\n")
        if line:
            word, count = line.rsplit("\t", 1)
            yield word, int(count)


def read_counts(results: Iterable[Any]) -> dict[str, int]:
    """All results of a finished word count job as one ``{word: count}`` dict."""
    from disco_core.client import result_iterator
    counts: dict[str, int] = {}
    for word, count in result_iterator(results, reader=count_reader):
        counts[word] = counts.get(word, 0) + count
    return counts
