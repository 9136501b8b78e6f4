"""Mixed INT8/FP32 precision: the layer that reads a 1000x outlier channel stays FP32 and the
others run in INT8; an unreachable target leaves every node FP32; a held-out split that the
search split's choice misses moves more nodes back. Numbers are numpy's INT8 arithmetic."""

import math

import numpy as np
import pytest

from tests.score.test_divergence import CONVS, feeds, lossy_graph, numpy_amax, numpy_forward
from workflow.errors import PipelineError
from workflow.quant.mixed import sensitive_first, smallest_prefix
from workflow.score.mixed import mixed_of_graph, split_batches
from workflow.score.sensitivity import sensitivity_of_graph


def _numpy_snr_cosine(batches, weights, amax, int8) -> tuple[float, float]:
    """Lowest-output SNR (dB) and cosine of the lossy graph with ``int8`` nodes in INT8."""
    ref = np.concatenate([numpy_forward(x, weights)["out"].ravel() for x in batches])
    other = np.concatenate(
        [numpy_forward(x, weights, amax, tuple(int8))["out"].ravel() for x in batches]
    )
    ref, other = ref.astype(np.float64), other.astype(np.float64)
    noise = np.sum((ref - other) ** 2)
    snr = math.inf if noise == 0 else 10 * math.log10(np.sum(ref**2) / noise)
    with np.errstate(invalid="ignore"):  # every channel conv2 reads rounded to zero: nan
        return snr, float(ref @ other / (np.linalg.norm(ref) * np.linalg.norm(other)))


def _int8_nodes(graph: bytes) -> set[str]:
    import onnx

    nodes = onnx.load_from_string(graph).graph.node
    return {n.name for n in nodes if n.op_type == "Conv" and n.input[0].endswith("_dq")}


def _case(calibration: slice):
    fp32, weights = lossy_graph()
    batches = feeds(4)
    amax = numpy_amax(batches[calibration], weights)
    sensitivity = sensitivity_of_graph(fp32, amax, batches[:2], source="ranges", max_batches=2)
    return fp32, weights, batches, amax, sensitivity


@pytest.mark.parametrize("ranking", ["only", "all_but"])
def test_the_outlier_layer_alone_stays_fp32_and_the_target_holds(ranking):
    fp32, weights, batches, amax, sensitivity = _case(slice(None))
    graph, layers = mixed_of_graph(
        fp32,
        amax,
        sensitivity,
        batches,
        source="ranges",
        target="snr_db",
        value=35.0,
        ranking=ranking,
    )
    precision = {n["node"]: n["precision"] for n in layers["nodes"]}
    assert precision == {"conv1": "int8", "conv2": "fp32", "conv3": "int8"}
    assert [n["node"] for n in layers["nodes"]] == list(CONVS)
    assert _int8_nodes(graph) == {"conv1", "conv3"}
    summary = layers["summary"]
    assert summary["int8_share"] == pytest.approx(2 / 3)
    assert summary["held_out_confirmed_search_choice"] is True
    # bisection over 3 ranked nodes: at most 1 + ceil(log2 3) search graphs
    assert summary["evaluations"]["search"] <= 3
    for split, part in (("search", batches[:2]), ("held_out", batches[2:])):
        snr, cosine = _numpy_snr_cosine(part, weights, amax, {"conv1", "conv3"})
        achieved = summary["achieved"][split]
        assert achieved["snr_db"] == pytest.approx(snr, abs=1e-3)
        assert achieved["cosine"] == pytest.approx(cosine, abs=1e-7)
        assert snr >= 35.0
    # every node INT8 misses the target (numpy): the search needed conv2 back
    assert _numpy_snr_cosine(batches[:2], weights, amax, CONVS)[0] < 35.0


def test_an_unreachable_target_leaves_every_node_fp32_and_says_so():
    fp32, weights, batches, amax, sensitivity = _case(slice(None))
    best = max(_numpy_snr_cosine(batches[:2], weights, amax, {n})[0] for n in CONVS)
    graph, layers = mixed_of_graph(
        fp32, amax, sensitivity, batches, source="ranges", target="snr_db", value=best + 5
    )
    assert graph == fp32
    assert {n["precision"] for n in layers["nodes"]} == {"fp32"}
    assert layers["summary"]["int8_share"] == 0.0
    assert "unreachable" in layers["summary"]["note"]


def test_a_held_out_miss_moves_more_nodes_back():
    # ranges from the search batches only: the held-out batches overflow conv1's input range
    fp32, weights, batches, amax, sensitivity = _case(slice(0, 2))
    target = 25.72
    assert _numpy_snr_cosine(batches[:2], weights, amax, {"conv1", "conv3"})[0] >= target
    assert _numpy_snr_cosine(batches[2:], weights, amax, {"conv1", "conv3"})[0] < target
    graph, layers = mixed_of_graph(
        fp32, amax, sensitivity, batches, source="ranges", target="snr_db", value=target
    )
    summary = layers["summary"]
    assert summary["search_choice_fp32_nodes"] == 1
    assert summary["held_out_confirmed_search_choice"] is False
    assert summary["fp32_nodes"] > 1
    int8 = _int8_nodes(graph)
    assert int8 == {n["node"] for n in layers["nodes"] if n["precision"] == "int8"}
    snr, _ = _numpy_snr_cosine(batches[2:], weights, amax, int8)
    assert snr >= target
    assert summary["achieved"]["held_out"]["snr_db"] == pytest.approx(snr, abs=1e-3)
    assert any("held-out" in n["why"] for n in layers["nodes"])


def test_bisection_finds_the_smallest_prefix_in_log_tests():
    for count in (1, 2, 7, 100):
        for answer in range(count + 1):
            calls = []

            def holds(k, answer=answer, calls=calls):
                calls.append(k)
                return k >= answer

            found, tests = smallest_prefix(count, holds, max_tests=64)
            assert found == answer
            assert len(calls) == len(tests) <= 1 + math.ceil(math.log2(count + 1))


def test_rankings_order_most_sensitive_first():
    report = {
        "nodes": [
            {"node": "a", "only": {"snr_db": 10.0}, "all_but": {"snr_db": 5.0}},
            {"node": "b", "only": {"snr_db": 30.0}, "all_but": {"snr_db": 50.0}},
            {"node": "c", "only": {"snr_db": 20.0}, "all_but": {"snr_db": 9.0}},
        ]
    }
    assert [r["node"] for r in sensitive_first(report, "only")] == ["a", "c", "b"]
    assert [r["node"] for r in sensitive_first(report, "all_but")] == ["b", "c", "a"]
    with pytest.raises(PipelineError, match="ranking"):
        sensitive_first(report, "best")


def test_bad_targets_and_splits_are_refused():
    fp32, _, batches, amax, sensitivity = _case(slice(None))
    with pytest.raises(PipelineError, match="cosine target of 1.5"):
        mixed_of_graph(fp32, amax, sensitivity, batches, source="r", target="cosine", value=1.5)
    with pytest.raises(PipelineError, match="not a target kind"):
        mixed_of_graph(fp32, amax, sensitivity, batches, source="r", target="mse", value=1)
    with pytest.raises(PipelineError, match="need two"):
        split_batches(1, 0.5)
    assert split_batches(10, 0.3) == 7


def test_a_feed_folder_gives_the_same_choice_and_names_its_sources(tmp_path):
    from workflow.quant.batches import write_feed_folder
    from workflow.score.mixed import mixed_from_folder

    fp32, _, batches, amax, sensitivity = _case(slice(None))
    write_feed_folder(tmp_path / "feeds", [{"x": x} for x in batches] + [{"x": batches[0]}])
    graph, layers = mixed_from_folder(
        fp32, amax, tmp_path / "feeds", max_batches=4, sensitivity=sensitivity,
        source="ranges", target="snr_db", value=35.0,
    )  # fmt: skip
    assert _int8_nodes(graph) == {"conv1", "conv3"}
    assert layers["summary"]["batches"] == {"search": 2, "held_out": 2}
    assert layers["summary"]["feeds"] == str(tmp_path / "feeds")


def test_a_metric_drop_limit_keeps_more_nodes_fp32(tmp_path):
    fp32, weights, batches, amax, sensitivity = _case(slice(None))
    metric = tmp_path / "metric.py"
    metric.write_text(
        "import numpy as np\n"
        "def mean_out(inputs, outputs):\n"
        "    other = [v for k, v in outputs.items() if k != 'fp32'][0]['out']\n"
        "    return {'mean_out': float(np.mean(other))}\n"
    )
    search = batches[:2]
    base = np.mean([numpy_forward(x, weights)["out"].mean() for x in search])
    drop = base - np.mean(
        [numpy_forward(x, weights, amax, ("conv1", "conv3"))["out"].mean() for x in search]
    )
    kwargs = dict(source="ranges", target="snr_db", value=35.0, metric=f"{metric}:mean_out")
    _, loose = mixed_of_graph(
        fp32, amax, sensitivity, batches, **kwargs, metric_name="mean_out", max_drop=abs(drop) + 1
    )
    assert loose["summary"]["fp32_nodes"] == 1
    achieved = loose["summary"]["achieved"]["search"]
    assert achieved["metric_drop"] == pytest.approx(drop, abs=1e-4)
    _, strict = mixed_of_graph(
        fp32, amax, sensitivity, batches, **kwargs, metric_name="mean_out", max_drop=0.0
    )
    assert drop > 0
    assert strict["summary"]["fp32_nodes"] > 1
    with pytest.raises(PipelineError, match="'nope' is not among"):
        mixed_of_graph(fp32, amax, sensitivity, batches, **kwargs, metric_name="nope", max_drop=0.1)


@pytest.mark.extended
@pytest.mark.slow  # 103 sensitivity graphs and 10 mixed ones: 75 s on two loaded cores
def test_ppocr_recogniser_at_cosine_099_keeps_most_nodes_int8(tmp_path):
    import onnxruntime as ort

    from workflow.data import ocr
    from workflow.quant.calibrate import activation_stream, collect_amax
    from workflow.quant.qdq import quantized_activations
    from workflow.score.ocr import REC_HEIGHT, rec_input

    def lines(seed: int, name: str, count: int) -> list[np.ndarray]:
        setup = ocr.OcrSetup(
            lines=count,
            pages=0,
            seed=seed,
            page_size=(320, 256),
            max_lines=1,
            max_chars=16,
            line_font=(20, 36),
            page_font=(16, 28),
        )
        ocr.write_ocr_split(tmp_path / name, setup, "calib")
        images = [image for image, _ in ocr.read_lines(tmp_path / name)]
        return [
            rec_input(images[i : i + 4], height=REC_HEIGHT, width=320) for i in range(0, count, 4)
        ]

    calibration, evaluation = lines(0, "calibration", 8), lines(1, "evaluation", 16)
    fp32, _ = ocr.ocr_graph("rec", opset=17)
    stream, _ = activation_stream(fp32, lambda: calibration, 2, quantized_activations(fp32))
    amax = collect_amax(stream())
    sensitivity = sensitivity_of_graph(
        fp32, amax, calibration, source="min-max", max_batches=2, workers=2
    )
    graph, layers = mixed_of_graph(
        fp32, amax, sensitivity, evaluation, source="min-max", target="cosine", value=0.99
    )
    summary = layers["summary"]
    assert summary["quantizable_nodes"] == 51
    assert summary["int8_share"] >= 0.8  # measured 47 of 51 (0.92)
    assert summary["search_tests"][0] == {"fp32_nodes": 0, "holds": False}
    assert summary["evaluations"]["search"] <= 2 + math.ceil(math.log2(51))

    def outputs(model: bytes, batches) -> np.ndarray:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return np.concatenate([session.run(None, {name: b})[0].ravel() for b in batches])

    held_out = evaluation[2:]
    ref = outputs(fp32, held_out).astype(np.float64)
    mixed = outputs(graph, held_out).astype(np.float64)
    cosine = ref @ mixed / (np.linalg.norm(ref) * np.linalg.norm(mixed))
    assert cosine >= 0.99
    assert summary["achieved"]["held_out"]["cosine"] == pytest.approx(cosine, abs=1e-6)


def test_nodes_of_an_fp32_op_stay_fp32_outside_the_search():
    fp32, weights, batches, amax, sensitivity = _case(slice(None))
    for row in sensitivity["nodes"]:  # conv2 as an op the engine would run in FP32
        if row["node"] == "conv2":
            row["op"] = "ConvTranspose"
    graph, layers = mixed_of_graph(
        fp32,
        amax,
        sensitivity,
        batches,
        source="ranges",
        target="snr_db",
        value=35.0,
        fp32_ops=["ConvTranspose"],
    )
    assert _int8_nodes(graph) == {"conv1", "conv3"}
    conv2 = next(n for n in layers["nodes"] if n["node"] == "conv2")
    assert conv2["precision"] == "fp32" and "ConvTranspose stays FP32" in conv2["why"]
    summary = layers["summary"]
    # the search ranked the two others and kept none of them FP32
    assert summary["search_choice_fp32_nodes"] == 0
    assert (summary["quantizable_nodes"], summary["int8_nodes"], summary["fp32_nodes"]) == (3, 2, 1)
    assert summary["int8_share"] == pytest.approx(2 / 3) and summary["fp32_ops"] == [
        "ConvTranspose"
    ]
