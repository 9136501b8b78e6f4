"""Entropy calibration: this pipeline's calibrator against onnxruntime.quantization's.

Both calibrate the same FP32 graph over the same batch files (default: the MNIST sample's
1,000-image calibration set, after `snakemake --cores 2`), both with 2,048 histogram bins,
128 quantized bins and symmetric ranges. Prints each one's wall time and, per tensor, both
thresholds and their relative difference.

    .venv/bin/python benchmarks/calibration.py [--onnx ...] [--batches ...]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from workflow.quant.batches import check_batch_folder, iter_batches
from workflow.quant.calibrate import calibrate


def ours(onnx: Path, batches: Path) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    amax = calibrate(
        onnx.read_bytes(),
        lambda: iter_batches(batches),
        algorithm="entropy",
        bins=2048,
        percentile=99.99,
        threads=1,
    )
    return time.perf_counter() - start, amax


def onnxruntime_reference(
    onnx: Path, batches: Path, input_name: str
) -> tuple[float, dict[str, float]]:
    import onnxruntime as ort
    from onnxruntime.quantization.calibrate import (
        CalibrationDataReader,
        CalibrationMethod,
        create_calibrator,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.stream = iter_batches(batches)

        def get_next(self):
            batch = next(self.stream, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        calibrator = create_calibrator(
            onnx,
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=CalibrationMethod.Entropy,
            extra_options={"symmetric": True, "num_bins": 2048, "num_quantized_bins": 128},
        )
        calibrator.execution_providers = ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        calibrator.sess_options = opts
        calibrator.collect_data(Reader())
        ranges = calibrator.compute_data()
        elapsed = time.perf_counter() - start
    return elapsed, {name: float(np.max(np.abs(ranges[name].range_value))) for name in ranges}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--onnx", type=Path, default=Path("results/onnx/mnist/model.onnx"))
    parser.add_argument("--batches", type=Path, default=Path("results/calibrate/mnist/batches"))
    parser.add_argument("--input-name", default="input")
    args = parser.parse_args()
    infos = check_batch_folder(args.batches)
    images = sum(info.dims[0] for info in infos)
    ours_time, ours_amax = ours(args.onnx, args.batches)
    ref_time, ref_amax = onnxruntime_reference(args.onnx, args.batches, args.input_name)
    print(f"{images} images in {len(infos)} batch files")
    print(f"ours: {ours_time:.2f} s   onnxruntime.quantization: {ref_time:.2f} s")
    print(f"{'tensor':<16} {'ours':>10} {'onnxruntime':>12} {'rel diff':>9}")
    worst = 0.0
    for name in ours_amax:
        if name not in ref_amax:
            continue
        rel = abs(ours_amax[name] - ref_amax[name]) / ref_amax[name]
        worst = max(worst, rel)
        print(f"{name:<16} {ours_amax[name]:>10.4f} {ref_amax[name]:>12.4f} {rel:>9.4f}")
    print(f"largest relative difference: {worst:.4f}")


if __name__ == "__main__":
    main()
