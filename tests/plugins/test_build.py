"""Building the plugin library: what is missing is said (the GPU build: test_gpu.py)."""

import shutil

import pytest

from workflow.errors import PipelineError
from workflow.plugins.build import build_library, missing_tools


def test_missing_headers_and_tools_are_named(tmp_path):
    missing = missing_tools(tmp_path)
    assert f"TensorRT's headers (no NvInferRuntime.h in {tmp_path})" in missing
    assert ("nvcc (the CUDA toolkit)" in missing) == (shutil.which("nvcc") is None)
    with pytest.raises(PipelineError, match="cannot build the plugin library: missing .*headers"):
        build_library(tmp_path / "build", tensorrt_include=tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("nvcc") or not shutil.which("cmake"), reason="no CUDA toolkit")
def test_a_toolkit_without_cublas_is_named(tmp_path, tensorrt_headers):
    from pathlib import Path

    if list(Path(shutil.which("nvcc")).resolve().parents[1].glob("**/cublas_v2.h")):
        pytest.skip("this toolkit has cuBLAS: the build itself is test_gpu.py's")
    with pytest.raises(PipelineError, match="cublas"):
        build_library(tmp_path / "build", tensorrt_include=tensorrt_headers)
