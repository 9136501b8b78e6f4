"""Engine layer reports: which engine layers a plan holds, in which precision they compute, and
which ONNX nodes were fused into each.

No engine can be deserialized on a machine without a GPU, so the report comes from the builder
itself: built with ``ProfilingVerbosity.DETAILED``, TensorRT (and TensorRT-RTX, ahead of time on
CPU) logs a ``Layers:`` block at VERBOSE level, one line per engine layer::

    Name: node_conv2d_myl0_2, LayerType: correlation, Inputs: [ { Name: ..., Datatype: Int8,
    ... }], Constants: [...], Outputs: [...], TacticName: ..., Metadata: [ONNX Layer: node_conv2d]

:func:`parse_layer_log` turns that block into records; :func:`layer_report` adds the ONNX op
type of each fused node and, per compute node of the graph (Conv, ConvTranspose, Gemm, MatMul),
the precision of the engine layer that runs it: the one compute layer (not a generated
kernel, a shape or a stream operation) whose fused ONNX nodes include it, or, when several do,
the one whose fused nodes start with it.
"""

import re
from collections import Counter
from typing import Any

import onnx

from workflow.errors import PipelineError

#: The log message that starts the layer block.
LAYERS_HEADER = "Layers:"
#: ONNX ops whose precision the report checks: the layers that carry nearly all the arithmetic.
COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
#: Engine layer types that multiply: matrix multiplies and convolutions (TensorRT-RTX's layer
#: log calls a convolution "correlation").
ENGINE_COMPUTE = ("gemm", "correlation", "convolution", "deconvolution")
#: Engine layer types that only move data, synchronise streams or compute shapes.
NON_COMPUTE = ("kgen", "shape_call", "signal", "wait", "reformat", "shuffle")
#: TensorRT's data type names -> the precision names of the pipeline.
PRECISION_OF = {"Float": "fp32", "Half": "fp16", "Int8": "int8", "BFloat16": "bf16", "FP8": "fp8"}

_FIELD = re.compile(r"Name: (?P<name>[^,]*), LayerType: (?P<type>[^,]*),")
_TENSOR = re.compile(r"\{ Name: (?P<name>[^,]*), .*?Datatype: (?P<dtype>\w+)")


def _tensors(section: str) -> list[dict[str, str]]:
    return [{"name": m.group("name"), "dtype": m.group("dtype")} for m in _TENSOR.finditer(section)]


def parse_layer_log(message: str) -> list[dict[str, Any]]:
    """Parse the builder's ``Layers:`` log message into one record per engine layer.

    Args:
        message: the whole VERBOSE message that starts with ``Layers:``.

    Returns:
        Records with ``name``, ``type``, ``inputs`` / ``constants`` / ``outputs`` (each a list of
        ``{"name", "dtype"}``) and ``onnx_nodes`` (the ONNX node names fused into the layer, in
        the order TensorRT lists them).

    Raises:
        PipelineError: the message is not a layer block or a layer line cannot be read.
    """
    lines = message.splitlines()
    if not lines or lines[0].strip() != LAYERS_HEADER:
        raise PipelineError("builder log", "no 'Layers:' block", "build with DETAILED profiling")
    layers = []
    for line in lines[1:]:
        if not line.strip():
            break  # the I/O tensor section follows an empty line
        head = _FIELD.match(line)
        if head is None or "Outputs: [" not in line:
            raise PipelineError("builder log", f"unreadable layer line: {line[:120]!r}")
        # layers without weights or tactics (a loop's shape copies) lack those sections
        before, rest = line.split("Outputs: [", 1)
        inputs, _, constants = before.partition("Constants: [")
        outputs, _, meta = rest.partition("TacticName:")
        layers.append(
            {
                "name": head.group("name"),
                "type": head.group("type"),
                "inputs": _tensors(inputs),
                "constants": _tensors(constants),
                "outputs": _tensors(outputs),
                "onnx_nodes": re.findall(r"\[ONNX Layer: ([^\]]*)\]", meta),
            }
        )
    return layers


def onnx_node_name(node: Any) -> str:
    """The name TensorRT's ONNX parser gives a node: its own, or ``node_of_<first output>``
    for an unnamed one."""
    return node.name or f"node_of_{node.output[0]}"


def layer_precision(layer: dict[str, Any]) -> str | None:
    """The precision a layer computes in: that of its first activation input (``None`` for a
    layer without inputs)."""
    if not layer["inputs"]:
        return None
    dtype = layer["inputs"][0]["dtype"]
    return PRECISION_OF.get(dtype, dtype.lower())


def layer_report(
    layers: list[dict[str, Any]], *, onnx_bytes: bytes | None, intended: str
) -> dict[str, Any]:
    """The engine layer report of a plan.

    Args:
        layers: :func:`parse_layer_log`'s records.
        onnx_bytes: the graph the plan was built from (``None`` for a network-API build: no ONNX
            nodes to map).
        intended: the precision the plan was meant to compute in (``fp32``, ``fp16``, ``int8``).

    Returns:
        ``{"intended", "layers", "compute", "in_intended", "compute_count", "gemm_precisions",
        "compute_layers", "loop_jumps"}``: every layer with its precision and the op types of
        its ONNX nodes; per Conv/Gemm/MatMul node of the graph, the engine layer that runs it
        and its precision; how many of those run in the intended precision; the engine's
        matrix-multiply layers, and all its multiplying layers (:data:`ENGINE_COMPUTE`), by
        precision; its loop jumps.

    Raises:
        PipelineError: a compute node of the graph has no engine layer of its own (the report
            could not be matched to the graph).
    """
    ops: dict[str, str] = {}
    if onnx_bytes is not None:
        graph = onnx.load_model_from_string(onnx_bytes).graph
        ops = {onnx_node_name(node): node.op_type for node in graph.node}
    records = [
        layer
        | {
            "precision": layer_precision(layer),
            "onnx_ops": [ops.get(node, "") for node in layer["onnx_nodes"]],
        }
        for layer in layers
    ]
    compute = []
    for node, op in ops.items():
        if op not in COMPUTE_OPS:
            continue
        runs = [r for r in records if r["type"] not in NON_COMPUTE and node in r["onnx_nodes"]]
        if len(runs) > 1:  # fused into several: the layer that starts with it computes it
            runs = [r for r in runs if r["onnx_nodes"][0] == node]
        if len(runs) != 1:
            raise PipelineError(
                node,
                f"{op} node runs in {len(runs)} engine layers, expected one",
                "the builder's layer log does not match the graph",
            )
        compute.append(
            {"node": node, "op": op, "layer": runs[0]["name"], "precision": runs[0]["precision"]}
        )
    return {
        "intended": intended,
        "layers": records,
        "compute": compute,
        "compute_count": len(compute),
        "in_intended": sum(item["precision"] == intended for item in compute),
        # matrix multiplies by precision (those inside loops too) and loop jumps: what an
        # LSTM's loop shows of itself
        "gemm_precisions": dict(Counter(r["precision"] for r in records if r["type"] == "gemm")),
        # every multiplying layer by precision: what a network-API build (no graph) is judged by
        "compute_layers": dict(
            Counter(r["precision"] for r in records if r["type"] in ENGINE_COMPUTE)
        ),
        "loop_jumps": sum(r["type"] == "cjmp" for r in records),
    }
