"""Core names no plugin: disco_core imports no plugin package, names no plugin
distribution, and uses DDFS's names only where the original's own interfaces carry them
(the worker protocol's task fields, ``disco.util``, the ``-t`` token option)."""
import ast
import pathlib
import re

import disco_core

CORE = pathlib.Path(disco_core.__file__).parent

#: Where a DDFS name may appear in core, and why (the original's interfaces, not a plugin's).
DDFS_ALLOWED = {
    "settings.py": "DDFS_DATA / DDFS_ROOT / DDFS_PUT_PORT: the task fields ddfs_data, put_port",
    "node/runner.py": "the worker protocol's TASK message: put_port, ddfs_data",
    "master/ctrl.py": "/disco/ctrl/taskinfo's put_port",
    "client/debug.py": "a task replayed in the user's process gets the same task fields",
    "worker/task.py": "the original's Task.ddfs_data",
    "util.py": "the original's disco.util: localize() of ddfs/ paths, urlresolve() of tag://",
    "cli/__init__.py": "the original's -t option sets DDFS_READ_TOKEN / DDFS_WRITE_TOKEN",
    "testcluster.py": "a test cluster's put_port is a free port",
    "testcase.py": "the original's disco.test fixtures have a ddfs client when it is there",
}
DDFS_NAME = re.compile(r"DDFS_[A-Z_]+|/ddfs\b|\bddfs_data\b|\bddfs\.|disco\.ddfs")


def sources(patterns=("*.py",)):
    for pattern in patterns:
        for path in sorted(CORE.rglob(pattern)):
            yield path.relative_to(CORE).as_posix(), path.read_text(encoding="utf-8")


def test_core_imports_no_plugin_package():
    found = []
    for rel, text in sources():
        for node in ast.walk(ast.parse(text)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
                    "import_module", "__import__") and node.args
                    and isinstance(node.args[0], ast.Constant)):
                names = [str(node.args[0].value)]
            found += ["%s:%d %s" % (rel, node.lineno, n) for n in names
                      if n.startswith("disco_plugin_")]
    assert found == []


def test_core_names_no_plugin_distribution():
    found = ["%s: %s" % (rel, m.group(0)) for rel, text in sources()
             for m in re.finditer(r"disco-plugin-[a-z]\w*", text)]
    assert found == []


def test_ddfs_names_appear_only_in_the_originals_interfaces():
    found = sorted({rel for rel, text in sources() if DDFS_NAME.search(text)} - set(DDFS_ALLOWED))
    assert found == [], "DDFS belongs in a storage plugin: %s" % found


def test_the_data_server_serves_no_storage_paths():
    from disco_core.dataserver import data_routes
    assert [rule[0] for rule in data_routes("/data")] == [r"/disco/(.+)"]


def test_the_web_uis_own_pages_name_no_plugin():
    """Core's pages ask core's routes; what a plugin adds (a storage plugin's safe-to-remove
    marks) comes through a hook behind them, never from the plugin's paths."""
    found = ["%s: %s" % (rel, m.group(0))
             for rel, text in sources(("*.js", "*.html", "*.css"))
             for m in DDFS_NAME.finditer(text)]
    assert found == []
