"""The plugins on CPU: the fields their creators receive and serialize, the graphs with plugin
nodes, and their ONNX Runtime reference."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import tiny_classifier_bytes
from workflow.errors import PipelineError
from workflow.ort.loader import session_from_onnx
from workflow.plugins.graphs import with_clip_plugins, with_fc_plugin
from workflow.plugins.reference import ORT_DOMAIN, has_plugin_nodes, ort_view
from workflow.plugins.spec import (
    DOMAIN,
    NAMESPACE,
    Field,
    clip_node,
    fc_node,
    fields_to_serialize,
    node_fields,
    plugin_values,
)

FEED = np.random.default_rng(1).normal(size=(5, 1, 4, 4)).astype(np.float32)


def test_the_parser_hands_the_fc_creator_the_weights_and_they_round_trip():
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(3, 16)).astype(np.float32), np.arange(3, dtype=np.float32)
    node = fc_node("ip2", "x", "y", weights, bias)
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert node.domain == DOMAIN and attributes["plugin_namespace"] == NAMESPACE.encode()
    fields = node_fields(node)
    assert [(f.name, f.type, f.length) for f in fields] == [
        ("bias", "FLOAT32", 3),
        ("outFeatures", "INT32", 1),
        ("weights", "FLOAT32", 48),
    ]
    assert fields[2].data == weights.tobytes()  # the bytes the creator reads, row-major
    values = plugin_values("FCPlugin", fields)
    np.testing.assert_array_equal(values["weights"], weights)
    serialized = fields_to_serialize("FCPlugin", values)
    assert [(f.name, f.type, f.length) for f in serialized] == [
        ("weights", "FLOAT32", 48),
        ("bias", "FLOAT32", 3),
        ("outFeatures", "INT32", 1),
    ]
    assert {f.name: f.data for f in serialized} == {f.name: f.data for f in fields}
    again = plugin_values("FCPlugin", serialized)
    assert all(np.array_equal(again[k], values[k]) for k in values)


def test_the_creators_refuse_bad_fields_as_the_cpp_ones_do():
    good = node_fields(clip_node("c", "x", "y", 0.0, 6.0))
    assert plugin_values("ClipPlugin", good) == {"clipMin": 0.0, "clipMax": 6.0}
    with pytest.raises(PipelineError, match="needs clipMin <= clipMax"):
        plugin_values("ClipPlugin", node_fields(clip_node("c", "x", "y", 6.0, 0.0)))
    with pytest.raises(PipelineError, match="needs float fields clipMin and clipMax"):
        plugin_values("ClipPlugin", good[:1])
    fields = node_fields(
        fc_node("f", "x", "y", np.ones((2, 3), np.float32), np.ones(2, np.float32))
    )
    short = [f if f.name != "bias" else Field("bias", "FLOAT32", f.data[:4], 1) for f in fields]
    with pytest.raises(PipelineError, match="outFeatures >= 1 bias values"):
        plugin_values("FCPlugin", short)
    with pytest.raises(PipelineError, match="no such sample plugin"):
        plugin_values("NormPlugin", fields)
    with pytest.raises(PipelineError, match="do not pair"):
        fc_node("f", "x", "y", np.ones((2, 3), np.float32), np.ones(3, np.float32))


def test_the_fc_plugin_graph_computes_what_the_gemm_did():
    plain = tiny_classifier_bytes()
    graph, name = with_fc_plugin(plain)
    model = onnx.load_from_string(graph)
    assert [n.op_type for n in model.graph.node] == ["Flatten", "FCPlugin", "Softmax"]
    assert not model.graph.initializer and has_plugin_nodes(model) and name
    view = ort_view(model)
    (node,) = [n for n in view.graph.node if n.op_type == "FCPlugin"]
    assert node.domain == ORT_DOMAIN and len(node.input) == 3  # x, weights, bias
    expected = session_from_onnx(plain).run(None, {"input": FEED})[0]
    got = session_from_onnx(graph).run(None, {"input": FEED})[0]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    with pytest.raises(PipelineError, match="no Gemm"):
        with_fc_plugin(graph)


def _clip_graph(low_from_input: bool = False) -> bytes:
    bounds = [
        numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("lo", 0.0), ("hi", 6.0))
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])]
    if low_from_input:
        inputs.append(helper.make_tensor_value_info("lo", TensorProto.FLOAT, []))
        bounds = bounds[1:]
    graph = helper.make_graph(
        [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="relu6")],
        "clip",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
        initializer=bounds,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def test_clip_nodes_become_clip_plugins_that_keep_nan():
    graph, replaced = with_clip_plugins(_clip_graph())
    assert replaced == ["relu6"]
    (node,) = onnx.load_from_string(graph).graph.node
    values = plugin_values("ClipPlugin", node_fields(node))
    assert values == {"clipMin": 0.0, "clipMax": 6.0}
    x = np.array([[-3.0, 2.5, 9.0, np.nan]], np.float32)
    (y,) = session_from_onnx(graph).run(None, {"x": x})
    np.testing.assert_array_equal(y, [[0.0, 2.5, 6.0, np.nan]])
    with pytest.raises(PipelineError, match="bound 'lo' is not a constant"):
        with_clip_plugins(_clip_graph(low_from_input=True))
    with pytest.raises(PipelineError, match="no Clip"):
        with_clip_plugins(tiny_classifier_bytes())
