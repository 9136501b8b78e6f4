"""Fingerprints of the library code a rule script runs, so that a library change reruns exactly
the jobs that use it.

Snakemake reruns a job when its params, inputs, rule code or script change, but it cannot see a
change in a module the script imports. Each rule therefore passes, as a param, the fingerprint
of the ``workflow`` modules its script imports, followed transitively (imports inside functions
included): a change to one of them changes the param, and Snakemake reruns the job and what
depends on its outputs. Modules are compared by their syntax tree, so comments and formatting
do not count; docstrings and code do.
"""

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "workflow"
ROOT = Path(__file__).resolve().parent


def _module_file(name: str) -> Path | None:
    """The source file of ``workflow.a.b`` (module or package), or None outside the package."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _imports(path: Path) -> set[str]:
    """The ``workflow`` modules a file imports anywhere (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from workflow.x import y": y may be a module itself
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            for end in range(1, len(parts) + 1):  # importing a.b.c imports a and a.b too
                prefix = ".".join(parts[:end])
                if _module_file(prefix) is not None:
                    found.add(prefix)
    return found


@cache
def _tree_digest(path: Path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def library_modules(script: str | Path) -> list[str]:
    """All ``workflow`` modules ``script`` imports, directly or through other modules, sorted."""
    seen: set[str] = set()
    todo = sorted(_imports(Path(script)))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(sorted(_imports(_module_file(name)) - seen))
    return sorted(seen)


def code_fingerprint(script: str | Path) -> str:
    """A short sha256 of the syntax trees of the library modules ``script`` uses."""
    digest = hashlib.sha256()
    for name in library_modules(script):
        digest.update(f"{name}:{_tree_digest(_module_file(name))}\n".encode())
    return digest.hexdigest()[:16]
