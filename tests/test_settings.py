"""Settings (disco_core.settings): defaults < settings file < environment < explicit, derived
defaults, numeric settings, flags, and the settings file itself."""
import os

import pytest

from disco_core import settings as settings_mod
from disco_core.settings import DiscoSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No DISCO_/DDFS_ variables from the outer environment, and a HOME without ~/.disco."""
    for name in list(os.environ):
        if name.startswith(("DISCO_", "DDFS_")) or name == "XDG_DATA_HOME":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def settings_file(tmp_path, text, name="settings.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults(clean_env):
    s = DiscoSettings()
    assert s["DISCO_PORT"] == 8989
    assert s["DISCO_SCHEDULER"] == "fair" and s["DISCO_PLACEMENT"] == "locality"
    assert s["DISCO_SCHEDULER_ALPHA"] == 0.001
    assert s["DISCO_MAX_FAILURE_RATE"] == 3
    assert s["DDFS_PUT_PORT"] == 8990
    assert s["DISCO_HOME"] == str(clean_env / ".local" / "share" / "disco")
    assert s["DISCO_MASTER"] == "http://localhost:8989"
    assert s["DISCO_NAME"] == "disco_8989"
    assert s["DISCO_SETTINGS_FILE"] == ""
    assert isinstance(s["DISCO_WORKERS"], int) and s["DISCO_WORKERS"] >= 1


def test_precedence_defaults_file_environment_explicit(tmp_path, monkeypatch):
    path = settings_file(tmp_path, "DISCO_PORT = 1111\nDISCO_SCHEDULER = 'fifo'\n"
                                   "DISCO_PROXY = 'http://proxy:1'\nlower_case = 'ignored'\n")
    monkeypatch.setenv("DISCO_SETTINGS_FILE", path)
    s = DiscoSettings()
    assert s["DISCO_PORT"] == 1111            # file over default
    assert s["DISCO_SCHEDULER"] == "fifo"
    assert s["DISCO_PLACEMENT"] == "locality"  # default where the file is silent
    assert s.get("lower_case") is None
    monkeypatch.setenv("DISCO_PORT", "2222")
    assert DiscoSettings()["DISCO_PORT"] == 2222   # environment over file
    assert DiscoSettings()["DISCO_SCHEDULER"] == "fifo"
    explicit = DiscoSettings(DISCO_PORT=3333)
    assert explicit["DISCO_PORT"] == 3333          # explicit over environment
    explicit["DISCO_SCHEDULER"] = "fair"
    assert explicit["DISCO_SCHEDULER"] == "fair"
    assert explicit["DISCO_PROXY"] == "http://proxy:1"


def test_derived_defaults_follow_what_they_derive_from(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCO_HOME", str(tmp_path / "dh"))
    s = DiscoSettings(DISCO_PORT=7000)
    assert s["DISCO_ROOT"] == str(tmp_path / "dh" / "root")
    assert s["DISCO_DATA"] == str(tmp_path / "dh" / "root" / "data")
    assert s["DDFS_DATA"] == str(tmp_path / "dh" / "root" / "ddfs")
    assert s["DISCO_MASTER_ROOT"] == str(tmp_path / "dh" / "root" / "data" / "_disco_7000")
    assert s["DISCO_MASTER"] == "http://localhost:7000"
    # a settings file value feeds the defaults derived from it
    path = settings_file(tmp_path, "DISCO_ROOT = %r\n" % str(tmp_path / "elsewhere"))
    s = DiscoSettings(DISCO_SETTINGS_FILE=path)
    assert s["DISCO_DATA"] == str(tmp_path / "elsewhere" / "data")
    assert s["DISCO_LOG_DIR"] == str(tmp_path / "elsewhere" / "log")


def test_numbers_from_the_environment_and_files_are_converted(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCO_PORT", " 9000 ")
    monkeypatch.setenv("DISCO_SCHEDULER_ALPHA", "1e-3")
    monkeypatch.setenv("DISCO_RETRY_BASE", "0")
    monkeypatch.setenv("DISCO_WORKERS", "6")
    s = DiscoSettings()
    assert s["DISCO_PORT"] == 9000 and isinstance(s["DISCO_PORT"], int)
    assert s["DISCO_SCHEDULER_ALPHA"] == 0.001
    assert s["DISCO_RETRY_BASE"] == 0.0 and isinstance(s["DISCO_RETRY_BASE"], float)
    assert s["DISCO_WORKERS"] == 6
    path = settings_file(tmp_path, "DISCO_MAX_FAILURE_RATE = '7'\nDISCO_SORT_BUFFER_SIZE = 1024\n")
    s = DiscoSettings(DISCO_SETTINGS_FILE=path, DISCO_RETRY_MAX="2.5")
    assert s["DISCO_MAX_FAILURE_RATE"] == 7 and s["DISCO_SORT_BUFFER_SIZE"] == 1024
    assert s["DISCO_RETRY_MAX"] == 2.5


@pytest.mark.parametrize("name,value,expected", [
    ("DISCO_PORT", "eighty", "setting DISCO_PORT='eighty' is not an integer"),
    ("DISCO_PORT", "8989.5", "setting DISCO_PORT='8989.5' is not an integer"),
    ("DISCO_PORT", "", "setting DISCO_PORT='' is not an integer"),
    ("DISCO_WORKERS", "many", "setting DISCO_WORKERS='many' is not an integer"),
    ("DISCO_SCHEDULER_ALPHA", "small", "setting DISCO_SCHEDULER_ALPHA='small' is not a number"),
])
def test_numeric_coercion_errors_name_the_setting(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as err:
        DiscoSettings()[name]
    assert str(err.value).startswith(expected)
    # the error is raised where the setting is used, not for every other setting
    assert DiscoSettings()["DISCO_SCHEDULER"] == "fair"


def test_flags_accept_words(monkeypatch):
    s = DiscoSettings()
    assert s.flag("DISCO_WORKER_FORK") is True
    assert s.flag("DISCO_RAISE_PLUGIN_ERRORS") is False
    for word, expected in [("off", False), ("no", False), ("0", False), ("", False),
                           ("False", False), ("on", True), ("yes", True), ("1", True)]:
        monkeypatch.setenv("DISCO_WORKER_FORK", word)
        assert DiscoSettings().flag("DISCO_WORKER_FORK") is expected, word


def test_unknown_settings(monkeypatch):
    s = DiscoSettings()
    with pytest.raises(KeyError) as err:
        s["DISCO_NO_SUCH_THING"]
    assert "DISCO_NO_SUCH_THING" in str(err.value)
    assert s.get("DISCO_NO_SUCH_THING", "dflt") == "dflt"
    assert "DISCO_NO_SUCH_THING" not in s and "DISCO_PORT" in s
    monkeypatch.setenv("DISCO_CUSTOM", "x")
    assert "DISCO_CUSTOM" in s and s["DISCO_CUSTOM"] == "x"
    assert "DISCO_CUSTOM" in s.names


def test_settings_file_lookup_order(clean_env, tmp_path, monkeypatch):
    dot = clean_env / ".disco"
    dot.write_text("DISCO_PORT = 4444\n")
    assert DiscoSettings()["DISCO_SETTINGS_FILE"] == str(dot)
    assert DiscoSettings()["DISCO_PORT"] == 4444
    named = settings_file(tmp_path, "DISCO_PORT = 5555\n")
    monkeypatch.setenv("DISCO_SETTINGS_FILE", named)
    assert DiscoSettings()["DISCO_PORT"] == 5555
    # set but empty: no settings file at all, not ~/.disco
    monkeypatch.setenv("DISCO_SETTINGS_FILE", "")
    assert DiscoSettings()["DISCO_PORT"] == 8989
    assert DiscoSettings(DISCO_SETTINGS_FILE="")["DISCO_PORT"] == 8989


def test_a_missing_settings_file_is_a_clear_error(tmp_path, monkeypatch):
    missing = str(tmp_path / "nope.py")
    monkeypatch.setenv("DISCO_SETTINGS_FILE", missing)
    with pytest.raises(FileNotFoundError) as err:
        DiscoSettings()["DISCO_PORT"]
    assert missing in str(err.value) and "DISCO_SETTINGS_FILE" in str(err.value)


def test_settings_file_may_compute_values(tmp_path):
    path = settings_file(tmp_path, "import os\nBASE = 9000\nDISCO_PORT = BASE + 1\n"
                                   "DDFS_PUT_PORT = DISCO_PORT + 1\n")
    s = DiscoSettings(DISCO_SETTINGS_FILE=path)
    assert (s["DISCO_PORT"], s["DDFS_PUT_PORT"]) == (9001, 9002)


def test_env_exports_every_setting_as_a_string(monkeypatch):
    s = DiscoSettings(DISCO_PORT=7070)
    env = s.env
    assert env["DISCO_PORT"] == "7070"
    assert env["DISCO_MASTER"] == "http://localhost:7070"
    assert env["PATH"] == os.environ["PATH"]
    assert all(isinstance(v, str) for v in env.values())


def test_plugin_settings_are_added_but_cannot_replace_cores():
    try:
        settings_mod.register_defaults({"DISCO_TESTPLUGIN_SIZE": 10, "DISCO_PORT": 1,
                                        "DISCO_TESTPLUGIN_NAME": lambda s: "n%s" % s["DISCO_PORT"]})
        s = DiscoSettings()
        assert s["DISCO_PORT"] == 8989
        assert s["DISCO_TESTPLUGIN_NAME"] == "n8989"
        os.environ["DISCO_TESTPLUGIN_SIZE"] = "12"
        assert s["DISCO_TESTPLUGIN_SIZE"] == 12
    finally:
        os.environ.pop("DISCO_TESTPLUGIN_SIZE", None)
        for name in ("DISCO_TESTPLUGIN_SIZE", "DISCO_TESTPLUGIN_NAME"):
            settings_mod.DEFAULTS.pop(name, None)
            settings_mod._NUMERIC.pop(name, None)


@pytest.mark.parametrize("value", ["0", "-2", "nan"])
def test_a_timeout_that_is_not_positive_names_the_setting(value):
    s = DiscoSettings(DISCO_NODE_PING_TIMEOUT=value)
    with pytest.raises(ValueError, match="DISCO_NODE_PING_TIMEOUT.*positive number of seconds"):
        s.seconds("DISCO_NODE_PING_TIMEOUT")
    assert DiscoSettings(DISCO_NODE_PING_TIMEOUT="0.25").seconds("DISCO_NODE_PING_TIMEOUT") == 0.25
