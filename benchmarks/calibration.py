"""Entropy calibration: this pipeline's calibrator against onnxruntime.quantization's.

For each sample (default: MNIST's LeNet, 1,000 images, and the SSD, 200 scenes; built first
with `snakemake results/calibrate/{mnist,ssd}/batches results/onnx/{mnist,ssd}/model.onnx`),
these calibrations of the same FP32 graph over the same batch files, side by side in one run,
each in its own process (so that each one's peak RSS is its own), all with 2,048 bins:

- onnxruntime.quantization's entropy calibrator over every float tensor (128 quantized bins,
  symmetric), with as many ONNX Runtime threads as our workers (--workers);
- this pipeline's calibrator as it was at git revision --before (default: the last one before
  issue 18), over every float tensor, as the INT8 graph used to wait for;
- ours over every float tensor (what `calibration_all.table` holds), with one worker thread
  and with two (--workers);
- ours over the activations the INT8 graph quantizes (what `calibration.table` holds, the INT8
  graph's input), with the most workers, as the workflow runs it on 2 cores.

With --reference, also the candidate-by-candidate threshold search this pipeline used before
(tests/quant/reference_entropy.py) on our histograms: its time and the largest relative
difference of its thresholds from ours. Reproducibility settings as the workflow's strict mode.

    .venv/bin/python benchmarks/calibration.py [--samples mnist ssd] [--reference]
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINS = 2048
#: The last revision before issue 18 (candidate-by-candidate search, every tensor).
BEFORE = "3d7ecb2"


def ours(onnx: Path, batches: Path, scope: str, workers: int, reference: bool) -> dict:
    import numpy as np

    from workflow.quant.batches import iter_batches
    from workflow.quant.calibrate import activation_stream, calibrate, tensors_to_calibrate

    model = onnx.read_bytes()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    amax = calibrate(
        model,
        lambda: iter_batches(batches),
        algorithm="entropy",
        bins=BINS,
        percentile=99.99,
        threads=1,
        tensors=tensors_to_calibrate(model, scope),
        workers=workers,
        timings=timings,
    )
    result = {"seconds": time.perf_counter() - start, "steps": timings, "amax": amax}
    if scope == "all" and reference:
        from tests.quant.reference_entropy import entropy_amax_loop
        from workflow.quant.calibrate import collect_amax, collect_histograms

        stream, _ = activation_stream(model, lambda: iter_batches(batches), 1, None)
        tops = collect_amax(stream())
        hists = collect_histograms(stream(), tops, bins=BINS)
        start = time.perf_counter()
        loop = {name: entropy_amax_loop(hists[name], top) for name, top in tops.items()}
        result["reference"] = {
            "search_seconds": time.perf_counter() - start,
            "max_relative_difference": max(
                float(np.abs(amax[name] - value) / value) for name, value in loop.items() if value
            ),
        }
    return result


def before(onnx: Path, batches: Path, revision: str) -> dict:
    """Calibrate with ``workflow/quant/calibrate.py`` as it was at ``revision``."""
    from workflow.quant.batches import iter_batches

    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:workflow/quant/calibrate.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calibrate_before.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("calibrate_before", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    start = time.perf_counter()
    amax = module.calibrate(
        onnx.read_bytes(),
        lambda: iter_batches(batches),
        algorithm="entropy",
        bins=BINS,
        percentile=99.99,
        threads=1,
    )
    return {"seconds": time.perf_counter() - start, "steps": {}, "amax": amax}


def onnxruntime_reference(onnx: Path, batches: Path, threads: int) -> dict:
    import numpy as np
    import onnx as onnx_lib
    import onnxruntime as ort
    from onnxruntime.quantization.calibrate import (
        CalibrationDataReader,
        CalibrationMethod,
        create_calibrator,
    )

    from workflow.quant.batches import iter_batches

    graph = onnx_lib.load(onnx).graph
    initializers = {init.name for init in graph.initializer}
    input_name = next(i.name for i in graph.input if i.name not in initializers)

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
            extra_options={"symmetric": True, "num_bins": BINS, "num_quantized_bins": 128},
        )
        calibrator.execution_providers = ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        calibrator.sess_options = opts
        ready = time.perf_counter()
        calibrator.collect_data(Reader())
        collected = time.perf_counter()
        ranges = calibrator.compute_data()
        end = time.perf_counter()
    amax = {name: float(np.max(np.abs(ranges[name].range_value))) for name in ranges}
    steps = {
        "augment": ready - start,
        "collect (inference, histograms)": collected - ready,
        "compute (threshold search)": end - collected,
    }
    return {"seconds": end - start, "steps": steps, "amax": amax}


def child(args: argparse.Namespace) -> None:
    """One calibration in this process; its result as JSON on stdout."""
    from workflow.repro import STRICT_ENVIRONMENT

    if args.child == "onnxruntime":
        result = onnxruntime_reference(args.onnx, args.batches, args.workers[0])
    elif args.child == "before":
        result = before(args.onnx, args.batches, args.before)
    else:
        scope = args.child.removeprefix("ours-")
        result = ours(args.onnx, args.batches, scope, args.workers[0], args.reference)
        result["workers"] = args.workers[0]
    result["environment"] = {k: os.environ.get(k) for k in STRICT_ENVIRONMENT}
    print(json.dumps(result))


def run_child(
    method: str, args: argparse.Namespace, onnx: Path, batches: Path, workers: int
) -> dict:
    """Run one calibration in a fresh process; add its peak RSS (from wait4's rusage)."""
    from workflow.repro import STRICT_ENVIRONMENT

    command = [sys.executable, __file__, "--child", method, "--onnx", str(onnx)]
    command += ["--batches", str(batches), "--workers", str(workers), "--before", args.before]
    command += ["--reference"] if args.reference else []
    env = {**os.environ, **STRICT_ENVIRONMENT, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{method} on {onnx} failed (rerun with --child {method} to see why)")
        out.seek(0)
        result = json.loads(out.read().decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def report(sample: str, images: int, results: dict[str, dict], revision: str) -> None:
    old = results["before"]
    mine = {key: r for key, r in results.items() if key.startswith("ours-all")}
    theirs = {key: r for key, r in results.items() if key.startswith("onnxruntime")}
    reference = next(iter(theirs.values()))
    quantized = results["ours-quantized"]
    tensors = len(next(iter(mine.values()))["amax"])
    print(f"\n{sample}: {images} images; float tensors: {tensors} (ours),")
    print(f"  {len(reference['amax'])} (onnxruntime.quantization); quantized by the INT8 graph:")
    print(f"  {len(quantized['amax'])}")
    print(f"  {'calibration':<40} {'seconds':>8} {'peak RSS MB':>12}  steps (s)")
    labels = {
        **{key: f"onnxruntime.quantization, {key.rsplit('-', 1)[1]} threads" for key in theirs},
        "before": f"ours at {revision}, all tensors",
        **{key: f"ours, all tensors, {key.rsplit('-', 1)[1]} workers" for key in mine},
        "ours-quantized": f"ours, the INT8 graph's, {quantized['workers']} workers",
    }
    for key, label in labels.items():
        r = results[key]
        steps = ", ".join(f"{k} {v:.2f}" for k, v in r["steps"].items())
        print(f"  {label:<40} {r['seconds']:>8.2f} {r['peak_rss_mb']:>12.0f}  {steps}")
    for key, r in mine.items():
        workers = key.rsplit("-", 1)[1]
        print(
            f"  onnxruntime / ours (all tensors, {workers} threads each): "
            f"{results[f'onnxruntime-{workers}']['seconds'] / r['seconds']:.1f}x"
        )
    ratio = old["seconds"] / quantized["seconds"]
    print(f"  before / ours (what the INT8 graph waits for): {ratio:.1f}x")
    for key, r in mine.items():
        worst = max(abs(r["amax"][n] - v) / v for n, v in old["amax"].items() if v > 0)
        print(f"  thresholds of {key} vs before: largest relative difference {worst:.2e}")
    every = next(iter(mine.values()))
    common = [n for n in every["amax"] if n in reference["amax"] and reference["amax"][n] > 0]
    diffs = [abs(every["amax"][n] - reference["amax"][n]) / reference["amax"][n] for n in common]
    print(
        f"  thresholds vs onnxruntime's (its own histogram merging): median relative "
        f"difference {sorted(diffs)[len(diffs) // 2]:.4f}, largest {max(diffs):.4f}"
    )
    same = all(quantized["amax"][n] == every["amax"][n] for n in quantized["amax"])
    print(f"  INT8 graph's tensors equal to the all-tensor calibration's: {same}")
    if "reference" in every:
        ref = every["reference"]
        print(
            f"  candidate-by-candidate search (before): {ref['search_seconds']:.2f} s against "
            f"{every['steps']['search']:.2f} s; largest relative threshold difference "
            f"{ref['max_relative_difference']:.2e}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", nargs="+", default=["mnist", "ssd"])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="our worker threads (each count)"
    )
    parser.add_argument("--before", default=BEFORE, help="the revision to compare with")
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--child", choices=["ours-all", "ours-quantized", "onnxruntime", "before"])
    parser.add_argument("--onnx", type=Path)
    parser.add_argument("--batches", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from workflow.quant.batches import check_batch_folder

    for sample in args.samples:
        onnx = args.results / "onnx" / sample / "model.onnx"
        batches = args.results / "calibrate" / sample / "batches"
        images = sum(info.dims[0] for info in check_batch_folder(batches))
        results = {"before": run_child("before", args, onnx, batches, 1)}
        for workers in args.workers:
            for method in ("onnxruntime", "ours-all"):
                results[f"{method}-{workers}"] = run_child(method, args, onnx, batches, workers)
        most = max(args.workers)
        results["ours-quantized"] = run_child("ours-quantized", args, onnx, batches, most)
        report(sample, images, results, args.before)


if __name__ == "__main__":
    main()
