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


def verify_engine(
    meta_path: str | Path,
    *,
    candidate: Callable[[Path, Path], BaseRunner],
    batch: int | None,
    seed: int,
    atol: float,
    rtol: float,
) -> ScoreReport:
    """Run an engine and its reference graph on the same inputs and compare the outputs.

    Args:
        meta_path: the engine's ``.plan.json`` (the plan beside it).
        candidate: makes the runner under test from (plan path, metadata path); the TensorRT
            runner on a GPU host.
        batch, seed: the inputs (see :func:`feed_from_meta`).
        atol, rtol: tolerances of :func:`workflow.backend.compare.compare`.
    """

    meta_path = Path(meta_path)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    feed = feed_from_meta(meta, batch=batch, seed=seed)
    with OrtRunner(reference_onnx(meta)) as runner:
        expected = runner.infer(dict(feed))
    plan = meta_path.with_name(meta_path.name.removesuffix(".json"))
    with candidate(plan, meta_path) as runner:
        got = runner.infer(dict(feed))
    return compare(expected, got, atol=atol, rtol=rtol)
