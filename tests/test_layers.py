"""The library's imports point one way: each layer imports only itself and the layers below.

Rule fingerprints follow imports, so a backward import makes unrelated rules rerun; internal
imports stay at module top level so that what a module depends on is visible in one place.
"""

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: Lowest layer first. A module belongs to the first layer with a prefix of its name.
LAYERS = (
    ("core", ("workflow.errors", "workflow.io", "workflow.logs", "workflow.fingerprint")),
    ("registry", ("workflow.samples", "workflow.repro")),
    ("formats", ("workflow.formats",)),
    ("data", ("workflow.data",)),
    ("detect", ("workflow.detect",)),
    ("plugins", ("workflow.plugins",)),
    ("netdef", ("workflow.netdef",)),
    ("backend", ("workflow.backend", "workflow.ort", "workflow.trt")),
    ("models", ("workflow.models",)),
    ("quant", ("workflow.quant",)),
    ("tasks", ("workflow.score",)),
    ("report", ("workflow.report", "workflow.cli", "workflow.tools", "workflow.plan")),
)
#: Siblings of one layer that must not import each other (both ways).
APART = (("workflow.ort", "workflow.trt"),)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(name: str) -> int | None:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return index
    return None


def _workflow_imports(tree: ast.Module) -> list[tuple[int, str, bool]]:
    """(line, imported module, at top level) of every ``workflow`` import in a module."""
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            if name == "workflow" or name.startswith("workflow."):
                found.append((node.lineno, name, id(node) in top))
    return found


MODULES = sorted((ROOT / "workflow").rglob("*.py"))


def test_every_module_has_a_layer():
    names = [_module_name(p) for p in MODULES]
    assert len(names) > 40
    assert [n for n in names if n != "workflow" and _layer(n) is None] == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_point_down_and_sit_at_the_top(path):
    name = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _layer(name)
    problems = []
    for line, target, at_top in _workflow_imports(tree):
        where = f"{path.relative_to(ROOT)}:{line} imports {target}"
        if not at_top:
            problems.append(
                f"{where} inside a function or block (lazy imports are for heavy "
                "third-party libraries only)"
            )
        layer = _layer(target)
        if own is not None and layer is not None and layer > own:
            problems.append(
                f"{where}: layer {LAYERS[own][0]} imports the higher layer {LAYERS[layer][0]}"
            )
        for a, b in APART:
            for mine, theirs in ((a, b), (b, a)):
                if name.startswith(mine + ".") and target.startswith(theirs + "."):
                    problems.append(f"{where}: {mine} and {theirs} stay apart")
    assert problems == []


def test_the_check_catches_a_backward_and_a_lazy_import(tmp_path):
    tree = ast.parse(
        "from workflow.errors import PipelineError\n"
        "def f():\n"
        "    from workflow.score.detect import detect\n"
    )
    found = _workflow_imports(tree)
    assert found == [(1, "workflow.errors", True), (3, "workflow.score.detect", False)]
    assert _layer("workflow.score.detect") > _layer("workflow.formats.voc")
