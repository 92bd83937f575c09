"""Names of DDFS objects: what is a legal name, how blob versions and directories are named."""
import re

from disco_plugin_ddfs import names


def test_legal_names_are_the_originals_characters_up_to_511():
    assert names.valid_name("data:logs-2024_01@x")
    assert not names.valid_name("")
    assert not names.valid_name("a/b")
    assert not names.valid_name("a b")
    assert not names.valid_name("x" * 512)
    assert names.valid_name("x" * 511)
    assert not names.valid_name(None)


def test_safe_name_replaces_every_other_character():
    assert names.safe_name("my file.txt") == "my_file_txt"
    assert names.safe_name("ok:name@1") == "ok:name@1"


def test_timestamps_are_hex_parts_and_never_repeat():
    stamps = [names.timestamp(1700000000.5) for _ in range(3)]
    assert len(set(stamps)) == 3
    assert re.fullmatch(r"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+", stamps[0])
    mega, sec, _micro = (int(p, 16) for p in stamps[0].split("-"))
    assert mega * 10 ** 6 + sec == 1700000000
    assert names._hex(0) == "00" and names._hex(26) == "1a"  # zero is written 00


def test_long_prefixes_become_their_md5():
    assert names.blob_prefix("a" * 200) == "a" * 200
    assert re.fullmatch(r"[0-9a-f]{32}", names.blob_prefix("a" * 201))


def test_the_name_update_compares():
    url = "disco://n1/ddfs/n1/vol0/blob/3f/log$586-61a80-1e240"
    assert names.set_name([url, "other"]) == "log"
    assert names.set_name(["tag://other:tag"]) == "other:tag"
    assert names.set_name(["urls"]) is None
    assert names.blob_name(url) == "log"
    assert names.hexhash("log$586-61a80-1e240") == names.hexhash("log$586-61a80-1e240")
    assert re.fullmatch(r"[0-9a-f]{2}", names.hexhash("x"))
