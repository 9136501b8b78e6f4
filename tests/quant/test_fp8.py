"""FP8 (E4M3) Q/DQ graphs: FP8 rounding against ml_dtypes, ONNX Runtime against a numpy
reference, the INT8 graph's placement, engines built by TensorRT-RTX for FP8 GPUs only."""

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from tests.conftest import schema_default, tiny_build, tiny_classifier_bytes, tiny_conv_bytes
from workflow.errors import PipelineError
from workflow.ort.loader import session_from_onnx
from workflow.quant.calibrate import calibrate
from workflow.quant.fp8 import fp8_from_ranges, quantize_weight_fp8
from workflow.quant.qdq import qdq_from_ranges
from workflow.trt.layers import layer_report, parse_layer_log
from workflow.trt.loader import engine_bytes_from_onnx

FEED = np.random.default_rng(1).normal(size=(16, 1, 4, 4)).astype(np.float32)


def _ranges(model: bytes) -> dict[str, float]:
    return calibrate(
        model, lambda: iter([FEED]), algorithm="minmax", bins=2048, percentile=99.0, threads=1
    )


def _e4m3(values: np.ndarray) -> np.ndarray:
    """FP8 E4M3 (finite-only, saturating at 448) rounding by ml_dtypes, back in float32."""
    return np.clip(values, -448, 448).astype(ml_dtypes.float8_e4m3fn).astype(np.float32)


def test_e4m3_reference_rounds_to_the_published_grid():
    """E4M3: 3 mantissa bits, so 1.0625 lies halfway between 1 and 1.125 (ties to even: 1), the
    largest finite value is 448, the smallest subnormal 2^-9."""
    got = _e4m3(np.array([1.0625, 1.07, 500.0, 2.0**-9, 2.0**-11], np.float32))
    np.testing.assert_array_equal(got, [1.0, 1.125, 448.0, 2.0**-9, 0.0])


def test_weights_per_output_channel():
    weight = np.random.default_rng(0).normal(size=(3, 2, 3, 3)).astype(np.float32)
    q, scale = quantize_weight_fp8(weight, 0)
    assert q.dtype == ml_dtypes.float8_e4m3fn
    amax = np.abs(weight).reshape(3, -1).max(axis=1)
    np.testing.assert_allclose(scale, amax / 448, rtol=1e-6)
    # each channel's largest weight maps to 448 exactly
    assert np.abs(q.astype(np.float32)).reshape(3, -1).max(axis=1).tolist() == [448.0] * 3
    expected = _e4m3(weight / scale[:, None, None, None])
    np.testing.assert_array_equal(q.astype(np.float32), expected)


def test_fp8_graph_matches_a_numpy_reference():
    """Flatten -> Gemm -> Softmax: ONNX Runtime's FP8 Q/DQ graph against the same rounding
    written in numpy (activation per tensor, weight per output column)."""
    fp32 = tiny_classifier_bytes()
    amax = _ranges(fp32)
    fp8 = fp8_from_ranges(fp32, amax, source="test")
    model = onnx.load_from_string(fp8)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 19
    types = {i.name: i.data_type for i in model.graph.initializer}
    assert types["w_fp8"] == TensorProto.FLOAT8E4M3FN
    assert types["flat_fp8_zp"] == TensorProto.FLOAT8E4M3FN
    got = session_from_onnx(fp8).run(None, {"input": FEED})[0]

    inits = {
        i.name: numpy_helper.to_array(i) for i in onnx.load_from_string(fp32).graph.initializer
    }
    w, b = inits["w"], inits["b"]
    x = FEED.reshape(len(FEED), -1)
    sx = np.float32(amax["flat"] / 448)
    sw = np.abs(w).max(axis=0) / 448  # Gemm B (K, N): one scale per output column
    logits = (_e4m3(x / sx) * sx) @ (_e4m3(w / sw) * sw) + b
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    fp32_out = session_from_onnx(fp32).run(None, {"input": FEED})[0]
    assert not np.array_equal(got, fp32_out)  # the rounding is really there


def test_fp8_quantizes_the_nodes_int8_quantizes():
    fp32 = tiny_conv_bytes()
    amax = _ranges(fp32)

    def quantized(graph: bytes) -> list[list[str]]:
        nodes = onnx.load_from_string(graph).graph.node
        return [list(n.input[:2]) for n in nodes if n.op_type in ("Conv", "Gemm")]

    int8 = quantized(qdq_from_ranges(fp32, amax, source="test"))
    fp8 = quantized(fp8_from_ranges(fp32, amax, source="test"))
    assert [[name.replace("_int8", "") for name in pair] for pair in int8] == [
        [name.replace("_fp8", "") for name in pair] for pair in fp8
    ]
    assert all(name.endswith("_fp8_dq") for pair in fp8 for name in pair)


def test_fp8_engine_runs_its_layers_in_fp8_for_fp8_gpus_only(tmp_path):
    fp32 = tiny_conv_bytes()
    fp8 = fp8_from_ranges(fp32, _ranges(fp32), source="test")
    path = tmp_path / "fp8.onnx"
    path.write_bytes(fp8)
    built = engine_bytes_from_onnx(path, tiny_build())
    assert len(built.plan) > 1000
    target = built.meta["target"]
    assert target["fp8_min_compute_capability"] == "8.9"
    assert target["compute_capabilities"]
    assert all(float(cc) >= 8.9 for cc in target["compute_capabilities"])
    report = layer_report(parse_layer_log(built.layer_log), onnx_bytes=fp8, intended="fp8")
    assert [item["op"] for item in report["compute"]] == ["Conv", "Gemm"]
    assert report["compute_count"] == report["in_intended"] == 2
    assert report["compute_layers"] == {"fp8": 2}


def test_fp8_engine_for_a_gpu_without_fp8_is_refused(tmp_path):
    fp32 = tiny_conv_bytes()
    path = tmp_path / "fp8.onnx"
    path.write_bytes(fp8_from_ranges(fp32, _ranges(fp32), source="test"))
    with pytest.raises(PipelineError, match=r"8\.6.*FP8 runs on 8\.9 and later"):
        engine_bytes_from_onnx(path, tiny_build(compute_capabilities=("8.6", "8.9")))


@pytest.mark.slow
def test_fp8_and_int4w_are_opt_in_targets(tmp_path):
    """The default run builds neither; their engines are targets of their own, and the FP8
    graph of a sample calibrated with entropy gets a min-max table of its own."""
    from tests.conftest import copy_workflow, planned_jobs, snakemake

    work = copy_workflow(tmp_path / "wf")
    assert not {"fp8", "int4w"} & set(schema_default("precisions"))
    out = snakemake(work, "-n", "engines/mnist_fp8.plan", "engines/movielens_int4w.plan")
    jobs = planned_jobs(out.stdout)
    assert jobs["calibrate_table_fp8"] == jobs["precision_fp8"] == jobs["precision_int4w"] == 1
    assert jobs["engine_build"] == 2
