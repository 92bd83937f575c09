"""The lines reader against the reader contract."""
import io

import pytest

from disco_core.testing import ReaderContract


class TestLinesReader(ReaderContract):
    reader = "lines"
    records = ["first line\n", "second line, \u00e9t\u00e9 \u2603\n", "\n", "  indented\ttab\n"]
    bad_input = b"valid\n\xff\xfe not UTF-8\n"
    bad_error = UnicodeDecodeError

    @pytest.fixture
    def encode(self):
        return lambda lines: "".join(lines).encode("utf-8")


@pytest.fixture
def lines():
    from disco_core.plugins import PluginHost
    return PluginHost().driver("reader", "lines")


def test_last_line_without_newline(lines):
    assert list(lines(io.BytesIO(b"a\nb"))) == ["a\n", "b"]


def test_a_text_stream_is_used_as_it_is(lines):
    text = io.StringIO("one\ntwo\n")
    assert list(lines(text)) == ["one\n", "two\n"]


def test_carriage_returns_are_data(lines):
    assert list(lines(io.BytesIO(b"a\rb\nc\r\n"))) == ["a\rb\n", "c\r\n"]
