"""FP16 and INT8 graphs: valid ONNX, run in ONNX Runtime, built by TensorRT-RTX."""

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from tests.conftest import schema_default, tiny_build, tiny_classifier_bytes, tiny_conv_bytes
from workflow.errors import PipelineError
from workflow.ort.loader import session_from_onnx
from workflow.quant.calibrate import calibrate
from workflow.quant.fp16 import fp16_from_fp32
from workflow.quant.qdq import qdq_from_ranges, quantize_weight
from workflow.trt.layers import layer_report, parse_layer_log
from workflow.trt.loader import engine_bytes_from_onnx

FEED = np.random.default_rng(1).normal(size=(16, 1, 4, 4)).astype(np.float32)
KEEP = schema_default("fp16", "keep_fp32")


def _run(model: bytes) -> np.ndarray:
    return session_from_onnx(model).run(None, {"input": FEED})[0]


def _ranges(model: bytes) -> dict[str, float]:
    return calibrate(
        model, lambda: iter([FEED]), algorithm="minmax", bins=2048, percentile=99.0, threads=1
    )


def _build(model: bytes, tmp_path, precision: str) -> dict:
    """Build ``model``; return its engine layer report (the plan checked non-trivial)."""
    path = tmp_path / "graph.onnx"
    path.write_bytes(model)
    built = engine_bytes_from_onnx(path, tiny_build())
    assert len(built.plan) > 1000
    return layer_report(parse_layer_log(built.layer_log), onnx_bytes=model, intended=precision)


@pytest.mark.parametrize("make", [tiny_classifier_bytes, tiny_conv_bytes])
def test_fp16_graph(make, tmp_path):
    fp32 = make()
    fp16 = fp16_from_fp32(fp32, keep_fp32=KEEP)
    graph = onnx.load_from_string(fp16).graph
    assert graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    weights = {i.name: i.data_type for i in graph.initializer}
    assert set(weights.values()) == {TensorProto.FLOAT16}
    softmax = next(n for n in graph.node if n.op_type == "Softmax")
    assert softmax.input[0].endswith("_fp32")  # the kept op gets FP32 input
    out = _run(fp16)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _run(fp32), atol=2e-3)
    report = _build(fp16, tmp_path, "fp16")
    ops = [item["op"] for item in report["compute"]]
    assert ops == (["Gemm"] if make is tiny_classifier_bytes else ["Conv", "Gemm"])
    assert report["in_intended"] == report["compute_count"]  # every Conv and Gemm in Half


def test_fp16_without_kept_ops_casts_the_output_back():
    graph = onnx.load_from_string(fp16_from_fp32(tiny_classifier_bytes(), keep_fp32=[])).graph
    last = graph.node[-1]
    assert last.op_type == "Cast" and last.output[0] == "prob"
    assert graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT


def test_fp16_output_that_later_nodes_read_is_cast_once_and_read_in_fp16():
    """Faster R-CNN's rpn returns its features and reads them on: one FP16 tensor serves the
    later nodes, one Cast makes the FP32 output."""
    from onnx import helper

    nodes = [
        helper.make_node("Relu", ["x"], ["features"]),
        helper.make_node("Mul", ["features", "two"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "shared",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
        ],
        [numpy_helper.from_array(np.array([2.0], np.float32), "two")],
    )
    fp32 = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    fp16 = fp16_from_fp32(fp32.SerializeToString(), keep_fp32=[])
    converted = onnx.load_from_string(fp16).graph
    mul = next(n for n in converted.node if n.op_type == "Mul")
    assert mul.input[0] == "features_fp16"
    assert sum(n.op_type == "Cast" and n.output[0] == "features" for n in converted.node) == 1
    x = np.array([[-1.0, 0.5, 3.0]], np.float32)
    features, y = session_from_onnx(fp16).run(None, {"x": x})
    np.testing.assert_allclose(features, [[0, 0.5, 3]])
    np.testing.assert_allclose(y, [[0, 1, 6]])


def test_int8_graph_placement(tmp_path):
    fp32 = tiny_conv_bytes()
    int8 = qdq_from_ranges(fp32, _ranges(fp32), source="test")
    graph = onnx.load_from_string(int8).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    assert inits["conv.w_int8"].dtype == np.int8 and inits["conv.w_int8_scale"].shape == (2,)
    assert inits["fc.w_int8"].dtype == np.int8 and inits["fc.w_int8_scale"].shape == (3,)
    assert inits["conv.b"].dtype == np.float32 and inits["fc.b"].dtype == np.float32
    assert "conv.w" not in inits  # the float weights are gone
    zero_points = [v for k, v in inits.items() if k.endswith("_zp")]
    assert zero_points and all(not zp.any() and zp.dtype == np.int8 for zp in zero_points)
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") == 2  # the activations into Conv and Gemm
    conv = next(n for n in graph.node if n.op_type == "Conv")
    assert conv.input[0] == "input_int8_dq" and conv.input[2] == "conv.b"
    np.testing.assert_allclose(_run(int8), _run(fp32), atol=0.05)
    report = _build(int8, tmp_path, "int8")
    assert [(c["op"], c["precision"]) for c in report["compute"]] == [
        ("Conv", "int8"),
        ("Gemm", "int8"),
    ]
    fp32_report = _build(fp32, tmp_path, "fp32")
    assert {c["precision"] for c in fp32_report["compute"]} == {"fp32"}


def test_gemm_weight_axis_follows_trans_b():
    graph = onnx.load_from_string(
        qdq_from_ranges(tiny_classifier_bytes(), _ranges(tiny_classifier_bytes()), source="t")
    ).graph
    dq = next(n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "w_int8")
    assert [a.i for a in dq.attribute if a.name == "axis"] == [1]  # w is (16, 3), transB=0


def test_per_channel_quantization():
    weight = np.array([[1.0, -0.5], [0.0, 0.0], [254.0, 127.0]], np.float32)
    q, scale = quantize_weight(weight, axis=0)
    np.testing.assert_allclose(scale, [1 / 127, 1 / 127, 2.0])
    assert q.tolist() == [[127, -64], [0, 0], [127, 64]]


def test_ranges_naming_unknown_tensors_or_missing_a_tensor():
    fp32 = tiny_conv_bytes()
    ranges = _ranges(fp32)
    with pytest.raises(
        PipelineError, match=re.escape("ranges.txt | names tensors the graph lacks: conv9")
    ):
        qdq_from_ranges(fp32, ranges | {"conv9": 1.0}, source="ranges.txt")
    with pytest.raises(PipelineError, match="no range for tensor 'flat'"):
        qdq_from_ranges(fp32, {k: v for k, v in ranges.items() if k != "flat"}, source="r")
