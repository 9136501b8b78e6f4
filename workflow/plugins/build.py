"""Building ``plugins/`` (CMake) into ``libtrt_samples_plugins.so``, or saying what is missing."""

import shutil
import subprocess
from pathlib import Path

from workflow.errors import PipelineError

#: The plugin sources in a checkout, and the library CMake makes of them.
SOURCE = Path(__file__).resolve().parents[2] / "plugins"
LIBRARY = "libtrt_samples_plugins.so"


def missing_tools(tensorrt_include: str | Path) -> list[str]:
    """What building the library needs and this machine lacks (empty: it can build)."""
    missing = [
        f"{tool} (the CUDA toolkit)" if tool == "nvcc" else tool
        for tool in ("cmake", "nvcc")
        if shutil.which(tool) is None
    ]
    if not (Path(tensorrt_include) / "NvInferRuntime.h").is_file():
        missing.append(f"TensorRT's headers (no NvInferRuntime.h in {tensorrt_include})")
    return missing


def build_library(
    build_dir: str | Path,
    *,
    tensorrt_include: str | Path,
    source: str | Path = SOURCE,
    architectures: str = "",
    jobs: int = 2,
) -> tuple[Path, str]:
    """Configure and build the plugin library with CMake.

    Args:
        build_dir: CMake's build folder.
        tensorrt_include: TensorRT's public headers (TENSORRT_INCLUDE_DIR).
        architectures: CMAKE_CUDA_ARCHITECTURES (empty: the CMakeLists' list).
        jobs: parallel compile jobs.

    Returns:
        The library's path and CMake's output.

    Raises:
        PipelineError: a tool or the headers are missing, or CMake fails (its output quoted).
    """
    missing = missing_tools(tensorrt_include)
    if missing:
        raise PipelineError(
            "plugins",
            "cannot build the plugin library: missing " + ", ".join(missing),
            "build on a machine with the CUDA toolkit (nvcc, cuBLAS) and cmake, and point "
            "plugins.tensorrt_include at TensorRT's include/",
        )
    configure = [
        "cmake",
        "-S",
        str(source),
        "-B",
        str(build_dir),
        f"-DTENSORRT_INCLUDE_DIR={Path(tensorrt_include).resolve()}",
    ]
    if architectures:
        configure.append(f"-DCMAKE_CUDA_ARCHITECTURES={architectures}")
    output = []
    for command in (configure, ["cmake", "--build", str(build_dir), "-j", str(jobs)]):
        done = subprocess.run(command, capture_output=True, text=True)
        output.append(done.stdout + done.stderr)
        if done.returncode != 0:
            text = done.stdout + done.stderr
            errors = [
                block
                for block in text.split("\n\n")
                if block.lstrip().startswith("CMake Error") or ": error" in block
            ]
            reason = " ".join(" ".join(errors).split())[:2000] or text[-2000:]
            raise PipelineError("plugins", f"{' '.join(command[:2])} failed: {reason}")
    return Path(build_dir) / LIBRARY, "\n".join(output)


def exported_symbols(library: str | Path) -> list[str]:
    """The dynamic symbols a shared library defines (``nm -D --defined-only``)."""
    done = subprocess.run(
        ["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True
    )
    return sorted(line.split()[-1] for line in done.stdout.splitlines() if line.strip())
