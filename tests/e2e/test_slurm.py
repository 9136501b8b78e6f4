"""Cluster execution for real: a single-node SLURM on localhost runs the MNIST chain.

Needs root and Debian's slurm packages (tests/slurm/cluster.sh installs them); CI runs it, a
developer machine without root skips it.
"""

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import ROOT, copy_workflow, snakemake
from tests.e2e.conftest import TINY
from tests.e2e.test_golden import GOLDEN, SCORES
from workflow.io import sha256_file

pytestmark = [pytest.mark.slow, pytest.mark.extended]
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
#: The tiny config's MNIST chain in FP32: the same jobs, with the same params, as the local strict
#: runs whose sha256 sums the golden test records; the cluster's bytes are compared with those.
SMALL = ["--configfile", TINY, "--config", "samples=[mnist]", "precisions=[fp32]"]
FAST_POLLING = [
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "2",
    "--latency-wait",
    "5",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("starting SLURM needs root")
    state = tmp_path_factory.mktemp("slurm")
    start = time.perf_counter()
    up = subprocess.run(
        ["bash", str(CLUSTER), "up", str(state)], capture_output=True, text=True, timeout=600
    )
    if up.returncode != 0:
        pytest.fail(f"SLURM did not start:\n{up.stdout}\n{up.stderr}")
    print(f"SLURM cluster up in {time.perf_counter() - start:.1f} s")
    yield state
    subprocess.run(["bash", str(CLUSTER), "down", str(state)], timeout=60)


@pytest.fixture(scope="module")
def remote(cluster, tmp_path_factory):
    """The MNIST chain and the refit engine (a gpu=1 job) built through SLURM in one run, with
    its output: the chain's jobs succeed, the refit stops in our code on the GPU-less node
    (``--keep-going`` lets the rest finish)."""
    work = copy_workflow(tmp_path_factory.mktemp("slurm-run") / "slurm")
    targets = [
        "results/score/mnist/fp32/accuracy.json",
        "engines/mnist_fp32.plan",
        "engines/mnist_refit.plan",
    ]
    start = time.perf_counter()
    out = snakemake(
        work,
        *targets,
        "--keep-going",
        "--profile",
        "profiles/slurm",
        *FAST_POLLING,
        *SMALL,
        check=False,
        timeout=900,
    )
    print(f"MNIST chain and refit on SLURM: {time.perf_counter() - start:.1f} s")
    return work, out


def test_mnist_chain_on_slurm_equals_a_local_run(remote):
    work, out = remote
    assert (out.stdout + out.stderr).count("submitted with SLURM jobid") >= 6
    recorded = GOLDEN | SCORES  # the local strict runs' sums
    for artifact in (
        "results/train/mnist/weights.pt",
        "results/onnx/mnist/model.onnx",
        "results/onnx/mnist/model.parity.json",
        "results/score/mnist/fp32/accuracy.json",
    ):
        assert sha256_file(work / artifact) == recorded[artifact], artifact
    meta = json.loads((work / "engines/mnist_fp32.plan.json").read_text())
    assert meta["source"]["sha256"] == recorded["results/onnx/mnist/model.onnx"]
    assert meta["plan"]["sha256"] == sha256_file(work / "engines/mnist_fp32.plan")


def test_gpu_job_is_scheduled_on_the_gpu_less_node(remote):
    work, out = remote
    log = (work / "logs/engine/mnist_refit.refit.log").read_text()
    # the gpu=1 job ran on the node (Gres gpu on /dev/null) and stopped in our code, not in SLURM
    assert "weights to refit were checked: conv1.bias, conv1.weight" in log
    assert out.returncode != 0 and not (work / "engines/mnist_refit.plan").exists()
    assert shutil.which("squeue")
