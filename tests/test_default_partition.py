"""The default partition: stable across processes, the same whether a key is labelled alone
or with many others, and every pair of a key goes to the reduce of that key's label."""
import os
import subprocess
import sys

from disco.core import Job, result_iterator
from disco.worker.classic.func import default_partition

from disco_core.worker.func import default_partitions

KEYS = ["", "a", "word", "é", "\u4e2d\u6587", "k%d" % 10 ** 12]


def test_labels_of_many_keys_are_those_of_each_key():
    for keys in (KEYS, [k.encode("utf-8") for k in KEYS], KEYS + [b"x", 7, 2.5, ("t", 1)]):
        for nr in (1, 2, 3, 16, 1000):
            assert default_partitions(keys, nr) == [default_partition(k, nr, None)
                                                    for k in keys]


def test_a_str_key_and_its_utf8_bytes_share_a_label():
    for nr in (2, 7):
        for k in KEYS:
            assert default_partition(k, nr, None) == default_partition(k.encode(), nr, None)
        assert default_partition(12, nr, None) == default_partition("12", nr, None)


def test_labels_are_the_same_in_another_process():
    code = ("from disco.worker.classic.func import default_partition as p; "
            "print([p(k, 5, None) for k in %r])" % (KEYS,))
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == str([default_partition(k, 5, None) for k in KEYS])


def spread(line, params):
    for i in range(2000):
        yield "w%d" % (i % 300), 1
    yield b"bytes-key", 1


def count_in_reduce(iter, params):
    counts = {}
    for key, value in iter:  # str and bytes keys together: they do not sort
        counts[key] = counts.get(key, 0) + value
    return counts.items()


def test_each_key_reaches_exactly_one_reduce(disco_cluster):
    job = Job().run(input=["raw://a", "raw://b", "raw://c"], map=spread,
                    reduce=count_in_reduce, partitions=3)
    results = list(result_iterator(job.wait(timeout=120)))
    keys = [k for k, _ in results]
    assert len(keys) == len(set(keys)) == 301
    totals = dict(results)
    assert totals[b"bytes-key"] == 3
    assert all(totals["w%d" % i] == 3 * len(range(i, 2000, 300)) for i in range(300))


def test_many_str_or_bytes_keys_are_labelled_without_a_call_per_key(monkeypatch):
    # ``disco.worker.classic.func.map`` is the documented job function, not the builtin:
    # the labels of many str (or bytes) keys are computed in one pass all the same
    import disco_core.worker.func as func

    def one_at_a_time(key, nr, params):
        raise AssertionError("default_partition called for %r" % (key,))
    expected = {nr: [default_partition(k, nr, None) for k in KEYS] for nr in (2, 16)}
    monkeypatch.setattr(func, "default_partition", one_at_a_time)
    for nr in (2, 16):
        assert func.default_partitions(KEYS, nr) == expected[nr]
        assert func.default_partitions([k.encode() for k in KEYS], nr) == expected[nr]
