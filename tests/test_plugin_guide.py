"""The plugin-authoring guide (docs/plugins.md) stays true: it names every hook and driver
group core has, and its worked example, written out from the guide as it is, builds,
installs into a fresh virtualenv and passes its own tests there (a job included)."""
import inspect
import os
import re

import pytest
import wheelhouse

GUIDE = os.path.join(wheelhouse.ROOT, "docs", "plugins.md")
FILE = re.compile(r"<!-- file: (\S+) -->\n```[a-z]*\n(.*?)\n```\n", re.S)
CORE = wheelhouse.plain_projects(leave_out=("disco-plugin-hdfs",))


def guide():
    with open(GUIDE, encoding="utf-8") as f:
        return f.read()


def example_files():
    return {path: text + "\n" for path, text in FILE.findall(guide())}


def test_the_readme_links_the_guide():
    with open(os.path.join(wheelhouse.ROOT, "README.md"), encoding="utf-8") as f:
        assert "(docs/plugins.md)" in f.read()


def test_the_guide_names_every_hook_and_driver_group():
    from disco_core import hookspecs
    from disco_core.plugins import DRIVER_GROUPS
    text = guide()
    hooks = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
             if name.startswith("disco_") and hasattr(fn, "disco_spec")]
    assert len(hooks) >= 10
    for name in hooks:
        assert "`%s(" % name in text, "the guide does not describe the hook %s" % name
    for group in DRIVER_GROUPS.values():
        assert "`%s`" % group in text, "the guide does not describe the group %s" % group


def test_the_guide_names_every_contract_suite():
    import disco_core.testing as testing
    text = guide()
    suites = [name for name in dir(testing) if name.endswith("Contract")]
    assert len(suites) >= 6
    for name in suites:
        assert "`%s`" % name in text


def test_the_worked_example_works_as_written(tmp_path):
    files = example_files()
    assert sorted(files) == ["disco-plugin-zip/disco_plugin_zip/__init__.py",
                             "disco-plugin-zip/disco_plugin_zip/scheme.py",
                             "disco-plugin-zip/pyproject.toml",
                             "disco-plugin-zip/tests/conftest.py",
                             "disco-plugin-zip/tests/test_zip.py"]
    work = str(tmp_path / "work")
    for rel, text in files.items():
        path = os.path.join(work, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    example = os.path.join(work, "disco-plugin-zip")
    wheels = str(tmp_path / "wheels")
    wheelhouse.build_wheels(CORE, wheels)
    wheelhouse.build_wheels(["disco-plugin-zip"], wheels, {"disco-plugin-zip": example})
    deps = wheelhouse.dependency_wheels()
    venv = wheelhouse.Venv(str(tmp_path / "venv"), work)
    venv.install("-f", wheels, "-f", deps, "pytest", *CORE, "disco-plugin-zip")
    assert "scheme:zip" in venv.run("disco", "plugins").stdout
    proc = venv.run("pytest", "-q", "-p", "no:cacheprovider", cwd=example, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b1[0-9] passed\b", proc.stdout) and "skipped" not in proc.stdout, \
        proc.stdout


def test_the_example_code_is_ruff_clean(tmp_path):
    pytest.importorskip("ruff")
    import subprocess
    import sys
    for rel, text in example_files().items():
        if rel.endswith(".py"):
            path = tmp_path / rel.replace("/", "_")
            path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--line-length",
                           "100", "--select", "E,F,W", str(tmp_path)],
                          capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout
