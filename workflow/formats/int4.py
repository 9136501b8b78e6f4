"""Blocked symmetric INT4 values: the numbers ONNX's ``DequantizeLinear`` with ``block_size``
(opset 21) and TensorRT's INT4 weight-only layers read. The ONNX pass
(``workflow.quant.int4``) and the network-API builder (``workflow.netdef.layers``) both write
these."""

import math

import numpy as np

#: The largest INT4 magnitude used (symmetric: -7..7).
QMAX = 7


def quantize_blocked(
    weight: np.ndarray, axis: int, block_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric INT4 in blocks of ``block_size`` along ``axis`` (the last block may be short).

    Returns:
        (INT4 values as ``ml_dtypes.int4``, in -7..7; float32 scales, the weight's shape with
        ``axis`` divided by ``block_size``, rounded up).
    """
    import ml_dtypes

    weight = np.asarray(weight, np.float32)
    size = weight.shape[axis]
    blocks = math.ceil(size / block_size)
    moved = np.moveaxis(weight, axis, 0)
    padded = np.zeros((blocks * block_size, *moved.shape[1:]), np.float32)
    padded[:size] = moved
    grouped = padded.reshape(blocks, block_size, *moved.shape[1:])
    amax = np.abs(grouped).max(axis=1)
    scale = (np.where(amax > 0, amax, 1.0) / np.float32(QMAX)).astype(np.float32)
    q = np.clip(np.rint(grouped / scale[:, None]), -QMAX, QMAX)
    q = q.reshape(padded.shape)[:size]
    return np.moveaxis(q, 0, axis).astype(ml_dtypes.int4), np.moveaxis(scale, 0, axis)


def dequantize_blocked(q: np.ndarray, scale: np.ndarray, axis: int, block_size: int) -> np.ndarray:
    """Float32 values of blocked INT4 (DequantizeLinear with ``block_size``)."""
    size = q.shape[axis]
    steps = np.repeat(scale, block_size, axis=axis)
    steps = np.take(steps, np.arange(size), axis=axis)
    return q.astype(np.float32) * steps
