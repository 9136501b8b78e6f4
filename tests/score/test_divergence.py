"""The tensor-by-tensor divergence of FP16 / INT8 graphs from FP32: the matching rule, the
numbers (against numpy's INT8 arithmetic and the SNR / cosine formulas), the first divergent
tensor, the chart, and PaddleOCR's PP-OCRv4 recogniser in INT8."""

import math

import numpy as np
import pytest

from workflow.errors import PipelineError
from workflow.quant.fp16 import fp16_from_fp32
from workflow.quant.qdq import qdq_from_ranges
from workflow.report.agreement import json_ready
from workflow.report.divergence import plot_divergence
from workflow.score.divergence import divergence_of_graphs, first_below, match_tensors

CONVS = ("conv1", "conv2", "conv3")


def lossy_graph(seed: int = 0) -> tuple[bytes, list[np.ndarray]]:
    """x -> conv1 -> relu -> conv2 -> relu -> conv3 (1x1 convolutions, no bias). conv1's
    output channel 3 is 1000x the others, and conv2 ignores that channel: a per-tensor INT8
    scale of conv2's input, set by channel 3, rounds the channels conv2 reads to zero."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = rng.normal(size=(4, 4, 1, 1)).astype(np.float32)
    w1[3] *= 1000.0
    w2 = rng.normal(size=(4, 4, 1, 1)).astype(np.float32)
    w2[:, 3] = 0.0
    w3 = rng.normal(size=(3, 4, 1, 1)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["y1"], name="conv1"),
        helper.make_node("Relu", ["y1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["y2"], name="conv2"),
        helper.make_node("Relu", ["y2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3"], ["out"], name="conv3"),
    ]
    graph = helper.make_graph(
        nodes,
        "lossy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, 6, 6])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 3, 6, 6])],
        [numpy_helper.from_array(w, f"w{i}") for i, w in enumerate([w1, w2, w3], 1)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString(), [w1, w2, w3]


def feeds(count: int = 3, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(2, 4, 6, 6)).astype(np.float32) for _ in range(count)]


def conv1x1(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.einsum("nchw,oc->nohw", a, w[:, :, 0, 0]).astype(np.float32)


def fake_quant(a: np.ndarray, scale) -> np.ndarray:
    """Symmetric INT8 quantize-dequantize: round half to even, clip to +-127."""
    return (np.clip(np.rint(a / scale), -127, 127) * scale).astype(np.float32)


def numpy_forward(x, weights, amax=None, quantized=CONVS) -> dict[str, np.ndarray]:
    """The lossy graph's tensors in float32; with ``amax``, the convolutions in ``quantized``
    read INT8 inputs (per-tensor activation scale amax / 127, per-output-channel weights);
    ``<conv>_input_q`` is the quantized input a convolution reads."""
    values = {"x": x}
    a, a_name = x, "x"
    for name, w, out, act in zip(
        CONVS, weights, ["y1", "y2", "out"], ["r1", "r2", None], strict=True
    ):
        if amax is not None and name in quantized:
            scale_w = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / np.float32(127)
            w = fake_quant(w, scale_w.astype(np.float32).reshape(-1, 1, 1, 1))
            a = fake_quant(a, np.float32(amax[a_name] / 127))
            values[f"{name}_input_q"] = a
        values[out] = y = conv1x1(a, w)
        if act:
            values[act] = a = np.maximum(y, 0)
            a_name = act
    return values


def numpy_amax(batches, weights) -> dict[str, float]:
    """max |t| over the batches of every tensor a convolution reads."""
    amax: dict[str, float] = {}
    for x in batches:
        values = numpy_forward(x, weights)
        for name in ("x", "r1", "r2"):
            amax[name] = max(amax.get(name, 0.0), float(np.abs(values[name]).max()))
    return amax


def snr_cosine(refs: list[np.ndarray], others: list[np.ndarray]) -> tuple[float, float]:
    ref = np.concatenate([r.ravel() for r in refs]).astype(np.float64)
    other = np.concatenate([o.ravel() for o in others]).astype(np.float64)
    snr = 10 * math.log10(np.sum(ref**2) / np.sum((ref - other) ** 2))
    cosine = float(ref @ other / (np.linalg.norm(ref) * np.linalg.norm(other)))
    return snr, cosine


@pytest.fixture(scope="module")
def lossy():
    fp32, weights = lossy_graph()
    batches = feeds()
    amax = numpy_amax(batches, weights)
    int8 = qdq_from_ranges(fp32, amax, source="test ranges")
    return fp32, weights, batches, amax, int8


def _triples(rows):
    return [(r["tensor"], r["compared"], r["as"]) for r in rows]


def test_int8_tensors_match_themselves_and_their_quantized_copies(lossy):
    fp32, _, _, _, int8 = lossy
    rows, missing = match_tensors(fp32, int8)
    assert missing == []
    assert _triples(rows) == [
        ("x", "x", "computed"),
        ("x", "x_int8_dq", "quantized"),
        ("y1", "y1", "computed"),
        ("r1", "r1", "computed"),
        ("r1", "r1_int8_dq", "quantized"),
        ("y2", "y2", "computed"),
        ("r2", "r2", "computed"),
        ("r2", "r2_int8_dq", "quantized"),
        ("out", "out", "computed"),
    ]
    assert [r["op"] for r in rows[:3]] == ["input", "input", "Conv"]
    assert rows[2]["node"] == "conv1"


def test_fp16_tensors_match_themselves_and_their_casts(lossy):
    fp32 = lossy[0]
    fp16 = fp16_from_fp32(fp32, keep_fp32=["Relu"])
    rows, missing = match_tensors(fp32, fp16)
    assert missing == []
    # Relu stays FP32: its input is cast up, its output cast down; the graph output is
    # computed as out_fp16 and cast back to out, which is what is compared
    assert _triples(rows) == [
        ("x", "x", "computed"),
        ("x", "x_fp16", "cast"),
        ("y1", "y1", "computed"),
        ("y1", "y1_fp32", "cast"),
        ("r1", "r1", "computed"),
        ("r1", "r1_fp16", "cast"),
        ("y2", "y2", "computed"),
        ("y2", "y2_fp32", "cast"),
        ("r2", "r2", "computed"),
        ("r2", "r2_fp16", "cast"),
        ("out", "out", "computed"),
    ]


def test_a_tensor_the_other_graph_lacks_is_listed_missing(lossy):
    import onnx

    fp32 = lossy[0]
    model = onnx.load_from_string(fp32)
    # relu2 fused away: conv3 reads y2 directly, r2 no longer exists
    del model.graph.node[3]
    model.graph.node[3].input[0] = "y2"
    rows, missing = match_tensors(fp32, model.SerializeToString())
    assert missing == ["r2"]
    assert "r2" not in {r["tensor"] for r in rows}
    assert [r["tensor"] for r in rows] == ["x", "y1", "r1", "y2", "out"]


def test_numbers_are_numpys_int8_arithmetic_and_the_lossy_conv_is_first(lossy):
    fp32, weights, batches, amax, int8 = lossy
    report = divergence_of_graphs(
        fp32, int8, iter(batches), precision="int8", max_batches=10, threshold_db=20.0
    )
    assert report["batches"] == 3 and report["samples"] == 6
    assert report["outputs"] == ["out"] and report["seconds"] > 0
    rows = {(r["tensor"], r["as"]): r for r in report["tensors"]}
    refs = [numpy_forward(x, weights) for x in batches]
    quant = [numpy_forward(x, weights, amax) for x in batches]
    for key, ours in [
        (("y1", "computed"), "y1"),
        (("r1", "computed"), "r1"),
        (("r1", "quantized"), "conv2_input_q"),
        (("x", "quantized"), "conv1_input_q"),
    ]:
        tensor = key[0]
        snr, cosine = snr_cosine([r[tensor] for r in refs], [q[ours] for q in quant])
        assert rows[key]["snr_db"] == pytest.approx(snr, rel=1e-3), key
        assert rows[key]["cosine"] == pytest.approx(cosine, abs=1e-6), key
        top = max(
            float(np.abs(r[tensor] - q[ours]).max()) for r, q in zip(refs, quant, strict=True)
        )
        assert rows[key]["max_abs"] == pytest.approx(top, rel=1e-3, abs=1e-3), key
    assert rows[("x", "computed")]["snr_db"] == math.inf
    # conv1 is accurate; the quantized input of conv2 too (its power is in channel 3), but
    # conv2 reads the other channels, which rounded to zero
    assert rows[("y1", "computed")]["snr_db"] > 35 and rows[("r1", "quantized")]["snr_db"] > 35
    first = report["first_divergent"]
    assert (first["tensor"], first["as"], first["op"], first["node"]) == (
        "y2",
        "computed",
        "Conv",
        "conv2",
    )
    assert first["snr_db"] < 1
    assert first == first_below(report["tensors"], 20.0)
    assert first_below(report["tensors"], -1.0) is None


def test_fp16_stays_above_the_threshold_and_the_chart_draws(lossy):
    fp32 = lossy[0]
    fp16 = fp16_from_fp32(fp32, keep_fp32=[])
    report = divergence_of_graphs(
        fp32, fp16, feeds(1), precision="fp16", max_batches=1, threshold_db=20.0
    )
    assert report["first_divergent"] is None
    assert min(r["snr_db"] for r in report["tensors"]) > 50
    int8 = divergence_of_graphs(
        fp32, lossy[4], feeds(1), precision="int8", max_batches=1, threshold_db=20.0
    )
    png = plot_divergence([json_ready(report), json_ready(int8)], title="lossy")
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_an_array_batch_for_a_graph_of_two_inputs_is_refused():
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"])],
        "two",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data = model.SerializeToString()
    assert onnx.load_from_string(data).graph.name == "two"
    with pytest.raises(PipelineError, match="feed files"):
        divergence_of_graphs(
            data, data, [np.zeros(2, np.float32)], precision="fp16", max_batches=1, threshold_db=20
        )
    with pytest.raises(PipelineError, match="no batches"):
        divergence_of_graphs(data, data, [], precision="fp16", max_batches=1, threshold_db=20)


@pytest.fixture(scope="module")
def ocr_rec(tmp_path_factory):
    """PP-OCRv4's recogniser, prepared, and its INT8 graph from min-max ranges of a few rendered
    lines; the batches."""
    from workflow.data import ocr
    from workflow.quant.calibrate import activation_stream, collect_amax
    from workflow.quant.qdq import quantized_activations
    from workflow.score.ocr import REC_HEIGHT, rec_input

    folder = tmp_path_factory.mktemp("ocr")
    setup = ocr.OcrSetup(
        lines=8,
        pages=0,
        seed=0,
        page_size=(320, 256),
        max_lines=1,
        max_chars=16,
        line_font=(20, 36),
        page_font=(16, 28),
    )
    ocr.write_ocr_split(folder, setup, "calib")
    images = [image for image, _ in ocr.read_lines(folder)]
    batches = [rec_input(images[i : i + 4], height=REC_HEIGHT, width=320) for i in (0, 4)]
    fp32, _ = ocr.ocr_graph("rec", opset=17)
    stream, _ = activation_stream(fp32, lambda: batches, 2, quantized_activations(fp32))
    int8 = qdq_from_ranges(fp32, collect_amax(stream()), source="min-max of 8 lines")
    return fp32, int8, batches


@pytest.mark.slow  # 465 tensors compared: 49 s on two loaded cores
def test_ppocr_recogniser_int8_names_a_first_divergent_tensor(ocr_rec):
    fp32, int8, batches = ocr_rec
    report = divergence_of_graphs(
        fp32, int8, [batches[0][:2]], precision="int8", max_batches=1, threshold_db=20.0, threads=2
    )
    first = report["first_divergent"]
    assert first is not None and first["snr_db"] < 20
    rows = report["tensors"]
    assert report["missing"] == [] and len(rows) > 300
    # everything before it is above the threshold; the recogniser's output ends far below
    assert all(r["snr_db"] >= 20 for r in rows[: first["index"]])
    assert rows[-1]["snr_db"] < 20
