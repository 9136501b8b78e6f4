"""Strict mode gives the same bytes on every machine: a tiny MNIST chain against sha256 sums
recorded once (on an AMD EPYC with AVX-512) and checked wherever the suite runs.

The run starts with instruction-set variables a user might have set to lower values than the
machine's (and TensorFlow's oneDNN switched on): strict mode must override them all.
"""

import json

import pytest

from tests.conftest import copy_workflow, snakemake
from tests.workflow.conftest import TINY
from workflow.io import sha256_file
from workflow.repro import BASELINE, STRICT_ENVIRONMENT

pytestmark = pytest.mark.slow
#: Recorded with `reproducible: strict` (the default) and the tiny config, samples [mnist].
GOLDEN = {
    "results/data/mnist/train-images.idx": (
        "06488d07a37f578fbb541883f038a911cf3d64d8488433bf31752cc5010fa6d5"
    ),
    "results/train/mnist/weights.pt": (
        "ca6fc3560736b58de9a377bbb8378b383ae62da4ce19ea047ea5b8cae03d2f66"
    ),
    "results/onnx/mnist/model.onnx": (
        "07b692d35a5cd1360c2481413b16c9767dd77d227bb84b1be5a288719ba67296"
    ),
    # every float tensor
    "results/calibrate/mnist/calibration_all.table": (
        "8454a984ba24b3f2998115f3ed53cf1a1082b3a279686bbb6149588ce89b66ea"
    ),
    # the activations the INT8 graph quantizes
    "results/calibrate/mnist/calibration.table": (
        "c1c7c5e1b28305421f6d549b6f50b61ec048e9095cad95218fd9757116f86284"
    ),
    "results/precision/mnist/int8.onnx": (
        "f97c43101e64854886ce2adf706c4de9ff7d4a419324df3757809f45f80d609c"
    ),
}
#: What a user's environment might say; strict mode must not listen.
PRESET = {
    "ATEN_CPU_CAPABILITY": "default",
    "DNNL_MAX_CPU_ISA": "SSE41",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_CBWR": "AUTO",
    "OPENBLAS_CORETYPE": "Sandybridge",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3",
    "TF_ENABLE_ONEDNN_OPTS": "1",
}


def test_strict_run_gives_the_recorded_bytes_whatever_the_environment_says(tmp_path):
    work = copy_workflow(tmp_path / "golden")
    targets = ["results/precision/mnist/int8.onnx", "results/calibrate/mnist/calibration_all.table"]
    args = [*targets, "--cores", "2", "--configfile", TINY, "--config", "samples=[mnist]"]
    snakemake(work, *args, env=PRESET)
    recorded = json.loads((work / "results/onnx/mnist/model.parity.json").read_text())
    settings = recorded["reproducibility"]
    differing = {
        key: (settings["environment"].get(key), value)
        for key, value in STRICT_ENVIRONMENT.items()
        if settings["environment"].get(key) != value
    }
    assert settings["mode"] == "strict" and settings["isa"] == BASELINE
    assert differing == {}, f"the job ran with {differing} (found, strict value)"
    found = {artifact: sha256_file(work / artifact) for artifact in GOLDEN}
    wrong = [
        f"{artifact}: sha256 {found[artifact]}, recorded {digest}"
        for artifact, digest in GOLDEN.items()
        if found[artifact] != digest
    ]
    assert not wrong, (
        "strict mode gave other bytes than the recorded ones:\n"
        + "\n".join(wrong)
        + f"\nsettings of the run: {json.dumps(settings, sort_keys=True)}"
    )
