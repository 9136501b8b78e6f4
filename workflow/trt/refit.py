"""Engine refit, as engine_refit_mnist does it: build with dummy weights, refit the trained ones.

A refittable engine is built from the layer description with the weights of one layer replaced
by zeros; a ``Refitter`` then sets that layer's trained weights by name
(``set_named_weights``), checks that TensorRT asks for nothing more (``get_missing_weights``)
and refits (``refit_cuda_engine``). Refitting deserializes the engine, so it needs a GPU: without
one :func:`refit_plan` stops with :class:`~workflow.errors.GpuUnavailable` after the CPU part
(dummy weights, trained weights, names) is done and logged.
"""

import dataclasses
import hashlib
import logging
from typing import Any

import numpy as np

from workflow.errors import GpuUnavailable, PipelineError
from workflow.netdef.layers import Layer, populate_network, weights_name
from workflow.trt.config import BuildConfig
from workflow.trt.gpu import gpu_info
from workflow.trt.loader import capturing_logger, engine_bytes_from_network
from workflow.trt.module import import_tensorrt

log = logging.getLogger(__name__)


def refit_inputs(layers: list[Layer], layer_name: str) -> tuple[list[Layer], dict[str, np.ndarray]]:
    """The description with ``layer_name``'s weights zeroed, and the trained weights by the
    names the refitter will ask for.

    Raises:
        PipelineError: no layer of that name, or it has no weights.
    """
    match = [layer for layer in layers if layer.name == layer_name]
    if not match or not match[0].weights:
        raise PipelineError(f"refit layer {layer_name!r}", "no such layer with weights")
    layer = match[0]
    values = layer.weights
    if layer.op == "dense":  # the network holds the transposed weight and a bias row
        values = {"weight": layer.weights["weight"].T, "bias": layer.weights["bias"].reshape(1, -1)}
    trained = {
        weights_name(layer, key): np.ascontiguousarray(value, dtype=np.float32)
        for key, value in values.items()
    }
    dummy = dataclasses.replace(
        layer, weights={k: np.zeros_like(v) for k, v in layer.weights.items()}
    )
    return [dummy if item is layer else item for item in layers], trained


def refit_plan(
    layers: list[Layer],
    *,
    layer_name: str,
    source: dict[str, str],
    build: BuildConfig,
) -> tuple[bytes, dict[str, Any]]:
    """Build a refittable engine with dummy weights for one layer, refit it, serialize it.

    Returns:
        The refitted plan and its metadata (with ``refit``: the layer and the weight names).

    Raises:
        GpuUnavailable: no GPU here (after the CPU part has been checked).
        PipelineError: TensorRT asks for weights not given, or the refit fails.
    """
    dummy, trained = refit_inputs(layers, layer_name)
    names = sorted(trained)
    log.info(
        "refit | layer %s: dummy weights %s, trained weights %s",
        layer_name,
        {k: v.shape for k, v in trained.items()},
        {k: round(float(np.abs(v).sum()), 4) for k, v in trained.items()},
    )
    gpu, reason = gpu_info()
    if gpu is None:
        raise GpuUnavailable(
            f"refit of {layer_name}",
            f"a refittable build and the refit need a CUDA GPU and full TensorRT ({reason})",
            "run this target on a GPU host; weights to refit were checked: " + ", ".join(names),
        )
    built = engine_bytes_from_network(
        lambda trt, network: populate_network(trt, network, dummy),
        source=source,
        build=build,
        refittable=names,
    )
    plan, meta = built.plan, built.meta
    trt = import_tensorrt(build.module)
    logger = capturing_logger(trt)
    engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
    if engine is None:
        raise PipelineError(
            "refit", "the refittable plan does not deserialize: " + "; ".join(logger.errors)
        )
    refitter = trt.Refitter(engine, logger)
    keep = []
    for name in names:
        weights = trt.Weights(trained[name])
        keep.append(weights)
        if not refitter.set_named_weights(name, weights):
            raise PipelineError(
                "refit", f"TensorRT refused weights {name!r}: " + "; ".join(logger.errors)
            )
    missing = list(refitter.get_missing_weights())
    if missing:
        raise PipelineError("refit", f"TensorRT still asks for weights {missing}")
    if not refitter.refit_cuda_engine():
        raise PipelineError("refit", "refit_cuda_engine failed: " + "; ".join(logger.errors))
    refitted = bytes(engine.serialize())
    meta["plan"] = {"bytes": len(refitted), "sha256": hashlib.sha256(refitted).hexdigest()}
    meta["refit"] = {"layer": layer_name, "weights": names}
    return refitted, meta
