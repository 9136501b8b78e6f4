"""The plugin library built and checked on a GPU (the issue's GPU verification): runs where a
CUDA GPU, the CUDA toolkit with cuBLAS and torch with CUDA are; skipped elsewhere, with why."""

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.gpu


def _cuda_torch() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(not shutil.which("nvcc"), reason="no CUDA toolkit (nvcc)")
@pytest.mark.skipif(not _cuda_torch(), reason="needs a CUDA GPU and torch with CUDA")
def test_plugin_library_and_kernels_on_the_gpu(tmp_path, tensorrt_headers):
    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/cli/verify_plugins.py"),
            "--tensorrt-include",
            str(tensorrt_headers),
            "--build",
            str(tmp_path / "build"),
            "--out",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["passed"] and not report["missing_symbols"]
    assert report["library"]["fc_fp32"]["max_abs_error"] < 1e-4
    assert report["library"]["clip_fp16"]["nan_kept"]
