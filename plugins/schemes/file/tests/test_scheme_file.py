"""The file:// scheme (and scheme-less paths) against the scheme contract."""
import itertools
import os

import pytest

from disco_core.errors import DataError
from disco_core.testing import SchemeContract


class TestFileScheme(SchemeContract):
    scheme = "file"

    @pytest.fixture
    def url_for(self, tmp_path):
        counter = itertools.count()

        def make(data):
            path = tmp_path / ("input-%d" % next(counter))
            path.write_bytes(data)
            return "file://%s" % path
        return make

    @pytest.fixture
    def missing_url(self, tmp_path):
        return "file://%s" % (tmp_path / "no-such-input")


@pytest.fixture
def scheme():
    from disco_core.plugins import PluginHost
    return PluginHost().driver("scheme", "file")


def test_a_path_without_scheme_is_a_local_file(tmp_path, scheme):
    path = tmp_path / "plain"
    path.write_bytes(b"plain path\n")
    with scheme.open(str(path)) as f:
        assert f.read() == b"plain path\n"
    from disco_core.worker import dataio
    with dataio.open_url(str(path)) as f:  # the worker picks the file scheme for it
        assert f.read() == b"plain path\n"


def test_size_is_the_file_size(tmp_path, scheme):
    path = tmp_path / "sized"
    path.write_bytes(b"x" * 12345)
    with scheme.open("file://%s" % path) as f:
        assert f.size == 12345


def test_errors_name_the_url_and_the_host(tmp_path, scheme):
    class Task:
        host = "node7"
    url = "file://%s" % tmp_path
    with pytest.raises(DataError) as err:
        scheme.open(url, Task())
    assert "is a directory" in str(err.value) and "node7" in str(err.value)
    assert err.value.url == url
    missing = "file://%s/gone" % tmp_path
    with pytest.raises(DataError) as err:
        scheme.open(missing, Task())
    assert str(err.value) == "Unable to access resource (%s): no such file on node7" % missing


def test_unreadable_file(tmp_path, scheme):
    path = tmp_path / "secret"
    path.write_bytes(b"x")
    path.chmod(0)
    url = "file://%s" % path
    if os.geteuid() != 0:
        with pytest.raises(DataError) as err:
            scheme.open(url)
        assert "permission denied" in str(err.value)
        return
    # root reads any file: open it as an unprivileged user instead
    import subprocess
    import sys
    code = ("import os\n"
            "from disco_plugin_file.scheme import scheme\n"
            "from disco_core.errors import DataError\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "try:\n    scheme.open(%r)\nexcept DataError as exc:\n    print(exc)\n" % url)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert "permission denied" in out.stdout, out.stderr
