"""FP16 graphs that are safe: the ONNX specification decides which ops may compute in FP16,
stored values and activations beyond FP16's range stay FP32, subgraph ops stay whole in FP32.
The reference is ONNX Runtime running the FP32 graph."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from workflow.ort.loader import session_from_onnx
from workflow.quant.calibrate import calibrate
from workflow.quant.fp16 import FP16_MAX, fp16_from_fp32, spec_precision

RNG = np.random.default_rng(3)


def _model(nodes, inputs, outputs, inits=(), opset=18) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model.SerializeToString()


def _value(name, shape, kind=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, kind, shape)


def _types(data: bytes) -> dict[str, int]:
    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(data))
    return {v.name: v.type.tensor_type.elem_type for v in model.graph.value_info}


def test_the_spec_decides_which_ops_take_fp16():
    floats = {"a", "b", "c", "y"}
    assert spec_precision(helper.make_node("Range", ["a", "b", "c"], ["y"]), 18, floats)[0] is False
    assert spec_precision(helper.make_node("Add", ["a", "b"], ["y"]), 18, floats) == (True, set())
    # Resize's scales are tensor(float) in the spec: the slot stays FP32 in an FP16 node
    resize = helper.make_node("Resize", ["a", "", "b"], ["y"])
    assert spec_precision(resize, 18, floats) == (True, {2})


def test_range_stays_fp32_and_the_graph_runs():
    nodes = [
        helper.make_node("Relu", ["start"], ["s"]),
        helper.make_node("Range", ["s", "limit", "delta"], ["r"], name="positions"),
        helper.make_node("Mul", ["r", "r"], ["y"]),
    ]
    data = _model(
        nodes,
        [_value("start", []), _value("limit", []), _value("delta", [])],
        [_value("y", ["n"])],
    )
    reasons: dict[str, str] = {}
    half = fp16_from_fp32(data, keep_fp32=[], reasons=reasons)
    assert reasons == {"positions": "ONNX Range (opset 18) takes no FP16"}
    assert _types(half)["r"] == TensorProto.FLOAT
    feeds = {k: np.array(v, np.float32) for k, v in (("start", 1), ("limit", 9), ("delta", 2))}
    np.testing.assert_array_equal(session_from_onnx(half).run(None, feeds)[0], [1, 9, 25, 49])


def test_a_stored_value_beyond_fp16_keeps_its_node_fp32():
    channels = 4
    variance = np.array([9.8e7, 1.0, 2.0, 3.0], np.float32)
    inits = [
        numpy_helper.from_array(RNG.normal(size=(channels, 1, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(np.ones(channels, np.float32), "scale"),
        numpy_helper.from_array(np.zeros(channels, np.float32), "bias"),
        numpy_helper.from_array(np.zeros(channels, np.float32), "mean"),
        numpy_helper.from_array(variance, "var"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["y"]),
    ]
    data = _model(nodes, [_value("x", [1, 1, 6, 6])], [_value("y", [1, channels, 4, 4])], inits)
    reasons: dict[str, str] = {}
    half = fp16_from_fp32(data, keep_fp32=[], reasons=reasons)
    assert reasons == {"BatchNormalization#1": "reads var (values up to 9.8e+07) beyond FP16"}
    stored = {i.name: i.data_type for i in onnx.load_from_string(half).graph.initializer}
    assert stored["var"] == TensorProto.FLOAT and stored["w"] == TensorProto.FLOAT16
    x = RNG.normal(size=(1, 1, 6, 6)).astype(np.float32) * 100
    want = session_from_onnx(data).run(None, {"x": x})[0]
    got = session_from_onnx(half).run(None, {"x": x})[0]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * np.abs(want).max())


def test_an_activation_beyond_fp16_on_the_calibration_inputs_stays_fp32():
    nodes = [
        helper.make_node("Mul", ["x", "k"], ["big"], name="amplify"),
        helper.make_node("Div", ["big", "k"], ["y"], name="back"),
    ]
    inits = [numpy_helper.from_array(np.array(1000.0, np.float32), "k")]
    data = _model(nodes, [_value("x", [4])], [_value("y", [4])], inits)
    x = np.array([1.0, 70.0, -200.0, 3.0], np.float32)
    assert not np.isfinite(x.astype(np.float16) * np.float16(1000)).all()  # past 65,504
    assert _types(fp16_from_fp32(data, keep_fp32=[]))["big"] == TensorProto.FLOAT16
    amax = calibrate(
        data, lambda: iter([x]), algorithm="minmax", bins=2048, percentile=99.0, threads=1
    )
    assert amax["big"] > FP16_MAX
    reasons: dict[str, str] = {}
    half = fp16_from_fp32(data, keep_fp32=[], amax=amax, reasons=reasons)
    assert list(reasons) == ["amplify"] and "reaches 2e+05" in reasons["amplify"]
    assert _types(half)["big"] == TensorProto.FLOAT
    np.testing.assert_allclose(session_from_onnx(half).run(None, {"x": x})[0], x, rtol=1e-3)


def test_constant_weights_stay_fp32_values_and_are_cast():
    weight = numpy_helper.from_array(RNG.normal(size=(2, 1, 3, 3)).astype(np.float32))
    nodes = [
        helper.make_node("Constant", [], ["w"], value=weight),
        helper.make_node("Conv", ["x", "w"], ["y"]),
    ]
    data = _model(nodes, [_value("x", [1, 1, 5, 5])], [_value("y", [1, 2, 3, 3])])
    half = fp16_from_fp32(data, keep_fp32=[])
    x = RNG.normal(size=(1, 1, 5, 5)).astype(np.float32)
    want = session_from_onnx(data).run(None, {"x": x})[0]
    np.testing.assert_allclose(session_from_onnx(half).run(None, {"x": x})[0], want, atol=1e-2)


def test_an_if_stays_whole_in_fp32_and_reads_fp32_outer_tensors():
    def branch(name: str, op: str) -> onnx.GraphProto:
        return helper.make_graph(
            [helper.make_node(op, ["h", "h"], [f"{name}_y"])],
            name,
            [],
            [_value(f"{name}_y", [3])],
        )

    nodes = [
        helper.make_node("Relu", ["x"], ["h"]),
        helper.make_node(
            "If", ["cond"], ["z"], then_branch=branch("then", "Add"), else_branch=branch("e", "Mul")
        ),
        helper.make_node("Neg", ["z"], ["y"]),
    ]
    data = _model(
        nodes, [_value("cond", [], TensorProto.BOOL), _value("x", [3])], [_value("y", [3])]
    )
    reasons: dict[str, str] = {}
    half = fp16_from_fp32(data, keep_fp32=[], reasons=reasons)
    assert reasons == {"If#1": "If holds subgraphs: kept whole in FP32"}
    converted = onnx.load_from_string(half)
    onnx.checker.check_model(converted, full_check=True)
    if_node = next(n for n in converted.graph.node if n.op_type == "If")
    for attr in if_node.attribute:
        assert list(attr.g.node[0].input) == ["h_fp32", "h_fp32"]
    x = np.array([-1.0, 0.5, 3.0], np.float32)
    for cond, want in ((True, -2 * np.maximum(x, 0)), (False, -(np.maximum(x, 0) ** 2))):
        got = session_from_onnx(half).run(None, {"cond": np.array(cond), "x": x})[0]
        np.testing.assert_allclose(got, want, rtol=1e-3)
