"""The modules form layers without cycles (docs/architecture.md).

import-linter (`make lint-imports`, in CI) checks the layers contract of pyproject.toml; these
tests check what that contract cannot say: that no module imports another that imports it
back through any chain (imports inside functions count: grimp reads them all), and that every
module of the project is placed in exactly one layer, so a new module cannot slip past it.
"""

import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("batches", "markets", "warehouse", "config")


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _layer_contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return next(contract for contract in config["contracts"] if contract["type"] == "layers")


def _layer_entries() -> list[str]:
    entries = []
    for layer in _layer_contract()["layers"]:
        entries += [name.strip() for name in layer.replace("|", ":").split(":")]
    return entries


def _covers(entry: str, module: str) -> bool:
    return module == entry or module.startswith(entry + ".")


def test_no_module_imports_itself_back_through_any_chain():
    graph = _graph()
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if graph.chain_exists(importer=imported, imported=importer):
                back = graph.find_shortest_chain(importer=imported, imported=importer)
                lines = [d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)]
                cycles.append(f"{importer} -> {imported} (line {lines}), and back: {' -> '.join(back)}")
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_module_of_the_project_sits_in_exactly_one_layer():
    entries = _layer_entries()
    graph = _graph()
    misplaced = []
    for module in sorted(graph.modules - set(PACKAGES)):
        holders = [entry for entry in entries if _covers(entry, module)]
        if len(holders) != 1:
            misplaced.append(f"{module}: {holders or 'in no layer'}")
    assert not misplaced, "pyproject.toml [tool.importlinter] layers:\n" + "\n".join(misplaced)
    # and every entry names a module that exists (a renamed module must be renamed there too)
    assert [entry for entry in entries if entry not in graph.modules] == []


def test_the_cycle_check_finds_a_cycle_made_inside_a_function(tmp_path, monkeypatch):
    """The checks above must be able to fail: two modules whose only way back is a
    function-local import form a cycle that the graph reports."""
    package = tmp_path / "probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("def later():\n    from . import high\n\n    return high\n")
    (package / "high.py").write_text("from . import low\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("probe", cache_dir=None)
    assert graph.chain_exists(importer="probe.low", imported="probe.high")
    assert graph.chain_exists(importer="probe.high", imported="probe.low")
