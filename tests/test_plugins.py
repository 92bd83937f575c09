"""The plugin host (disco_core.plugins): hooks, lazy named drivers, broken and disabled
plugins, helpful unknown-name errors, and drivers registered in process."""
import io
import os
import subprocess
import sys
import textwrap

import pytest

from disco_core import settings as settings_mod
from disco_core.errors import PluginError
from disco_core.hookspecs import hookimpl
from disco_core.plugins import PluginHost

BIN = os.path.dirname(sys.executable)


# -- hooks --------------------------------------------------------------------------------

def test_core_registers_its_hooks_like_any_plugin():
    import disco_core.builtin
    host = PluginHost()
    assert host.pm.get_plugin("core") is disco_core.builtin
    names = {cmd.name for batch in host.hook.disco_cli_commands() for cmd in batch}
    assert {"start", "stop", "status", "plugins", "run", "wait"} <= names


class EverythingPlugin:
    """A plugin object implementing several hooks."""

    def __init__(self):
        self.events = []

    @hookimpl
    def disco_settings(self):
        return {"DISCO_TESTHOOK_LIMIT": 5}

    @hookimpl
    def disco_cli_commands(self):
        from disco_core.cli import Command
        return [Command("hello", "say hello", lambda args, ctx: print("hello"))]

    @hookimpl
    def disco_job_event(self, jobname, host, message, timestamp):
        self.events.append((jobname, host, message))


def test_hooks_of_a_plugin_are_registered_and_called(plugin_host):
    plugin = EverythingPlugin()
    try:
        host = plugin_host(plugin)
        assert host.pm.is_registered(plugin)
        assert settings_mod.DiscoSettings()["DISCO_TESTHOOK_LIMIT"] == 5
        assert [c.name for batch in host.hook.disco_cli_commands() for c in batch] == ["hello"]
        host.hook.disco_job_event(jobname="J", host="h", message="m", timestamp="t")
        assert plugin.events == [("J", "h", "m")]
        # core's hooks are not there: this host was built with chosen plugins only
        assert host.pm.get_plugin("core") is None
    finally:
        settings_mod.DEFAULTS.pop("DISCO_TESTHOOK_LIMIT", None)
        settings_mod._NUMERIC.pop("DISCO_TESTHOOK_LIMIT", None)


def test_a_hookimpl_with_a_wrong_signature_is_refused():
    class Bad:
        @hookimpl
        def disco_job_event(self, jobname, colour):
            pass
    with pytest.raises(Exception) as err:
        PluginHost([Bad()], entry_points=False)
    assert "colour" in str(err.value)


# -- named drivers ------------------------------------------------------------------------

def test_drivers_are_found_by_name():
    host = PluginHost()
    names = host.names("scheme")
    assert names == sorted(names)
    assert {"dir", "disco", "file", "http", "https", "raw", "url"} <= set(names)
    assert {"chain", "lines"} <= set(host.names("reader"))
    assert "chain" in host.names("writer")
    assert host.names("scheduler") == ["fair", "fifo", "locality"]
    raw = host.driver("scheme", "raw")
    assert raw.open("raw://hello").read() == b"hello"
    assert host.driver("scheme", "raw") is raw
    assert host.driver("scheme", "http") is host.driver("scheme", "https")


def test_drivers_are_imported_only_when_used():
    code = textwrap.dedent("""
        import sys
        from disco_core.plugins import PluginHost
        host = PluginHost()
        assert "http" in host.names("scheme")
        mods = ("disco_plugin_http.scheme", "disco_plugin_chain.reader", "disco_plugin_fair.policy")
        print(sorted(m for m in mods if m in sys.modules))
        host.driver("scheme", "http")
        print(sorted(m for m in mods if m in sys.modules))
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["[]", "['disco_plugin_http.scheme']"]


def test_unknown_scheme_names_the_package_and_the_known_schemes():
    host = PluginHost()
    with pytest.raises(PluginError) as err:
        host.driver("scheme", "s3")
    assert str(err.value) == ("no plugin handles 's3://': pip install disco-plugin-s3; "
                              "known: %s" % ", ".join(host.names("scheme")))
    known = str(err.value).split("known: ", 1)[1].split(", ")
    assert {"raw", "url"} <= set(known) and known == sorted(known)


def test_unknown_reader_and_scheduler_messages():
    host = PluginHost()
    with pytest.raises(PluginError) as err:
        host.driver("reader", "parquet")
    assert str(err.value) == ("no reader plugin named 'parquet': pip install "
                              "disco-plugin-parquet; known: %s" % ", ".join(host.names("reader")))
    with pytest.raises(PluginError) as err:
        PluginHost(entry_points=False).driver("scheduler", "fair")
    assert str(err.value).endswith("pip install disco-plugin-fair; known: none")


class MemoryScheme:
    """A scheme defined in a test: ``mem://KEY`` reads ``STORE[KEY]``."""

    STORE = {"greeting": b"hello from memory\nsecond line\n"}

    def open(self, url, task=None):
        return io.BytesIO(self.STORE[url[len("mem://"):]])


class MemoryPlugin:
    @hookimpl
    def disco_register_schemes(self):
        return {"mem": MemoryScheme()}


def test_a_scheme_registered_in_process_works(plugin_host):
    host = plugin_host(MemoryPlugin(), entry_points=True)
    assert "mem" in host.names("scheme")
    assert host.driver("scheme", "mem").open("mem://greeting").read().startswith(b"hello")
    # the worker opens inputs through the process-wide host
    from disco_core.worker import dataio
    with dataio.open_url("mem://greeting") as f:
        assert f.read() == MemoryScheme.STORE["greeting"]
    with pytest.raises(PluginError) as err:
        host.driver("scheme", "nope")
    known = str(err.value).split("known: ", 1)[1].split(", ")
    assert {"dir", "disco", "file", "http", "https", "mem", "raw"} <= set(known)
    assert known == sorted(known)


def test_a_scheme_registered_in_process_wins_over_an_entry_point(plugin_host):
    class RawOverride:
        @hookimpl
        def disco_register_schemes(self):
            return {"raw": MemoryScheme()}
    host = plugin_host(RawOverride(), entry_points=True)
    assert isinstance(host.driver("scheme", "raw"), MemoryScheme)


def test_register_driver_replaces_a_cached_driver():
    host = PluginHost()
    assert host.driver("scheme", "raw").open("raw://x").read() == b"x"
    host.register_driver("scheme", "raw", MemoryScheme())
    assert isinstance(host.driver("scheme", "raw"), MemoryScheme)


# -- disabled plugins ---------------------------------------------------------------------

def test_disabled_plugins_are_hidden():
    host = PluginHost(disabled=["disco-plugin-raw", "https"])
    assert "raw" not in host.names("scheme") and "https" not in host.names("scheme")
    assert "http" in host.names("scheme")
    with pytest.raises(PluginError) as err:
        host.driver("scheme", "raw")
    assert "pip install disco-plugin-raw" in str(err.value)
    rows = {info.name: info for info in host.inventory()}
    assert rows["disco-plugin-raw"].disabled and not rows["disco-plugin-http"].disabled


def test_disco_disable_plugins_from_the_environment(monkeypatch):
    monkeypatch.setenv("DISCO_DISABLE_PLUGINS", " disco-plugin-fifo , disco-plugin-lines ")
    host = PluginHost()
    assert host.names("scheduler") == ["fair", "locality"]
    assert "chain" in host.names("reader") and "lines" not in host.names("reader")
    monkeypatch.setenv("DISCO_DISABLE_PLUGINS", "core")
    assert PluginHost().pm.get_plugin("core") is None


# -- a broken plugin, installed for real in a subprocess -----------------------------------

@pytest.fixture
def broken_dist(tmp_path):
    """A fake installed distribution whose hooks module (and one scheme) fail to import."""
    info = tmp_path / "fake_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake_broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[disco]\nbroken = fake_broken_mod\n\n"
                                           "[disco.schemes]\nbroke = fake_broken_mod:scheme\n")
    (tmp_path / "fake_broken_mod.py").write_text(
        'raise ImportError("fake_broken needs libfoo, which is not installed")\n')
    return str(tmp_path)


def run(path, *args, env=None, python=None):
    full = dict(os.environ)
    full.pop("DISCO_RAISE_PLUGIN_ERRORS", None)
    full.pop("DISCO_DISABLE_PLUGINS", None)
    full["PYTHONPATH"] = path
    full["DISCO_PORT"] = "9"  # no master there
    full.update(env or {})
    cmd = [sys.executable, "-c", python] if python else [os.path.join(BIN, "disco"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=120)


def test_a_broken_plugin_is_listed_and_does_not_stop_the_cli(broken_dist):
    proc = run(broken_dist, "plugins")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    row = [line for line in lines if line.startswith("fake_broken ")]
    assert row and "BROKEN" in row[0] and "1.0" in row[0]
    assert "cannot import fake_broken_mod: ImportError: fake_broken needs libfoo" in proc.stdout
    assert lines[-1] == "1 plugin(s) failed to load"
    assert any(line.startswith("disco-plugin-raw") and " ok " in line for line in lines)
    # one warning on stderr, naming the plugin
    assert proc.stderr.count("disco plugin fake_broken is broken and was skipped") == 1
    # the other commands still work
    proc = run(broken_dist, "status")
    assert proc.returncode == 0 and "Master localhost:9 stopped" in proc.stdout
    proc = run(broken_dist, "-v")
    assert proc.returncode == 0 and "DISCO_PORT = 9" in proc.stdout


def test_a_broken_plugin_does_not_stop_the_host(broken_dist):
    code = textwrap.dedent("""
        import warnings
        warnings.simplefilter("ignore")
        from disco_core.plugins import PluginHost
        from disco_core.errors import PluginError
        host = PluginHost()
        print(sorted(host.broken))
        print(host.driver("scheme", "raw").open("raw://still works").read().decode())
        try:
            host.driver("scheme", "broke")
        except PluginError as exc:
            print(exc)
        """)
    proc = run(broken_dist, python=code)
    assert proc.returncode == 0, proc.stderr
    broken, works, error = proc.stdout.splitlines()
    assert broken == "['fake_broken']"
    assert works == "still works"
    assert error.startswith("the scheme plugin 'broke' (fake_broken_mod:scheme, from "
                            "fake_broken) failed to load: ImportError: fake_broken needs libfoo")


def test_raise_plugin_errors_makes_a_broken_plugin_fatal(broken_dist):
    proc = run(broken_dist, "plugins", env={"DISCO_RAISE_PLUGIN_ERRORS": "1"})
    assert proc.returncode != 0
    assert "plugin fake_broken failed to load: cannot import fake_broken_mod" in proc.stderr
    assert "fake_broken needs libfoo" in proc.stderr
    for off in ("0", "", "no", "off", "false"):
        proc = run(broken_dist, "status", env={"DISCO_RAISE_PLUGIN_ERRORS": off})
        assert proc.returncode == 0, (off, proc.stderr)


def test_a_disabled_broken_plugin_is_not_loaded(broken_dist):
    proc = run(broken_dist, "plugins", env={"DISCO_DISABLE_PLUGINS": "fake_broken",
                                            "DISCO_RAISE_PLUGIN_ERRORS": "1"})
    assert proc.returncode == 0, proc.stderr
    row = [line for line in proc.stdout.splitlines() if line.startswith("fake_broken ")]
    assert row and "disabled" in row[0]
    assert "failed to load" not in proc.stdout and "broken" not in proc.stderr
