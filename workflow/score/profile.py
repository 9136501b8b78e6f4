"""Per-layer timing (sampleGoogleNet's profiler), one table format for both runtimes.

* ``ort`` (CPU): ONNX Runtime's profiler; a layer is a node of the graph ONNX Runtime runs
  (after its own fusions), its time the node's kernel time.
* ``trt`` (GPU hosts): TensorRT's ``IProfiler`` attached to the execution context through the
  runner; a layer is an engine layer (after TensorRT's fusions). Written and typed; not run
  here (no GPU that TensorRT supports).

A table: ``{"runtime", "runner", "batch_size", "warmup", "runs", "total_ms", "layers": [{"name",
"type", "ms", "share"}]}`` with each layer's median time over the timed runs, in the order the
layers ran, ``share`` its part of the summed layer times, ``total_ms`` the median time of a
whole run.
"""

import json
import logging
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from workflow.errors import PipelineError
from workflow.logs import timed
from workflow.ort.loader import session_from_onnx

log = logging.getLogger(__name__)


def profile_table(
    times: dict[str, list[float]],
    types: dict[str, str],
    totals: list[float],
    *,
    runtime: str,
    runner: str,
    batch_size: int,
    warmup: int,
) -> dict[str, Any]:
    """The table of a profile: per layer (in first-run order) its timed runs' median.

    Args:
        times: milliseconds of each timed run, by layer.
        types: each layer's op or layer type.
        totals: milliseconds of each timed run, whole.
        runtime, runner, batch_size, warmup: recorded as they are.

    Raises:
        PipelineError: no layer was timed.
    """
    if not times:
        raise PipelineError(runner, "the profiler timed no layer")
    medians = {name: statistics.median(values) for name, values in times.items()}
    summed = sum(medians.values()) or 1.0
    return {
        "runtime": runtime,
        "runner": runner,
        "batch_size": batch_size,
        "warmup": warmup,
        "runs": len(totals),
        "total_ms": statistics.median(totals),
        "layers": [
            {"name": name, "type": types.get(name, ""), "ms": ms, "share": ms / summed}
            for name, ms in medians.items()
        ],
    }


def ort_profile(
    onnx_path: str | Path, inputs: np.ndarray, *, warmup: int, runs: int, threads: int
) -> dict[str, Any]:
    """Profile the graph with ONNX Runtime on CPU: ``warmup`` untimed runs, then ``runs`` timed
    runs of ``inputs`` (one batch)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as folder:
        session = session_from_onnx(
            onnx_path, threads=threads, profile_prefix=Path(folder) / "profile"
        )
        feed = {session.get_inputs()[0].name: np.ascontiguousarray(inputs, np.float32)}
        with timed(log, f"ort profile | {onnx_path}: {warmup} + {runs} runs"):
            for _ in range(warmup + runs):
                session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    times: dict[str, list[float]] = defaultdict(list)
    types: dict[str, str] = {}
    totals: list[float] = []
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            totals.append(event["dur"] / 1000)
        elif event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            name = event["name"].removesuffix("_kernel_time")
            times[name].append(event["dur"] / 1000)
            types[name] = event.get("args", {}).get("op_name", "")
    if len(totals) != warmup + runs:
        raise PipelineError(onnx_path, f"{len(totals)} runs profiled, {warmup + runs} made")
    timed_runs = {name: values[warmup:] for name, values in times.items() if values[warmup:]}
    return profile_table(
        timed_runs,
        types,
        totals[warmup:],
        runtime="ort",
        runner=f"onnxruntime {ort.__version__} CPU, {threads} thread(s)",
        batch_size=len(inputs),
        warmup=warmup,
    )


def trt_profile(
    runner: Any, inputs: np.ndarray, *, warmup: int, runs: int, layer_types: dict[str, str]
) -> dict[str, Any]:
    """Profile an engine on the GPU through an active :class:`workflow.trt.runner.TrtRunner`
    (its execution context gets a ``trt.IProfiler`` after the warm-up runs).

    Args:
        runner: the active runner.
        inputs: one batch.
        warmup, runs: untimed and timed runs.
        layer_types: engine layer name -> type, from the engine's layer report.
    """
    import time

    (input_name,) = runner.input_metadata()
    feed = {input_name: np.ascontiguousarray(inputs, np.float32)}
    for _ in range(warmup):
        runner.infer(feed)
    profiler = runner.attach_profiler()
    totals = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.infer(feed)
        totals.append((time.perf_counter() - start) * 1000)
    return profile_table(
        dict(profiler.times),
        layer_types,
        totals,
        runtime="trt",
        runner=runner.name,
        batch_size=len(inputs),
        warmup=warmup,
    )
