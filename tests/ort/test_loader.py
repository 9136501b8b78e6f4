"""ONNX Runtime sessions: the optimization level follows the graph (FP8 Q/DQ at the basic
level, which computes it right)."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from workflow.ort.loader import FP8_OPTIMIZATION, holds_fp8, session_from_onnx
from workflow.repro import ort_optimization_level


def _qdq(zero_type):
    zero = helper.make_tensor("zero", zero_type, [], [0])
    graph = helper.make_graph(
        [
            helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["y"]),
        ],
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        initializer=[numpy_helper.from_array(np.array(0.5, np.float32), "scale"), zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    return model.SerializeToString()


@pytest.mark.parametrize(
    ("zero_type", "fp8"), [(TensorProto.FLOAT8E4M3FN, True), (TensorProto.INT8, False)]
)
def test_an_fp8_graph_runs_at_the_basic_level(zero_type, fp8):
    graph = _qdq(zero_type)
    assert holds_fp8(graph) is fp8
    session = session_from_onnx(graph)
    level = session.get_session_options().graph_optimization_level.name
    assert level == (FP8_OPTIMIZATION if fp8 else ort_optimization_level())
    y = session.run(None, {"x": np.array([0.0, 1.0, -3.0, 100.0], np.float32)})[0]
    assert y[:3].tolist() == [0.0, 1.0, -3.0]  # exact in both: 2, -6 and 0 are on the grids


def test_a_graph_without_quantize_nodes_is_not_parsed():
    assert not holds_fp8(b"not a graph at all")
    plain = helper.make_model(
        helper.make_graph(
            [helper.make_node("Relu", ["x"], ["y"])],
            "plain",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        )
    )
    assert not holds_fp8(plain.SerializeToString())
