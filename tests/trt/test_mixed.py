"""A mixed engine's layer report against the layer map of its graph: the lossy three-convolution
graph made mixed (conv2 FP32, conv1 and conv3 INT8: tests/score/test_mixed.py), and TensorRT-RTX
layer logs of it written here, one layer per convolution, with the input types a builder that
follows the graph, or one that does not, would log."""

import pytest

from tests.score.test_divergence import CONVS, feeds, lossy_graph, numpy_amax
from tests.trt.test_layers import _line, _tensor
from workflow.errors import PipelineError
from workflow.score.mixed import mixed_of_graph
from workflow.score.sensitivity import sensitivity_of_graph
from workflow.trt.layers import engine_layer_report
from workflow.trt.mixed import check_against_map, mismatch_error


@pytest.fixture(scope="module")
def mixed():
    fp32, weights = lossy_graph()
    batches = feeds(4)
    amax = numpy_amax(batches, weights)
    sensitivity = sensitivity_of_graph(fp32, amax, batches[:2], source="ranges", max_batches=2)
    graph, layer_map = mixed_of_graph(
        fp32, amax, sensitivity, batches, source="ranges", target="snr_db", value=35.0
    )
    assert {n["node"]: n["precision"] for n in layer_map["nodes"]} == {
        "conv1": "int8",
        "conv2": "fp32",
        "conv3": "int8",
    }
    return graph, layer_map


def _log(types: dict[str, str], skip: str = "") -> str:
    """A layer log with one correlation layer per convolution reading ``types[conv]``."""
    lines = ["Layers:"]
    for i, conv in enumerate(CONVS):
        if conv != skip:
            dtype = types[conv]
            lines.append(
                _line(f"{conv}_myl0_{i}", "correlation", [_tensor("a", dtype)], [], [conv])
            )
    return "\n".join([*lines, ""])


def _report(graph: bytes, log: str) -> dict:
    return engine_layer_report(log, onnx_bytes=graph, intended="mixed", plan="mixed.plan")


def test_an_engine_that_follows_the_map_agrees(mixed):
    graph, layer_map = mixed
    report = _report(graph, _log({"conv1": "Int8", "conv2": "Float", "conv3": "Int8"}))
    check = check_against_map(report, layer_map)
    assert check["agrees"] is True and check["differences"] == []
    assert check["nodes"] == 3
    assert check["by_precision"] == {
        "fp32": {"nodes": 1, "as_map": 1},
        "int8": {"nodes": 2, "as_map": 2},
    }
    assert check["int8_share"] == {"map": pytest.approx(2 / 3), "engine": pytest.approx(2 / 3)}
    assert check["compute_layers"] == {"int8": 2, "fp32": 1}


def test_a_node_in_another_precision_than_the_map_is_named(mixed):
    graph, layer_map = mixed
    # the builder ran the FP32 conv2 in INT8 and the INT8 conv3 in FP32
    report = _report(graph, _log({"conv1": "Int8", "conv2": "Int8", "conv3": "Float"}))
    check = check_against_map(report, layer_map)
    assert check["agrees"] is False
    assert [(d["node"], d["map"], d["engine"]) for d in check["differences"]] == [
        ("conv2", "fp32", "int8"),
        ("conv3", "int8", "fp32"),
    ]
    assert check["differences"][0]["layer"] == "conv2_myl0_1"
    assert check["by_precision"]["int8"] == {"nodes": 2, "as_map": 1}
    assert check["int8_share"]["engine"] == pytest.approx(2 / 3)  # conv1, conv2
    error = str(mismatch_error(check, "engines/x_mixed.plan"))
    assert "2 of 3 nodes" in error and "conv2 (Conv): map fp32, engine int8" in error


def test_a_graph_that_is_not_the_maps_is_named(mixed):
    graph, layer_map = mixed
    # a map that says conv2 is INT8, read against the graph that keeps it FP32
    other = {"nodes": [n | {"precision": "int8"} for n in layer_map["nodes"]]}
    report = _report(graph, _log({"conv1": "Int8", "conv2": "Float", "conv3": "Int8"}))
    (difference,) = check_against_map(report, other)["differences"]
    assert difference["node"] == "conv2" and difference["graph"] == "fp32"
    assert "the graph means it for fp32" in difference["why"]


def test_a_removed_node_is_listed_apart_and_an_unmapped_one_must_be_fp32():
    layer_map = {"nodes": [{"node": "a", "precision": "int8"}, {"node": "b", "precision": "fp32"}]}
    row = {"op": "Conv", "fused": False}
    report = {
        "compute": [
            {"node": "a", "intended": "int8", "layer": "la", "precision": "int8"} | row,
            {"node": "b", "intended": "fp32", "layer": None, "precision": None, "removed": "unused"}
            | row,
            {"node": "c", "intended": "fp32", "layer": "lc", "precision": "fp32"} | row,
        ]
    }
    check = check_against_map(report, layer_map)
    assert check["agrees"] is True and check["removed"] == ["b"] and check["nodes"] == 1
    assert check["unmapped"] == [{"node": "c", "op": "Conv", "engine": "fp32"}]
    report["compute"][2]["precision"] = "int8"
    (difference,) = check_against_map(report, layer_map)["differences"]
    assert difference["node"] == "c" and difference["map"] == "fp32"


def test_a_report_that_could_not_be_made_or_matched_is_refused(mixed):
    graph, layer_map = mixed
    types = {"conv1": "Int8", "conv2": "Float", "conv3": "Int8"}
    failed = _report(graph, _log(types, skip="conv2"))  # conv2 in no layer: no report
    assert failed["error"]
    with pytest.raises(PipelineError, match="layer report not made"):
        check_against_map(failed, layer_map)
    with pytest.raises(PipelineError, match="names none of the layer map's 3 nodes"):
        check_against_map({"compute": []}, layer_map)
