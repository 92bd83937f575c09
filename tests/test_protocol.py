"""The worker protocol framing and payload validation (disco_core.protocol), no I/O."""
import json

import pytest

from disco_core.errors import ProtocolError
from disco_core.protocol import MAX_PAYLOAD, FrameParser, decode_payload, encode, validate


def test_encode_matches_the_reference_frames():
    assert encode("TASK", "") == b'TASK 2 ""\n'
    assert encode("OK", "ok") == b'OK 4 "ok"\n'
    assert encode("OUTPUT", [0, "disco://h/x", 12]) == b'OUTPUT 20 [0,"disco://h/x",12]\n'
    # LEN counts bytes, not characters
    frame = encode("MSG", "h\u00e9llo \u2603")
    name, length, rest = frame.split(b" ", 2)
    assert name == b"MSG" and int(length) == len(rest) - 1 and rest.endswith(b"\n")
    assert json.loads(rest[:-1]) == "h\u00e9llo \u2603"


MESSAGES = [("WORKER", {"version": "1.1", "pid": 4242}), ("TASK", ""),
            ("INPUT", ["include", [0, 1]]), ("MSG", "line one\nline two \u00e9"),
            ("OUTPUT", [3, "part-3", 1000]), ("PING", ""), ("DONE", "")]


def stream():
    return b"".join(encode(n, p) for n, p in MESSAGES)


def decoded(frames):
    return [(name, decode_payload(name, raw)) for name, raw in frames]


def test_byte_by_byte_feeds_give_each_frame_once_complete():
    parser = FrameParser()
    frames = []
    data = stream()
    ends = set()
    pos = 0
    for n, p in MESSAGES:
        pos += len(encode(n, p))
        ends.add(pos)
    for i in range(len(data)):
        got = parser.feed(data[i:i + 1])
        if got:
            assert i + 1 in ends  # a frame appears exactly when its last byte arrives
            assert len(got) == 1
        else:
            assert i + 1 not in ends
        frames += got
        assert parser.partial == (i + 1 not in ends)
    assert decoded(frames) == MESSAGES


def test_many_frames_in_one_feed_and_splits_anywhere():
    data = stream()
    assert decoded(FrameParser().feed(data)) == MESSAGES
    for cut in range(1, len(data)):
        parser = FrameParser()
        frames = parser.feed(data[:cut]) + parser.feed(data[cut:])
        assert decoded(frames) == MESSAGES
        assert not parser.partial


def test_payload_may_contain_spaces_newlines_and_frame_lookalikes():
    tricky = 'MSG 2 ""\n TASK 9 \n'
    parser = FrameParser()
    assert decoded(parser.feed(encode("MSG", tricky) + encode("MSG", ""))) == \
        [("MSG", tricky), ("MSG", "")]


def test_a_ten_character_type_is_accepted():
    assert FrameParser().feed(b'ABCDEFGHIJ 2 ""\n') == [("ABCDEFGHIJ", b'""')]


def error_kind(*feeds):
    parser = FrameParser()
    with pytest.raises(ProtocolError) as err:
        for data in feeds:
            parser.feed(data)
    return err.value.kind, str(err.value)


def test_invalid_type():
    assert error_kind(b'ABCDEFGHIJK 2 ""\n')[0] == "invalid_type"
    # detected as soon as 11 bytes without a space arrived, before any payload
    assert error_kind(b"ABCDEFGHIJK")[0] == "invalid_type"
    assert error_kind(*[bytes([c]) for c in b"NOSPACEATALL"])[0] == "invalid_type"
    assert error_kind(b'\xffMSG 2 ""\n')[0] == "invalid_type"
    # a type is 1..10 bytes: an empty one is a framing error, not an unknown message
    assert error_kind(b' 2 ""\n')[0] == "invalid_type"


def test_invalid_length():
    assert error_kind(b'MSG -1 ""\n')[0] == "invalid_length"
    assert error_kind(b'MSG 2x ""\n')[0] == "invalid_length"
    assert error_kind(b'MSG 1.5 ""\n')[0] == "invalid_length"
    assert error_kind(b'MSG  2 ""\n')[0] == "invalid_length"
    assert error_kind(b"MSG abcdefghijkl")[0] == "invalid_length"
    kind, text = error_kind(b"DONE x ")
    assert "DONE" in text


def test_message_too_big_is_refused_before_the_body_arrives():
    kind, text = error_kind(b"MSG %d " % (MAX_PAYLOAD + 1))
    assert kind == "message_too_big" and "100 MiB" in text
    # a length with more digits than fit is too big as well
    assert error_kind(b"MSG 99999999999999999 ")[0] == "message_too_big"
    # exactly 100 MiB is allowed: the parser waits for the body
    parser = FrameParser()
    assert parser.feed(b"MSG %d " % MAX_PAYLOAD) == [] and parser.partial


def test_invalid_body():
    kind, text = error_kind(b'MSG 2 ""X')
    assert kind == "invalid_body" and "newline" in text
    assert error_kind(b'MSG 1 ""\n')[0] == "invalid_body"  # LEN one byte short
    # the good frame before the bad one was parsed before the error
    parser = FrameParser()
    assert parser.feed(b'PING 2 ""\n') == [("PING", b'""')]
    with pytest.raises(ProtocolError) as err:
        parser.feed(b'MSG 1 ""\n')
    assert err.value.kind == "invalid_body"


def test_decode_payload_rejects_bad_json():
    assert decode_payload("MSG", b'"x"') == "x"
    with pytest.raises(ProtocolError) as err:
        decode_payload("MSG", b"{not json")
    assert err.value.kind == "invalid_json"
    assert "Payload is not valid JSON" in str(err.value) and "MSG" in str(err.value)


GOOD = {
    "WORKER": [{"version": "1.1", "pid": 1}, {"pid": 77}],
    "TASK": ["", "anything"],
    "INPUT": ["", ["include", [0, 2]], ["exclude", []]],
    "INPUT_ERR": [[0, [1, 2]], [5, []]],
    "MSG": ["", "hello"],
    "OUTPUT": [[0, "out", 10], [7, "dir://h/x", 0]],
    "DONE": [""],
    "ERROR": ["Traceback ..."],
    "FATAL": ["Traceback ..."],
    "PING": ["", None, {"anything": 1}],
}

BAD = {
    "WORKER": ["", {"version": "1.1"}, {"version": "1.1", "pid": "12"},
               {"version": 1.1, "pid": 1}, {"version": "1.1", "pid": True}, [1]],
    "TASK": [None, 1, [""]],
    "INPUT": ["all", ["include"], ["some", [1]], ["include", ["1"]], ["include", [True]],
              ["exclude", 1], None],
    "INPUT_ERR": ["", [0], ["0", [1]], [0, 1], [0, ["x"]], [0, [1], 2]],
    "MSG": [None, 3, ["text"], {"m": "x"}],
    "OUTPUT": ["", [0, "out"], [-1, "out", 1], ["0", "out", 1], [0, 5, 1], [0, "out", "1"],
              [0, "out", 1.5], [True, "out", 1]],
    "DONE": [None, 0],
    "ERROR": [None, {"e": 1}],
    "FATAL": [None, ["x"]],
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_validate_accepts_good_payloads(name):
    for payload in GOOD[name]:
        validate(name, payload)


@pytest.mark.parametrize("name", sorted(BAD))
def test_validate_rejects_bad_payloads(name):
    for payload in BAD[name]:
        with pytest.raises(ProtocolError) as err:
            validate(name, payload)
        assert err.value.kind == "invalid_body", payload
        assert str(err.value).startswith("Invalid message body (type %r)" % name)


def test_validate_rejects_unknown_types():
    for name in ("OK", "RETRY", "FOO", "", "msg"):
        with pytest.raises(ProtocolError) as err:
            validate(name, "")
        assert err.value.kind == "unknown_type"
        assert "Unknown message type %r" % name in str(err.value)
