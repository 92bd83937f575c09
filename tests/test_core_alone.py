"""Core without plugins starts, and says which plugin a job needs."""
import pytest

from disco.core import Job
from disco.error import DiscoError
from disco_core.testing import running_cluster

ALL = ("disco-plugin-raw,disco-plugin-file,disco-plugin-http,disco-plugin-disco,"
       "disco-plugin-lines,disco-plugin-chain,disco-plugin-fair,disco-plugin-fifo,"
       "disco-plugin-locality,disco-plugin-gzip,disco-plugin-csv,disco-plugin-netstring")


def words(line, params):
    for word in line.split():
        yield word, 1


def test_core_alone_starts_and_names_the_missing_scheduler():
    with running_cluster(extra_env={"DISCO_DISABLE_PLUGINS": ALL}) as cluster:
        assert "running" in cluster.cli("status").stdout
        with pytest.raises(DiscoError) as err:
            Job().run(input=["raw://a"], map=words)
        assert "pip install disco-plugin-fair" in str(err.value)
        out = cluster.cli("plugins").stdout
        assert "disabled" in out


def test_missing_scheme_and_writer_plugins_are_named():
    disabled = "disco-plugin-http,disco-plugin-chain"
    with running_cluster(extra_env={"DISCO_DISABLE_PLUGINS": disabled}):
        with pytest.raises(DiscoError) as err:
            Job().run(input=["http://127.0.0.1:9/x"], map=words)
        assert "no plugin handles 'http://': pip install disco-plugin-http" in str(err.value)
        from disco.error import JobError
        with pytest.raises(JobError) as err:
            Job().run(input=["raw://a"], map=words).wait(timeout=120)
        assert "pip install disco-plugin-chain" in str(err.value)
