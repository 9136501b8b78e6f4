"""Strict mode gives the same bytes on every machine: the tiny chains of mnist (PyTorch) and
mnist_tf (Keras) against sha256 sums recorded once and checked wherever the suite runs; the
Keras chain's trained bytes per CPU cache geometry, where TensorFlow cannot be pinned.

The run is the session's second tiny run (``rerun`` in ``tests/e2e/conftest.py``), which
starts with instruction-set variables a user might have set to lower values than the
machine's (and TensorFlow's oneDNN switched on): strict mode must override them all. Besides
the files, the INT8 graph's class probabilities over the test split are checked: ONNX Runtime's
fused integer kernels would give other ones on a CPU without AVX-512 VNNI.
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tests.e2e.conftest import PRESET
from workflow.io import sha256_file
from workflow.repro import BASELINE, STRICT_ENVIRONMENT, job_environment

pytestmark = pytest.mark.slow
#: Recorded with `reproducible: strict` (the default) and the tiny config (a sample's files do not
#: depend on which other samples a run builds).
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
    "results/onnx/mnist/model.parity.json": (
        "3a096daa968cfe8da1a6f18aad45441cdeea07d1633b4501e24551f0be9563c3"
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
#: The INT8 scores, recorded like the files above.
SCORES = {
    "results/score/mnist/fp32/accuracy.json": (
        "9323f333f31e6fa07e4ec28fc3c88101f0295339bc5825e5b2eeac894b901d80"
    ),
    "results/score/mnist/int8/accuracy.json": (
        "ba365d4d1a34d42405e8465c742fff3455e1c9277a309c8d12112d66bf6c9e90"
    ),
    "results/score/mnist_tf/int8/accuracy.json": (
        "d8680e83681d321fdc150efb799d9138df001f9ba31a753cfb046b6caee14810"
    ),
}
#: sha256 of the float32 probabilities (N, 10) an INT8 graph gives on the test split, batches of
#: 256 (the scoring rule's default), one thread, in a strict-mode process.
OUTPUTS = {
    "results/precision/mnist/int8.onnx": (
        "16fa85aa67acadf377ace0d36cfbdbd38a4981ab1d25eb259297f892db9a2e1a"
    ),
}
#: The Keras LeNet's trained weights (dumpTFWts), its tf2onnx graph and its INT8 graph's
#: probabilities, per CPU (vendor, L1 data cache in KiB): TensorFlow's Eigen kernels size the
#: blocks of their matrix products from the cache sizes the CPU reports, which no setting pins,
#: and strict mode trains other weights on these two (docs/reproducibility.md). A CPU not listed
#: here is reported, not failed: its sums are printed to be recorded.
KERAS_FILES = ("results/weights/mnist_tf/weights.wts", "results/onnx/mnist_tf/model.onnx")
KERAS_GRAPH = "results/precision/mnist_tf/int8.onnx"
KERAS = {
    # AMD EPYC without AVX-512
    ("AuthenticAMD", 32): {
        "results/weights/mnist_tf/weights.wts": (
            "9372542a25e91e53e685268b11884ac5c221a6edad36249b30ea062297e63e5d"
        ),
        "results/onnx/mnist_tf/model.onnx": (
            "06709648f646196fe906c631cbd4d7b45116e33554031ec938a742df9b43bed0"
        ),
        "results/precision/mnist_tf/int8.onnx (probabilities)": (
            "d9b190816ff1e2e1e2f7de994a989dcd1714e7699bb9dfd96864a707431c8072"
        ),
    },
    # Intel Xeon with AVX-512 and AMX (family 6, model 167; L2 2 MiB)
    ("GenuineIntel", 48): {
        "results/weights/mnist_tf/weights.wts": (
            "79ad32e652390fd87366684211ad6ce677a40b4c10e3ee8e42dc8dbca231c25b"
        ),
        "results/onnx/mnist_tf/model.onnx": (
            "050b25141c987366e22079aee04cc15564dde5e93157158e908420d21959ecb1"
        ),
        "results/precision/mnist_tf/int8.onnx (probabilities)": (
            "4c94f76789720598c7e87e65499a37e1862ed47fe1eb503476472109631fbd41"
        ),
    },
}


PREDICT = """
import hashlib, sys
from workflow.data.mnist import read_split, to_input
from workflow.models.lenet import OUTPUT_NAME
from workflow.ort.runner import OrtRunner
from workflow.score.classify import predict

images, _ = read_split(sys.argv[2], sys.argv[3])
with OrtRunner(sys.argv[1], threads=1) as runner:
    probs = predict(runner, to_input(images), batch_size=256, output_name=OUTPUT_NAME)
print(hashlib.sha256(probs.tobytes()).hexdigest())
"""


def this_cpu() -> tuple[str, int]:
    """(vendor, L1 data cache KiB) of the CPU the suite runs on, as Linux reports them."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    vendor = next(
        line.split(":", 1)[1].strip()
        for line in cpuinfo.splitlines()
        if line.startswith("vendor_id")
    )
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        if (index / "level").read_text().strip() == "1" and (
            index / "type"
        ).read_text().strip() == "Data":
            return vendor, int((index / "size").read_text().strip().rstrip("K"))
    raise RuntimeError("no L1 data cache listed under /sys/devices/system/cpu/cpu0/cache")


def int8_outputs(work: Path, graph: str) -> str:
    """sha256 of the graph's probabilities over the test split, computed in a process with the
    strict environment over the preset one (as a job gets it)."""
    env = {**os.environ, **PRESET, **job_environment("strict"), "PYTHONPATH": str(work)}
    data = work / "results/data/mnist"
    args = [str(work / graph), str(data / "test-images.idx"), str(data / "test-labels.idx")]
    result = subprocess.run(
        [sys.executable, "-c", PREDICT, *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return result.stdout.split()[-1]


def test_strict_run_gives_the_recorded_bytes_whatever_the_environment_says(rerun):
    work = rerun  # started with PRESET in its environment
    recorded = json.loads((work / "results/onnx/mnist/model.parity.json").read_text())
    settings = recorded["reproducibility"]
    differing = {
        key: (settings["environment"].get(key), value)
        for key, value in STRICT_ENVIRONMENT.items()
        if settings["environment"].get(key) != value
    }
    assert settings["mode"] == "strict" and settings["isa"] == BASELINE
    assert differing == {}, f"the job ran with {differing} (found, strict value)"
    cpu = this_cpu()
    found = {
        artifact: sha256_file(work / artifact) for artifact in [*GOLDEN, *SCORES, *KERAS_FILES]
    }
    found |= {
        f"{graph} (probabilities)": int8_outputs(work, graph) for graph in [*OUTPUTS, KERAS_GRAPH]
    }
    recorded_sums = GOLDEN | SCORES | KERAS.get(cpu, {})
    recorded_sums |= {f"{graph} (probabilities)": digest for graph, digest in OUTPUTS.items()}
    if cpu not in KERAS:
        keras = [*KERAS_FILES, f"{KERAS_GRAPH} (probabilities)"]
        warnings.warn(
            f"no Keras sums recorded for this CPU {cpu}; record them in KERAS: "
            + json.dumps({artifact: found[artifact] for artifact in keras}),
            stacklevel=1,
        )
    wrong = [
        f"{artifact}: sha256 {found[artifact]}, recorded {digest}"
        for artifact, digest in recorded_sums.items()
        if found[artifact] != digest
    ]
    assert not wrong, (
        "strict mode gave other bytes than the recorded ones:\n"
        + "\n".join(wrong)
        + f"\nsettings of the run: {json.dumps(settings, sort_keys=True)}"
    )
