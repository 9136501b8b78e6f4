"""Per-layer profiles: ONNX Runtime's per-node times in the table format, the chart, and the
TensorRT profiler's collector."""

import json

import numpy as np
import pytest

from tests.conftest import tiny_conv_bytes
from workflow.errors import PipelineError
from workflow.report.profile import plot_profiles, slowest_layers
from workflow.score.profile import ort_profile, profile_table
from workflow.trt.runner import LayerTimes


def test_ort_profile_times_every_node_of_each_timed_run(tmp_path):
    path = tmp_path / "conv.onnx"
    path.write_bytes(tiny_conv_bytes())
    inputs = np.random.default_rng(0).normal(size=(4, 1, 4, 4)).astype(np.float32)
    table = ort_profile(path, inputs, warmup=2, runs=5, threads=1)
    assert table["runtime"] == "ort" and table["runs"] == 5 and table["batch_size"] == 4
    types = {layer["type"] for layer in table["layers"]}
    assert {"Gemm", "Softmax"} <= types and types & {"Conv", "FusedConv"}
    assert sum(layer["share"] for layer in table["layers"]) == pytest.approx(1.0)
    assert all(layer["ms"] >= 0 for layer in table["layers"]) and table["total_ms"] > 0
    json.dumps(table)  # written as JSON


def test_table_takes_medians_and_refuses_an_empty_profile():
    table = profile_table(
        {"conv": [1.0, 3.0, 2.0], "fc": [1.0, 1.0, 1.0]},
        {"conv": "Convolution"},
        [4.0, 5.0, 6.0],
        runtime="trt",
        runner="r",
        batch_size=1,
        warmup=0,
    )
    assert [(x["name"], x["ms"], x["type"]) for x in table["layers"]] == [
        ("conv", 2.0, "Convolution"),
        ("fc", 1.0, ""),
    ]
    assert table["total_ms"] == 5.0 and table["layers"][0]["share"] == pytest.approx(2 / 3)
    with pytest.raises(PipelineError, match="timed no layer"):
        profile_table({}, {}, [1.0], runtime="ort", runner="r", batch_size=1, warmup=0)


def test_chart_shows_the_slowest_layers_of_both_precisions():
    def table(times):
        return profile_table(
            {k: [v] for k, v in times.items()},
            {},
            [sum(times.values())],
            runtime="ort",
            runner="r",
            batch_size=8,
            warmup=0,
        )

    tables = {
        "fp16": table({"a": 1.0, "b": 5.0, "c": 0.1}),
        "fp32": table({"a": 2.0, "b": 4.0, "d": 3.0}),
    }
    assert slowest_layers(tables, top=3) == ["b", "d", "a"]
    png = plot_profiles(tables, top=3, title="t")
    assert png.startswith(b"\x89PNG") and png == plot_profiles(tables, top=3, title="t")


def test_layer_times_collect_what_the_profiler_reports():
    times = LayerTimes()
    for ms in (0.5, 0.7):
        times.report_layer_time("conv1 + relu", ms)
    assert times.times == {"conv1 + relu": [0.5, 0.7]}
