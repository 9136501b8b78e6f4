"""The plugin samples' tiny chains in their own tree: graphs with plugin nodes scored on CPU
through the plugins' ONNX Runtime reference; their engines stop clearly without a GPU host."""

import json

import pytest

from tests.conftest import planned_jobs, snakemake
from tests.e2e.conftest import TINY, clone

pytestmark = pytest.mark.slow


def test_plugin_graphs_score_as_the_plain_ones_and_engines_say_what_they_need(tree, tmp_path):
    work = clone(tree, tmp_path)  # its trained LeNet and MNIST score are the plugin graphs'
    names = ("mnist", "mnist_plugin", "clip", "mnist_plugin_api")
    targets = [f"results/score/{s}/fp32/accuracy.json" for s in names]
    config = ["--configfile", TINY, "--config", "samples=[mnist_plugin,clip,mnist_plugin_api]"]
    snakemake(work, *targets, "results/score/mnist_plugin/fp32/hello.txt", "--cores", "2", *config)
    score = {s: json.loads((work / t).read_text()) for s, t in zip(names, targets, strict=True)}
    assert score["mnist_plugin"]["top1"] == score["mnist"]["top1"]
    assert score["mnist_plugin_api"]["top1"] == score["mnist"]["top1"]
    assert score["mnist_plugin"]["count"] > 300
    assert score["clip"]["top1"] > 0.8
    fc = json.loads((work / "results/onnx/mnist_plugin/model.parity.json").read_text())
    api = json.loads((work / "results/onnx/mnist_plugin_api/model.parity.json").read_text())
    assert api["max_abs_diff"] <= 1e-5  # the layer description (FC plugin node) vs PyTorch
    clip = json.loads((work / "results/onnx/clip/model.parity.json").read_text())
    assert fc["max_abs_diff"] <= 1e-6 and clip["max_abs_diff"] <= 1e-6  # vs Gemm, vs Keras
    assert "PASSED" in (work / "results/score/mnist_plugin/fp32/hello.txt").read_text()
    api_plan = planned_jobs(
        snakemake(work, "-n", "engines/mnist_plugin_api_fp32.plan", *config).stdout
    )
    assert api_plan == {
        "plugin_library": 1,
        "engine_build_api": 1,
    }  # the network-API build loads it too
    out = snakemake(work, "engines/clip_fp32.plan", "--cores", "1", *config, check=False)
    log = (work / "logs/plugins/library.log").read_text()
    assert out.returncode != 0 and not (work / "engines/clip_fp32.plan").exists()
    assert "plugins.tensorrt_include | empty" in log
