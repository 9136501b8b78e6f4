"""Check built engines against the ONNX graphs they came from (like ``polygraphy run --trt
--onnxrt``): same random inputs through TensorRT and ONNX Runtime, outputs compared.

Running the engines needs a GPU; choosing the reference graph, making the inputs, comparing and
reporting do not, and are tested on CPU with ONNX Runtime standing in for TensorRT.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from workflow.backend.base import BaseRunner
from workflow.backend.compare import ScoreReport, compare
from workflow.errors import PipelineError
from workflow.ort.runner import OrtRunner
from workflow.trt.runner import TRT_DTYPES


def reference_onnx(meta: dict[str, Any]) -> str:
    """The ONNX graph an engine must match: the graph it was parsed from, or for a network-API
    engine the ONNX emitted from the same layer description.

    Raises:
        PipelineError: the metadata names no ONNX graph.
    """
    path = meta.get("reference_onnx") or meta["source"]["path"]
    if not str(path).endswith(".onnx"):
        raise PipelineError("engine metadata", f"no ONNX reference (source {path})")
    return str(path)


def feed_from_meta(meta: dict[str, Any], *, batch: int | None, seed: int) -> dict[str, np.ndarray]:
    """Seeded random inputs in [0, 1) of the engine's input shapes.

    Args:
        meta: the engine's ``.plan.json``.
        batch: batch size; ``None`` takes the profile's optimum.
        seed: random seed.
    """
    rng = np.random.default_rng(seed)
    feed = {}
    for item in meta["inputs"]:
        shape = list(meta["build"]["profile"][item["name"]]["opt"])
        if batch is not None and item["shape"][0] < 0:
            shape[0] = batch
        feed[item["name"]] = rng.random(shape).astype(TRT_DTYPES[item["dtype"]])
    return feed


#: Tolerances of an engine against the graph it was built from, by the engine's precision:
#: FP32 (TF32 off) agrees to float rounding; FP16 to half precision; an INT8 engine fuses and
#: accumulates differently from ONNX Runtime's Q/DQ emulation, so its class scores are judged
#: by top-1 agreement and its other outputs by a loose element check.
TOLERANCES: dict[str, dict[str, float]] = {
    "fp32": {"atol": 1e-4, "rtol": 1e-3},
    "fp16": {"atol": 1e-2, "rtol": 1e-2},
    "int8": {"atol": 5e-2, "rtol": 5e-2, "min_top1": 0.99},
}


def engine_precision(meta_path: str | Path) -> str:
    """The precision of an engine from its file name ``<sample>_<precision>.plan.json``; a
    refit engine (``<sample>.plan.json``) is FP32."""
    stem = Path(meta_path).name.removesuffix(".plan.json")
    tail = stem.rsplit("_", 1)[-1]
    return tail if tail in TOLERANCES else "fp32"


def verify_engine(
    meta_path: str | Path,
    *,
    candidate: Callable[[Path, Path], BaseRunner],
    batch: int | None,
    seed: int,
    atol: float | None = None,
    rtol: float | None = None,
) -> ScoreReport:
    """Run an engine and its reference graph on the same inputs and compare the outputs.

    Args:
        meta_path: the engine's ``.plan.json`` (the plan beside it).
        candidate: makes the runner under test from (plan path, metadata path); the TensorRT
            runner on a GPU host.
        batch, seed: the inputs (see :func:`feed_from_meta`).
        atol, rtol: tolerances of :func:`workflow.backend.compare.compare`. Defaults to the
            :data:`TOLERANCES` of the engine's precision (INT8 also judges class scores by
            top-1 agreement).
    """

    meta_path = Path(meta_path)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    feed = feed_from_meta(meta, batch=batch, seed=seed)
    with OrtRunner(reference_onnx(meta)) as runner:
        expected = runner.infer(dict(feed))
    plan = meta_path.with_name(meta_path.name.removesuffix(".json"))
    with candidate(plan, meta_path) as runner:
        got = runner.infer(dict(feed))
    tolerance = TOLERANCES[engine_precision(meta_path)]
    return compare(
        expected,
        got,
        atol=tolerance["atol"] if atol is None else atol,
        rtol=tolerance["rtol"] if rtol is None else rtol,
        min_top1=tolerance.get("min_top1"),
    )
