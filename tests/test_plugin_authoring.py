"""``disco plugin new KIND NAME``: a plugin of every kind, made outside the repository by the
command of core installed from its wheel, built, installed into a fresh virtualenv, and
tested there with the tests it came with (the kind's contract suite and a job on a real
cluster)."""
import os

import pytest
import wheelhouse

from disco_core.cli.authoring import KINDS, new_plugin
from disco_core.errors import DiscoError

NAMES = {"scheme": "memo", "reader": "tsv", "scheduler": "newest", "command": "howmany",
         "routes": "peek", "volume": "spread"}
CORE = wheelhouse.plain_projects(leave_out=("disco-plugin-hdfs",))


def test_every_kind_installs_and_passes_its_own_tests_in_a_fresh_virtualenv(tmp_path):
    assert sorted(NAMES) == sorted(KINDS)
    wheels = str(tmp_path / "wheels")
    wheelhouse.build_wheels(CORE, wheels)
    deps = wheelhouse.dependency_wheels()
    work = str(tmp_path / "work")
    venv = wheelhouse.Venv(str(tmp_path / "venv"), work)
    venv.install("-f", wheels, "-f", deps, "pytest", "pytest-timeout", *CORE)

    made = {}
    for kind, name in NAMES.items():
        out = venv.run("disco", "plugin", "new", kind, name, "-d", work).stdout
        made[kind] = os.path.join(work, "disco-plugin-%s" % name)
        assert made[kind] in out and os.path.isfile(os.path.join(made[kind], "pyproject.toml"))
    sources = {"disco-plugin-%s" % NAMES[kind]: path for kind, path in made.items()}
    wheelhouse.build_wheels(list(sources), wheels, sources)
    venv.install("-f", wheels, "-f", deps, *sources)

    listed = venv.run("disco", "plugins").stdout
    assert all(dist in listed for dist in sources), listed
    for kind, path in made.items():
        # the installed plugin is tested, not its folder: pytest runs with no source path
        proc = venv.run("pytest", "-q", "-p", "no:cacheprovider", cwd=path, check=False,
                        timeout=600)
        assert proc.returncode == 0, "%s plugin's tests:\n%s%s" % (kind, proc.stdout,
                                                                  proc.stderr)
        assert " passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout


def test_the_made_code_is_ruff_clean(tmp_path):
    pytest.importorskip("ruff")
    import subprocess
    import sys
    for kind, name in NAMES.items():
        new_plugin(kind, name, str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--line-length",
                           "100", "--select", "E,F,W", str(tmp_path)],
                          capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout


def test_the_made_folder_has_what_a_distribution_needs(tmp_path):
    path = new_plugin("reader", "pairs", str(tmp_path))
    assert os.path.basename(path) == "disco-plugin-pairs"
    files = sorted(os.path.relpath(os.path.join(d, f), path)
                   for d, _dirs, names in os.walk(path) for f in names)
    assert files == ["README.md", "disco_plugin_pairs/__init__.py",
                     "disco_plugin_pairs/records.py", "pyproject.toml", "tests/conftest.py",
                     "tests/test_pairs.py"]
    with open(os.path.join(path, "pyproject.toml")) as f:
        text = f.read()
    assert 'pairs = "disco_plugin_pairs.records:pairs_reader"' in text
    assert 'pairs = "disco_plugin_pairs.records:pairs_writer"' in text
    with open(os.path.join(path, "tests", "test_pairs.py")) as f:
        assert "class TestReader(ReaderContract)" in f.read()


def test_a_volume_plugin_is_a_disco_volumes_driver_tested_by_the_contract(tmp_path):
    path = new_plugin("volumes", "spread", str(tmp_path))
    with open(os.path.join(path, "pyproject.toml")) as f:
        text = f.read()
    assert '[project.entry-points."disco.volumes"]' in text
    assert 'spread = "disco_plugin_spread.volumes:Volumes"' in text
    with open(os.path.join(path, "tests", "test_spread.py")) as f:
        assert "class TestVolumes(VolumeContract)" in f.read()
    with open(os.path.join(path, "README.md")) as f:
        assert "disco plugin new volume spread" in f.read()


@pytest.mark.parametrize("args, message", [
    (("storage", "x"), "unknown plugin kind 'storage': use one of scheme, reader"),
    (("scheme", "my_store"), "cannot be a URL scheme"),
    (("reader", "Bad-Name"), "is not a plugin name"),
    (("command", "results"), "'results' is one of core's commands"),
])
def test_bad_kinds_and_names_say_what_to_use(tmp_path, args, message):
    with pytest.raises(DiscoError) as err:
        new_plugin(*args, str(tmp_path))
    assert message in str(err.value)
    assert os.listdir(tmp_path) == []


def test_an_existing_folder_is_not_overwritten(tmp_path, disco_cluster):
    (tmp_path / "disco-plugin-twice").mkdir()
    proc = disco_cluster.cli("plugin", "new", "scheme", "twice", "-d", str(tmp_path),
                             check=False)
    assert proc.returncode == 1 and "already exists" in proc.stderr
    assert os.listdir(tmp_path / "disco-plugin-twice") == []
