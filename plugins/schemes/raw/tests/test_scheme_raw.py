"""The raw:// scheme against the scheme contract, and its own rules."""
import pytest

from disco_core.testing import SchemeContract


class TestRawScheme(SchemeContract):
    scheme = "raw"
    binary = False  # the data is the URL's text, encoded as UTF-8

    @pytest.fixture
    def url_for(self):
        return lambda data: "raw://" + data.decode("utf-8")


def test_the_data_is_taken_literally():
    from disco_plugin_raw.scheme import scheme
    for text in ("a b%20c", "x://y/z?q=1#frag", "  spaces  ", "line1\nline2", "\u00e9\u2603"):
        stream = scheme.open("raw://" + text)
        assert stream.read() == text.encode("utf-8")
        assert stream.size == len(text.encode("utf-8"))


def test_only_raw_urls():
    from disco_plugin_raw.scheme import scheme
    with pytest.raises(ValueError) as err:
        scheme.open("http://x")
    assert "http://x" in str(err.value)
