"""FP16 graphs: compute in half precision, keep FP32 inputs, outputs and fragile ops.

Every node computes in FP16 except the ops in ``keep_fp32`` (those that lose accuracy in half
precision: exponentials, logarithms, normalisations, reductions). Float initializers used only by
FP16 nodes are stored in FP16; a Cast is inserted wherever a tensor crosses between the two
precisions, once per tensor and direction. The graph's inputs and outputs stay FP32, so callers
feed and read the same arrays as with the FP32 graph.
"""

import logging

import numpy as np

log = logging.getLogger(__name__)

#: (op, input slot) pairs that must stay FP32 whatever the node's precision.
FP32_SLOTS = {("Resize", 1), ("Resize", 2)}


def fp16_from_fp32(model_bytes: bytes, *, keep_fp32: list[str]) -> bytes:
    """Convert an FP32 graph to FP16 compute with FP32 inputs and outputs.

    Args:
        model_bytes: the FP32 ONNX graph (no subgraphs).
        keep_fp32: op types that stay in FP32.

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
    half_nodes = [n.op_type not in keep_fp32 for n in graph.node]
    # precision each float tensor is produced in: graph inputs FP32, initializers decided below
    produced = {i.name: TensorProto.FLOAT for i in graph.input if i.name in float_names}
    users: dict[str, set[bool]] = {}
    for node, half in zip(graph.node, half_nodes, strict=True):
        for slot, name in enumerate(node.input):
            if name in inits and name in float_names:
                users.setdefault(name, set()).add(half and (node.op_type, slot) not in FP32_SLOTS)
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
    for node, half in zip(graph.node, half_nodes, strict=True):
        for slot, name in enumerate(node.input):
            if name not in float_names:
                continue
            fp32_slot = not half or (node.op_type, slot) in FP32_SLOTS
            want = TensorProto.FLOAT if fp32_slot else TensorProto.FLOAT16
            if produced.get(name) != want:
                node.input[slot] = cast(name, want)
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
    kept = sorted({n.op_type for n in nodes if n.op_type in keep_fp32})
    log.info("fp16 | %d casts inserted; ops kept in FP32: %s", len(casts), kept or "none")
    return model.SerializeToString()
