"""Per-channel weight scales of the INT8 Q/DQ graph run along the output channels, whichever
MatMul input the constant is, checked by running the graph in ONNX Runtime against numpy."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from workflow.ort.loader import session_from_onnx
from workflow.quant.qdq import qdq_from_ranges

M, K, N = 6, 16, 5
#: The activation: integers times STEP, so that its own Q/DQ (amax 127 * STEP) is exact and
#: the graph's error is the weight's alone.
STEP = 0.01


def _matmul(weight: np.ndarray, *, weight_first: bool, x_shape) -> bytes:
    """MatMul(W, X) or MatMul(X, W) with W a constant and X the graph input."""
    inputs = ["w", "x"] if weight_first else ["x", "w"]
    out = [M, N] if weight_first else [x_shape[0], weight.shape[1]]
    graph = helper.make_graph(
        [helper.make_node("MatMul", inputs, ["y"], name="mm")],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model.SerializeToString()


def _channels_of_different_magnitude(rows: int, cols: int, *, along_rows: bool) -> np.ndarray:
    """Random weights whose output channels span four orders of magnitude."""
    rng = np.random.default_rng(0)
    magnitude = np.logspace(-3, 1, rows if along_rows else cols).astype(np.float32)
    base = rng.uniform(-1, 1, size=(rows, cols)).astype(np.float32)
    return base * (magnitude[:, None] if along_rows else magnitude[None, :])


def _activation(shape) -> np.ndarray:
    return (np.random.default_rng(1).integers(-127, 128, size=shape) * STEP).astype(np.float32)


def _error_bound(weight: np.ndarray, x: np.ndarray, axis: int, *, weight_first: bool):
    """numpy's bound of |int8 graph - float| for symmetric INT8 scales along ``axis`` of the
    weight: each weight is off by at most its scale / 2, so an output is off by at most the
    sum over the reduction of scale / 2 * |x|."""
    scale = np.abs(weight).max(axis=1 - axis, keepdims=True) / 127
    half = np.broadcast_to(scale / 2, weight.shape)
    return half @ np.abs(x) if weight_first else np.abs(x) @ half


def _int8_output(fp32: bytes, x: np.ndarray) -> tuple[np.ndarray, onnx.NodeProto]:
    int8 = qdq_from_ranges(fp32, {"x": 127 * STEP}, source="test")
    dq = next(n for n in onnx.load_from_string(int8).graph.node if n.input[0] == "w_int8")
    # the graph as written (DequantizeLinear, then a float MatMul): with its optimizations on,
    # ONNX Runtime fuses X @ DQ(W) into an integer MatMul whose x86 kernel can saturate its
    # 16-bit pair sums (measured here: errors up to 3.1 where this graph's bound is 0.32),
    # an error of that kernel, not of the scales under test
    session = session_from_onnx(int8, optimization="ORT_DISABLE_ALL")
    return session.run(None, {"x": x})[0], dq


@pytest.mark.parametrize("weight_first", [True, False], ids=["W_times_X", "X_times_W"])
def test_matmul_weight_scales_run_along_its_output_channels(weight_first):
    if weight_first:  # MatMul(W (M, K), X (K, N)): output rows are W's rows
        weight = _channels_of_different_magnitude(M, K, along_rows=True)
        x = _activation((K, N))
        right, wrong = 0, 1
    else:  # MatMul(X (N, K), W (K, M)): output columns are W's columns
        weight = _channels_of_different_magnitude(K, M, along_rows=False)
        x = _activation((N, K))
        right, wrong = 1, 0
    exact = (weight.astype(np.float64) @ x) if weight_first else (x @ weight.astype(np.float64))
    got, dq = _int8_output(_matmul(weight, weight_first=weight_first, x_shape=x.shape), x)
    assert [a.i for a in dq.attribute if a.name == "axis"] == [right]
    error = np.abs(got - exact)
    bound = _error_bound(weight, x, right, weight_first=weight_first)
    assert (error <= bound * 1.001 + 1e-6).all()
    # scales along the summed axis would be set by the largest channel: the small channels'
    # bound (and error) would be orders of magnitude larger
    loose = _error_bound(weight, x, wrong, weight_first=weight_first)
    small = (slice(0, 1), slice(None)) if weight_first else (slice(None), slice(0, 1))
    assert loose[small].min() > 100 * bound[small].max()
    assert error[small].max() < loose[small].min() / 100


def test_batched_constant_a_takes_its_m_axis():
    weight = np.stack([_channels_of_different_magnitude(M, K, along_rows=True)] * 2)  # (2, M, K)
    x = _activation((K, N))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["w", "x"], ["y"])],
        "batched",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [K, N])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, M, N])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    got, dq = _int8_output(model.SerializeToString(), x)
    assert [a.i for a in dq.attribute if a.name == "axis"] == [1]
    bound = _error_bound(weight[0], x, 0, weight_first=True)
    assert (np.abs(got - weight.astype(np.float64) @ x) <= bound * 1.001 + 1e-6).all()


def test_a_vector_weight_gets_one_scale():
    weight = np.linspace(-1, 1, K, dtype=np.float32)  # (K,): its only axis is summed
    x = _activation((K, N))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["w", "x"], ["y"])],
        "vector",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [K, N])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [N])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    got, dq = _int8_output(model.SerializeToString(), x)
    assert not [a for a in dq.attribute if a.name == "axis"]
    bound = (1 / 127 / 2) * np.abs(x).sum(axis=0)
    assert (np.abs(got - weight.astype(np.float64) @ x) <= bound * 1.001 + 1e-6).all()
