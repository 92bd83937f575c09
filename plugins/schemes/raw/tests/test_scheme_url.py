"""The url:// scheme against the scheme contract, and its own rules."""
import hashlib

import pytest

from disco_core.testing import SchemeContract


class TestUrlScheme(SchemeContract):
    scheme = "url"
    binary = False  # the data is the URL's text, encoded as UTF-8

    def payloads(self):
        # the data is the whole URL, so every payload starts with url://
        return [b"url://" + p for p in super().payloads()]

    @pytest.fixture
    def url_for(self):
        def url(data):
            assert data.startswith(b"url://")
            return data.decode("utf-8")
        return url

    def test_large_input(self, driver, url_for):
        data = b"url://" + b"0123456789abcdef/" * (self.large // 17)
        stream = driver.open(url_for(data))
        got = hashlib.md5()
        while chunk := stream.read(1 << 16):
            got.update(chunk)
        assert got.digest() == hashlib.md5(data).digest()


def test_the_data_is_the_whole_url():
    from disco_plugin_raw.scheme import url
    for text in ("url://h/p?q=1#f", "url://", "url://\u00e9\u2603 x", "url://a\nb"):
        stream = url.open(text)
        assert stream.read() == text.encode("utf-8")
        assert stream.size == len(text.encode("utf-8"))


def test_only_url_urls():
    from disco_plugin_raw.scheme import url
    with pytest.raises(ValueError) as err:
        url.open("raw://x")
    assert "raw://x" in str(err.value)


def test_raw_and_url_differ_in_the_scheme_part():
    from disco_core.worker.dataio import open_url
    assert open_url("raw://h/p").read() == b"h/p"
    assert open_url("url://h/p").read() == b"url://h/p"
