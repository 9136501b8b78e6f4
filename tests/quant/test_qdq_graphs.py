"""INT8 Q/DQ graphs of the shapes real models take: weights only an If branch reads, ConvTranspose,
MatMul of two activations, Gemm with transA, weights in Constant nodes, networks inside
subgraphs. Each graph runs in ONNX Runtime against its FP32 graph and numpy; the ConvTranspose
and If graphs are built by TensorRT-RTX and their layer reports read."""

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import schema_default, tiny_build
from workflow.errors import PipelineError
from workflow.formats.onnx_file import prepare_model
from workflow.ort.loader import session_from_onnx
from workflow.quant.calibrate import calibrate, tensors_to_calibrate
from workflow.quant.fp16 import fp16_from_fp32
from workflow.quant.qdq import qdq_from_ranges, quantized_activations
from workflow.trt.layers import layer_report, parse_layer_log
from workflow.trt.loader import engine_bytes_from_onnx

#: Activations are integers times STEP with a range of 127 * STEP, so that their own Q/DQ is
#: exact and a graph's error is its weights' alone.
STEP = 0.01
FEATURES = 8
THEN_MATMULS = ["branch/then_branch/then_mm", "branch/then_branch/then_mm2"]


def _activation(shape, seed=1) -> np.ndarray:
    values = np.random.default_rng(seed).integers(-127, 128, size=shape)
    values.flat[0] = 127  # the range is reached: min-max calibration gives 127 * STEP
    return (values * STEP).astype(np.float32)


def _model(nodes, inputs, outputs, inits, opset=17) -> bytes:
    graph = helper.make_graph(nodes, "net", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _float(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _session(model: bytes):
    # the graph as written: ONNX Runtime's optimized run fuses X @ DQ(W) into integer kernels
    # whose x86 version can saturate (tests/quant/test_qdq.py), an error not of the graph
    return session_from_onnx(model, optimization="ORT_DISABLE_ALL")


def _if_graph(*, outside: bool = True, hidden: int = FEATURES) -> bytes:
    """``h = x @ w_top`` (unless ``outside`` is false) beside ``y = If(sum(x) > 0)``: the then
    branch is MatMul -> Relu -> MatMul (through ``hidden`` features) on weights that only it
    reads (top-level initializers), the else branch ``-x``."""
    rng = np.random.default_rng(0)
    shapes = {
        "w_top": (FEATURES, FEATURES),
        "w_then": (FEATURES, hidden),
        "w_then2": (hidden, FEATURES),
    }
    weights = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    then = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w_then"], ["t1"], name="then_mm"),
            helper.make_node("Relu", ["t1"], ["t2"], name="then_relu"),
            helper.make_node("MatMul", ["t2", "w_then2"], ["t"], name="then_mm2"),
        ],
        "then",
        [],
        [_float("t", ["N", FEATURES])],
    )
    otherwise = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"], name="else_neg")],
        "else",
        [],
        [_float("e", ["N", FEATURES])],
    )
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["c"], name="cond"),
        helper.make_node(
            "If", ["c"], ["y"], name="branch", then_branch=then, else_branch=otherwise
        ),
    ]
    outputs = [_float("y", ["N", FEATURES])]
    if outside:
        nodes.insert(0, helper.make_node("MatMul", ["x", "w_top"], ["h"], name="top_mm"))
        outputs.append(_float("h", ["N", FEATURES]))
    else:
        del weights["w_top"]
    inits = [numpy_helper.from_array(w, name) for name, w in weights.items()]
    inits.append(numpy_helper.from_array(np.array(0.0, np.float32), "zero"))
    return _model(nodes, [_float("x", ["N", FEATURES])], outputs, inits)


def _minmax(model: bytes, batch, tensors=None) -> dict[str, float]:
    return calibrate(
        model,
        lambda: iter([batch]),
        algorithm="minmax",
        bins=2048,
        percentile=99.0,
        threads=1,
        tensors=tensors,
    )


def _build(model: bytes, tmp_path, precision: str) -> dict:
    """Build ``model`` with TensorRT-RTX (ahead of time, on CPU); its engine layer report."""
    path = tmp_path / f"{precision}.onnx"
    path.write_bytes(model)
    built = engine_bytes_from_onnx(path, tiny_build())
    assert len(built.plan) > 1000
    return layer_report(parse_layer_log(built.layer_log), onnx_bytes=model, intended=precision)


def _compute(report) -> list[tuple]:
    return [(c["node"], c["op"], c["intended"], c["precision"]) for c in report["compute"]]


# --- subgraphs -----------------------------------------------------------------------------


def test_weights_only_an_if_branch_reads_are_kept_and_the_branch_stays_fp32():
    fp32 = _if_graph()
    x = _activation((4, FEATURES))
    assert quantized_activations(fp32) == ["x"]  # the top-level MatMul's input only
    reasons: dict[str, str] = {}
    int8 = qdq_from_ranges(fp32, _minmax(fp32, x), source="test", reasons=reasons)
    model = onnx.load_from_string(int8)
    onnx.checker.check_model(model, full_check=True)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert inits["w_then"].dtype == np.float32 and inits["w_then2"].dtype == np.float32
    assert inits["w_top_int8"].dtype == np.int8 and "w_top" not in inits
    assert sorted(reasons) == THEN_MATMULS
    assert all("inside If 'branch' (then_branch)" in why for why in reasons.values())
    branch = next(n for n in model.graph.node if n.op_type == "If")
    inner = [n.op_type for a in branch.attribute for n in a.g.node]
    assert "QuantizeLinear" not in inner and "DequantizeLinear" not in inner
    # both branches: the subgraph's output is the FP32 graph's, bit for bit
    for feed in (x, -np.abs(x), np.abs(x)):
        want_y, want_h = _session(fp32).run(["y", "h"], {"x": feed})
        got_y, got_h = _session(int8).run(["y", "h"], {"x": feed})
        np.testing.assert_array_equal(got_y, want_y)
        # the top-level MatMul: each weight off by at most its column's scale / 2
        w = next(
            numpy_helper.to_array(i)
            for i in onnx.load_from_string(fp32).graph.initializer
            if i.name == "w_top"
        )
        bound = np.abs(feed) @ np.broadcast_to(np.abs(w).max(axis=0) / 127 / 2, w.shape)
        assert (np.abs(got_h - feed.astype(np.float64) @ w) <= bound * 1.001 + 1e-6).all()


def test_a_network_inside_an_if_is_refused_for_int8_and_calibration_says_why():
    fp32 = _if_graph(outside=False)
    x = _activation((4, FEATURES))
    assert tensors_to_calibrate(fp32, "quantized") == []
    with pytest.raises(
        PipelineError, match=re.escape("calibration of graph 'net' | nothing to measure")
    ):
        calibrate(
            fp32,
            lambda: iter([x]),
            algorithm="minmax",
            bins=2048,
            percentile=99.0,
            threads=1,
            tensors=[],
        )
    with pytest.raises(PipelineError, match=r"to quantize \(2 inside subgraphs, which stay FP32"):
        qdq_from_ranges(fp32, {}, source="ranges.txt")


# --- ConvTranspose -------------------------------------------------------------------------

C_IN, C_OUT, KERNEL, STRIDE = 4, 3, 3, 2
#: The output channels' magnitudes: four orders apart.
MAGNITUDES = np.array([1e-3, 1.0, 10.0], np.float32)


def _deconv_weight() -> np.ndarray:
    base = np.random.default_rng(2).uniform(-1, 1, size=(C_IN, C_OUT, KERNEL, KERNEL))
    return (base * MAGNITUDES[None, :, None, None]).astype(np.float32)


def _deconv_graph(weight: np.ndarray, bias: np.ndarray) -> bytes:
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="deconv", strides=[2, 2])
    ]
    size = (5 - 1) * STRIDE + KERNEL
    return _model(
        nodes,
        [_float("x", ["N", C_IN, 5, 5])],
        [_float("y", ["N", C_OUT, size, size])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )


def _conv_transpose(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ONNX ConvTranspose (no padding, stride STRIDE) from its definition, in float64: every
    input pixel scatters its kernel-sized product into the output."""
    n, _, height, width = x.shape
    size = (height - 1) * STRIDE + w.shape[2]
    out = np.zeros((n, w.shape[1], size, size))
    for i in range(height):
        for j in range(width):
            # (n, c) x (c, o, kh, kw) -> (n, o, kh, kw)
            patch = np.einsum("nc,cokl->nokl", x[:, :, i, j].astype(np.float64), w)
            out[
                :, :, i * STRIDE : i * STRIDE + w.shape[2], j * STRIDE : j * STRIDE + w.shape[3]
            ] += patch
    return out


def _bound(x: np.ndarray, weight: np.ndarray, axis: int) -> np.ndarray:
    """numpy's bound of |int8 - float| for symmetric scales along ``axis`` of the weight: each
    weight off by at most its scale / 2, summed with |x| over everything an output reads."""
    others = tuple(a for a in range(4) if a != axis)
    scale = np.abs(weight).max(axis=others, keepdims=True) / 127
    return _conv_transpose(np.abs(x), np.broadcast_to(scale / 2, weight.shape))


def _deconv_int8() -> tuple[bytes, bytes, np.ndarray]:
    weight = _deconv_weight()
    bias = np.array([0.5, -1.0, 2.0], np.float32)
    fp32 = _deconv_graph(weight, bias)
    return fp32, qdq_from_ranges(fp32, {"x": 127 * STEP}, source="test"), weight


def test_conv_transpose_weight_scales_run_along_axis_1():
    fp32, int8, weight = _deconv_int8()
    graph = onnx.load_from_string(int8).graph
    dq = next(n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "w_int8")
    assert [a.i for a in dq.attribute if a.name == "axis"] == [1]
    scales = {i.name: numpy_helper.to_array(i) for i in graph.initializer}["w_int8_scale"]
    np.testing.assert_allclose(scales, np.abs(weight).max(axis=(0, 2, 3)) / 127, rtol=1e-6)
    x = _activation((2, C_IN, 5, 5))
    got = _session(int8).run(None, {"x": x})[0]
    exact = _conv_transpose(x, weight.astype(np.float64)) + np.array([0.5, -1, 2])[:, None, None]
    np.testing.assert_allclose(_session(fp32).run(None, {"x": x})[0], exact, atol=1e-4)
    error = np.abs(got - exact)
    bound = _bound(x, weight, 1)
    assert (error <= bound * 1.001 + 1e-5).all()
    # scales along axis 0 (input channels) would follow the largest output channel: the small
    # channel's bound (and error) would be orders of magnitude larger
    loose = _bound(x, weight, 0)
    assert loose[:, 0].min() > 100 * bound[:, 0].max()
    assert error[:, 0].max() < loose[:, 0].min() / 100


# --- MatMul of activations, Gemm with transA, Constant weights --------------------------------


def test_matmul_of_two_activations_quantizes_both_per_tensor():
    """Calibration measures the two graph inputs (and runs nothing else); the graph equals
    numpy's product of the two Q/DQ'd operands."""
    a_shape, b_shape = (6, 16), (16, 5)
    fp32 = _model(
        [helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")],
        [_float("a", list(a_shape)), _float("b", list(b_shape))],
        [_float("y", [6, 5])],
        [],
    )
    rng = np.random.default_rng(3)
    a = rng.normal(size=a_shape).astype(np.float32)
    b = (rng.normal(size=b_shape) * 10).astype(np.float32)
    assert quantized_activations(fp32) == ["a", "b"]
    ranges = _minmax(fp32, {"a": a, "b": b}, tensors=quantized_activations(fp32))
    assert ranges == pytest.approx({"a": np.abs(a).max(), "b": np.abs(b).max()})
    int8 = qdq_from_ranges(fp32, ranges, source="test")
    graph = onnx.load_from_string(int8).graph
    assert [n.op_type for n in graph.node].count("QuantizeLinear") == 2
    assert not [i for i in graph.initializer if i.data_type == TensorProto.INT8 and i.dims]

    def fake_quantized(v: np.ndarray, amax: float) -> np.ndarray:
        scale = np.float32(amax / 127)  # ONNX QuantizeLinear: round half to even, saturate
        return np.clip(np.rint(v / scale), -128, 127) * scale

    want = fake_quantized(a, ranges["a"]).astype(np.float64) @ fake_quantized(b, ranges["b"])
    got = _session(int8).run(None, {"a": a, "b": b})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_gemm_with_trans_a_scales_a_constant_a_along_m():
    m, k, n = 6, 16, 5
    weight = (
        np.random.default_rng(4).uniform(-1, 1, size=(k, m)) * np.logspace(-3, 1, m)[None, :]
    ).astype(np.float32)  # A stored (K, M): transA=1; output row i reads column i
    fp32 = _model(
        [helper.make_node("Gemm", ["w", "x"], ["y"], name="gemm", transA=1)],
        [_float("x", [k, n])],
        [_float("y", [m, n])],
        [numpy_helper.from_array(weight, "w")],
    )
    int8 = qdq_from_ranges(fp32, {"x": 127 * STEP}, source="test")
    dq = next(n for n in onnx.load_from_string(int8).graph.node if n.op_type == "DequantizeLinear")
    assert [a.i for a in dq.attribute if a.name == "axis"] == [1]
    x = _activation((k, n))
    got = _session(int8).run(None, {"x": x})[0]
    scale = np.abs(weight).max(axis=0) / 127  # per output row
    bound = (scale[:, None] / 2) * np.abs(x).sum(axis=0)[None, :]
    assert (np.abs(got - weight.T.astype(np.float64) @ x) <= bound * 1.001 + 1e-6).all()


def test_a_constant_node_in_a_weight_slot_is_refused_until_prepared():
    weight = _deconv_weight()[:, :, :2, :2].transpose(1, 0, 2, 3).copy()  # (3, 4, 2, 2)
    nodes = [
        helper.make_node(
            "Constant", [], ["w"], name="paddle_w", value=numpy_helper.from_array(weight)
        ),
        helper.make_node("Conv", ["x", "w"], ["y"], name="conv"),
    ]
    fp32 = _model(nodes, [_float("x", [1, C_IN, 5, 5])], [_float("y", [1, 3, 4, 4])], [])
    for refuse in (
        lambda: qdq_from_ranges(fp32, {"x": 1.0, "w": 10.0}, source="ranges.txt"),
        lambda: quantized_activations(fp32),
    ):
        with pytest.raises(
            PipelineError, match="input 1 of Conv 'conv' is made by Constant node 'paddle_w'"
        ):
            refuse()
    prepared, report = prepare_model(onnx.load_from_string(fp32), opset=17)
    assert report["constants_folded"] == 1
    int8 = qdq_from_ranges(prepared.SerializeToString(), {"x": 127 * STEP}, source="test")
    graph = onnx.load_from_string(int8).graph
    scales = {i.name: numpy_helper.to_array(i) for i in graph.initializer}["w_int8_scale"]
    np.testing.assert_allclose(scales, np.abs(weight).max(axis=(1, 2, 3)) / 127, rtol=1e-6)


# --- TensorRT-RTX builds -------------------------------------------------------------------


def test_conv_transpose_layer_is_counted_in_each_precision(tmp_path):
    """TensorRT-RTX 1.7.1 (ahead of time) builds the Q/DQ ConvTranspose as a float
    deconvolution: its generated kernels dequantize the weights and fake-quantize the input
    (the same for per-tensor scales, 16 or 32 channels, groups, strides 1 and 2). The report
    counts the node for INT8, as the graph means it, and names the miss."""
    fp32, int8, _ = _deconv_int8()
    report = _build(int8, tmp_path, "int8")
    assert _compute(report) == [("deconv", "ConvTranspose", "int8", "fp32")]
    assert report["compute"][0]["layer"] == "deconv_myl0_3"  # not the kernels around it
    assert report["compute_count"] == 1 and report["in_intended"] == 0
    assert report["compute_layers"] == {"fp32": 1}  # the deconv layer, a multiplying one
    expected = [("deconv", "ConvTranspose", "fp32", "fp32")]
    assert _compute(_build(fp32, tmp_path, "fp32")) == expected
    fp16 = fp16_from_fp32(fp32, keep_fp32=[])
    report = _build(fp16, tmp_path, "fp16")
    assert _compute(report) == [("deconv", "ConvTranspose", "fp16", "fp16")]
    assert report["in_intended"] == report["compute_count"] == 1


def _then(name: str) -> str:
    """A then-branch node as TensorRT's layer metadata names it."""
    return f"{name} | then (then_branch) | branch (If)"


def test_if_graph_reports_its_subgraph_nodes_in_their_own_precision(tmp_path):
    """The branch's first MatMul gets its own gemm layer; TensorRT-RTX fuses the second
    (4 -> 8 features) into a generated kernel, reported as fused with the kernel's precision."""
    fp32 = _if_graph(hidden=4)
    reasons: dict[str, str] = {}
    fp16 = fp16_from_fp32(fp32, keep_fp32=schema_default("fp16", "keep_fp32"), reasons=reasons)
    assert reasons["branch"].startswith("If holds subgraphs")
    int8 = qdq_from_ranges(fp32, _minmax(fp32, _activation((4, FEATURES))), source="test")
    for precision, graph in (("fp16", fp16), ("int8", int8)):
        report = _build(graph, tmp_path, precision)
        assert sorted(_compute(report)) == [
            (_then("then_mm"), "MatMul", "fp32", "fp32"),
            (_then("then_mm2"), "MatMul", "fp32", "fp32"),
            ("top_mm", "MatMul", precision, precision),
        ]
        fused = {c["node"]: c for c in report["compute"] if c["fused"]}
        assert list(fused) == [_then("then_mm2")]
        assert fused[_then("then_mm2")]["layer"].startswith("__myl_")  # a generated kernel
        # the FP32 branch counts neither as a hit nor as a miss for the plan's precision
        assert report["compute_count"] == report["in_intended"] == 1
        assert report["other_intended"] == {"fp32": {"nodes": 2, "as_intended": 2}}


def test_a_network_inside_an_if_reports_nothing_for_fp16(tmp_path):
    fp32 = _if_graph(outside=False)
    fp16 = fp16_from_fp32(fp32, keep_fp32=schema_default("fp16", "keep_fp32"))
    report = _build(fp16, tmp_path, "fp16")
    assert [c["intended"] for c in report["compute"]] == ["fp32", "fp32"]
    assert report["compute_count"] == report["in_intended"] == 0
    assert report["other_intended"] == {"fp32": {"nodes": 2, "as_intended": 2}}
