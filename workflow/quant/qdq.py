"""INT8 Q/DQ graphs in the placement TensorRT accepts.

For every Conv, Gemm and MatMul: the activation input gets QuantizeLinear -> DequantizeLinear with
a per-tensor scale (amax / 127, symmetric, zero point 0); the constant weight is stored as int8
with a per-output-channel scale and a DequantizeLinear; the bias stays float. A strongly typed
TensorRT build then runs these layers in INT8; ONNX Runtime runs the same graph on CPU.
"""

import logging

import numpy as np

from workflow.errors import PipelineError

log = logging.getLogger(__name__)

QUANTIZED_OPS = ("Conv", "Gemm", "MatMul")
QMAX = 127


def _attribute(node, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(attr.i)
    return default


def weight_axis(node, weight: np.ndarray, slot: int = 1) -> int | None:
    """The output-channel axis of a node's constant input (per-channel scales run along it).

    Never the axis the node sums over: a scale along it would mix the rounding of different
    terms of one dot product with different steps, while a scale per output channel factors
    out of the sum.

    Args:
        node: the Conv, Gemm or MatMul.
        weight: the constant input.
        slot: which input it is: 0 (Gemm's A, MatMul's A) or 1 (Conv's W, Gemm's B,
            MatMul's B).

    Returns:
        Conv: 0 (output channels); Gemm: the M axis of A or the N axis of B (after ``transA``
        / ``transB``); MatMul(W (..., M, K), X): ndim - 2 (M), MatMul(X, W (..., K, N)):
        ndim - 1 (N); ``None`` (one scale for the tensor) for a 1-D MatMul operand, whose
        only axis is the summed one.
    """
    if node.op_type == "Conv":
        return 0
    if node.op_type == "Gemm":
        if slot == 0:
            return 1 if _attribute(node, "transA", 0) else 0
        return 0 if _attribute(node, "transB", 0) else 1
    if weight.ndim < 2:
        return None
    return weight.ndim - 2 if slot == 0 else weight.ndim - 1


def quantize_weight(weight: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric INT8 per channel along ``axis`` (per tensor for ``None``): returns (int8
    weights, float32 scale per channel, or a scalar scale)."""
    if axis is None:
        amax = np.float32(np.abs(weight).max()) if weight.size else np.float32(0)
        scale = np.float32((amax if amax > 0 else 1.0) / np.float32(QMAX))
        q = np.clip(np.rint(weight / scale), -QMAX, QMAX).astype(np.int8)
        return q, np.array(scale, np.float32)
    moved = np.moveaxis(weight.astype(np.float32), axis, 0)
    amax = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    scale = (np.where(amax > 0, amax, 1.0) / np.float32(QMAX)).astype(np.float32)
    shape = [1] * weight.ndim
    shape[axis] = -1
    q = np.clip(np.rint(weight / scale.reshape(shape)), -QMAX, QMAX).astype(np.int8)
    return q, scale


def _quantized_slots(node) -> range:
    """The input slots of a node that get Q/DQ: activation and weight of Conv, Gemm, MatMul."""
    return range(min(2, len(node.input))) if node.op_type in QUANTIZED_OPS else range(0)


def quantized_activations(model_bytes: bytes) -> list[str]:
    """The activations whose dynamic ranges the INT8 graph needs, in graph order.

    These are the non-constant inputs of every Conv, Gemm and MatMul: the only tensors
    ``qdq_from_ranges`` quantizes, hence the only ones calibration must measure for it.
    """
    import onnx

    graph = onnx.load_from_string(model_bytes).graph
    constants = {init.name for init in graph.initializer}
    names = [
        node.input[slot]
        for node in graph.node
        for slot in _quantized_slots(node)
        if node.input[slot] not in constants
    ]
    return list(dict.fromkeys(names))


def qdq_from_ranges(model_bytes: bytes, amax: dict[str, float], *, source: str) -> bytes:
    """Insert Q/DQ for the activation and weight inputs of every Conv, Gemm and MatMul.

    Args:
        model_bytes: the FP32 graph.
        amax: dynamic range per tensor name (from a CalibrationTable or a range file).
        source: where the ranges came from, named in errors.

    Returns:
        The INT8 Q/DQ graph, checked by ``onnx.checker``.

    Raises:
        PipelineError: ``amax`` names a tensor the graph lacks, or lacks the range of a tensor
            that must be quantized; or the graph has no layer to quantize.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    tensors = {i.name for i in graph.input} | {o for n in graph.node for o in n.output}
    unknown = sorted(set(amax) - tensors)
    if unknown:
        raise PipelineError(
            source,
            f"names tensors the graph lacks: {', '.join(unknown[:5])}"
            + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""),
            "the ranges belong to another model; recalibrate or fix the file",
        )
    initializers = {init.name: init for init in graph.initializer}
    new_nodes, new_inits = [], []
    activation_dq: dict[str, str] = {}
    count = 0
    for node in graph.node:
        slots = _quantized_slots(node)
        if slots:
            count += 1
            for slot in slots:
                name = node.input[slot]
                if name in initializers:
                    weight = numpy_helper.to_array(initializers[name])
                    axis = weight_axis(node, weight, slot)
                    q, scale = quantize_weight(weight, axis)
                    base = f"{name}_int8"
                    new_inits += [
                        numpy_helper.from_array(q, base),
                        numpy_helper.from_array(scale, f"{base}_scale"),
                        numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), f"{base}_zp"),
                    ]
                    out = f"{base}_dq"
                    per_channel = {} if axis is None else {"axis": axis}
                    new_nodes.append(
                        helper.make_node(
                            "DequantizeLinear",
                            [base, f"{base}_scale", f"{base}_zp"],
                            [out],
                            **per_channel,
                        )
                    )
                    node.input[slot] = out
                    continue
                if name not in activation_dq:
                    if name not in amax:
                        raise PipelineError(
                            source,
                            f"no range for tensor {name!r}, input of {node.op_type} {node.name!r}",
                            "recalibrate, or add the tensor to the range file",
                        )
                    base = f"{name}_int8"
                    scale = np.float32(amax[name] / QMAX)
                    new_inits += [
                        numpy_helper.from_array(np.array(scale, np.float32), f"{base}_scale"),
                        numpy_helper.from_array(np.array(0, np.int8), f"{base}_zp"),
                    ]
                    args = [f"{base}_scale", f"{base}_zp"]
                    new_nodes += [
                        helper.make_node("QuantizeLinear", [name, *args], [f"{base}_q"]),
                        helper.make_node("DequantizeLinear", [f"{base}_q", *args], [f"{base}_dq"]),
                    ]
                    activation_dq[name] = f"{base}_dq"
                node.input[slot] = activation_dq[name]
        new_nodes.append(node)
    if not count:
        raise PipelineError(source, "the graph has no Conv, Gemm or MatMul to quantize")
    used = {i for n in new_nodes for i in n.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    onnx.checker.check_model(model, full_check=True)
    log.info("int8 | %d layers quantized, %d activations", count, len(activation_dq))
    return model.SerializeToString()
