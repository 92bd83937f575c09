"""Built distributions for tests: wheels of core and the plugins, and fresh virtualenvs that
install them from a folder, away from the source tree.

* :func:`projects` — every distribution of the repository (``disco-core`` and each
  ``plugins/<kind>/<name>``), by name.
* :func:`build_wheels` — their wheels (``pip wheel --no-deps --no-build-isolation``),
  built from a copy of each project, so the source tree gets no ``build/`` folders.
* :func:`dependency_wheels` — wheels of the third-party packages core and the test tools
  need, downloaded once per machine into a cache folder (pip reaches the package index
  once; later runs need no network). No network: the test skips and says so.
* :class:`Venv` — a new virtualenv (no pip of its own: this environment's pip installs
  into it with ``--python``), with ``run`` and ``disco``, from a folder outside the tree.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IGNORE = shutil.ignore_patterns(".venv", "build", "dist", "*.egg-info", "__pycache__",
                                "*.pyc", ".pytest_cache", ".ruff_cache", ".disco-home")
LOCATION_NOTE = "WARNING: Location '"  # some machines' pip configuration, on every run


def _name(pyproject: str) -> str:
    with open(pyproject, "rb") as f:
        return tomllib.load(f)["project"]["name"]


def projects() -> dict[str, str]:
    """``{distribution name: project folder}`` of core and every plugin."""
    found = {_name(os.path.join(ROOT, "pyproject.toml")): ROOT}
    plugins = os.path.join(ROOT, "plugins")
    for kind in sorted(os.listdir(plugins)):
        for name in sorted(os.listdir(os.path.join(plugins, kind))):
            folder = os.path.join(plugins, kind, name)
            if os.path.isfile(os.path.join(folder, "pyproject.toml")):
                found[_name(os.path.join(folder, "pyproject.toml"))] = folder
    return found


def needs_only_core(folder: str) -> bool:
    """Whether the project needs nothing but disco-core (and core's own dependencies)."""
    with open(os.path.join(folder, "pyproject.toml"), "rb") as f:
        deps = tomllib.load(f)["project"].get("dependencies", [])
    return all(dep.startswith("disco-core") for dep in deps) or folder == ROOT


def plain_projects(leave_out: tuple[str, ...] = ()) -> list[str]:
    """Core and the plugins that need no other package (a redis client, pydiscodb), whose
    wheels install from the folder with core's dependencies alone."""
    return [name for name, folder in projects().items()
            if needs_only_core(folder) and name not in leave_out]


def pip(*args: str, python: str | None = None, timeout: float = 600) -> str:
    """Run this environment's pip (``--python``: into another environment); its output.
    A failure raises with what pip said."""
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    if python is not None:
        cmd += ["--python", python]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=tempfile.gettempdir())
    out = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                    if not line.startswith(LOCATION_NOTE))
    if proc.returncode != 0:
        raise AssertionError("pip %s failed (%d):\n%s" % (" ".join(args), proc.returncode, out))
    return out


def build_wheels(names: list[str], dest: str, sources: dict[str, str] | None = None) -> None:
    """Wheels of the distributions ``names`` (of :func:`projects`, or ``sources``) in
    ``dest``, built from copies of their folders."""
    sources = sources or projects()
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="disco-build-") as tmp:
        copies = []
        for name in names:
            copy = os.path.join(tmp, name)
            src = sources[name]
            if src == ROOT:  # core: its packages and metadata, not the plugins and tests
                os.makedirs(copy)
                for item in ("pyproject.toml", "README.md", "disco_core", "disco"):
                    path = os.path.join(src, item)
                    if os.path.isdir(path):
                        shutil.copytree(path, os.path.join(copy, item), ignore=IGNORE)
                    else:
                        shutil.copy(path, copy)
            else:
                shutil.copytree(src, copy, ignore=IGNORE)
            copies.append(copy)
        pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dest, *copies)


def _requirements() -> list[str]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    return list(project["dependencies"]) + list(project["optional-dependencies"]["test"])


def dependency_wheels() -> str:
    """A folder of wheels of core's dependencies and the test tools (pytest), downloaded
    once into a cache folder named after the requirements."""
    reqs = _requirements()
    tag = hashlib.sha1(("%s %s" % (sys.version_info[:2], reqs)).encode()).hexdigest()[:12]
    folder = os.path.join(tempfile.gettempdir(), "disco-test-deps-%s" % tag)
    if os.path.isfile(os.path.join(folder, ".complete")):
        return folder
    partial = folder + ".partial-%d" % os.getpid()
    try:
        pip("download", "-q", "--only-binary", ":all:", "-d", partial, *reqs, timeout=300)
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        pytest.skip("cannot download the wheels of core's dependencies (%s) from the "
                    "package index: %s" % (", ".join(reqs), str(exc)[-300:]))
    open(os.path.join(partial, ".complete"), "w").close()
    try:
        os.rename(partial, folder)
    except OSError:  # another run made it first
        shutil.rmtree(partial, ignore_errors=True)
    return folder


class Venv:
    """A new virtualenv in ``path`` whose commands run in ``cwd`` (outside the source tree,
    with no PYTHONPATH), so what they import is what was installed."""

    def __init__(self, path: str, cwd: str) -> None:
        self.path = path
        self.cwd = cwd
        os.makedirs(cwd, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True,
                       timeout=120, cwd=cwd)
        self.bindir = os.path.join(path, "bin")
        self.python = os.path.join(self.bindir, "python")

    def install(self, *args: str) -> str:
        """``pip install --no-index`` into this environment (pass ``-f FOLDER`` and names
        or wheel files)."""
        return pip("install", "-q", "--no-index", *args, python=self.python)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = self.bindir + os.pathsep + env.get("PATH", "")
        env.update(extra or {})
        return env

    def run(self, *cmd: str, env: dict[str, str] | None = None, check: bool = True,
            timeout: float = 300, cwd: str | None = None) -> subprocess.CompletedProcess:
        """A command of this environment (``python``, ``disco``, ``pytest``...)."""
        exe = os.path.join(self.bindir, cmd[0])
        proc = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True,
                              env=self.env(env), timeout=timeout, cwd=cwd or self.cwd)
        if check and proc.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(cmd), proc.returncode,
                                                             proc.stdout, proc.stderr))
        return proc
