import numpy as np
import pytest

from workflow.errors import PipelineError, RunnerError
from workflow.ort.runner import OrtRunner
from workflow.score.runtimes import make_runner

FEED = {"input": np.ones((2, 1, 4, 4), np.float32)}


def test_inactive_runner_refuses(tiny_onnx):
    runner = OrtRunner(tiny_onnx)
    with pytest.raises(RunnerError, match="not active"):
        runner.infer(FEED)
    with pytest.raises(RunnerError, match="not active"):
        runner.deactivate()


def test_feed_checks(tiny_onnx):
    with OrtRunner(tiny_onnx) as runner:
        assert runner.input_metadata()["input"].shape == (None, 1, 4, 4)
        with pytest.raises(RunnerError, match=r"feed has inputs \['x'\], expected \['input'\]"):
            runner.infer({"x": FEED["input"]})
        with pytest.raises(RunnerError, match="is float64, expected float32"):
            runner.infer({"input": FEED["input"].astype(np.float64)})
        with pytest.raises(RunnerError, match=r"shape \(2, 1, 4, 5\), expected \(None, 1, 4, 4\)"):
            runner.infer({"input": np.ones((2, 1, 4, 5), np.float32)})
        with pytest.raises(RunnerError, match="already active"):
            runner.activate()
        out = runner.infer(FEED)
        assert runner.inference_time is not None and runner.inference_time >= 0
    assert not runner.is_active
    assert out["prob"].shape == (2, 3)
    np.testing.assert_allclose(out["prob"].sum(axis=1), 1.0, rtol=1e-6)


def test_make_runner(tiny_onnx):
    assert isinstance(make_runner("ort", {"onnx": str(tiny_onnx), "pgm": "x"}), OrtRunner)
    with pytest.raises(PipelineError, match="trt a plan and its .plan.json"):
        make_runner("trt", {"onnx": str(tiny_onnx)})
    with pytest.raises(PipelineError, match="unknown runtime"):
        make_runner("tvm", {"onnx": str(tiny_onnx)})


def test_unknown_provider_lists_the_available_ones(tiny_onnx):
    with pytest.raises(PipelineError, match="available here: .*CPUExecutionProvider"):
        OrtRunner(tiny_onnx, providers=["NoSuchExecutionProvider"]).activate()
