"""Every module imports on a CPU-only machine without loading the heavy libraries."""

import pkgutil
import subprocess
import sys

import workflow

HEAVY = ("torch", "tensorrt", "tensorrt_rtx", "onnxruntime", "tensorflow", "cuda", "polygraphy")


def test_every_module_imports_without_heavy_libraries():
    names = [m.name for m in pkgutil.walk_packages(workflow.__path__, "workflow.")]
    assert len(names) >= 20
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
