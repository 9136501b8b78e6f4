"""Which TensorRT Python module to use: ``tensorrt`` (full, GPU hosts) or ``tensorrt_rtx``.

Finding a module and its version never imports it, so the Snakefile can put the TensorRT version
into rule params (a new TensorRT rebuilds the engines) and ``snakemake -n`` stays fast.
"""

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from workflow.errors import TensorRTUnavailable

#: Module names in the order ``auto`` tries them.
MODULES = ("tensorrt", "tensorrt_rtx")
INSTALL_HINT = (
    "install TensorRT-RTX (builds ahead of time, no GPU needed): pip install -e '.[rtx]'; "
    "or full TensorRT on a GPU host: pip install -e '.[trt10]' or '.[trt11]' "
    "(its wheels come from NVIDIA's package index)"
)


def resolve_module(choice: str) -> str:
    """Return the module name ``choice`` stands for, without importing it.

    Args:
        choice: ``auto``, ``tensorrt`` or ``tensorrt_rtx``. ``auto`` takes full TensorRT where
            it is installed, else TensorRT-RTX.

    Raises:
        TensorRTUnavailable: the chosen module (or, for ``auto``, any) is not installed, or the
            choice is unknown.
    """
    if choice not in ("auto", *MODULES):
        raise TensorRTUnavailable(
            f"tensorrt.module={choice!r}", "unknown choice", "use auto, tensorrt or tensorrt_rtx"
        )
    candidates = MODULES if choice == "auto" else (choice,)
    for name in candidates:
        if importlib.util.find_spec(name) is not None:
            return name
    wanted = " or ".join(candidates)
    raise TensorRTUnavailable(
        f"tensorrt.module={choice}", f"{wanted} is not installed", INSTALL_HINT
    )


def module_version(name: str) -> str | None:
    """Installed version of the distribution that provides module ``name``, or ``None``.

    Looks only at the ``*.dist-info`` folders beside the module whose name starts like it
    (``tensorrt_rtx_cu13-1.7.1.116.dist-info`` for ``tensorrt_rtx``), reading their file lists:
    this runs whenever the Snakefile loads, and scanning every installed distribution
    (``importlib.metadata.packages_distributions``) cost a dry run half a second.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return None
    site = Path(spec.origin).resolve().parent.parent
    prefix = name.split("_")[0]
    for info in sorted(site.glob(f"{prefix}*.dist-info")):
        dist = importlib.metadata.Distribution.at(info)
        if any(file.parts and file.parts[0] == name for file in dist.files or []):
            return dist.version
    return None


def tensorrt_identity(choice: str) -> str:
    """``"<module> <version>"`` for ``choice``, or ``"none"`` when nothing is installed.

    Used as a rule param: when it changes, Snakemake rebuilds the engines. It never raises, so a
    dry run works on a machine without TensorRT; the build job itself reports what is missing.
    """
    try:
        name = resolve_module(choice)
    except TensorRTUnavailable:
        return "none"
    return f"{name} {module_version(name) or 'unknown'}"


def import_tensorrt(choice: str) -> ModuleType:
    """Import and return the TensorRT module ``choice`` stands for.

    Raises:
        TensorRTUnavailable: not installed, or installed but failing to import (with the cause).
    """
    name = resolve_module(choice)
    try:
        return importlib.import_module(name)
    except (ImportError, OSError) as err:
        raise TensorRTUnavailable(name, f"import failed ({err})", INSTALL_HINT) from err


def polygraphy_backend(trt: ModuleType) -> ModuleType:
    """Polygraphy's TensorRT backend (``polygraphy.backend.trt``), driving the module ``trt``.

    Polygraphy picks TensorRT or TensorRT-RTX once, from ``POLYGRAPHY_USE_TENSORRT_RTX``, when
    its backend is first imported; this sets that choice to match ``trt`` before the import.

    Raises:
        TensorRTUnavailable: Polygraphy's backend was already loaded for the other module.
    """
    import polygraphy.config as polygraphy_config

    want = trt.__name__ == "tensorrt_rtx"
    if "polygraphy.backend.trt" in sys.modules and polygraphy_config.USE_TENSORRT_RTX != want:
        loaded = "tensorrt_rtx" if polygraphy_config.USE_TENSORRT_RTX else "tensorrt"
        raise TensorRTUnavailable(
            trt.__name__,
            f"Polygraphy's TensorRT backend is already loaded for {loaded} in this process",
            "use one TensorRT module per process (tensorrt.module)",
        )
    os.environ["POLYGRAPHY_USE_TENSORRT_RTX"] = "1" if want else "0"
    polygraphy_config.USE_TENSORRT_RTX = want
    return importlib.import_module("polygraphy.backend.trt")
