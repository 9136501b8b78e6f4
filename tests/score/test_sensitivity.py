"""Per-layer INT8 sensitivity: the node filter of qdq_from_ranges, the ranking (the layer that
reads a 1000x outlier channel is worst), its numbers against numpy's INT8 arithmetic, the
process pool, the user metric and the chart."""

import math

import numpy as np
import pytest

from tests.score.test_divergence import CONVS, feeds, lossy_graph, numpy_amax, numpy_forward
from workflow.errors import PipelineError
from workflow.quant.qdq import qdq_from_ranges
from workflow.report.agreement import json_ready
from workflow.report.divergence import plot_sensitivity
from workflow.score.sensitivity import quantized_nodes, sensitivity_of_graph


@pytest.fixture(scope="module")
def lossy():
    fp32, weights = lossy_graph()
    batches = feeds()
    return fp32, weights, batches, numpy_amax(batches, weights)


def _ops(model_bytes: bytes) -> list[str]:
    import onnx

    return [n.op_type for n in onnx.load_from_string(model_bytes).graph.node]


def test_node_filter_quantizes_only_the_named_nodes(lossy):
    import onnx

    fp32, _, _, amax = lossy
    every = qdq_from_ranges(fp32, amax, source="ranges")
    assert qdq_from_ranges(fp32, amax, source="ranges", nodes=set(CONVS)) == every
    one = onnx.load_from_string(qdq_from_ranges(fp32, amax, source="ranges", nodes={"conv2"}))
    inputs = {n.name: list(n.input) for n in one.graph.node if n.op_type == "Conv"}
    assert inputs == {
        "conv1": ["x", "w1"],
        "conv2": ["r1_int8_dq", "w2_int8_dq"],
        "conv3": ["r2", "w3"],
    }
    assert _ops(every).count("QuantizeLinear") == 3
    assert [n.op_type for n in one.graph.node].count("QuantizeLinear") == 1
    with pytest.raises(PipelineError, match="no node 'conv9'"):
        qdq_from_ranges(fp32, amax, source="ranges", nodes={"conv2", "conv9"})


def test_quantized_nodes_are_named_by_name_or_op_and_index():
    import onnx

    fp32, _ = lossy_graph()
    model = onnx.load_from_string(fp32)
    model.graph.node[2].name = ""
    assert quantized_nodes(model.SerializeToString()) == [
        {"node": "conv1", "op": "Conv"},
        {"node": "Conv#2", "op": "Conv"},
        {"node": "conv3", "op": "Conv"},
    ]


def _snr(refs: list[np.ndarray], others: list[np.ndarray]) -> float:
    ref = np.concatenate([r.ravel() for r in refs]).astype(np.float64)
    other = np.concatenate([o.ravel() for o in others]).astype(np.float64)
    noise = np.sum((ref - other) ** 2)
    return math.inf if noise == 0 else 10 * math.log10(np.sum(ref**2) / noise)


def test_the_layer_reading_the_outlier_ranks_worst_with_numpys_numbers(lossy, tmp_path):
    fp32, weights, batches, amax = lossy
    metric = tmp_path / "metric.py"
    metric.write_text(
        "import numpy as np\n"
        "def mean_gap(inputs, outputs):\n"
        "    ref, other = outputs['fp32']['out'], outputs['int8']['out']\n"
        "    return {'mean_gap': float(np.mean(np.abs(ref - other)))}\n"
    )
    report = sensitivity_of_graph(
        fp32,
        amax,
        iter(batches),
        source="ranges",
        max_batches=2,
        metric=f"{metric}:mean_gap",
        workers=1,
    )
    assert report["batches"] == 2 and report["samples"] == 4
    assert report["graphs_evaluated"] == 1 + 2 * 3
    ranked = [row["node"] for row in report["nodes"]]
    assert ranked[0] == "conv2" and [r["rank"] for r in report["nodes"]] == [1, 2, 3]
    refs = [numpy_forward(x, weights)["out"] for x in batches[:2]]
    rows = {row["node"]: row for row in report["nodes"]}
    for node in CONVS:
        only = [numpy_forward(x, weights, amax, {node})["out"] for x in batches[:2]]
        rest = set(CONVS) - {node}
        all_but = [numpy_forward(x, weights, amax, rest)["out"] for x in batches[:2]]
        assert rows[node]["only"]["snr_db"] == pytest.approx(_snr(refs, only), rel=1e-3, abs=1e-3)
        assert rows[node]["all_but"]["snr_db"] == pytest.approx(
            _snr(refs, all_but), rel=1e-3, abs=1e-3
        )
        gap = np.mean([np.mean(np.abs(r - o)) for r, o in zip(refs, only, strict=True)])
        assert rows[node]["only"]["metric"]["mean_gap"] == pytest.approx(gap, rel=1e-3)
    every = [numpy_forward(x, weights, amax)["out"] for x in batches[:2]]
    assert report["int8"]["snr_db"] == pytest.approx(_snr(refs, every), abs=1e-3)
    # conv2 alone loses the output; everything else in INT8 with conv2 in FP32 keeps it
    assert rows["conv2"]["only"]["snr_db"] < 1 and rows["conv2"]["all_but"]["snr_db"] > 30
    assert rows["conv1"]["only"]["snr_db"] > 30 and rows["conv1"]["all_but"]["snr_db"] < 1
    png = plot_sensitivity(json_ready(report), title="lossy", worst=2)
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_a_pool_of_workers_gives_the_same_ranking(lossy):
    fp32, _, batches, amax = lossy
    one = sensitivity_of_graph(fp32, amax, batches, source="ranges", max_batches=3, workers=1)
    two = sensitivity_of_graph(fp32, amax, batches, source="ranges", max_batches=3, workers=2)
    assert one["nodes"] == two["nodes"] and one["int8"] == two["int8"]
    assert two["workers"] == 2


def test_bad_input_is_refused_naming_the_fix(lossy):
    fp32, _, batches, amax = lossy
    with pytest.raises(PipelineError, match="no batches"):
        sensitivity_of_graph(fp32, amax, [], source="ranges", max_batches=2)
    with pytest.raises(PipelineError, match="agreement.metric"):
        sensitivity_of_graph(fp32, amax, batches, source="ranges", max_batches=2, metric="nope")
    short = {k: v for k, v in amax.items() if k != "r2"}
    with pytest.raises(PipelineError, match="no range for tensor 'r2'"):
        sensitivity_of_graph(fp32, short, batches, source="ranges", max_batches=1)


def test_folder_entry_points_read_feed_files_and_name_their_inputs(lossy, tmp_path):
    from workflow.quant.batches import write_feed_folder
    from workflow.score.divergence import divergence_from_folder
    from workflow.score.sensitivity import sensitivity_from_folder

    fp32, _, batches, amax = lossy
    (tmp_path / "fp32.onnx").write_bytes(fp32)
    (tmp_path / "int8.onnx").write_bytes(qdq_from_ranges(fp32, amax, source="ranges"))
    write_feed_folder(tmp_path / "feeds", [{"x": b} for b in batches])
    divergence = divergence_from_folder(
        tmp_path / "fp32.onnx",
        tmp_path / "int8.onnx",
        tmp_path / "feeds",
        source="evaluation",
        precision="int8",
        max_batches=2,
        threshold_db=20.0,
    )
    assert divergence["batches"] == 2 and divergence["first_divergent"]["tensor"] == "y2"
    assert divergence["feeds"] == {"source": "evaluation", "folder": str(tmp_path / "feeds")}
    assert divergence["graphs"]["int8"] == str(tmp_path / "int8.onnx")
    ranking = sensitivity_from_folder(
        tmp_path / "fp32.onnx",
        amax,
        tmp_path / "feeds",
        source="ranges.txt",
        feeds_source="calibration",
        max_batches=1,
    )
    assert ranking["batches"] == 1 and ranking["nodes"][0]["node"] == "conv2"
    assert ranking["graphs"] == {"fp32": str(tmp_path / "fp32.onnx"), "ranges": "ranges.txt"}
