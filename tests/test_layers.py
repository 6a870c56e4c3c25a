"""The package's layering: data flows one way, every subpackage is in a layer, no cycles.

The contract lives in ``pyproject.toml`` (``[tool.importlinter]``); import-linter checks
it, and this file also checks what import-linter does not: that no subpackage escapes the
contract and that no two modules import each other through any chain.
"""

from __future__ import annotations

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import grimp
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

import amxmodel

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"


def _layers() -> list[str]:
    contracts = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]
    return [layer for c in contracts if c["type"] == "layers" for layer in c["layers"]]


def _graph():
    return grimp.build_graph("amxmodel", exclude_type_checking_imports=True)


def test_the_layers_contract_is_kept(capsys):
    status = lint_imports(config_filename=str(CONFIG), no_cache=True, no_logo=True)
    assert status == EXIT_STATUS_SUCCESS, capsys.readouterr().out


def test_every_subpackage_is_in_a_layer():
    pkg = Path(amxmodel.__file__).parent
    subpackages = {f"amxmodel.{p.name}" for p in pkg.iterdir()
                   if p.is_dir() and (p / "__init__.py").exists()}
    shipped = {"amxmodel.data", "amxmodel.notebooks"}  # files, not code (absent in a checkout)
    assert subpackages - shipped <= set(_layers())


def _cycle(graph) -> list[str] | None:
    """One import cycle among the package's modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for dep in sorted(graph.find_modules_directly_imported_by(m)):
            if not dep.startswith("amxmodel.") or dep == "amxmodel":
                continue
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            found = visit(dep) if dep not in state else None
            if found:
                return found
        path.pop()
        state[m] = 2
        return None

    for module in sorted(graph.modules):
        found = visit(module) if module.startswith("amxmodel.") and module not in state else None
        if found:
            return found
    return None


def test_no_import_cycles():
    assert _cycle(_graph()) is None


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = _graph()
    graph.add_import(importer="amxmodel.common.errors", imported="amxmodel.inputs.catalog")
    found = _cycle(graph)
    assert found is not None and found[0] == found[-1]
