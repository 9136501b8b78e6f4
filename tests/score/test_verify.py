"""The CPU part of engine verification, with ONNX Runtime standing in for TensorRT."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, tiny_classifier_bytes
from workflow.backend.compare import compare
from workflow.errors import PipelineError
from workflow.ort.runner import OrtRunner
from workflow.score.verify import feed_from_meta, reference_onnx, verify_engine


def test_feed_follows_the_profile_and_the_seed(tiny_engine):
    feed = feed_from_meta(tiny_engine.meta, batch=None, seed=3)
    assert feed["input"].shape == (4, 1, 4, 4) and feed["input"].dtype == np.float32
    np.testing.assert_array_equal(
        feed["input"], feed_from_meta(tiny_engine.meta, batch=None, seed=3)["input"]
    )
    assert feed_from_meta(tiny_engine.meta, batch=2, seed=3)["input"].shape == (2, 1, 4, 4)


def test_reference_graph():
    assert reference_onnx({"source": {"path": "a.onnx"}}) == "a.onnx"
    assert reference_onnx({"source": {"path": "w.wts"}, "reference_onnx": "b.onnx"}) == "b.onnx"
    with pytest.raises(PipelineError, match="no ONNX reference"):
        reference_onnx({"source": {"path": "w.wts"}})


def test_compare_reports_each_output():
    ref = {"a": np.array([1.0, 2.0]), "b": np.zeros(3)}
    report = compare(ref, {"a": np.array([1.0, 2.1]), "b": np.zeros(3)}, atol=1e-3, rtol=0.0)
    a, b = report.outputs
    assert a.max_abs == pytest.approx(0.1) and a.mean_abs == pytest.approx(0.05) and not a.passed
    assert b.passed and not report.passed
    assert report.to_dict()["outputs"][0]["name"] == "a"
    with pytest.raises(PipelineError, match="shape"):
        compare(ref, {"a": np.zeros(3), "b": np.zeros(3)}, atol=0, rtol=0)


def test_engine_against_its_graph(tiny_engine, tmp_path):
    same = verify_engine(
        tiny_engine.meta_path,
        candidate=lambda plan, meta: OrtRunner(tiny_engine.onnx),
        batch=None,
        seed=0,
        atol=1e-6,
        rtol=0.0,
    )
    assert same.passed and same.outputs[0].max_abs == 0.0
    other = tmp_path / "other.onnx"
    other.write_bytes(tiny_classifier_bytes(seed=5))
    differs = verify_engine(
        tiny_engine.meta_path,
        candidate=lambda plan, meta: OrtRunner(other),
        batch=None,
        seed=0,
        atol=1e-6,
        rtol=0.0,
    )
    assert not differs.passed and differs.outputs[0].max_abs > 0.01


def test_script_without_gpu_says_why(tiny_engine, tmp_path):
    from workflow.trt.gpu import gpu_info

    if gpu_info()[0] is not None:
        pytest.skip("this machine has a GPU")
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/cli/verify_engines.py"),
            "--engines",
            str(tiny_engine.plan.parent),
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "engine execution needs a CUDA GPU" in out.stderr
    assert json.loads((tmp_path / "r.json").read_text()) == {}


def test_tolerances_follow_the_engine_precision():
    from workflow.score.verify import TOLERANCES, engine_precision

    assert engine_precision("engines/mnist_int8.plan.json") == "int8"
    assert engine_precision("engines/mnist_api_fp32.plan.json") == "fp32"
    assert engine_precision("engines/mnist_refit.plan.json") == "fp32"
    assert TOLERANCES["fp16"]["atol"] > TOLERANCES["fp32"]["atol"]
    ref = {"prob": np.array([[0.1, 0.9], [0.6, 0.4]]), "box": np.zeros((2, 4))}
    close = {"prob": np.array([[0.3, 0.7], [0.55, 0.45]]), "box": np.full((2, 4), 0.01)}
    int8 = compare(ref, close, atol=5e-2, rtol=5e-2, min_top1=0.99)
    prob, box = sorted(int8.outputs, key=lambda o: o.name)[::-1]
    assert prob.top1_agreement == 1.0 and prob.passed and not prob.max_abs < 0.1
    assert box.top1_agreement is None or box.passed  # boxes take the element check
    flipped = {"prob": np.array([[0.6, 0.4], [0.55, 0.45]]), "box": np.zeros((2, 4))}
    assert not compare(ref, flipped, atol=5e-2, rtol=5e-2, min_top1=0.99).passed
    far = {"prob": ref["prob"], "box": np.ones((2, 4))}
    assert not compare(ref, far, atol=5e-2, rtol=5e-2, min_top1=0.99).passed
