"""Fingerprints of the library code a rule script runs, so that a library change reruns exactly
the jobs that use it.

Snakemake reruns a job when its params, inputs, rule code or script change, but it cannot see a
change in a module the script imports. Each rule therefore passes, as a param, the fingerprint
of the ``workflow`` modules its script imports, followed transitively (imports inside functions
included): a change to one of them changes the param, and Snakemake reruns the job and what
depends on its outputs. Modules are compared by their syntax tree without docstrings, so
comments, docstrings and formatting do not count; code does.
"""

import ast
import atexit
import hashlib
import json
from functools import cache
from pathlib import Path

from workflow.io import write_atomically

PACKAGE = "workflow"
ROOT = Path(__file__).resolve().parent


@cache
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


#: Analyses remembered between runs: path -> {"stamp", "imports", "digest"} (see remember_in).
_STORE: dict[str, dict] = {}
_STORE_PATH: Path | None = None
#: Whether _STORE holds analyses that its file does not yet.
_UNSAVED = False


def remember_in(path: str | Path) -> None:
    """Remember each module's analysis in ``path`` (JSON) between runs, keyed by the file's
    modification time and size, so that an unchanged library is not parsed again each time the
    Snakefile loads (measured: 0.4 s of every dry run). New analyses are written once, when the
    process exits (:func:`save`). Unreadable or unwritable: ignored."""
    global _STORE_PATH
    _STORE_PATH = Path(path)
    try:
        _STORE.update(json.loads(_STORE_PATH.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass


def save() -> None:
    """Write the analyses made since the store was read (or last saved) to its file; a cold
    start makes one write instead of one per module analysed."""
    global _UNSAVED
    if _STORE_PATH is None or not _UNSAVED:
        return
    try:
        _STORE_PATH.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(_STORE_PATH, json.dumps(_STORE, sort_keys=True))
        _UNSAVED = False
    except OSError:
        pass


atexit.register(save)


@cache
def _analysis(path: Path) -> tuple[tuple[str, ...], str]:
    """The names a file imports anywhere (top level or inside functions) and the digest of its
    syntax tree without docstrings; from the store when the file has not changed."""
    global _UNSAVED
    stat = path.stat()
    stamp = [stat.st_mtime_ns, stat.st_size]
    entry = _STORE.get(str(path))
    if entry and entry.get("stamp") == stamp:
        return tuple(entry["imports"]), entry["digest"]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from workflow.x import y": y may be a module itself
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    digest = hashlib.sha256(ast.dump(_strip_docstrings(tree)).encode()).hexdigest()
    imports = tuple(sorted(set(names)))
    if _STORE_PATH is not None:
        _STORE[str(path)] = {"stamp": stamp, "imports": list(imports), "digest": digest}
        _UNSAVED = True
    return imports, digest


@cache
def _imports(path: Path) -> frozenset[str]:
    """The ``workflow`` modules a file imports anywhere (top level or inside functions)."""
    return frozenset().union(*map(_with_parents, _analysis(path)[0]))


@cache
def _with_parents(name: str) -> frozenset[str]:
    """``a.b.c`` and the packages it lies in (importing a.b.c imports a and a.b too), where
    they are modules of the library."""
    parts = name.split(".")
    prefixes = (".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return frozenset(prefix for prefix in prefixes if _module_file(prefix) is not None)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Remove the docstring of the module and of every class and function in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _tree_digest(path: Path) -> str:
    return _analysis(path)[1]


def library_modules(script: str | Path, *extra: str) -> list[str]:
    """All ``workflow`` modules ``script`` imports, directly or through other modules, sorted.

    Args:
        script: a rule script or any Python file.
        extra: modules the script loads by name (``importlib``), followed like imports.
    """
    seen: set[str] = set()
    todo = sorted(_imports(Path(script)).union(*map(_with_parents, extra)))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(sorted(_imports(_module_file(name)) - seen))
    return sorted(seen)


@cache
def code_fingerprint(script: str | Path, *extra: str) -> str:
    """A short sha256 of the syntax trees of the library modules ``script`` uses (and of the
    ``extra`` modules it loads by name, with what they import)."""
    digest = hashlib.sha256()
    for name in library_modules(script, *extra):
        digest.update(f"{name}:{_tree_digest(_module_file(name))}\n".encode())
    return digest.hexdigest()[:16]
