"""Job packs (disco_core.jobpack): the binary layout, the master's validation messages
(reference/jobpack.md), the classic pipelines, and job names."""
import io
import itertools
import json
import struct
import zipfile

import pytest

from disco_core import jobpack as jp
from disco_core.errors import JobPackError
from disco_core.jobpack import JobPack


def zipped(**files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name.replace("__", "/"), data)
    return buf.getvalue()


HOME = zipped(worker="#!/bin/sh\n", lib__helper="x = 1\n")


def v2(**changes):
    d = {"prefix": "Unit", "worker": "worker", "owner": "me@here", "scheduler": {},
         "pipeline": [["map", "split", False], ["reduce", "group_label", True]],
         "inputs": [[0, 0, ["raw://a"]], [3, 100, ["http://h1/x", "http://h2/x"]]]}
    d.update(changes)
    return JobPack(2, {k: v for k, v in d.items() if v is not None}, {"A": "1"}, HOME, b"data")


def v1(**changes):
    d = {"prefix": "Classic", "worker": "worker", "owner": "me@here", "scheduler": {},
         "input": ["raw://a", ["http://h1/x", "http://h2/x"]], "map?": True, "reduce?": True,
         "nr_reduces": 4}
    d.update(changes)
    return JobPack(1, {k: v for k, v in d.items() if v is not None}, {}, HOME, b"")


def test_dumps_loads_round_trip():
    for pack in (v2(), v1(), JobPack(2, {"prefix": "\u00e9"}, {}, b"", b"")):
        data = pack.dumps()
        back = JobPack.loads(data)
        assert back == pack
        assert JobPack.load(io.BytesIO(data)) == pack


def test_binary_layout_follows_the_reference():
    pack = JobPack(2, {"prefix": "P"}, {"E": "v"}, b"HOMEZIP", b"\x00DATA\xff")
    data = pack.dumps()
    word, o1, o2, o3, o4 = struct.unpack("!IIIII", data[:20])
    assert word >> 16 == 0xD5C0 and word & 0xFFFF == 2
    assert data[:2] == b"\xd5\xc0" and data[2:4] == b"\x00\x02"
    assert data[20:128] == b"\0" * 108
    assert o1 == 128
    assert json.loads(data[o1:o2]) == {"prefix": "P"}
    assert json.loads(data[o2:o3]) == {"E": "v"}
    assert data[o3:o4] == b"HOMEZIP"
    assert data[o4:] == b"\x00DATA\xff"
    assert jp.offsets(data) == (2, (o1, o2, o3, o4))


def error_of(data_or_pack):
    with pytest.raises(JobPackError) as err:
        if isinstance(data_or_pack, bytes):
            jp.validate(JobPack.loads(data_or_pack))
        else:
            jp.validate(data_or_pack)
    return str(err.value)


def header(version, o1, o2, o3, o4):
    return struct.pack("!IIIII", (0xD5C0 << 16) + version, o1, o2, o3, o4).ljust(128, b"\0")


def test_header_errors():
    good = v2().dumps()
    assert error_of(good[:100]).startswith("invalid header")
    assert error_of(b"").startswith("invalid header")
    assert error_of(b"\x12\x34" + good[2:]).startswith("invalid header: bad magic 0x1234")
    body = b'{"prefix": "x"}{}'
    for offsets in [(64, 143, 145, 145),       # jobdict offset must be 128
                    (128, 128, 145, 145),      # jobenvs must come after the jobdict
                    (128, 143, 140, 145),      # jobhome before jobenvs
                    (128, 143, 145, 144),      # jobdata before jobhome
                    (128, 143, 145, 146)]:     # jobdata past the end
        assert error_of(header(2, *offsets) + body).startswith("invalid header"), offsets
    assert JobPack.loads(header(2, 128, 143, 145, 145) + body).jobdict == {"prefix": "x"}


def test_unsupported_version():
    data = bytearray(v2().dumps())
    data[3] = 3
    assert error_of(bytes(data)) == "unsupported version '3'"


def test_jobdict_and_jobenvs_must_be_json_objects():
    assert error_of(header(2, 128, 130, 132, 132) + b"{x{}").startswith("invalid jobdict")
    assert error_of(header(2, 128, 130, 133, 133) + b"{}[1]").startswith("invalid jobenvs")
    assert error_of(JobPack(2, ["prefix"], {}, HOME, b"")).startswith("invalid jobdict")
    assert error_of(JobPack(2, v2().jobdict, {"N": 1}, HOME, b"")).startswith("invalid jobenvs")


@pytest.mark.parametrize("key", ["prefix", "worker", "owner", "scheduler", "pipeline", "inputs"])
def test_missing_keys_v2(key):
    assert error_of(v2(**{key: None})) == "jobpack missing key '%s'" % key


@pytest.mark.parametrize("key", ["input", "nr_reduces", "scheduler"])
def test_missing_keys_v1(key):
    assert error_of(v1(**{key: None})) == "jobpack missing key '%s'" % key


def test_prefix_rules():
    for bad in ("a/b", "a.b", "", "with space", "x" * 201, 5):
        assert error_of(v2(prefix=bad)).startswith("invalid prefix"), bad
    for good in ("WordCount", "word_count-2", "x" * 200):
        jp.validate(v2(prefix=good))


def test_other_field_errors():
    assert error_of(v2(save_results="yes")).startswith("invalid_job_save_results")
    assert error_of(v2(save_info="s3")).startswith("invalid_job_save_info")
    assert error_of(v2(save_info="ddf")).startswith("invalid_job_save_info")
    jp.validate(v2(save_results=True, save_info="hdfs,nn:50070,me,/out/"))
    assert error_of(v2(scheduler={"max_cores": 0})).startswith("invalid scheduler max_cores")
    assert error_of(v2(scheduler=[])).startswith("invalid scheduler")
    assert error_of(v2(owner=3)).startswith("invalid owner")
    assert error_of(v1(nr_reduces=-1)).startswith("invalid nr_reduces")
    assert error_of(v1(**{"map?": "yes"})).startswith("invalid map?")


def test_pipeline_errors():
    repeated = [["map", "split", False], ["map", "group_all", False]]
    assert error_of(v2(pipeline=repeated)).startswith("repeated_pipeline_stages")
    assert error_of(v2(pipeline=[["map", "group_magic", False]])).startswith(
        "invalid grouping 'group_magic'")
    assert error_of(v2(pipeline="map")).startswith("invalid pipeline")
    assert error_of(v2(pipeline=[["map"]])).startswith("invalid pipeline stage")
    jp.validate(v2(pipeline=[]))
    jp.validate(v2(pipeline=[["a", "split"], ["b", "group_node_label", True]]))


def test_input_errors():
    for bad in ([["raw://a"]], [[0, 0, "raw://a"]], [[0, 0, []]], [[0, 0, [1]]], "raw://a"):
        assert error_of(v2(inputs=bad)).startswith("invalid_job_inputs"), bad
    for bad in ([1], [[]], "raw://a", [["raw://a", 2]]):
        assert error_of(v1(input=bad)).startswith("invalid_job_inputs"), bad


def test_the_worker_must_be_in_the_job_home():
    assert "not in the job home" in error_of(v2(worker="bin/other"))
    assert error_of(v2(worker="../worker")).startswith("invalid worker")
    pack = v2()
    pack.jobhome = b"not a zip"
    assert error_of(pack).startswith("invalid jobhome")


V1_TABLE = [
    # map?, reduce?, nr_reduces, reduce_shuffle?, pipeline
    (False, False, 1, False, []),
    (False, False, 4, True, []),
    (False, True, 1, False, ["reduce:group_all"]),
    (False, True, 1, True, ["reduce:group_all"]),
    (False, True, 4, True, ["reduce:group_label", "reduce_shuffle:group_node"]),
    (False, True, 4, False, ["reduce:group_label"]),
    (True, False, 1, False, ["map:split", "map_shuffle:group_node"]),
    (True, False, 4, True, ["map:split", "map_shuffle:group_node"]),
    (True, True, 1, False, ["map:split", "map_shuffle:group_node", "reduce:group_all"]),
    (True, True, 1, True, ["map:split", "map_shuffle:group_node", "reduce:group_all"]),
    (True, True, 4, True, ["map:split", "map_shuffle:group_node", "reduce:group_label",
                           "reduce_shuffle:group_node"]),
    (True, True, 0, True, ["map:split", "map_shuffle:group_node", "reduce:group_label",
                           "reduce_shuffle:group_node"]),
    (True, True, 4, False, ["map:split", "map_shuffle:group_node", "reduce:group_label"]),
]


@pytest.mark.parametrize("has_map,has_reduce,nr,shuffle,expected", V1_TABLE)
def test_pipeline_of_every_v1_row(has_map, has_reduce, nr, shuffle, expected):
    pack = v1(**{"map?": has_map, "reduce?": has_reduce, "nr_reduces": nr,
                 "reduce_shuffle?": shuffle})
    jp.validate(pack)
    stages = jp.pipeline_of(pack)
    assert ["%s:%s" % (name, grouping) for name, grouping, _ in stages] == expected
    assert all(concurrent is False for _, _, concurrent in stages)


def test_v1_defaults_are_false():
    pack = v1(**{"map?": None, "reduce?": None})
    assert jp.pipeline_of(pack) == []
    pack = v1(**{"map?": None})
    assert jp.pipeline_of(pack) == [("reduce", "group_label", False)]


def test_pipeline_and_inputs_of_v2():
    pack = v2()
    assert jp.pipeline_of(pack) == [("map", "split", False), ("reduce", "group_label", True)]
    assert jp.pipeline_of(v2(pipeline=[["m", "split"]])) == [("m", "split", False)]
    assert jp.inputs_of(pack) == [(0, 0, ["raw://a"]), (3, 100, ["http://h1/x", "http://h2/x"])]
    assert jp.inputs_of(v1()) == [(0, 0, ["raw://a"]), (0, 0, ["http://h1/x", "http://h2/x"])]


def test_job_name_is_the_erlang_timestamp_in_hex():
    assert jp.job_name("WordCount", 1414400000.123456) == "WordCount@586:61a80:1e240"
    assert jp.job_name("J", 0.0) == "J@0:0:0"
    assert jp.job_name("J", 1000000.999999) == "J@1:0:f423f"
    # microseconds that round up carry into the seconds
    assert jp.job_name("J", 5.9999996) == "J@0:6:0"


def test_job_names_are_unique_over_time():
    import time
    names = set()
    for _ in range(200):
        names.add(jp.job_name("Many"))
        time.sleep(0.00001)
    assert len(names) > 100
    assert all(n.startswith("Many@") and len(n.split(":")) == 3 for n in names)


def test_hexhash():
    assert jp.hexhash("WordCount@586:61a80:1e240") == \
        __import__("hashlib").md5(b"WordCount@586:61a80:1e240").hexdigest()[:2]


def test_every_grouping_is_accepted():
    for a, b in itertools.permutations(jp.GROUPINGS, 2):
        jp.validate(v2(pipeline=[["one", a, False], ["two", b, True]]))


def test_the_originals_class_attributes_and_header_helpers(tmp_path):
    import io

    from disco.job import JobPack
    assert JobPack.MAGIC == 0xd5c0 << 16
    assert (JobPack.HEADER_FORMAT, JobPack.HEADER_SIZE) == ("!IIIII", 128)
    pack = JobPack(2, {"prefix": "p"}, {"A": "1"}, b"home", b"data")
    data = pack.dumps()
    offsets = JobPack.offsets(io.BytesIO(data))
    assert offsets == [128, 128 + len(b'{"prefix": "p"}'), offsets[1] + len(b'{"A": "1"}'),
                       len(data) - 4]
    assert JobPack.header(offsets, version=2) == data[:128]
    loaded = JobPack.load(io.BytesIO(data))
    assert (loaded.version, loaded.jobdict, loaded.jobhome, loaded.jobdata) == \
        (2, {"prefix": "p"}, b"home", b"data")
