"""The worker protocol, version 1.1: framing and message validation, no I/O.

Frame (both directions): ``<NAME> SP <LEN> SP <PAYLOAD> LF`` where PAYLOAD is LEN bytes of
JSON. Worker -> node travels over the worker's stderr, node -> worker over its stdin.
:class:`FrameParser` is fed bytes and returns whole messages; it raises
:class:`ProtocolError` with the upstream error kinds (``invalid_type``,
``invalid_length``, ``message_too_big``, ``invalid_body``). :func:`validate` checks a
worker message's payload shape; a bad shape is fatal for the job.
"""
from __future__ import annotations

import json
from typing import Any

from .errors import ProtocolError

MAX_TYPE = 10
MAX_PAYLOAD = 100 * 1024 * 1024
WORKER_MESSAGES = ("WORKER", "TASK", "INPUT", "INPUT_ERR", "MSG", "OUTPUT", "DONE", "ERROR",
                   "FATAL", "PING", "COUNT")
#: ``COUNT`` (an extension of the original protocol): ``{"name": total, ...}``, the task's
#: counters so far; at most this many names of at most ``MAX_COUNTER_NAME`` characters.
MAX_COUNTERS = 1000
MAX_COUNTER_NAME = 200
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode(name: str, payload: Any) -> bytes:
    body = _dumps(payload).encode("utf-8")
    return b"%s %d %s\n" % (name.encode("ascii"), len(body), body)


class FrameParser:
    """Incremental parser of frames; keeps any partial frame between feeds."""

    def __init__(self) -> None:
        self.buf = bytearray()

    @property
    def partial(self) -> bool:
        return bool(self.buf)

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Append bytes; return the complete ``(name, raw_payload)`` frames now available."""
        self.buf += data
        frames = []
        buf = self.buf
        pos = 0
        while True:
            sp1 = buf.find(b" ", pos, pos + MAX_TYPE + 1)
            if sp1 < 0:
                if len(buf) - pos > MAX_TYPE:
                    raise ProtocolError("invalid_type", "message type too long or missing: %r"
                                        % bytes(buf[pos:pos + 40]))
                break
            name = bytes(buf[pos:sp1])
            if not name:
                raise ProtocolError("invalid_type", "message type missing: %r"
                                    % bytes(buf[pos:pos + 40]))
            sp2 = buf.find(b" ", sp1 + 1, sp1 + 12)
            if sp2 < 0:
                if len(buf) - sp1 > 11:
                    if bytes(buf[sp1 + 1:sp1 + 12]).isdigit():  # more digits than 100 MiB has
                        raise ProtocolError("message_too_big", "message %r of %s... bytes is "
                                            "over 100 MiB" % (name, buf[sp1 + 1:sp1 + 12].decode()))
                    raise ProtocolError("invalid_length", "bad length after %r" % name)
                break
            raw_len = bytes(buf[sp1 + 1:sp2])
            if not raw_len.isdigit():
                kind = "invalid_length"
                raise ProtocolError(kind, "bad length %r after %r" % (raw_len, name))
            length = int(raw_len)
            if length > MAX_PAYLOAD:
                raise ProtocolError("message_too_big", "message %r of %d bytes is over 100 MiB"
                                    % (name, length))
            end = sp2 + 1 + length
            if len(buf) < end + 1:
                break
            if buf[end] != 0x0A:
                raise ProtocolError("invalid_body",
                                    "message %r is not followed by a newline" % name)
            try:
                text = name.decode("ascii")
            except UnicodeDecodeError:
                raise ProtocolError("invalid_type", "message type %r is not ASCII" % name) from None
            frames.append((text, bytes(buf[sp2 + 1:end])))
            pos = end + 1
        del buf[:pos]
        return frames


def decode_payload(name: str, raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ProtocolError("invalid_json", "Payload is not valid JSON (type %r): %s: %r"
                            % (name, exc, raw[:200])) from None


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def validate(name: str, payload: Any) -> None:
    """Check the payload shape of a worker -> node message (fatal for the job if bad)."""
    if name not in WORKER_MESSAGES:
        raise ProtocolError("unknown_type", "Unknown message type %r" % name)
    ok = True
    if name == "WORKER":
        ok = (isinstance(payload, dict) and _is_int(payload.get("pid"))
              and isinstance(payload.get("version", ""), str))
    elif name == "INPUT":
        ok = payload == "" or (isinstance(payload, list) and len(payload) == 2
                               and payload[0] in ("include", "exclude")
                               and isinstance(payload[1], list)
                               and all(_is_int(i) for i in payload[1]))
    elif name == "INPUT_ERR":
        ok = (isinstance(payload, list) and len(payload) == 2 and _is_int(payload[0])
              and isinstance(payload[1], list) and all(_is_int(i) for i in payload[1]))
    elif name == "OUTPUT":
        ok = (isinstance(payload, list) and len(payload) == 3 and _is_int(payload[0])
              and payload[0] >= 0 and isinstance(payload[1], str) and _is_int(payload[2]))
    elif name in ("MSG", "ERROR", "FATAL", "TASK", "DONE"):
        ok = isinstance(payload, str)
    elif name == "COUNT":
        ok = is_counts(payload)
    if not ok:
        raise ProtocolError("invalid_body", "Invalid message body (type %r): %s"
                            % (name, json.dumps(payload)[:200]))


def is_counts(value: Any) -> bool:
    """Whether ``value`` is counters as ``COUNT`` carries them: ``{name: number}``."""
    return (isinstance(value, dict) and len(value) <= MAX_COUNTERS
            and all(isinstance(k, str) and 0 < len(k) <= MAX_COUNTER_NAME
                    and isinstance(v, (int, float)) and not isinstance(v, bool)
                    and v == v and v not in (float("inf"), float("-inf"))
                    for k, v in value.items()))
