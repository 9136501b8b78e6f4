"""FP8 (E4M3) Q/DQ graphs: the INT8 placement of ``workflow.quant.qdq`` with FP8 steps.

Every activation input of a Conv, ConvTranspose, Gemm and MatMul of the main graph gets
QuantizeLinear -> DequantizeLinear to ``FLOAT8E4M3FN`` with a per-tensor scale amax / 448
(448 is E4M3's largest finite value; QuantizeLinear saturates); every constant input is stored
in FP8 with a scale per output channel (its amax / 448); zero points are FP8 zeros; the bias
stays float. FP8 Q/DQ needs opset 19: an older graph is converted with ONNX's version converter
first. A strongly typed TensorRT build runs these layers in FP8 on GPUs of compute capability
8.9 and later (Ada, Hopper, Blackwell); ONNX Runtime runs the same graph on the CPU.
"""

import logging
from typing import Any

import numpy as np

from workflow.formats.onnx_file import convert_opset, default_opset
from workflow.quant.qdq import QdqFormat, insert_qdq

log = logging.getLogger(__name__)

#: Largest finite FLOAT8E4M3FN value.
FP8_MAX = 448.0
#: Opset whose QuantizeLinear / DequantizeLinear take FP8.
FP8_OPSET = 19


def to_fp8(values: np.ndarray) -> np.ndarray:
    """Round float values to FLOAT8E4M3FN, saturating at +-448 (as QuantizeLinear does)."""
    import ml_dtypes

    clipped = np.clip(np.asarray(values, np.float32), -FP8_MAX, FP8_MAX)
    return clipped.astype(ml_dtypes.float8_e4m3fn)


def quantize_weight_fp8(weight: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """FP8 weights with a scale per channel along ``axis`` (one scale for ``None``): the
    channel's amax / 448, so that its largest weight maps to 448.

    Returns:
        (FLOAT8E4M3FN weights, float32 scale per channel, or a scalar scale).
    """
    weight = weight.astype(np.float32)
    if axis is None:
        amax = np.float32(np.abs(weight).max()) if weight.size else np.float32(0)
        scale = np.float32((amax if amax > 0 else 1.0) / np.float32(FP8_MAX))
        return to_fp8(weight / scale), np.array(scale, np.float32)
    moved = np.moveaxis(weight, axis, 0)
    amax = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    scale = (np.where(amax > 0, amax, 1.0) / np.float32(FP8_MAX)).astype(np.float32)
    shape = [1] * weight.ndim
    shape[axis] = -1
    return to_fp8(weight / scale.reshape(shape)), scale


def _fp8_zero(scale: np.ndarray) -> np.ndarray:
    import ml_dtypes

    return np.zeros(np.shape(scale), ml_dtypes.float8_e4m3fn)


FP8 = QdqFormat(
    name="fp8",
    quantize_weight=quantize_weight_fp8,
    activation_scale=lambda amax: np.float32(amax / FP8_MAX),
    zero_point=_fp8_zero,
)


def fp8_from_ranges(
    model_bytes: bytes,
    amax: dict[str, float],
    *,
    source: str,
    reasons: dict[str, str] | None = None,
) -> bytes:
    """Insert FP8 Q/DQ for the activation and weight inputs of every Conv, ConvTranspose, Gemm
    and MatMul of the main graph (the INT8 graph's placement).

    Args:
        model_bytes: the FP32 graph (converted to opset 19 where older).
        amax: dynamic range per activation name (a CalibrationTable's or a range file's).
        source: where the ranges came from, named in errors.
        reasons: if given, receives why each compute node inside a subgraph stays FP32.

    Returns:
        The FP8 Q/DQ graph, checked by ``onnx.checker``.

    Raises:
        PipelineError: as ``workflow.quant.qdq.insert_qdq``, or the graph cannot be converted
            to opset 19 (the node is named).
    """
    import onnx

    model: Any = onnx.load_from_string(model_bytes)
    if default_opset(model) < FP8_OPSET:
        log.info("fp8 | opset %d -> %d (FP8 Q/DQ)", default_opset(model), FP8_OPSET)
        model = convert_opset(model, FP8_OPSET, source)
    return insert_qdq(model, amax, source=source, reasons=reasons, fmt=FP8).SerializeToString()
