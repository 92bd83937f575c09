"""The house's import layers (``[tool.importlinter]`` in pyproject.toml): each part imports
only the parts below it, and no package's modules import each other in a circle.

``lint-imports`` runs the contracts as a developer does; the other tests check the contracts
themselves: every module of ``disco_core`` has its place, and the circles this layout was
made to end (util and the client, the master's app and its node manager, the node's app and
its task runner) are reported if they come back.
"""
import os
import pathlib
import subprocess
import sys

import grimp
import pytest
from importlinter import api
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.layers import LayersContract

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "pyproject.toml")
CONTRACT_TYPES = {"layers": LayersContract, "acyclic_siblings": AcyclicSiblingsContract}


def contracts() -> dict:
    config = api.read_configuration(CONFIG)
    found = {}
    for options in config["contracts_options"]:
        options = dict(options)
        cls = CONTRACT_TYPES[options.pop("type")]
        found[options.pop("id")] = cls(options.pop("name"), config["session_options"], options)
    return found


def graph():
    """The import graph of the code as it is (each check gets its own: contracts remove their
    ignored imports from the graph they check)."""
    return grimp.build_graph("disco_core", "disco", cache_dir=None)


def broken(contract, graph) -> bool:
    return not contract.check(graph, verbose=False).kept


def test_lint_imports_keeps_every_contract():
    exe = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    assert os.path.exists(exe), "lint-imports is missing: run ./scripts/install"
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_every_core_module_has_a_layer():
    layered = set()
    for layer in contracts()["layers"].layers:
        layered |= {module.name for module in layer.module_tails}
    core = graph().find_children("disco_core")
    assert core - layered == set(), "give these modules a layer in pyproject.toml"


def test_the_contracts_hold_on_the_code_as_it_is():
    for name, contract in contracts().items():
        assert not broken(contract, graph()), name


@pytest.mark.parametrize("importer, imported", [
    ("disco_core.util", "disco_core.client.disco"),       # save_oob used to
    ("disco_core.util", "disco_core.worker.dataio"),      # read_index used to
    ("disco_core.worker.task", "disco_core.client.disco"),  # Task.put used to
    ("disco_core.master.app", "disco_core.node.app"),
    ("disco_core.comm", "disco_core.client"),
])
def test_an_upward_import_breaks_the_layers(importer, imported):
    changed = graph()
    changed.add_import(importer=importer, imported=imported)
    assert broken(contracts()["layers"], changed)


@pytest.mark.parametrize("importer, imported", [
    ("disco_core.master.nodes", "disco_core.master.app"),
    ("disco_core.node.runner", "disco_core.node.app"),
    ("disco_core.worker.dataio", "disco_core.worker.task"),
])
def test_a_circle_inside_a_package_breaks_the_acyclic_contract(importer, imported):
    changed = graph()
    if changed.direct_import_exists(importer=importer, imported=imported):
        # the import is there on purpose: close the circle from the other side
        importer, imported = imported, importer
    changed.add_import(importer=importer, imported=imported)
    assert broken(contracts()["acyclic"], changed)


def package_circles(graph) -> list[str]:
    """``package <- module`` for each module that imports the package it is in while the
    package's ``__init__`` imports (directly or not) that module: a circle through the
    ``__init__`` that the acyclic contract, which compares siblings, does not see."""
    found = []
    for package in sorted(m for m in graph.modules if graph.find_children(m)):
        for module in sorted(graph.find_descendants(package)):
            if (graph.direct_import_exists(importer=module, imported=package)
                    and graph.find_shortest_chain(importer=package, imported=module)):
                found.append("%s <- %s" % (package, module))
    return found


def test_no_module_imports_a_package_that_imports_it():
    assert package_circles(graph()) == []


def test_a_module_importing_its_package_is_a_circle():
    changed = graph()
    # disco_core.worker gathers the worker's names from .base; .base asking it for one back
    changed.add_import(importer="disco_core.worker.base", imported="disco_core.worker")
    assert package_circles(changed) == ["disco_core.worker <- disco_core.worker.base"]
