"""INT4 weight-only graphs: blocked INT4 against a numpy reference written from the ONNX
DequantizeLinear definition, ONNX Runtime, the AWQ search, engines built by TensorRT-RTX."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import tiny_build, tiny_conv_bytes
from workflow.errors import PipelineError
from workflow.ort.loader import session_from_onnx
from workflow.quant.int4 import awq_search, int4_weight_only, quantize_blocked
from workflow.trt.layers import layer_report, parse_layer_log
from workflow.trt.loader import engine_bytes_from_onnx

RNG = np.random.default_rng(0)
W1 = RNG.normal(size=(72, 96)).astype(np.float32)  # MatMul B (K=72, N=96): 72 = 2 blocks + 8
W2 = RNG.normal(size=(10, 96)).astype(np.float32)  # Gemm B with transB (N=10, K=96)
B2 = RNG.normal(size=(10,)).astype(np.float32)
# a few input channels much larger than the others, as in language models' activations
X = (RNG.normal(size=(256, 72)) * np.where(np.arange(72) % 9 == 0, 8.0, 0.5)).astype(np.float32)


def _mlp() -> bytes:
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 72])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        initializer=[
            numpy_helper.from_array(W1, "w1"),
            numpy_helper.from_array(W2, "w2"),
            numpy_helper.from_array(B2, "b2"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model.SerializeToString()


def _blocked_reference(w: np.ndarray, block: int) -> np.ndarray:
    """Round to nearest INT4 (-7..7) per block of ``block`` rows of w (K, N), scale amax / 7,
    written out one block at a time."""
    out = np.empty_like(w)
    for start in range(0, w.shape[0], block):
        part = w[start : start + block]
        scale = np.abs(part).max(axis=0) / 7
        out[start : start + block] = np.clip(np.round(part / scale), -7, 7) * scale
    return out


def _run(model: bytes) -> np.ndarray:
    return session_from_onnx(model).run(None, {"x": X})[0]


@pytest.mark.parametrize("block", [32, 64])
def test_blocked_values_match_the_reference(block):
    q, scale = quantize_blocked(W1, 0, block)
    assert scale.shape == (-(-72 // block), 96)
    values = q.astype(np.float32)
    assert values.min() >= -7 and values.max() <= 7
    deq = values * np.repeat(scale, block, axis=0)[:72]
    np.testing.assert_allclose(deq, _blocked_reference(W1, block), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("block", [32, 64, 128])
def test_int4_graph_matches_a_numpy_reference(block):
    graph = int4_weight_only(_mlp(), block_size=block, source="mlp")
    model = onnx.load_from_string(graph)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 21
    types = {i.name: i.data_type for i in model.graph.initializer}
    assert types["w1_int4"] == types["w2_int4"] == TensorProto.INT4
    dqs = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert len(dqs) == 2 and not any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    w1 = _blocked_reference(W1, block)
    w2 = _blocked_reference(W2.T, block).T
    expected = np.maximum(X @ w1, 0) @ w2.T + B2
    np.testing.assert_allclose(_run(graph), expected, rtol=1e-4, atol=1e-3)


def test_awq_lowers_the_output_error_where_channels_differ():
    report = {}
    awq = int4_weight_only(
        _mlp(), block_size=32, source="mlp", batches=lambda: iter([X]), awq_grid=11, report=report
    )
    rtn = int4_weight_only(_mlp(), block_size=32, source="mlp")
    reference = np.maximum(X @ W1, 0) @ W2.T + B2
    assert report["MatMul#0"]["alpha"] > 0
    assert report["MatMul#0"]["mse"] < report["MatMul#0"]["mse_rtn"]
    assert np.mean((_run(awq) - reference) ** 2) < np.mean((_run(rtn) - reference) ** 2)
    assert any(n.op_type == "Mul" for n in onnx.load_from_string(awq).graph.node)


def test_awq_keeps_round_to_nearest_for_even_channels():
    """With every input channel alike there is nothing to protect: s = 1 (alpha 0 or a flat
    scale) and the error equals round to nearest's."""
    x = np.ones((64, 72), np.float32)
    choice = awq_search(x, W1, axis=0, block_size=32, grid=5)
    np.testing.assert_allclose(choice.scale, 1.0, rtol=1e-6)
    assert choice.mse == pytest.approx(choice.mse_rtn)


def test_a_graph_without_matmul_weights_is_refused():
    with pytest.raises(PipelineError, match=r"conv \| has no MatMul or Gemm.*int4w"):
        int4_weight_only(tiny_conv_bytes_without_gemm(), block_size=32, source="conv")


def tiny_conv_bytes_without_gemm() -> bytes:
    model = onnx.load_from_string(tiny_conv_bytes())
    nodes = [n for n in model.graph.node if n.op_type in ("Conv", "Relu")]
    graph = helper.make_graph(
        nodes,
        "conv",
        list(model.graph.input),
        [helper.make_tensor_value_info("relu", TensorProto.FLOAT, None)],
        initializer=[i for i in model.graph.initializer if i.name.startswith("conv")],
    )
    return helper.make_model(graph, opset_imports=list(model.opset_import)).SerializeToString()


def test_block_size_is_checked():
    with pytest.raises(PipelineError, match="block_size=48"):
        int4_weight_only(_mlp(), block_size=48, source="mlp")


def test_int4_engine_keeps_int4_weights(tmp_path):
    graph = int4_weight_only(_mlp(), block_size=32, source="mlp")
    path = tmp_path / "int4w.onnx"
    path.write_bytes(graph)
    built = engine_bytes_from_onnx(path, tiny_build())
    assert len(built.plan) > 1000
    report = layer_report(parse_layer_log(built.layer_log), onnx_bytes=graph, intended="int4w")
    assert [item["op"] for item in report["compute"]] == ["MatMul", "Gemm"]
    assert report["compute_count"] == report["in_intended"] == 2


def test_int4_weights_dequantized_by_a_layer_of_their_own_count_as_int4w(tmp_path):
    """A small weight (K=16, N=8): TensorRT-RTX dequantizes the INT4 constants in a kernel of
    their own and runs the MatMul on its float output; the node is still weight-only INT4."""
    weight = np.random.default_rng(2).normal(size=(16, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])],
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    int4 = int4_weight_only(model.SerializeToString(), block_size=32, source="small")
    path = tmp_path / "small.onnx"
    path.write_bytes(int4)
    built = engine_bytes_from_onnx(path, tiny_build())
    report = layer_report(parse_layer_log(built.layer_log), onnx_bytes=int4, intended="int4w")
    int4_layers = [r for r in report["layers"] if r["precision"] == "int4w"]
    assert int4_layers and all("Int4" in str(r["constants"]) for r in int4_layers)
    assert report["compute_count"] == report["in_intended"] == 1
    assert report["compute"][0]["weights_from"] == int4_layers[0]["name"]
