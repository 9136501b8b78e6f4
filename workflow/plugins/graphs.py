"""ONNX graphs with plugin nodes: a trained graph's layer replaced by the sample plugin doing
the same computation (the seed's samplePlugin swapped MNIST's ip2 for its FC plugin;
uff_custom_plugin its ReLU6 for the clip plugin)."""

import numpy as np

from workflow.errors import PipelineError
from workflow.plugins.spec import DOMAIN, clip_node, fc_node


def _load(model_bytes: bytes) -> "object":
    import onnx

    return onnx.load_from_string(model_bytes)


def _finish(model: "object") -> bytes:
    """The edited graph, initializers no node reads any more dropped, plugin opset added."""
    import onnx
    from onnx import helper

    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(opset.domain == DOMAIN for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def with_fc_plugin(model_bytes: bytes) -> tuple[bytes, str]:
    """The graph with its last Gemm (LeNet's ip2) replaced by an FCPlugin node carrying the
    Gemm's weights and bias; returns the graph and the replaced node's name.

    Raises:
        PipelineError: no Gemm, or one the plugin cannot compute (transA, alpha or beta not 1,
            weights or bias not constant).
    """
    from onnx import helper, numpy_helper

    model = _load(model_bytes)
    graph = model.graph
    gemms = [i for i, node in enumerate(graph.node) if node.op_type == "Gemm"]
    if not gemms:
        raise PipelineError("with_fc_plugin", "the graph has no Gemm to replace")
    index = gemms[-1]
    gemm = graph.node[index]
    attrs = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
    if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        raise PipelineError(
            gemm.name or "Gemm", "transA, alpha or beta is not the plugin's y = x W^T + b"
        )
    inits = {init.name: init for init in graph.initializer}
    if len(gemm.input) != 3 or gemm.input[1] not in inits or gemm.input[2] not in inits:
        raise PipelineError(gemm.name or "Gemm", "weights and bias must be constant initializers")
    weights = numpy_helper.to_array(inits[gemm.input[1]]).astype(np.float32)
    if not attrs.get("transB", 0):
        weights = weights.T  # Gemm's B is (in, out) without transB
    bias = numpy_helper.to_array(inits[gemm.input[2]]).astype(np.float32).reshape(-1)
    name = gemm.name or f"fc_plugin_{index}"
    node = fc_node(name, gemm.input[0], gemm.output[0], weights, bias)
    graph.node.remove(gemm)
    graph.node.insert(index, node)
    return _finish(model), name


def with_clip_plugins(model_bytes: bytes) -> tuple[bytes, list[str]]:
    """The graph with every Clip (a ReLU6 after tf2onnx) replaced by a ClipPlugin node with its
    bounds; returns the graph and the replaced nodes' names.

    Raises:
        PipelineError: no Clip, or one whose bounds are not constant scalars.
    """
    from onnx import numpy_helper

    model = _load(model_bytes)
    graph = model.graph
    inits = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    constants = {
        node.output[0]: numpy_helper.to_array(node.attribute[0].t)
        for node in graph.node
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value"
    }
    known = inits | constants
    replaced = []
    for index, node in enumerate(list(graph.node)):
        if node.op_type != "Clip":
            continue
        bounds = []
        for slot, default in ((1, -np.inf), (2, np.inf)):
            name = node.input[slot] if len(node.input) > slot else ""
            if name and name not in known:
                raise PipelineError(node.name or "Clip", f"bound {name!r} is not a constant")
            bounds.append(float(np.asarray(known[name]).reshape(-1)[0]) if name else default)
        name = node.name or f"clip_plugin_{index}"
        position = list(graph.node).index(node)
        graph.node.remove(node)
        graph.node.insert(position, clip_node(name, node.input[0], node.output[0], *bounds))
        replaced.append(name)
    if not replaced:
        raise PipelineError("with_clip_plugins", "the graph has no Clip to replace")
    return _finish(model), replaced
