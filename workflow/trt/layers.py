"""Engine layer reports: which engine layers a plan holds, in which precision they compute, and
which ONNX nodes were fused into each.

No engine can be deserialized on a machine without a GPU, so the report comes from the builder
itself: built with ``ProfilingVerbosity.DETAILED``, TensorRT 10/11 and TensorRT-RTX (ahead of
time on CPU) log a ``Layers:`` block at VERBOSE level, one line per engine layer. TensorRT-RTX::

    Name: node_conv2d_myl0_2, LayerType: correlation, Inputs: [ { Name: ..., Datatype: Int8,
    Format: ... }], Constants: [...], Outputs: [...], TacticName: ..., Metadata: [ONNX Layer: a]

full TensorRT (the engine inspector's one-line form)::

    Name: /conv1/Conv + /relu/Relu, LayerType: CaskConvolution, Inputs: [ { Name: ..., Location:
    Device, Dimensions: [...], Format/Datatype: Channel major FP16 format where channel % 8 == 0
    }], Outputs: [...], ParameterType: Convolution, ..., Weights: {"Type": "Half", "Count": 9408},
    ..., TacticName: sm80_xmma_fprop_..., TacticValue: 0x..., StreamId: 0, Metadata: [ONNX Layer:
    /conv1/Conv]<U+001E>[ONNX Layer: /relu/Relu]

Fused names are joined with U+001E (full TensorRT) or U+001F (TensorRT-RTX), characters that
``str.splitlines`` takes for line ends: the block is split on ``\\n`` (or ``\\r\\n``) only. The
engine inspector's JSON form (``LayerInformationFormat.JSON``: ``{"Layers": [{"Name",
"LayerType", "Inputs", "Outputs", "Metadata", "TacticName", ...}], "Bindings": [...]}``, what
``trtexec --exportLayerInfo`` writes) is read too.

:func:`parse_layer_log` turns either form into records; :func:`layer_report` adds the ONNX op
type of each fused node and, per compute node of the graph (Conv, ConvTranspose, Gemm, MatMul,
those inside ``If``/``Loop``/``Scan`` subgraphs too), the precision of the engine layer that runs
it: the one compute layer (not a generated kernel, a shape, copy or stream operation) whose
fused ONNX nodes include it; where several do, that of the first optimization profile, then the
one whose fused nodes start with it, then a multiplying one. A node that only a generated kernel
holds (TensorRT-RTX fuses small matrix multiplies, an SE block's 1x1 convolutions or attention
into ``kgen`` kernels) is reported as fused into that kernel, with the kernel's precision. A
node whose output reaches no graph output is removed by the builder: where no layer holds it, it
is reported ``removed`` (no layer, no precision) and not counted; any other node that no layer
holds makes the report fail. TensorRT-RTX tags the entry of a node it rewrote (a 1x1 Conv run as
a matrix multiply: ``[ONNX Layer: p2o.Conv.28]__gemm_from_conv1x1``); the node is matched by its
name. A layer's precision is that of its first input, or, where the log gives no tensor types
(full TensorRT with dynamic shapes writes ``N/A due to dynamic shapes``), that of its weights or
its kernel's name; a layer that reads only constants (a Conv of a constant), their type.

TensorRT-RTX names a node of an ``If`` branch in the metadata by its place: ``then_mm | then
(then_branch) | branch (If)`` (the node, its graph and the attribute holding it, the node holding
that), and a node of a ``Loop`` body by its own name. The report names every subgraph node in
the first form and matches either (its own name only where no other node has it).

The precision each compute node is meant to compute in is read from the graph's own types: a
node whose first input comes out of a ``DequantizeLinear`` of int8 is meant to compute in INT8
(fp8, int4 likewise), else the type of its first input (an FP16 graph's node kept in FP32 reads
FP32 tensors); where the graph does not type it, the plan's precision. A node whose float
input meets a weight dequantized from INT4 is meant for ``int4w`` (weight-only INT4), and runs
in it where its layer, or the layer that dequantizes its weight, holds INT4 constants. Only
the nodes meant to compute in the plan's precision are counted for it (``compute_count``,
``in_intended``); the others are counted by their own precision (``other_intended``).
:func:`engine_layer_report` is what a build rule calls: a log it cannot read gives a report
that says so, never a lost plan.
"""

import json
import logging
import re
from collections import Counter
from typing import Any

import onnx

from workflow.errors import PipelineError

log = logging.getLogger(__name__)

#: The log message that starts the layer block.
LAYERS_HEADER = "Layers:"
#: ONNX ops whose precision the report checks: the layers that carry nearly all the arithmetic.
COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
#: Engine layer types that multiply (compared in lower case): TensorRT-RTX's matrix multiplies
#: and convolutions (its layer log calls a convolution "correlation"), full TensorRT's layer
#: types and Myelin subgraphs. Kernel-style types (``CaskConvolution``, ``CaskGemmConvolution``,
#: ``CaskDeconvolutionV2``, ``CaskPooling``, ``CudnnConvolution``, ...) are recognised by
#: :func:`is_compute_layer` from their prefix and words.
ENGINE_COMPUTE = (
    "gemm",
    "correlation",
    "convolution",
    "deconv",
    "deconvolution",
    "matrixmultiply",
    "fullyconnected",
    "myelin",
)
#: Words in a layer type that make it a multiplying layer (lower case).
COMPUTE_WORDS = ("convolution", "gemm", "matrixmultiply", "fullyconnected")
#: Engine layer types that only move data, synchronise streams or compute shapes (lower case).
NON_COMPUTE = (
    "kgen",
    "shape_call",
    "signal",
    "wait",
    "reformat",
    "shuffle",
    "noop",
    "shapehosttodevice",
    "constant",
    "copy",
    "memset",
    "jmp",
    "cjmp",
)
#: Engine layer types that only branch or move data: never the kernel a node was fused into.
NOT_A_KERNEL = tuple(kind for kind in NON_COMPUTE if kind != "kgen")
#: TensorRT's data type names, in every spelling its layer logs use (the ``Datatype`` of
#: TensorRT-RTX, the words of full TensorRT's format phrases such as ``Thirty-two wide channel
#: vectorized row major Int8 format``), lower case -> the precision names of the pipeline.
PRECISION_OF = {
    "float": "fp32",
    "fp32": "fp32",
    "half": "fp16",
    "fp16": "fp16",
    "bfloat16": "bf16",
    "bf16": "bf16",
    "int8": "int8",
    "fp8": "fp8",
    "float8": "fp8",
    "e4m3": "fp8",
    "fp4": "fp4",
    "int4": "int4",
    "int32": "int32",
    "int64": "int64",
    "bool": "bool",
    "uint8": "uint8",
    "double": "fp64",
}
#: Operand types in kernel (tactic) names, e.g. ``..._f16f16_f16f16_f16``, ``..._i8i8_i8i32_f32``,
#: ``..._pooling_fw_4d_FP16FP32NHWC_...``: the first pair starts with the input type. Read only
#: where the tensors' types are not logged (an engine with dynamic shapes logs ``N/A due to
#: dynamic shapes``) and the layer has no weights.
TACTIC_TYPES = {
    "int8": "int8",
    "i8": "int8",
    "fp16": "fp16",
    "f16": "fp16",
    "bf16": "bf16",
    "fp32": "fp32",
    "f32": "fp32",
    "tf32": "fp32",
    "e4m3": "fp8",
}

_LINE_END = re.compile(r"\r?\n")
_HEAD = re.compile(r"Name: (?P<name>.*?), LayerType: (?P<type>[^,]*)(?:, |$)")
#: A tensor entry: its name may hold braces (``... to {ForeignNode[a...b]}``); it ends at the
#: closing brace before the next entry or the end of its list.
_TENSOR = re.compile(r"\{\s*Name: (?P<body>.*?)\s*\}(?=,\s*\{\s*Name: |\s*\]|\s*$)")
_TENSOR_NAME_END = re.compile(
    r", (?:Location|Dimensions|Strides|StrideOrder|Format/Datatype|Datatype|Format): "
)
_TENSOR_TYPE = re.compile(r"(?:Format/Datatype|Datatype): (?P<phrase>[^,}]*)")
_EMPTY_LIST = re.compile(r"\s*\]")
_DTYPE_NAMES = "|".join(sorted(PRECISION_OF, key=len, reverse=True))
_DTYPE_WORD = re.compile(rf"(?<![A-Za-z0-9])({_DTYPE_NAMES})(?![A-Za-z0-9])", re.IGNORECASE)
_WEIGHTS = re.compile(r'(?:^|, )Weights: \{"Type": "(?P<dtype>\w+)"')
_TACTIC = re.compile(r"(?:^|, )TacticName: (?P<tactic>[^,]*)")
_METADATA = re.compile(r"(?:^|, )Metadata: (?P<meta>.*)$")
#: Fused metadata entries: separated by U+001E (full TensorRT), U+001F (TensorRT-RTX) or
#: nothing (``[ONNX Layer: a][ONNX Layer: b]``).
_META_SPLIT = re.compile(r"[\x1e\x1f]|(?=\[ONNX Layer: )")
#: One entry: the node's name, then the tag of a rewrite TensorRT-RTX made of it, if any
#: (``[ONNX Layer: p2o.Conv.28]__gemm_from_conv1x1``: a 1x1 Conv run as a matrix multiply).
_ONNX_LAYER = re.compile(r"\[ONNX Layer: (?P<node>.*)\](?P<tag>\w*)")
_TACTIC_NAMES = "|".join(TACTIC_TYPES)
_TACTIC_PAIR = re.compile(rf"(?<![a-z0-9])({_TACTIC_NAMES})(?:{_TACTIC_NAMES})(?![0-9])")
_PROFILE = re.compile(r"\[profile \d+\]")
#: The header of the section after the layers (``Bindings:``, ``I/O Tensors:``).
_SECTION = re.compile(r"[A-Z][\w/ ]*:")
_SUBJECT = "builder layer log"
_FIX = (
    "build with ProfilingVerbosity.DETAILED and keep the builder's VERBOSE 'Layers:' message "
    "whole; a layer line of another form needs this reader extended"
)


def data_type(phrase: str | None) -> str | None:
    """The TensorRT data type named in a datatype or format phrase (``Half``, ``Int8``,
    ``Row major linear FP32 format``, ``Channel major FP16 format where channel % 8 == 0``, ...),
    as written there; ``None`` when it names none (``N/A due to dynamic shapes``)."""
    match = _DTYPE_WORD.search(phrase or "")
    return match.group(1) if match else None


def fused_onnx_nodes(metadata: str) -> list[str]:
    """The ONNX node names in a layer's ``Metadata`` (``[ONNX Layer: a]<U+001E>[ONNX Layer:
    b]``), in the order TensorRT lists them; other metadata entries are left out."""
    nodes = []
    for entry in _META_SPLIT.split(metadata):
        match = _ONNX_LAYER.fullmatch(entry.strip())
        if match:
            nodes.append(match.group("node"))
    return nodes


def _tensors(section: str) -> list[dict[str, str | None]]:
    tensors = []
    for match in _TENSOR.finditer(section):
        body = match.group("body")
        end = _TENSOR_NAME_END.search(body)
        name = body[: end.start()] if end else body.split(",", 1)[0]
        phrase = _TENSOR_TYPE.search(body)
        tensors.append(
            {"name": name.strip(), "dtype": data_type(phrase.group("phrase") if phrase else None)}
        )
    return tensors


def _line_error(number: int, line: str, problem: str) -> PipelineError:
    return PipelineError(_SUBJECT, f"line {number}: {problem}: {line[:160]!r}", _FIX)


def _parse_line(number: int, line: str) -> dict[str, Any]:
    head = _HEAD.match(line)
    if head is None or "Outputs: [" not in line:
        raise _line_error(number, line, "unreadable layer line")
    # layers without weights or tactics (a loop's shape copies) lack those sections
    before, rest = line[head.end() :].split("Outputs: [", 1)
    inputs, _, constants = before.partition("Constants: [")
    empty = _EMPTY_LIST.match(rest)
    end = empty.end() if empty else rest.find(" }]") + len(" }]")
    if not empty and end < len(" }]"):
        raise _line_error(number, line, "unreadable Outputs list")
    outputs, fields = rest[:end], rest[end:]
    meta = _METADATA.search(fields)
    fields = fields[: meta.start()] if meta else fields
    weights = _WEIGHTS.search(fields)
    tactic = _TACTIC.search(fields)
    return {
        "name": head.group("name"),
        "type": head.group("type"),
        "inputs": _tensors(inputs),
        "constants": _tensors(constants),
        "outputs": _tensors(outputs),
        "weights": weights.group("dtype") if weights else None,
        "tactic": tactic.group("tactic").strip() if tactic else "",
        "onnx_nodes": fused_onnx_nodes(meta.group("meta")) if meta else [],
    }


def _json_tensors(tensors: Any, where: str) -> list[dict[str, str | None]]:
    if not isinstance(tensors, list) or not all(isinstance(t, dict) for t in tensors):
        raise PipelineError(_SUBJECT, f"{where}: not a list of tensors", _FIX)
    return [
        {
            "name": str(t.get("Name", "")),
            "dtype": data_type(t.get("Format/Datatype") or t.get("Datatype")),
        }
        for t in tensors
    ]


def _parse_json(message: str) -> list[dict[str, Any]]:
    """The engine inspector's JSON form: ``{"Layers": [...], "Bindings": [...]}``."""
    try:
        data = json.loads(message)
    except json.JSONDecodeError as err:
        line = message.split("\n")[err.lineno - 1] if err.lineno else ""
        raise _line_error(err.lineno, line, f"not JSON ({err.msg})") from err
    layers = data.get("Layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        raise PipelineError(_SUBJECT, "JSON without a 'Layers' list", _FIX)
    records = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict) or "Name" not in layer or "LayerType" not in layer:
            raise PipelineError(
                _SUBJECT,
                f"layer {index}: {str(layer)[:160]!r} has no Name and LayerType (the engine "
                "was built with layer names only)",
                _FIX,
            )
        where = f"layer {index} ({layer['Name']})"
        weights = layer.get("Weights")
        records.append(
            {
                "name": str(layer["Name"]),
                "type": str(layer["LayerType"]),
                "inputs": _json_tensors(layer.get("Inputs", []), where),
                "constants": _json_tensors(layer.get("Constants", []), where),
                "outputs": _json_tensors(layer.get("Outputs", []), where),
                "weights": data_type(weights.get("Type")) if isinstance(weights, dict) else None,
                "tactic": str(layer.get("TacticName", "")),
                "onnx_nodes": fused_onnx_nodes(str(layer.get("Metadata", ""))),
            }
        )
    return records


def parse_layer_log(message: str) -> list[dict[str, Any]]:
    """Parse the builder's ``Layers:`` log message (or the engine inspector's JSON) into one
    record per engine layer.

    Args:
        message: the whole VERBOSE message that starts with ``Layers:``, or the JSON text of
            ``IEngineInspector.get_engine_information(LayerInformationFormat.JSON)``.

    Returns:
        Records with ``name`` and ``type`` (as TensorRT writes them, fused names intact),
        ``inputs`` / ``constants`` / ``outputs`` (each a list of ``{"name", "dtype"}``, the
        data type as written, ``None`` where not logged), ``weights`` (the data type of a
        layer's weights, full TensorRT), ``tactic`` (the kernel's name) and ``onnx_nodes``
        (the ONNX node names fused into the layer, in the order TensorRT lists them).

    Raises:
        PipelineError: the message is not a layer block, or a layer cannot be read (its line
            number and text are named).
    """
    if message.lstrip().startswith("{"):
        return _parse_json(message)
    lines = _LINE_END.split(message)
    if not lines or lines[0].strip() != LAYERS_HEADER:
        raise PipelineError(_SUBJECT, "no 'Layers:' block", "build with DETAILED profiling")
    layers = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or _SECTION.fullmatch(line.strip()):
            break  # the I/O tensor (or binding) section follows, after an empty line
        layers.append(_parse_line(number, line))
    return layers


def onnx_node_name(node: Any) -> str:
    """The name TensorRT's ONNX parser gives a node: its own, or ``node_of_<first output>``
    for an unnamed one."""
    return node.name or f"node_of_{node.output[0]}"


#: ONNX element types of a DequantizeLinear's input -> the precision its reader computes in.
QUANTIZED_TYPES = {
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT8: "int8",
    onnx.TensorProto.FLOAT8E4M3FN: "fp8",
    onnx.TensorProto.FLOAT8E5M2: "fp8",
    onnx.TensorProto.INT4: "int4",
    onnx.TensorProto.UINT4: "int4",
}
#: ONNX float element types -> precision names.
FLOAT_TYPES = {
    onnx.TensorProto.FLOAT: "fp32",
    onnx.TensorProto.FLOAT16: "fp16",
    onnx.TensorProto.BFLOAT16: "bf16",
    onnx.TensorProto.DOUBLE: "fp64",
}


class _Scope:
    """The tensor types and producers of a graph and of the graphs enclosing it."""

    def __init__(self, graph: Any, outer: "_Scope | None" = None) -> None:
        self.outer = outer
        self.types = {
            v.name: v.type.tensor_type.elem_type
            for v in [*graph.input, *graph.value_info, *graph.output]
            if v.type.tensor_type.elem_type
        }
        self.types |= {i.name: i.data_type for i in graph.initializer}
        self.producers = {o: n for n in graph.node for o in n.output if o}

    def type_of(self, name: str) -> int | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.types:
                return scope.types[name]
            if name in scope.producers:
                return None  # made here, untyped: an outer tensor of that name is another
            scope = scope.outer
        return None

    def producer(self, name: str) -> Any | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.producers:
                return scope.producers[name]
            scope = scope.outer
        return None


#: ONNX element types of a weight's DequantizeLinear that make a float-input node weight-only.
WEIGHT_ONLY_TYPES = (onnx.TensorProto.INT4, onnx.TensorProto.UINT4)


def _dequantized_type(name: str, scope: _Scope) -> int | None:
    """The element type ``name`` is dequantized from, where a DequantizeLinear makes it."""
    producer = scope.producer(name)
    if producer is None or producer.op_type != "DequantizeLinear" or not producer.input:
        return None
    return scope.type_of(producer.input[0])


def graph_precision(node: Any, scope: _Scope) -> str | None:
    """The precision the graph means ``node`` to compute in: that of the ``DequantizeLinear``
    its first input comes out of (int8 for an int8 input, fp8, int4); ``int4w`` for a float
    first input times a weight dequantized from INT4 (weight-only INT4); else its first
    input's float type; ``None`` where the graph does not say."""
    if not node.input or not node.input[0]:
        return None
    name = node.input[0]
    producer = scope.producer(name)
    if producer is not None and producer.op_type == "DequantizeLinear" and producer.input:
        quantized = scope.type_of(producer.input[0])
        maker = scope.producer(producer.input[0])
        if quantized is None and maker is not None and maker.op_type == "QuantizeLinear":
            # the zero point's type is the quantized type (uint8 without one)
            zero = maker.input[2] if len(maker.input) > 2 and maker.input[2] else None
            quantized = scope.type_of(zero) if zero else onnx.TensorProto.UINT8
        return QUANTIZED_TYPES.get(quantized) if quantized is not None else None
    if len(node.input) > 1 and _dequantized_type(node.input[1], scope) in WEIGHT_ONLY_TYPES:
        return "int4w"  # float activations times INT4 weights: weight-only INT4
    found = scope.type_of(name)
    return FLOAT_TYPES.get(found) if found is not None else None


def graph_nodes(model: Any) -> list[tuple[str, Any, _Scope]]:
    """Every node of the graph and of its subgraphs, outermost first: (its name in the report,
    the node, its scope). A subgraph's node is named ``<node> | <graph> (<attribute>) |
    <holder> (<holder's op>)``, as TensorRT-RTX names the nodes of an ``If`` branch."""
    found: list[tuple[str, Any, _Scope]] = []

    def walk(graph: Any, scope: _Scope, suffix: str) -> None:
        for node in graph.node:
            found.append((onnx_node_name(node) + suffix, node, scope))
            for attr in node.attribute:
                subs = [attr.g] if attr.g.ByteSize() else list(attr.graphs)
                for sub in subs:
                    inner = f" | {sub.name} ({attr.name}) | {onnx_node_name(node)} ({node.op_type})"
                    walk(sub, _Scope(sub, scope), inner)

    walk(model.graph, _Scope(model.graph), "")
    return found


def unused_nodes(model: Any) -> set[str]:
    """The nodes (named as :func:`graph_nodes` names them) whose outputs reach no output of the
    graph: the builder removes them, so no engine layer holds them. A subgraph's node is used
    where it reaches its subgraph's outputs and the node holding the subgraph is used; a
    subgraph's reads of outer tensors count as reads by the node holding it."""
    used: set[str] = set()

    def walk(graph: Any, suffix: str, live: bool) -> set[str]:
        """Mark ``graph``'s used nodes; return the outer tensors they read."""
        needed = {v.name for v in graph.output} if live else set()
        made = {o for node in graph.node for o in node.output} | {v.name for v in graph.input}
        made |= {i.name for i in graph.initializer}
        size = -1
        while size != len(needed):  # one pass where the nodes are in topological order
            size = len(needed)
            for node in reversed(graph.node):
                on = live and any(o and o in needed for o in node.output)
                if on:
                    used.add(onnx_node_name(node) + suffix)
                    needed.update(name for name in node.input if name)
                for attr in node.attribute:
                    for sub in [attr.g] if attr.g.ByteSize() else list(attr.graphs):
                        holder = f"{onnx_node_name(node)} ({node.op_type})"
                        reads = walk(sub, f" | {sub.name} ({attr.name}) | {holder}", on)
                        needed |= reads if on else set()
        return needed - made

    walk(model.graph, "", True)
    return {name for name, _, _ in graph_nodes(model)} - used


def _metadata_names(found: list[tuple[str, Any, _Scope]]) -> dict[str, str]:
    """The names a layer's metadata may give each node -> its name in the report: that name
    itself, and a subgraph node's own name where no other node has it (a ``Loop`` body's)."""
    own = Counter(onnx_node_name(node) for _, node, _ in found)
    names = {name: name for name, _, _ in found}
    for name, node, _ in found:
        if own[onnx_node_name(node)] == 1:
            names.setdefault(onnx_node_name(node), name)
    return names


def _typed(model: Any) -> Any:
    """The model with inferred tensor types (as it is where inference fails)."""
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:  # an op ONNX does not know: the types the exporter wrote
        return model


def _precision(dtype: str | None) -> str | None:
    return None if dtype is None else PRECISION_OF.get(dtype.lower(), dtype.lower())


def _tactic_precision(tactic: str) -> str | None:
    match = _TACTIC_PAIR.search(tactic.lower())
    if match is None:
        return None
    return TACTIC_TYPES[match.group(1)]


def precision_and_source(layer: dict[str, Any]) -> tuple[str | None, str | None]:
    """The precision a layer computes in and where it was read: its first activation input
    (``"input"``), or ``int4w`` for float activations times INT4 constants (``"constants"``:
    weight-only INT4); where the log gives no input type (an engine with dynamic shapes), its
    weights' type (``"weights"``), its first output (``"output"``) or its kernel's name
    (``"tactic"``); for a layer without activation inputs, its first constant's type
    (``"constants"``). ``(None, None)`` for a layer without inputs, weights or constants."""
    inputs = layer["inputs"]
    constants = [c.get("dtype") for c in layer.get("constants") or []]
    if any(dtype and PRECISION_OF.get(dtype.lower()) == "int4" for dtype in constants):
        if not inputs or _precision(inputs[0]["dtype"]) in (None, "fp32", "fp16", "bf16"):
            return "int4w", "constants"  # INT4 weights, float activations: weight-only
    if inputs and inputs[0]["dtype"] is not None:
        return _precision(inputs[0]["dtype"]), "input"
    if layer.get("weights"):
        return _precision(layer["weights"]), "weights"
    if not inputs:  # a layer on constants only (a Conv of a constant): their first type
        first = next((dtype for dtype in constants if dtype), None)
        return (_precision(first), "constants") if first else (None, None)
    if layer["outputs"] and layer["outputs"][0]["dtype"] is not None:
        return _precision(layer["outputs"][0]["dtype"]), "output"
    found = _tactic_precision(layer.get("tactic", ""))
    return (found, "tactic") if found else (None, None)


def layer_precision(layer: dict[str, Any]) -> str | None:
    """The precision a layer computes in (:func:`precision_and_source`)."""
    return precision_and_source(layer)[0]


#: A kernel TensorRT-RTX fuses at run time around a fully connected op (``Fc`` among the op
#: names of ``__myl_ReplCastMulCastFc_myl0_2``: a weight-only INT4 matrix product,
#: ``__myl_FcAddRelu_myl0_5``: a product with its bias and activation).
_FC_FUSION = re.compile(r"^__myl_(?:[A-Z][a-z]*)*?Fc(?=[A-Z_])")


def is_compute_layer(layer: dict[str, Any]) -> bool:
    """Whether an engine layer multiplies: a type of :data:`ENGINE_COMPUTE`, a ``Cask*`` kernel,
    a type naming a convolution, gemm, matrix multiply or fully connected layer, a Myelin
    subgraph (``{ForeignNode[...]}``) or a run-time fusion around a fully connected op."""
    kind = layer["type"].lower()
    return (
        kind in ENGINE_COMPUTE
        or kind.startswith("cask")
        or any(word in kind for word in COMPUTE_WORDS)
        or layer["name"].startswith("{ForeignNode[")
        or (kind == "runtime_fusion" and bool(_FC_FUSION.match(layer["name"])))
    )


def compute_layer_precisions(records: list[dict[str, Any]]) -> dict[str, int]:
    """Every multiplying layer (:func:`is_compute_layer`) by precision: what a network-API
    build (no graph) is judged by. A float product whose input comes out of a layer holding
    INT4 constants (their dequantization, in a kernel of its own) counts as ``int4w``."""
    int4_outputs = {
        output["name"]
        for r in records
        if any(PRECISION_OF.get(str(c.get("dtype")).lower()) == "int4" for c in r["constants"])
        for output in r["outputs"]
    }
    counts: Counter = Counter()
    for r in records:
        if not is_compute_layer(r):
            continue
        fed_int4 = any(i["name"] in int4_outputs for i in r["inputs"])
        float_product = r["precision"] in ("fp32", "fp16", "bf16")
        counts["int4w" if fed_int4 and float_product else r["precision"]] += 1
    return dict(counts)


def is_gemm_layer(layer: dict[str, Any]) -> bool:
    """Whether an engine layer is a matrix multiply (``gemm``, ``CaskGemmConvolution``,
    ``MatrixMultiply``, ``FullyConnected``, ...)."""
    kind = layer["type"].lower()
    return any(word in kind for word in ("gemm", "matrixmultiply", "fullyconnected"))


def _first_compute_node(record: dict[str, Any]) -> str | None:
    pairs = zip(record["onnx_nodes"], record["onnx_ops"], strict=True)
    return next((node for node, op in pairs if op in COMPUTE_OPS), None)


#: Generated kernels named for a matrix multiply (TensorRT-RTX's ``_gemm_mha_v2_myl0_50``, the
#: fused attention that several element-wise kernels around it list as well).
_MULTIPLYING_KERNEL = re.compile(r"gemm|mha", re.IGNORECASE)


def _fused_into(node: str, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The generated kernel (or other layer that is no data move or branch) holding ``node``
    where no compute layer does: of the first optimization profile, one named for a matrix
    multiply first, then the first with a known precision."""
    held = [r for r in records if r["type"].lower() not in NOT_A_KERNEL and node in r["onnx_nodes"]]
    held = [r for r in held if not _PROFILE.search(r["name"])] or held
    held = [r for r in held if _MULTIPLYING_KERNEL.search(r["name"])] or held
    return next((r for r in held if r["precision"] is not None), held[0] if held else None)


def _runs(node: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The engine layer that computes ``node``: of the layers (not data moves) that fused it,
    those of the first optimization profile; then those whose fused nodes start with it; then
    multiplying layers; then those whose first compute node it is."""
    runs = [r for r in records if r["type"].lower() not in NON_COMPUTE and node in r["onnx_nodes"]]
    narrowings = (
        lambda r: not _PROFILE.search(r["name"]),
        lambda r: r["onnx_nodes"][0] == node,
        is_compute_layer,
        lambda r: _first_compute_node(r) == node,
    )
    for keep in narrowings:
        if len(runs) <= 1:
            break
        runs = [r for r in runs if keep(r)] or runs
    return runs


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
        ``{"intended", "layers", "compute", "in_intended", "compute_count", "removed",
        "other_intended", "gemm_precisions", "compute_layers", "loop_jumps"}``: every layer
        with its precision (and where it was read) and the op types of its ONNX nodes; per
        Conv/ConvTranspose/Gemm/MatMul node of the graph and its subgraphs, the precision the
        graph means it to compute in (``intended``), the engine layer that runs it and that
        layer's precision (``fused``: true where only a generated kernel holds it;
        ``removed: "unused"``, with no layer and no precision, where the builder removed it);
        how many of the nodes meant for the plan's precision there are and how many run in it
        (removed nodes left out), and how many were removed; the same per other precision the
        graph means some nodes for (``{"fp32": {"nodes", "as_intended"}}``); the engine's
        matrix-multiply layers, and all its multiplying layers
        (:func:`is_compute_layer`), by precision; its loop jumps.

    Raises:
        PipelineError: a compute node of the graph whose output is used is in no engine
            layer, or in several compute layers none of which is its own (the report could
            not be matched to the graph).
    """
    ops: dict[str, str] = {}
    meant: dict[str, str] = {}
    names: dict[str, str] = {}
    weight_dq: dict[str, str] = {}  # an int4w node -> the DequantizeLinear of its weight
    unused: set[str] = set()
    if onnx_bytes is not None:
        model = _typed(onnx.load_model_from_string(onnx_bytes))
        found = graph_nodes(model)
        unused = unused_nodes(model)
        names = _metadata_names(found)
        for name, node, scope in found:
            ops[name] = node.op_type
            if node.op_type in COMPUTE_OPS:
                meant[name] = graph_precision(node, scope) or intended
                if meant[name] == "int4w":
                    suffix = name[len(onnx_node_name(node)) :]
                    weight_dq[name] = onnx_node_name(scope.producer(node.input[1])) + suffix
    records = []
    for layer in layers:
        precision, source = precision_and_source(layer)
        records.append(
            layer
            | {
                "precision": precision,
                "precision_from": source,
                "onnx_ops": [ops.get(names.get(node, node), "") for node in layer["onnx_nodes"]],
            }
        )
    # the records with their nodes under the report's names, to match the graph's nodes
    matched = [
        r | {"onnx_nodes": [names.get(node, node) for node in r["onnx_nodes"]]} for r in records
    ]
    compute = []
    for node, op in ops.items():
        if op not in COMPUTE_OPS:
            continue
        runs = _runs(node, matched)
        kernel = _fused_into(node, matched) if not runs else None
        if not runs and kernel is None and node in unused:
            # its output reaches no graph output: the builder removed it
            compute.append(
                {"node": node, "op": op, "intended": meant[node], "layer": None}
                | {"precision": None, "fused": False, "removed": "unused"}
            )
            continue
        if len(runs) != 1 and kernel is None:
            raise PipelineError(
                node,
                f"{op} node runs in {len(runs)} engine layers, expected one"
                + (f" ({', '.join(repr(r['name']) for r in runs)})" if runs else ""),
                "the builder's layer log does not match the graph",
            )
        layer = kernel or runs[0]
        item = {
            "node": node,
            "op": op,
            "intended": meant[node],
            "layer": layer["name"],
            "precision": layer["precision"],
            "fused": kernel is not None,
        }
        if node in weight_dq and layer["precision"] != "int4w":
            # weight-only INT4 whose weights a layer of their own dequantizes (the GEMM reads
            # float weights made at run time from the plan's INT4 constants)
            dq = weight_dq[node]
            makers = [r for r in matched if dq in r["onnx_nodes"] and r["precision"] == "int4w"]
            if makers:
                item |= {"precision": "int4w", "weights_from": makers[0]["name"]}
        compute.append(item)
    other: dict[str, dict[str, int]] = {}
    kept = [item for item in compute if "removed" not in item]
    for item in kept:
        if item["intended"] != intended:
            counts = other.setdefault(item["intended"], {"nodes": 0, "as_intended": 0})
            counts["nodes"] += 1
            counts["as_intended"] += item["precision"] == item["intended"]
    mine = [item for item in kept if item["intended"] == intended]
    return {
        "intended": intended,
        "layers": records,
        "compute": compute,
        # the nodes the graph means for the plan's precision, and those that run in it
        "compute_count": len(mine),
        "in_intended": sum(item["precision"] == intended for item in mine),
        # the nodes the builder removed (counted above for no precision)
        "removed": len(compute) - len(kept),
        "other_intended": other,
        # matrix multiplies by precision (those inside loops too) and loop jumps: what an
        # LSTM's loop shows of itself
        "gemm_precisions": dict(Counter(r["precision"] for r in records if is_gemm_layer(r))),
        # every multiplying layer by precision: what a network-API build (no graph) is judged by
        "compute_layers": compute_layer_precisions(records),
        "loop_jumps": sum(r["type"].lower() == "cjmp" for r in records),
    }


def engine_layer_report(
    layer_log: str, *, onnx_bytes: bytes | None, intended: str, plan: str = "plan"
) -> dict[str, Any]:
    """The layer report a build rule writes beside its plan: :func:`layer_report` of
    :func:`parse_layer_log`, or, where the log cannot be read or matched to the graph, a report
    with no layers whose ``error`` says why (logged as an error too): a good plan is kept.

    Args:
        layer_log: the builder's ``Layers:`` message (``BuiltEngine.layer_log``).
        onnx_bytes: as for :func:`layer_report`.
        intended: as for :func:`layer_report`.
        plan: the plan's path, named in the error.
    """
    try:
        return layer_report(parse_layer_log(layer_log), onnx_bytes=onnx_bytes, intended=intended)
    except Exception as err:  # the plan is good; the report says what went wrong
        kind = "" if isinstance(err, PipelineError) else f"{type(err).__name__}: "
        error = f"{plan} | layer report not made: {kind}{err}"
        log.error("%s", error, exc_info=not isinstance(err, PipelineError))
        return {
            "intended": intended,
            "error": error,
            "layers": [],
            "compute": [],
            "compute_count": 0,
            "in_intended": 0,
            "removed": 0,
            "other_intended": {},
            "gemm_precisions": {},
            "compute_layers": {},
            "loop_jumps": 0,
        }
