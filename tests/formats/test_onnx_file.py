"""Graph preparation on graphs shaped as other exporters write them: an old opset, weights as
``Constant`` nodes (PaddlePaddle's way), weights listed as inputs (IR 3), an ``If`` whose
branches hold constants, external data. The reference is ONNX Runtime running the file as
given: the prepared graph must compute the same outputs."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from workflow.errors import FormatError, PipelineError
from workflow.formats.onnx_file import (
    default_opset,
    graphs,
    prepare_bytes,
    prepare_file,
    prepare_model,
)
from workflow.ort.loader import session_from_onnx
from workflow.quant.fp16 import fp16_from_fp32

RNG = np.random.default_rng(7)
OPSET = 18
X = RNG.normal(size=(2, 1, 8, 8)).astype(np.float32)
WEIGHTS = {
    "w": RNG.normal(size=(4, 1, 3, 3)).astype(np.float32),
    "b": RNG.normal(size=4).astype(np.float32),
    "fc": RNG.normal(size=(10, 4 * 3 * 3)).astype(np.float32),
}


def _lenet(opset: int, *, constants: bool = False, ir: int = 6) -> onnx.ModelProto:
    """Conv, Relu, MaxPool, Flatten, Gemm, Softmax at ``opset``; weights as initializers, or as
    Constant nodes."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[0, 0, 0, 0]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["g"], transB=1),
        helper.make_node("Softmax", ["g"], ["y"], axis=1),
    ]
    inits = [numpy_helper.from_array(v, k) for k, v in WEIGHTS.items()]
    if constants:
        nodes = [
            helper.make_node("Constant", [], [t.name], value=t, name=f"const_{t.name}")
            for t in inits
        ] + nodes
        inits = []
    graph = helper.make_graph(
        nodes,
        "lenet",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir
    return model


def _run(data: bytes, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return session_from_onnx(data).run(None, feeds)


def test_old_opset_is_converted_and_computes_the_same():
    model = _lenet(11)
    data, report = prepare_bytes(model.SerializeToString(), opset=OPSET)
    prepared = onnx.load_from_string(data)
    assert default_opset(prepared) == OPSET
    assert report["opset"] == {"found": 11, "used": OPSET}
    onnx.checker.check_model(prepared)
    (want,), (got,) = _run(model.SerializeToString(), {"x": X}), _run(data, {"x": X})
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_newer_opset_is_left_alone():
    model = _lenet(21, ir=10)
    data, report = prepare_bytes(model.SerializeToString(), opset=OPSET)
    assert default_opset(onnx.load_from_string(data)) == 21
    assert report["opset"] == {"found": 21, "used": 21}


def test_constant_weights_become_initializers_and_fp16_accepts_them():
    model = _lenet(OPSET, constants=True)
    data, report = prepare_bytes(model.SerializeToString(), opset=OPSET)
    prepared = onnx.load_from_string(data)
    assert report["constants_folded"] == 3
    assert not [n for n in prepared.graph.node if n.op_type == "Constant"]
    stored = {i.name: numpy_helper.to_array(i) for i in prepared.graph.initializer}
    for name, value in WEIGHTS.items():
        np.testing.assert_array_equal(stored[name], value)
    (want,) = _run(model.SerializeToString(), {"x": X})
    np.testing.assert_allclose(_run(data, {"x": X})[0], want, rtol=1e-6)
    # the FP16 converter types a Constant's output FP16 while its value stays FP32; prepared,
    # its weights are initializers it stores in FP16
    half = fp16_from_fp32(data, keep_fp32=["Softmax"])
    np.testing.assert_allclose(_run(half, {"x": X})[0], want, atol=2e-3)


def test_scalar_constant_kinds_are_folded():
    nodes = [
        helper.make_node("Constant", [], ["k"], value_float=2.5),
        helper.make_node("Constant", [], ["s"], value_ints=[2, 3]),
        helper.make_node("Mul", ["x", "k"], ["m"]),
        helper.make_node("Reshape", ["m", "s"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "scalars",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    data, report = prepare_bytes(model.SerializeToString(), opset=OPSET)
    assert report["constants_folded"] == 2
    x = np.arange(6, dtype=np.float32)
    np.testing.assert_array_equal(_run(data, {"x": x})[0], (x * 2.5).reshape(2, 3))


def test_a_constant_that_is_a_graph_output_stays_a_node():
    value = numpy_helper.from_array(np.ones(3, np.float32))
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["y"], value=value),
            helper.make_node("Neg", ["x"], ["z"]),
        ],
        "out",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [3]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [3]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    prepared, report = prepare_model(model, opset=OPSET)
    assert report["constants_folded"] == 0
    assert [n.op_type for n in prepared.graph.node] == ["Constant", "Neg"]


def test_weights_listed_as_inputs_are_dropped_from_the_inputs():
    model = _lenet(11, ir=3)
    model.graph.input.extend(
        helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape))
        for k, v in WEIGHTS.items()
    )
    data, report = prepare_bytes(model.SerializeToString(), opset=OPSET)
    prepared = onnx.load_from_string(data)
    assert report["initializer_inputs"] == 3
    assert [i.name for i in prepared.graph.input] == ["x"]
    np.testing.assert_allclose(
        _run(data, {"x": X})[0], _run(_lenet(11).SerializeToString(), {"x": X})[0], rtol=1e-6
    )


def _if_model(opset: int) -> onnx.ModelProto:
    def branch(name: str, scale: float) -> onnx.GraphProto:
        k = numpy_helper.from_array(np.full(3, scale, np.float32))
        return helper.make_graph(
            [
                helper.make_node("Constant", [], [f"{name}_k"], value=k),
                helper.make_node("Mul", ["x", f"{name}_k"], [f"{name}_y"]),
            ],
            name,
            [],
            [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, [3])],
        )

    graph = helper.make_graph(
        [
            helper.make_node(
                "If",
                ["cond"],
                ["y"],
                then_branch=branch("then", 2.0),
                else_branch=branch("else", -3.0),
            )
        ],
        "if",
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 6
    return model


def test_constants_inside_if_branches_are_folded_in_their_branch():
    model = _if_model(11)
    data, report = prepare_bytes(model.SerializeToString(), opset=OPSET)
    prepared = onnx.load_from_string(data)
    assert report["constants_folded"] == 2 and report["subgraphs"] == 2
    for sub in graphs(prepared.graph)[1:]:
        assert [n.op_type for n in sub.node] == ["Mul"]
        assert len(sub.initializer) == 1
    x = np.array([1.0, 2.0, 3.0], np.float32)
    for cond, scale in ((True, 2.0), (False, -3.0)):
        (got,) = _run(data, {"cond": np.array(cond), "x": x})
        np.testing.assert_array_equal(got, x * scale)


def test_external_data_is_read_and_a_missing_file_named(tmp_path):
    model = _lenet(OPSET)
    path = tmp_path / "model.onnx"
    onnx.save(model, path, save_as_external_data=True, location="model.data", size_threshold=0)
    assert (tmp_path / "model.data").is_file()
    data, _ = prepare_file(path, opset=OPSET)
    reference = _lenet(OPSET).SerializeToString()  # onnx.save moved ``model``'s weights out
    np.testing.assert_allclose(_run(data, {"x": X})[0], _run(reference, {"x": X})[0], rtol=1e-6)
    (tmp_path / "model.data").unlink()
    with pytest.raises(FormatError, match=r"model\.onnx \| external data file missing"):
        prepare_file(path, opset=OPSET)


def test_not_an_onnx_file_is_refused(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("not a graph")
    with pytest.raises(FormatError, match="notes.onnx .* not an ONNX file"):
        prepare_file(path, opset=OPSET)


def test_a_node_the_converter_cannot_adapt_is_named_with_the_fix():
    # Crop existed only in opset 1 (experimental); no adapter carries it forward
    graph = helper.make_graph(
        [helper.make_node("Crop", ["x"], ["y"], name="crop_7", border=[0, 0, 1, 1])],
        "old",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 1)])
    model.ir_version = 3
    with pytest.raises(PipelineError) as caught:
        prepare_model(model, opset=OPSET, source="old.onnx")
    message = str(caught.value)
    assert message.startswith("old.onnx | cannot convert opset 1 to 18 at node 'crop_7' (Crop)")
    assert message.endswith("export the model at opset 18 or newer")


def test_shared_weights_are_reported():
    w = numpy_helper.from_array(np.eye(3, dtype=np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["a"]),
            helper.make_node("MatMul", ["a", "w"], ["y"]),
        ],
        "shared",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    _, report = prepare_model(model, opset=OPSET)
    assert report["shared_weights"] == {"w": 2}
