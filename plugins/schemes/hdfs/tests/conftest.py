"""A WebHDFS protocol server (namenode + datanode, real Tornado servers) per test."""
import pytest

from disco_plugin_hdfs.testing import WebHDFSServer


@pytest.fixture
def webhdfs(tmp_path):
    server = WebHDFSServer(str(tmp_path / "hdfs"))
    try:
        yield server
    finally:
        server.close()
