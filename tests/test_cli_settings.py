"""Settings through the ``disco`` command: every setting ``disco -v`` prints has a reader, the
global ``-s FILE`` and ``-M MASTER`` options, and what a client says when no master answers."""
import os
import re
import subprocess
import sys

import pytest

import disco_core
from disco_core import settings as settings_mod
from disco_core.testing import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(disco_core.__file__)))
# Given their effect by the data garbage collector, which is being built elsewhere.
def source_files():
    """The code that could read a setting: core, the seed's import paths, the plugins and
    contrib, but not tests, nor settings.py (where every name is defined) nor testing.py
    (which sets settings for the clusters it starts)."""
    skip = {os.path.join(ROOT, "disco_core", "settings.py"),
            os.path.join(ROOT, "disco_core", "testing.py")}
    for top in ("disco_core", "disco", "plugins", "contrib"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d not in ("tests", "__pycache__")
                           and not d.startswith(".")]
            for name in filenames:
                path = os.path.join(dirpath, name)
                if path not in skip and name.endswith((".py", ".sh", ".c")):
                    yield path


def quoted_names():
    """Every ``"NAME"`` a source file quotes: how code looks a setting up."""
    found = set()
    for path in source_files():
        with open(path, errors="replace") as f:
            found.update(re.findall(r"""["']([A-Z][A-Z0-9_]+)["']""", f.read()))
    return found


class Recorder(dict):
    """Stands in for the settings while a default is computed, noting what it looks up."""

    def __init__(self):
        super().__init__()
        self.used = set()

    def __getitem__(self, key):
        self.used.add(key)
        return "x"


def default_dependencies():
    """name -> the settings its default is computed from."""
    deps = {}
    for name, value in settings_mod.DEFAULTS.items():
        if callable(value):
            rec = Recorder()
            try:
                value(rec)
            except TypeError:
                value()
            deps[name] = rec.used
    return deps


def printed_settings(cluster, *args):
    out = cluster.cli(*args, "-v").stdout
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*) = (.*)$", out, re.M))


def test_every_printed_setting_is_read_somewhere(disco_cluster):
    printed = printed_settings(disco_cluster)
    assert "DISCO_PORT" in printed and "DISCO_WORKERS" in printed
    # names inherited from whoever runs the tests are theirs, not ours
    outer = {n for n in os.environ if n not in disco_cluster.env
             and n not in settings_mod.DEFAULTS}
    read = quoted_names()
    deps = default_dependencies()
    # a setting also has an effect when a setting that is read follows it
    changed = True
    while changed:
        changed = False
        for name, uses in deps.items():
            if name in read:
                for used in uses - read:
                    read.add(used)
                    changed = True
    unread = sorted(n for n in printed if n not in read and n not in outer)
    assert unread == [], "settings that nothing reads: %s" % ", ".join(unread)


def test_settings_without_a_meaning_here_are_not_printed(disco_cluster, monkeypatch):
    # DDFS's replication settings are the storage plugin's: without it, they mean nothing
    monkeypatch.setenv("DISCO_DISABLE_PLUGINS", "disco-plugin-ddfs")
    printed = printed_settings(disco_cluster)
    for gone in ("DISCO_FLAGS", "DISCO_MASTER_HOME", "DDFS_BLOB_REPLICAS", "DDFS_TAG_REPLICAS",
                 "DDFS_TAG_MIN_REPLICAS"):
        assert gone not in printed
    # the ones with an effect stay
    for kept in ("DDFS_DATA", "DDFS_ROOT", "DDFS_PUT_PORT", "DISCO_GC_AFTER", "DATA_GC_INTERVAL"):
        assert kept in printed


def test_a_plugin_registers_its_own_settings():
    class Plugin:
        from disco_core.hookspecs import hookimpl

        @hookimpl
        def disco_settings(self):
            return {"DISCO_EXAMPLE_REPLICAS": 3, "DISCO_PORT": 1}

    from disco_core.plugins import PluginHost
    saved = dict(settings_mod.DEFAULTS)
    try:
        PluginHost([Plugin()], entry_points=False)
        s = settings_mod.DiscoSettings()
        assert "DISCO_EXAMPLE_REPLICAS" in s.names
        assert s["DISCO_EXAMPLE_REPLICAS"] == 3
        assert settings_mod.DEFAULTS["DISCO_PORT"] == 8989   # core's own cannot be redefined
    finally:
        settings_mod.DEFAULTS.clear()
        settings_mod.DEFAULTS.update(saved)


def test_settings_file_option(disco_cluster, tmp_path):
    path = tmp_path / "cluster.py"
    path.write_text("DISCO_JOB_OWNER = 'ops@example'\nDISCO_EVENTS = 'nocolor'\n")
    printed = printed_settings(disco_cluster, "-s", str(path))
    assert printed["DISCO_SETTINGS_FILE"] == str(path)
    assert printed["DISCO_JOB_OWNER"] == "ops@example"
    assert printed["DISCO_EVENTS"] == "nocolor"
    # the file reaches what the command does: the job it submits carries the owner
    worker = tmp_path / "noop.sh"
    worker.write_text("#!/bin/sh\nexit 0\n")
    name = disco_cluster.cli("-s", str(path), "job", str(worker), "raw://x").stdout.strip()
    jobdict = disco_cluster.cli("jobdict", name).stdout
    assert "\towner\tops@example\n" in jobdict
    missing = disco_cluster.cli("-s", str(tmp_path / "nope.py"), "jobs", check=False)
    assert missing.returncode == 1
    assert "settings file %s does not exist" % (tmp_path / "nope.py") in missing.stderr


def test_master_option(disco_cluster):
    name_list = disco_cluster.cli("jobs").stdout
    for master in ("localhost:%d" % disco_cluster.port, "localhost",
                   "http://localhost:%d" % disco_cluster.port):
        # "localhost" alone gets DISCO_PORT appended
        assert disco_cluster.cli("-M", master, "jobs").stdout == name_list
    assert disco_cluster.cli("-M", "localhost").stdout.strip() == \
        "Disco master at %s" % disco_cluster.master
    # -M wins over the master the environment names
    port = free_port()
    out = disco_cluster.cli("jobs", "-M", "localhost:%d" % port, check=False)
    assert out.returncode == 1 and "localhost:%d" % port in out.stderr


def test_no_master_says_how_to_start_one(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCO_", "DDFS_"))}
    env.update(DISCO_HOME=str(tmp_path), DISCO_PORT=str(port), DISCO_SETTINGS_FILE="")
    exe = os.path.join(os.path.dirname(sys.executable), "disco")
    proc = subprocess.run([exe, "jobs"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("disco: ")
    assert "http://localhost:%d" % port in lines[0]
    assert "disco start" in lines[0] and "Connection refused" in lines[0]


def test_no_master_python_api():
    from disco_core.client import Disco
    from disco_core.errors import CommError
    master = "http://localhost:%d" % free_port()
    with pytest.raises(CommError) as err:
        Disco(master).joblist()
    assert master in str(err.value)
    assert "disco start" in str(err.value)
    assert err.value.code is None
    with pytest.raises(CommError, match="disco start"):
        Disco(master).nodeinfo()


def test_a_ping_timeout_that_is_not_positive_is_named_at_start(tmp_path):
    from disco_core.testing import Cluster, free_port
    c = Cluster(str(tmp_path / "home"), free_port(), extra_env={"DISCO_NODE_PING_TIMEOUT": "0"})
    for command in ("start", "nodaemon"):
        out = c.cli(command, check=False)
        assert out.returncode == 1
        assert out.stderr.strip() == ("disco: setting DISCO_NODE_PING_TIMEOUT=0.0 is not a "
                                      "positive number of seconds: set it to e.g. 10.0 or "
                                      "unset it")
