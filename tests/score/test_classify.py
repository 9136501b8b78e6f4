import numpy as np
import pytest

from workflow.errors import PipelineError
from workflow.ort.runner import OrtRunner
from workflow.score.classify import (
    accuracy,
    ascii_art,
    hello_digit,
    hello_report,
    predict,
    predict_batches,
)


def test_accuracy_top1_top5_per_class():
    probs = np.zeros((4, 10), np.float32)
    probs[0, 3] = 1  # label 3: right
    probs[1, [1, 2, 4, 5, 6, 7]] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]  # label 7: 6th best, wrong
    probs[2, [0, 9]] = [0.6, 0.4]  # label 9: 2nd best
    probs[3, [3, 4, 5, 6, 7]] = [0.5, 0.4, 0.3, 0.2, 0.1]  # label 2: not in the top 5
    result = accuracy(probs, np.array([3, 7, 9, 2]))
    assert result["count"] == 4 and result["top1"] == 0.25 and result["top5"] == 0.5
    assert result["per_class_top1"][3] == 1.0 and result["per_class_top1"][9] == 0.0
    assert np.isnan(result["per_class_top1"][0])


def test_ascii_art_ramp():
    art = ascii_art(np.array([[0, 26, 255], [128, 200, 25]], np.uint8))
    assert art == " .@\n+# "  # level = value * 10 // 256


def test_hello_report_and_seeded_digit():
    assert hello_digit(0) == hello_digit(0)
    assert {hello_digit(seed) for seed in range(50)} == set(range(10))
    probs = np.full(10, 0.01, np.float32)
    probs[8] = 0.91
    text = hello_report(np.zeros((28, 28), np.uint8), probs, source="8.pgm", label=8)
    assert "Input digit (8.pgm):" in text and "  8: 0.9100 " + "*" * 36 in text
    assert text.rstrip().endswith("Prediction: 8 (true digit 8) PASSED")
    assert "FAILED" in hello_report(np.zeros((28, 28), np.uint8), probs, source="x", label=3)


def test_predict_batches(tiny_onnx):
    inputs = np.random.default_rng(0).normal(size=(7, 1, 4, 4)).astype(np.float32)
    with OrtRunner(tiny_onnx) as runner:
        whole = runner.infer({"input": inputs})["prob"]
        batched = predict(runner, inputs, batch_size=3, output_name="prob")
    np.testing.assert_allclose(batched, whole, rtol=1e-6)


def test_predict_batches_from_a_generator_equals_predict(tiny_onnx):
    inputs = np.random.default_rng(1).normal(size=(10, 1, 4, 4)).astype(np.float32)
    taken = []

    def batches():
        for start in range(0, 10, 4):
            taken.append(start)
            yield inputs[start : start + 4].copy()

    with OrtRunner(tiny_onnx) as runner:
        sliced = predict(runner, inputs, batch_size=4, output_name="prob")
        streamed = predict_batches(runner, batches(), output_name="prob")
        with pytest.raises(PipelineError, match="no inputs to run"):
            predict_batches(runner, iter(()), output_name="prob")
    assert taken == [0, 4, 8] and streamed.tobytes() == sliced.tobytes()
