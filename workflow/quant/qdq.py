"""INT8 Q/DQ graphs in the placement TensorRT accepts.

For every Conv, ConvTranspose, Gemm and MatMul of the main graph: each activation input gets
QuantizeLinear -> DequantizeLinear with a per-tensor scale (amax / 127, symmetric, zero point 0;
a MatMul of two activations gets two); each constant input (an initializer) is stored as int8
with a per-output-channel scale and a DequantizeLinear; the bias stays float. A strongly typed
TensorRT build then runs these layers in INT8; ONNX Runtime runs the same graph on CPU.

Nodes inside subgraphs (``If`` branches, ``Loop`` and ``Scan`` bodies) stay FP32, whole: Q/DQ
placed there would have to follow each branch's scoping rules, and calibration does not measure
tensors inside subgraphs. Which compute nodes stayed FP32, and why, is logged and, on request,
returned. Initializers that only subgraphs read are kept.

A weight must be an initializer: a ``Constant`` node in a weight slot (PaddlePaddle's exporter
writes every weight so) is refused, since treating it as an activation would quantize it per
tensor from activation ranges; ``formats.onnx_file.prepare_model`` folds such nodes first.
"""

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from workflow.errors import PipelineError
from workflow.formats.onnx_file import graphs

log = logging.getLogger(__name__)

QUANTIZED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
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
        node: the Conv, ConvTranspose, Gemm or MatMul.
        weight: the constant input.
        slot: which input it is: 0 (Gemm's A, MatMul's A) or 1 (Conv's and ConvTranspose's W,
            Gemm's B, MatMul's B).

    Returns:
        Conv: 0 (W is (C_out, C_in / group, kH, kW)); ConvTranspose: 1 (W is (C_in,
        C_out / group, kH, kW); with groups, one scale serves the same channel of every
        group); Gemm: the M axis of A or the N axis of B (after ``transA``
        / ``transB``); MatMul(W (..., M, K), X): ndim - 2 (M), MatMul(X, W (..., K, N)):
        ndim - 1 (N); ``None`` (one scale for the tensor) for a 1-D MatMul operand, whose
        only axis is the summed one.
    """
    if node.op_type == "Conv":
        return 0
    if node.op_type == "ConvTranspose":
        return 1
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


@dataclass(frozen=True)
class QdqFormat:
    """How one quantized type is written into a Q/DQ graph.

    Attributes:
        name: the precision (``int8``, ``fp8``): the suffix of every new tensor's name and the
            subject of the log lines.
        quantize_weight: (weights, per-channel axis or None) -> (quantized weights, scale).
        activation_scale: an activation's amax -> its per-tensor scale.
        zero_point: a scale -> the zero point of the same shape (the quantized type's 0).
    """

    name: str
    quantize_weight: Callable[[np.ndarray, int | None], tuple[np.ndarray, np.ndarray]]
    activation_scale: Callable[[float], np.float32]
    zero_point: Callable[[np.ndarray], np.ndarray]


INT8 = QdqFormat(
    name="int8",
    quantize_weight=quantize_weight,
    activation_scale=lambda amax: np.float32(amax / QMAX),
    zero_point=lambda scale: np.zeros_like(scale, dtype=np.int8),
)


def node_key(node: Any, index: int) -> str:
    """How a node of the main graph is named in ``nodes=``: its name, or ``<op>#<index>``."""
    return node.name or f"{node.op_type}#{index}"


def _quantized_slots(node) -> range:
    """The input slots of a node that get Q/DQ: activation and weight of Conv, ConvTranspose,
    Gemm, MatMul."""
    return range(min(2, len(node.input))) if node.op_type in QUANTIZED_OPS else range(0)


def _refuse_constant_weights(graph: Any, source: str) -> None:
    """Raise where a ``Constant`` node feeds a quantized input slot (see the module docstring)."""
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant" and n.output}
    for node in graph.node:
        for slot in _quantized_slots(node):
            maker = constants.get(node.input[slot])
            if maker is not None:
                raise PipelineError(
                    source,
                    f"input {slot} of {node.op_type} {node.name or '(unnamed)'!r} is made by "
                    f"Constant node {maker.name or maker.output[0]!r}: a weight kept as a node "
                    "would be quantized per tensor from activation ranges",
                    "prepare the graph first (formats.onnx_file.prepare_model folds Constant "
                    "nodes into initializers), as the pipeline's onnx rules do",
                )


def subgraph_reasons(graph: Any) -> dict[str, str]:
    """Why each compute node inside a subgraph stays FP32: ``<node>`` (``<op>#<index>`` for an
    unnamed one) inside ``<parent>/<attribute>/`` for each enclosing node -> reason."""
    found: dict[str, str] = {}

    def walk(nodes: Any, prefix: str, where: str | None) -> None:
        for index, node in enumerate(nodes):
            name = node.name or f"{node.op_type}#{index}"
            if where is not None and node.op_type in QUANTIZED_OPS:
                found[prefix + name] = f"inside {where}: subgraph nodes stay FP32"
            for attr in node.attribute:
                subs = [attr.g] if attr.g.ByteSize() else list(attr.graphs)
                for sub in subs:
                    inner = where or f"{node.op_type} {name!r} ({attr.name})"
                    walk(sub.node, f"{prefix}{name}/{attr.name}/", inner)

    walk(graph.node, "", None)
    return found


def subgraph_reads(graph: Any) -> set[str]:
    """Every name a node of a subgraph of ``graph`` reads (those of outer scopes among them)."""
    return {name for sub in graphs(graph)[1:] for node in sub.node for name in node.input}


def quantized_activations(model_bytes: bytes) -> list[str]:
    """The activations whose dynamic ranges the INT8 graph needs, in graph order.

    These are the non-constant inputs of every Conv, ConvTranspose, Gemm and MatMul of the main
    graph: the only tensors ``qdq_from_ranges`` quantizes, hence the only ones calibration must
    measure for it.

    Raises:
        PipelineError: a ``Constant`` node feeds a weight slot (see the module docstring).
    """
    import onnx

    graph = onnx.load_from_string(model_bytes).graph
    _refuse_constant_weights(graph, "INT8 graph")
    constants = {init.name for init in graph.initializer}
    names = [
        node.input[slot]
        for node in graph.node
        for slot in _quantized_slots(node)
        if node.input[slot] not in constants
    ]
    return list(dict.fromkeys(names))


def qdq_from_ranges(
    model_bytes: bytes,
    amax: dict[str, float],
    *,
    source: str,
    reasons: dict[str, str] | None = None,
    nodes: Collection[str] | None = None,
) -> bytes:
    """Insert INT8 Q/DQ (see :func:`insert_qdq`, whose arguments and errors these are)."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    return insert_qdq(
        model, amax, source=source, reasons=reasons, fmt=INT8, nodes=nodes
    ).SerializeToString()


def insert_qdq(
    model: Any,
    amax: dict[str, float],
    *,
    source: str,
    fmt: QdqFormat,
    reasons: dict[str, str] | None = None,
    nodes: Collection[str] | None = None,
) -> Any:
    """Insert Q/DQ for the activation and weight inputs of every Conv, ConvTranspose, Gemm and
    MatMul of the main graph (subgraph nodes stay FP32: see the module docstring).

    Args:
        model: the FP32 ``onnx.ModelProto``, edited in place.
        amax: dynamic range per tensor name (from a CalibrationTable or a range file).
        source: where the ranges came from, named in errors.
        fmt: the quantized type (:data:`INT8`, or FP8 from ``workflow.quant.fp8``).
        reasons: if given, receives why each compute node inside a subgraph stays FP32
            (:func:`subgraph_reasons`).
        nodes: if given, only these compute nodes get Q/DQ (keys of :func:`node_key`); the
            others stay FP32. ``None``: every one.

    Returns:
        The Q/DQ graph (``model``), checked by ``onnx.checker``.

    Raises:
        PipelineError: ``amax`` names a tensor the graph lacks, or lacks the range of a tensor
            that must be quantized; a ``Constant`` node feeds a weight slot; or the main graph
            has no layer to quantize.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    _refuse_constant_weights(graph, source)
    kept_fp32 = subgraph_reasons(graph)
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
    if nodes is not None:
        keys = [node_key(node, index) for index, node in enumerate(graph.node)]
        unknown_nodes = sorted(set(nodes) - set(keys))
        if unknown_nodes:
            raise PipelineError(
                source,
                f"no node {', '.join(map(repr, unknown_nodes[:5]))} in the main graph",
                "name nodes by name, or <op>#<index> for an unnamed one",
            )
    for index, node in enumerate(graph.node):
        slots = _quantized_slots(node)
        if nodes is not None and node_key(node, index) not in nodes:
            slots = range(0)
        if slots:
            count += 1
            for slot in slots:
                name = node.input[slot]
                if name in initializers:
                    weight = numpy_helper.to_array(initializers[name])
                    axis = weight_axis(node, weight, slot)
                    q, scale = fmt.quantize_weight(weight, axis)
                    base = f"{name}_{fmt.name}"
                    new_inits += [
                        numpy_helper.from_array(q, base),
                        numpy_helper.from_array(scale, f"{base}_scale"),
                        numpy_helper.from_array(fmt.zero_point(scale), f"{base}_zp"),
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
                    base = f"{name}_{fmt.name}"
                    scale = np.array(fmt.activation_scale(amax[name]), np.float32)
                    new_inits += [
                        numpy_helper.from_array(scale, f"{base}_scale"),
                        numpy_helper.from_array(fmt.zero_point(scale), f"{base}_zp"),
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
        inside = f" ({len(kept_fp32)} inside subgraphs, which stay FP32)" if kept_fp32 else ""
        raise PipelineError(
            source,
            f"the graph has no Conv, ConvTranspose, Gemm or MatMul to quantize{inside}",
            "build the FP32 or FP16 graph of this model instead",
        )
    # initializers read by the new nodes, or by any subgraph (an If branch's weights)
    used = {i for n in new_nodes for i in n.input} | subgraph_reads(graph)
    kept = [init for init in graph.initializer if init.name in used]
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    onnx.checker.check_model(model, full_check=True)
    log.info("%s | %d layers quantized, %d activations", fmt.name, count, len(activation_dq))
    for name, reason in kept_fp32.items():
        log.info("%s | %s stays FP32: %s", fmt.name, name, reason)
    if reasons is not None:
        reasons.update(kept_fp32)
    return model
