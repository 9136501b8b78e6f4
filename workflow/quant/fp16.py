"""FP16 graphs: compute in half precision, keep FP32 inputs, outputs and fragile ops.

Every node computes in FP16 except:

- the ops in ``keep_fp32`` (those that lose accuracy in half precision: exponentials,
  logarithms, normalisations, reductions);
- nodes the ONNX specification does not let compute in FP16: a float input or output whose type
  constraint does not admit ``tensor(float16)`` at the graph's opset (``Range``, for one), read
  from ``onnx.defs``; a slot typed ``tensor(float)`` itself (``Resize``'s scales) stays FP32
  while the node computes in FP16;
- nodes that read a stored value beyond FP16's range (65,504; a BatchNorm variance of 1e8
  would become inf);
- nodes whose output exceeds FP16's range on the calibration inputs (``amax``, the min-max
  ranges of every float tensor), when given;
- nodes with subgraphs (``If``, ``Loop``, ``Scan``): kept whole in FP32, with the outer tensors
  their subgraphs read cast to FP32 under new names;
- ``Constant`` nodes: their values are FP32 (``formats.onnx_file`` folds them into
  initializers first).

Ops of other domains (plugins) declare their own types and follow ``keep_fp32``. Float
initializers used only by FP16 nodes are stored in FP16; a Cast is inserted wherever a tensor
crosses between the two precisions, once per tensor and direction. The graph's inputs and
outputs stay FP32, so callers feed and read the same arrays as with the FP32 graph. Why each
node stays FP32 is logged and, on request, returned.
"""

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: (op, input slot) pairs that must stay FP32 whatever the node's precision.
FP32_SLOTS = {("Resize", 1), ("Resize", 2)}
#: The largest finite FP16 value.
FP16_MAX = float(np.finfo(np.float16).max)
#: Ops whose attributes hold subgraphs.
SUBGRAPH_OPS = ("If", "Loop", "Scan")
#: The ONNX default domain's names.
DEFAULT_DOMAINS = ("", "ai.onnx")
FLOAT = "tensor(float)"
HALF = "tensor(float16)"


def _formal(params: list[Any], slot: int) -> Any | None:
    """The formal parameter of an actual input or output slot (a variadic last one repeats)."""
    if slot < len(params):
        return params[slot]
    if params and params[-1].option.name == "Variadic":
        return params[-1]
    return None


def spec_precision(node: Any, opset: int, float_names: set[str]) -> tuple[bool, set[int]]:
    """What the ONNX specification lets ``node`` compute in.

    Returns:
        Whether the node may compute in FP16 (every float input and output typed by a
        constraint that admits FP16, or fixed to ``tensor(float)``), and its input slots fixed
        to ``tensor(float)`` (they stay FP32 in an FP16 node). Nodes of other domains, or of
        an op the installed ONNX does not know: (True, set()).
    """
    import onnx.defs

    if node.domain not in DEFAULT_DOMAINS:
        return True, set()
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, "")
    except onnx.defs.SchemaError:
        return True, set()
    allowed = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    fixed = set()
    for inputs, params, names in (
        (True, schema.inputs, node.input),
        (False, schema.outputs, node.output),
    ):
        for slot, name in enumerate(names):
            formal = _formal(params, slot)
            if not name or name not in float_names or formal is None:
                continue
            if formal.type_str == FLOAT:
                if inputs:
                    fixed.add(slot)
                continue
            if HALF not in allowed.get(formal.type_str, {formal.type_str}):
                return False, set()
    return True, fixed


def _outer_reads(graph: Any) -> set[str]:
    """Names a subgraph (and the subgraphs inside it) reads from its enclosing scopes."""
    defined = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    defined |= {o for n in graph.node for o in n.output}
    reads = set()
    for node in graph.node:
        reads |= {name for name in node.input if name}
        for attr in node.attribute:
            for sub in [attr.g] * bool(attr.g.ByteSize()) + list(attr.graphs):
                reads |= _outer_reads(sub)
    return reads - defined


def _rename_reads(graph: Any, names: dict[str, str]) -> None:
    """Rename reads of outer tensors in a subgraph and its own subgraphs."""
    for node in graph.node:
        for slot, name in enumerate(node.input):
            if name in names:
                node.input[slot] = names[name]
        for attr in node.attribute:
            for sub in [attr.g] * bool(attr.g.ByteSize()) + list(attr.graphs):
                _rename_reads(sub, names)


def fp32_reasons(
    model: Any, *, keep_fp32: list[str], amax: dict[str, float] | None = None
) -> dict[int, str]:
    """Why each node that stays FP32 does (see the module docstring): node index -> reason."""
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    opset = max((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), default=0)
    float_names = {
        v.name
        for v in [*graph.input, *graph.value_info, *graph.output]
        if v.type.tensor_type.elem_type == TensorProto.FLOAT
    }
    inits = {i.name: i for i in graph.initializer if i.data_type == TensorProto.FLOAT}
    float_names |= set(inits)
    large = {}
    for name, init in inits.items():
        values = np.abs(numpy_helper.to_array(init))
        top = float(values[np.isfinite(values)].max(initial=0.0))
        if top > FP16_MAX:
            large[name] = top
    reasons = {}
    for index, node in enumerate(graph.node):
        beyond = [n for n in node.input if n in large]
        hot = [n for n in node.output if amax and amax.get(n, 0.0) > FP16_MAX]
        if node.op_type in keep_fp32:
            reasons[index] = f"{node.op_type} is in fp16.keep_fp32"
        elif node.op_type == "Constant":
            reasons[index] = "a Constant's value is FP32"
        elif node.op_type in SUBGRAPH_OPS and node.domain in DEFAULT_DOMAINS:
            reasons[index] = f"{node.op_type} holds subgraphs: kept whole in FP32"
        elif not spec_precision(node, opset, float_names)[0]:
            reasons[index] = f"ONNX {node.op_type} (opset {opset}) takes no FP16"
        elif beyond:
            reasons[index] = f"reads {beyond[0]} (values up to {large[beyond[0]]:.3g}) beyond FP16"
        elif hot:
            reasons[index] = (
                f"its output {hot[0]} reaches {amax[hot[0]]:.3g} on the calibration inputs, "
                "beyond FP16"
            )
    return reasons


def fp16_from_fp32(
    model_bytes: bytes,
    *,
    keep_fp32: list[str],
    amax: dict[str, float] | None = None,
    reasons: dict[str, str] | None = None,
) -> bytes:
    """Convert an FP32 graph to FP16 compute with FP32 inputs and outputs.

    Args:
        model_bytes: the FP32 ONNX graph.
        keep_fp32: op types that stay in FP32.
        amax: max |x| of float tensors on the calibration inputs (min-max ranges); the nodes
            whose output exceeds FP16's range stay FP32.
        reasons: if given, receives why each node that stays FP32 does, by node name (or
            ``<op>#<index>`` for an unnamed node).

    Returns:
        The FP16 graph, checked by ``onnx.checker``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(model_bytes))
    graph = model.graph
    float_names = {
        v.name
        for v in [*graph.input, *graph.value_info, *graph.output]
        if v.type.tensor_type.elem_type == TensorProto.FLOAT
    }
    inits = {i.name: i for i in graph.initializer}
    float_names |= {n for n, i in inits.items() if i.data_type == TensorProto.FLOAT}
    why = fp32_reasons(model, keep_fp32=keep_fp32, amax=amax)
    half_nodes = [index not in why for index in range(len(graph.node))]
    named = {
        graph.node[index].name or f"{graph.node[index].op_type}#{index}": reason
        for index, reason in why.items()
    }
    opset = max((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), default=0)
    fixed = [
        spec_precision(node, opset, float_names)[1]
        | {s for o, s in FP32_SLOTS if o == node.op_type}
        for node in graph.node
    ]
    # precision each float tensor is produced in: graph inputs FP32, initializers decided below
    produced = {i.name: TensorProto.FLOAT for i in graph.input if i.name in float_names}
    users: dict[str, set[bool]] = {}
    for node, half, slots in zip(graph.node, half_nodes, fixed, strict=True):
        for slot, name in enumerate(node.input):
            if name in inits and name in float_names:
                users.setdefault(name, set()).add(half and slot not in slots)
    new_inits = []
    for init in graph.initializer:
        if init.name in users and users[init.name] == {True}:
            half = numpy_helper.to_array(init).astype(np.float16)
            new_inits.append(numpy_helper.from_array(half, init.name))
            produced[init.name] = TensorProto.FLOAT16
        else:
            new_inits.append(init)
            if init.name in float_names:
                produced[init.name] = TensorProto.FLOAT
    casts: dict[tuple[str, int], str] = {}
    nodes = []

    def cast(name: str, to: int) -> str:
        key = (name, to)
        if key not in casts:
            suffix = "fp16" if to == TensorProto.FLOAT16 else "fp32"
            casts[key] = f"{name}_{suffix}"
            nodes.append(helper.make_node("Cast", [name], [casts[key]], to=to))
        return casts[key]

    outputs = {o.name for o in graph.output}
    for node, half, slots in zip(graph.node, half_nodes, fixed, strict=True):
        for slot, name in enumerate(node.input):
            if name not in float_names:
                continue
            want = TensorProto.FLOAT if not half or slot in slots else TensorProto.FLOAT16
            if produced.get(name) != want:
                node.input[slot] = cast(name, want)
        subgraphs = [a.g for a in node.attribute if a.g.ByteSize()]
        subgraphs += [g for a in node.attribute for g in a.graphs]
        for sub in subgraphs:  # kept whole in FP32: the outer tensors they read, too
            outer = sorted(_outer_reads(sub) & float_names)
            renamed = {
                n: cast(n, TensorProto.FLOAT) for n in outer if produced.get(n) != TensorProto.FLOAT
            }
            _rename_reads(sub, renamed)
        nodes.append(node)
        for slot, name in enumerate(node.output):
            if name not in float_names:
                continue
            if node.op_type == "Cast":
                produced[name] = helper.get_node_attr_value(node, "to")
            elif half and name in outputs:  # graph outputs stay FP32: compute, then cast back
                node.output[slot] = f"{name}_fp16"
                nodes.append(
                    helper.make_node("Cast", [node.output[slot]], [name], to=TensorProto.FLOAT)
                )
                produced[name] = TensorProto.FLOAT
                # FP16 nodes that read the output (as the head reads Faster R-CNN's features)
                # take the FP16 tensor itself
                casts[(name, TensorProto.FLOAT16)] = node.output[slot]
            else:
                produced[name] = TensorProto.FLOAT16 if half else TensorProto.FLOAT
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    del graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model, full_check=True)
    for name, reason in named.items():
        if not reason.endswith("fp16.keep_fp32"):
            log.info("fp16 | %s stays FP32: %s", name, reason)
    kept = sorted({n.op_type for n in nodes if n.op_type in keep_fp32})
    log.info("fp16 | %d casts inserted; ops kept in FP32: %s", len(casts), kept or "none")
    if reasons is not None:
        reasons.update(named)
    return model.SerializeToString()
