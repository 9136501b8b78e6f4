"""Strict mode runs a Q/DQ graph's QuantizeLinear/DequantizeLinear as float operators.

ONNX Runtime otherwise fuses a Q/DQ pattern into integer kernels (QLinearMatMul, QLinearConv,
MatMulInteger) whose arithmetic depends on the CPU: the AVX2 u8s8 kernels add pairs of
products in 16 bits and saturate, AVX-512 VNNI kernels do not. The reference here is the
integer arithmetic of the ONNX operator definitions written out in numpy: quantize
(round half to even, clip to int8), int64 products and sums, requantize. The inputs pair the
largest int8 values with weights of the same sign, the case a saturating kernel gets wrong.
"""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from workflow.ort.loader import session_from_onnx
from workflow.repro import ORT_SESSION_CONFIG, settings

ROWS, DEPTH, COLUMNS = 4, 64, 16
#: Powers of two: every float of the fake-quantized path is exact.
SCALE_X, SCALE_W, SCALE_Y = 0.5, 0.25, 1024.0


def qdq_matmul() -> tuple[bytes, np.ndarray, np.ndarray]:
    """A Q/DQ MatMul graph (int8 weights, quantized input and output), its input and the
    integer reference of its output."""
    weights = np.random.default_rng(0).choice(np.array([-127, 127], np.int8), (DEPTH, COLUMNS))
    zero = np.array(0, np.int8)
    initializers = [
        numpy_helper.from_array(np.array(SCALE_X, np.float32), "sx"),
        numpy_helper.from_array(np.array(SCALE_W, np.float32), "sw"),
        numpy_helper.from_array(np.array(SCALE_Y, np.float32), "sy"),
        numpy_helper.from_array(zero, "zero"),
        numpy_helper.from_array(weights, "w"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zero"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "sx", "zero"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "sw", "zero"], ["wd"]),
        helper.make_node("MatMul", ["xd", "wd"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "sy", "zero"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "sy", "zero"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq_matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [ROWS, DEPTH])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [ROWS, COLUMNS])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    # row r: +127 where column r's weight is positive, -128 elsewhere (a full sum in column r)
    codes = np.stack([np.where(weights[:, r] > 0, 127, -128) for r in range(ROWS)])
    inputs = (codes * SCALE_X).astype(np.float32)
    quantized = np.clip(np.round(inputs / SCALE_X), -128, 127).astype(np.int64)
    sums = quantized @ weights.astype(np.int64)
    expected = np.clip(np.round(sums * (SCALE_X * SCALE_W / SCALE_Y)), -128, 127) * SCALE_Y
    return model.SerializeToString(), inputs, expected.astype(np.float32)


def test_strict_session_computes_the_operator_definitions_integer_result(monkeypatch):
    monkeypatch.setenv("TRT_SAMPLES_REPRODUCIBLE", "strict")
    graph, inputs, expected = qdq_matmul()
    (found,) = session_from_onnx(graph).run(None, {"x": inputs})
    assert np.abs(expected).max() > 100 * SCALE_Y  # the case is not a trivial one
    np.testing.assert_array_equal(found, expected)


@pytest.mark.parametrize(
    ("mode", "fused"),
    [("strict", False), ("native", True)],
)
def test_the_mode_decides_whether_qdq_is_fused_into_integer_kernels(
    mode, fused, monkeypatch, tmp_path
):
    monkeypatch.setenv("TRT_SAMPLES_REPRODUCIBLE", mode)
    graph, inputs, _ = qdq_matmul()
    session = session_from_onnx(graph, profile_prefix=tmp_path / "profile")
    session.run(None, {"x": inputs})
    events = json.loads((tmp_path / session.end_profiling()).read_text())
    kernels = {e["args"]["op_name"] for e in events if e.get("cat") == "Node" and "args" in e}
    integer = {"QLinearMatMul", "MatMulInteger", "MatMulIntegerToFloat"} & kernels
    assert bool(integer) is fused, f"{mode}: kernels {sorted(kernels)}"
    assert ("MatMul" in kernels) is not fused
    recorded = settings(threads=1)
    assert recorded["onnxruntime_config"] == ORT_SESSION_CONFIG[mode]
