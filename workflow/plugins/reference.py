"""The CPU reference of the plugin nodes: ONNX Runtime runs graphs holding them through
onnxruntime-extensions' Python custom operators.

Those operators live in the ``ai.onnx.contrib`` domain and take scalar attributes only, so the
session sees a view of the graph (:func:`ort_view`): each plugin node moved to that domain, its
tensor attributes (the FC weights and bias) turned into initializer inputs. The operators compute
what the plugins compute: FCPlugin y = x W^T + b in float32 (the input flattened to (N, K)),
ClipPlugin min(max(x, lo), hi) with NaN kept.
"""

import numpy as np

from workflow.plugins.spec import DOMAIN, FIELDS, PARSER_ATTRIBUTES, PLUGIN_OPS

#: The domain of onnxruntime-extensions' Python operators.
ORT_DOMAIN = "ai.onnx.contrib"
_REGISTERED: list[bool] = []


def has_plugin_nodes(model: "object") -> bool:
    """Whether an ONNX model holds a node of a sample plugin."""
    return any(node.op_type in PLUGIN_OPS and node.domain == DOMAIN for node in model.graph.node)


def ort_view(model: "object") -> "object":
    """A copy of ``model`` whose plugin nodes ONNX Runtime runs through the Python operators."""
    from onnx import AttributeProto, helper

    view = type(model)()
    view.CopyFrom(model)
    graph = view.graph
    for node in graph.node:
        if node.op_type not in PLUGIN_OPS or node.domain != DOMAIN:
            continue
        node.domain = ORT_DOMAIN
        tensors = {a.name: a.t for a in node.attribute if a.type == AttributeProto.TENSOR}
        for field in FIELDS[node.op_type]:  # inputs in the fields' order
            if field in tensors:
                tensor = type(tensors[field])()
                tensor.CopyFrom(tensors[field])
                tensor.name = f"{node.name}/{field}"
                graph.initializer.append(tensor)
                node.input.append(tensor.name)
        kept = [
            a
            for a in node.attribute
            if a.name not in PARSER_ATTRIBUTES and a.type != AttributeProto.TENSOR
        ]
        del node.attribute[:]
        node.attribute.extend(kept)
    if not any(opset.domain == ORT_DOMAIN for opset in view.opset_import):
        view.opset_import.append(helper.make_opsetid(ORT_DOMAIN, 1))
    return view


def register_operators() -> str:
    """Register the Python operators (once per process); return the library ONNX Runtime loads
    (``SessionOptions.register_custom_ops_library``)."""
    from onnxruntime_extensions import PyCustomOpDef, get_library_path, onnx_op

    if not _REGISTERED:
        dt = PyCustomOpDef.dt_float

        @onnx_op(
            op_type="FCPlugin",
            domain=ORT_DOMAIN,
            inputs=[dt, dt, dt],
            outputs=[dt],
            attrs={"outFeatures": PyCustomOpDef.dt_int64},
        )
        def fc_plugin(
            x: np.ndarray, weights: np.ndarray, bias: np.ndarray, **_: object
        ) -> np.ndarray:
            flat = np.asarray(x, np.float32).reshape(len(x), -1)
            return (flat @ np.asarray(weights, np.float32).T + bias).astype(np.float32)

        @onnx_op(
            op_type="ClipPlugin",
            domain=ORT_DOMAIN,
            inputs=[dt],
            outputs=[dt],
            attrs={"clipMin": dt, "clipMax": dt},
        )
        def clip_plugin(x: np.ndarray, **attrs: float) -> np.ndarray:
            return np.clip(np.asarray(x, np.float32), attrs["clipMin"], attrs["clipMax"])

        _REGISTERED.append(True)
    return get_library_path()
