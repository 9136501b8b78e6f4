"""Same config, other CPUs: the MNIST chain's bytes on this machine and on emulated CPUs.

Runs a small MNIST chain (embedded digits, LeNet training, ONNX export, entropy calibration,
INT8 graph) through the library in one process per CPU and mode, and prints the sha256 of
each artifact. Other CPUs come from QEMU's user-mode emulator (Debian's qemu-user):
``qemu-x86_64 -cpu Haswell`` is an Intel AVX2 CPU, ``-cpu Skylake-Server`` an Intel AVX-512
one; the libraries see those CPUs' CPUID and choose their kernels for them. Strict mode must
give one set of sums across all of them; native mode shows what it protects against.

    python benchmarks/reproducibility.py [--cpus host Haswell Skylake-Server] [--images 300]

Emulation is slow (about 20 times): the default chain is one epoch on 300 images.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

ARTIFACTS = ("weights.pt", "model.onnx", "calibration.table", "int8.onnx")


def child(images: int, epochs: int) -> dict[str, str]:
    """The chain in this process (its environment already set); sha256 per artifact."""
    from workflow.data.mnist import mnist_splits, to_input
    from workflow.models.checkpoint import state_dict_bytes
    from workflow.models.export import onnx_from_torch
    from workflow.models.lenet import INPUT_NAME, OUTPUT_NAME, lenet, with_softmax
    from workflow.models.train import train_classifier
    from workflow.quant.calibrate import calibrate
    from workflow.quant.qdq import qdq_from_ranges
    from workflow.quant.table import table_from_amax

    (train_x, train_y), (test_x, _) = mnist_splits(
        source="digits", files={}, test_fraction=0.2, seed=0, test_count=0, base_url=""
    )
    inputs = to_input(train_x[:images])
    model = train_classifier(
        lenet,
        inputs,
        train_y[:images],
        seed=0,
        epochs=epochs,
        batch_size=64,
        learning_rate=0.05,
        momentum=0.9,
        weight_decay=5e-4,
        threads=2,
    )
    weights = state_dict_bytes(model)
    graph = onnx_from_torch(
        with_softmax(model),
        to_input(test_x[:64]),
        opset=18,
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
    )
    amax = calibrate(
        graph,
        lambda: iter([inputs[i : i + 50] for i in range(0, len(inputs), 50)]),
        algorithm="entropy",
        bins=1024,
        percentile=99.99,
        threads=1,
    )
    table = table_from_amax(amax, version=10000, algorithm="entropy").to_text().encode()
    int8 = qdq_from_ranges(graph, amax, source="benchmark")
    blobs = dict(zip(ARTIFACTS, (weights, graph, table, int8), strict=True))
    return {name: hashlib.sha256(data).hexdigest()[:16] for name, data in blobs.items()}


def run(cpu: str, mode: str, images: int, epochs: int) -> tuple[dict[str, str], float]:
    from workflow.repro import STRICT_ENVIRONMENT, job_environment

    env = {k: v for k, v in os.environ.items() if k not in STRICT_ENVIRONMENT}
    env |= job_environment(mode)
    command = [
        sys.executable,
        __file__,
        "--child",
        "--images",
        str(images),
        "--epochs",
        str(epochs),
    ]
    if cpu != "host":
        command = ["qemu-x86_64", "-cpu", cpu, *command]
    start = time.perf_counter()
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cpus", nargs="+", default=["host", "Haswell", "Skylake-Server"])
    parser.add_argument("--modes", nargs="+", default=["strict", "native"])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.images, args.epochs)))
        return 0
    if any(cpu != "host" for cpu in args.cpus) and shutil.which("qemu-x86_64") is None:
        print("qemu-x86_64 is missing: apt-get install qemu-user", file=sys.stderr)
        return 2
    status = 0
    for mode in args.modes:
        sums = {}
        for cpu in args.cpus:
            sums[cpu], seconds = run(cpu, mode, args.images, args.epochs)
            print(
                f"{mode:6} {cpu:15} {seconds:7.1f} s  "
                + "  ".join(f"{name} {digest}" for name, digest in sums[cpu].items())
            )
        same = len({json.dumps(s, sort_keys=True) for s in sums.values()}) == 1
        print(f"{mode}: {'identical on every CPU' if same else 'DIFFERENT across CPUs'}")
        if mode == "strict" and not same:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
