"""Scoring your own model: outputs joined over batches without the padding, top-5 only beyond
five classes, and a model without labels scored as having no task metric."""

import numpy as np
import pytest

from tests.models.test_byo import two_input_model
from workflow.errors import PipelineError
from workflow.score.byo import NO_TASK, describe_outputs, run_batches, score_own
from workflow.score.runtimes import make_runner


def test_outputs_are_joined_and_padding_dropped(tmp_path):
    import onnxruntime

    path = tmp_path / "two.onnx"
    path.write_bytes(two_input_model())
    x = np.random.default_rng(0).normal(size=(5, 3, 6, 10)).astype(np.float32)
    padded = np.concatenate([x[3:], x[4:]])  # a static batch of 2: the last row repeated
    batches = [
        {"x": x[:3], "s": np.array(2, np.float32)},
        {"x": padded, "s": np.array(2, np.float32)},
    ]
    with make_runner("ort", {"onnx": str(path)}) as runner:
        got = run_batches(runner, iter(batches), [3, 1])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feat, mask = session.run(None, {"x": x[:4], "s": np.array(2, np.float32)})
    np.testing.assert_allclose(np.concatenate(got["feat"]), feat, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.concatenate(got["mask"]), mask, rtol=1e-5, atol=1e-6)
    other = {"x": x[:2, :, :4, :8], "s": np.array(1, np.float32)}  # another image size
    with make_runner("ort", {"onnx": str(path)}) as runner:
        got = run_batches(runner, iter([batches[0], other]), [3, 2])
    assert describe_outputs(got)["mask"]["shape"] == [5, 1, "?", "?"]
    assert describe_outputs(got)["feat"]["shape"] == [5, 4]
    with make_runner("ort", {"onnx": str(path)}) as runner, pytest.raises(PipelineError):
        run_batches(runner, iter(batches), [3])


def test_top5_only_beyond_five_classes():
    labels = np.array([0, 1, 2, 3])
    rng = np.random.default_rng(0)
    report = {"task": "classify", "output": "p", "evaluation": {"rows": 4}}
    five = rng.normal(size=(4, 5)).astype(np.float32)
    score = score_own({"p": [five[:1], five[1:]]}, report, labels)
    assert score["top5"] is None and "5 classes" in score["top5_note"]
    assert score["top1"] == float(np.mean(five.argmax(1) == labels))
    eight = rng.normal(size=(4, 8)).astype(np.float32)
    score = score_own({"p": [eight]}, report, labels)
    in_top5 = [label in np.argsort(-row)[:5] for row, label in zip(eight, labels, strict=True)]
    assert score["top5"] == float(np.mean(in_top5)) and "top5_note" not in score
    with pytest.raises(PipelineError, match="4 rows of scores for 3 labels"):
        score_own({"p": [eight]}, report, labels[:3])


def test_a_model_without_labels_has_no_task_metric():
    outputs = {"y": [np.array([[1.0, np.nan]], np.float32)], "k": [np.array([3], np.int64)]}
    report = {"task": "none", "output": "y", "evaluation": {"rows": 1}}
    score = score_own(outputs, report, np.zeros(0, np.int64))
    assert score["metric"] == NO_TASK and score["top1"] is None and score["count"] == 1
    assert score["outputs"]["y"] == {"shape": [1, 2], "dtype": "float32", "finite": 0.5}
    assert score["outputs"]["k"]["finite"] == 1.0
