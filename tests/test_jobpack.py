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
        assert b"".join(pack.parts()) == data
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


@pytest.mark.parametrize("offsets,problem", [
    ((129, 143, 145, 145), "the jobdict offset is 129, it must be 128"),
    ((128, 128, 145, 145), "the jobenvs offset 128 must be after the jobdict offset 128"),
    ((128, 143, 140, 145), "the jobhome offset 140 is before the jobenvs offset 143"),
    ((128, 143, 145, 144), "the jobdata offset 144 is before the jobhome offset 145"),
    ((128, 143, 145, 999), "the pack is 145 bytes, shorter than its jobdata offset 999")])
def test_header_errors_say_which_offset_is_wrong(offsets, problem):
    message = error_of(header(2, *offsets) + b'{"prefix": "x"}{}')
    assert message.startswith("invalid header: section offsets %r: %s" % (list(offsets), problem))


def with_data(pack, jobdata):
    return JobPack(pack.version, pack.jobdict, pack.jobenvs, pack.jobhome, jobdata)


def check_file_error(data, tmp_path):
    path = tmp_path / "pack"
    path.write_bytes(data)
    with open(path, "rb") as f, pytest.raises(JobPackError) as err:
        jp.check_file(f)
    return str(err.value)


BAD_PACKS = {
    "short": v2().dumps()[:100],
    "magic": b"\x12\x34" + v2().dumps()[2:],
    "offsets": header(2, 128, 143, 140, 145) + b'{"prefix": "x"}{}',
    "cut_short": with_data(v2(), b"x" * 100).dumps()[:-101],
    "version": v2().dumps()[:2] + b"\x00\x03" + v2().dumps()[4:],
    "jobdict_json": header(2, 128, 130, 132, 132) + b"{x{}",
    "jobenvs_json": header(2, 128, 130, 133, 133) + b"{}[1]",
    "missing_scheduler": v2(scheduler=None).dumps(),
    "v1_missing_nr_reduces": v1(nr_reduces=None).dumps(),
    "prefix": v2(prefix="a.b").dumps(),
    "grouping": v2(pipeline=[["map", "magic", False]]).dumps(),
    "repeated": v2(pipeline=[["m", "split", False], ["m", "split", False]]).dumps(),
    "inputs": v2(inputs=[["raw://a"]]).dumps(),
    "save_results": v2(save_results=1).dumps(),
    "save_info": v2(save_info="ftp").dumps(),
    "worker_missing": v2(worker="bin/w").dumps(),
    "home_not_zip": JobPack(2, v2().jobdict, {}, b"not a zip", b"data").dumps(),
}


@pytest.mark.parametrize("case", sorted(BAD_PACKS))
def test_a_pack_in_a_file_gets_the_same_errors(case, tmp_path):
    data = BAD_PACKS[case]
    assert check_file_error(data, tmp_path) == error_of(data)


def test_a_pack_in_a_file_is_read_up_to_its_job_home(tmp_path):
    pack = with_data(v2(), b"D" * 5000)
    data = pack.dumps()
    path = tmp_path / "pack"
    path.write_bytes(data)
    with open(path, "rb") as f:
        head = jp.check_file(f)
    assert (head.version, head.jobdict, head.jobenvs, head.size) == (2, pack.jobdict,
                                                                     pack.jobenvs, len(data))
    o1, o2, o3, o4 = head.offsets
    assert data[o3:o4] == HOME and data[o4:] == b"D" * 5000
    assert jp.pipeline_of(head) == jp.pipeline_of(pack)
    assert jp.inputs_of(head) == jp.inputs_of(pack)
    # the job home is found inside the file, whatever follows it
    with_zip_data = with_data(v2(), zipped(other="x"))
    path.write_bytes(with_zip_data.dumps())
    with open(path, "rb") as f:
        assert jp.check_file(f).jobdict == with_zip_data.jobdict


def test_the_jobdict_is_judged_before_the_job_home():
    no_home = JobPack(1, {"prefix": "p", "worker": "w", "scheduler": {}, "input": [],
                          "nr_reduces": 1}, {}, b"", b"")
    assert error_of(no_home) == "jobpack missing key 'owner'"
    no_home.jobdict["owner"] = "o"
    assert error_of(no_home).startswith("invalid jobhome: not a ZIP archive (0 bytes")


def test_a_huge_jobdict_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(jp, "MAX_DICTS", 1000)
    message = check_file_error(v2(owner="o" * 2000).dumps(), tmp_path)
    assert message.startswith("the jobdict and jobenvs are ") and "at most 1000" in message


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
    assert error_of(v1(scheduler={"force_local": "yes"})) \
        == "invalid scheduler force_local 'yes': give true or false"
    assert error_of(v1(scheduler={"force_remote": 1})).startswith("invalid scheduler force_remote")
    jp.validate(v1(scheduler={"force_local": True, "force_remote": False}))
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
