"""Contract suites of hook plugins: CLI subcommands and master routes.

A plugin's tests subclass the suite of its kind (the class name must start with ``Test``)
and set what the suite asks for. Re-exported by :mod:`disco_core.testing`; the suites of
driver plugins are in :mod:`disco_core.contracts`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any


def _disco(*args: str, env: dict | None = None, timeout: float = 120) -> Any:
    exe = os.path.join(os.path.dirname(sys.executable), "disco")
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([exe, *args], capture_output=True, text=True, env=full,
                          timeout=timeout)


class CommandContract:
    """What every CLI subcommand does (``disco_cli_commands``). Set ``command`` (its name)
    and ``dist`` (the plugin's distribution name, ``disco-plugin-<name>``)."""

    command = ""
    dist = ""

    def found(self) -> Any:
        from .cli import commands
        for cmd in commands():
            if cmd.name == self.command:
                return cmd
        raise AssertionError("no installed plugin gives the command %r" % self.command)

    def test_installed_under_its_name(self) -> None:
        from .cli import Command
        cmd = self.found()
        assert isinstance(cmd, Command) and callable(cmd.run)
        assert cmd.help.strip(), "a command says what it does in its help"

    def test_does_not_take_a_name_of_core(self) -> None:
        from . import builtin
        assert self.command not in {c.name for c in builtin.disco_cli_commands()}

    def test_listed_by_disco_help(self) -> None:
        proc = _disco("help")
        assert proc.returncode == 0 and self.command in proc.stdout, proc.stdout + proc.stderr

    def test_its_help_runs(self) -> None:
        proc = _disco(self.command, "--help")
        assert proc.returncode == 0, proc.stderr
        assert self.found().help.split()[0] in proc.stdout

    def test_gone_when_the_plugin_is_disabled(self) -> None:
        proc = _disco(self.command, env={"DISCO_DISABLE_PLUGINS": self.dist})
        assert proc.returncode == 1 and "unrecognized command: %s" % self.command in proc.stderr


class RoutesContract:
    """What every plugin adding master routes does (``disco_master_routes``). Set ``dist``
    (the plugin's distribution) and ``paths``: paths a ``GET`` on a real master answers
    with 200. Uses the ``disco_cluster`` fixture (``pytest_plugins =
    ["disco_core.testing"]`` in the plugin's ``conftest.py``)."""

    dist = ""
    paths: list[str] = []

    def test_installed_as_a_hook_plugin(self) -> None:
        from .plugins import PluginHost
        host = PluginHost()
        owners = [host.plugin_name(impl)
                  for impl in host.hook.disco_master_routes.get_hookimpls()]
        assert self.dist in owners

    def test_paths_are_outside_cores(self) -> None:
        assert self.paths, "name at least one path the plugin serves"
        for path in self.paths:
            assert path.startswith("/") and not path.startswith("/disco/"), \
                "/disco/ is core's: %s" % path

    def test_a_real_master_serves_them(self, disco_cluster: Any) -> None:
        from .client.comm import open_remote
        for path in self.paths:
            resp = open_remote(disco_cluster.master + path, retries=0)
            try:
                assert resp.status == 200, (path, resp.status)
                resp.read()
            finally:
                resp.close()
        assert disco_cluster.disco.joblist() is not None  # core's routes still answer

    def test_gone_when_the_plugin_is_disabled(self) -> None:
        from .client.comm import open_remote
        from .errors import CommError
        from .testing import running_cluster
        with running_cluster(extra_env={"DISCO_DISABLE_PLUGINS": self.dist}) as cluster:
            for path in self.paths:
                try:
                    open_remote(cluster.master + path, retries=0).close()
                except CommError as exc:
                    assert exc.code == 404
                else:
                    raise AssertionError("%s is served without the plugin" % path)
