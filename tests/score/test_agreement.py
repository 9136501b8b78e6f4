"""Agreement of a reduced-precision graph with FP32: every number against its formula written
out here in numpy over the whole evaluation set, the user metric's contract and errors, ONNX
Runtime runs of two graphs, feed folders, the JSON form and the chart."""

import json
import math

import numpy as np
import pytest

from tests.conftest import tiny_classifier_bytes, tiny_recommender_bytes
from workflow.errors import PipelineError
from workflow.quant.batches import batch_bytes, write_batch_folder, write_feed_folder
from workflow.report.agreement import first_output, json_ready, plot_agreement
from workflow.score.agreement import (
    Agreement,
    agreement_from_folder,
    agreement_of_graphs,
    load_metric,
)


def _compare(pairs, **kwargs):
    """Agreement of ``[(reference, candidate), ...]`` batches of one output ``y``."""
    collected = Agreement("int8", **kwargs)
    for reference, candidate in pairs:
        collected.update({"x": reference}, {"y": reference}, {"y": candidate})
    return collected.result()


def _output(result, name="y"):
    return next(o for o in result["outputs"] if o["name"] == name)


def test_snr_of_known_noise_is_its_ratio():
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(8, 5)).astype(np.float32) for _ in range(3)]
    signal = sum(float(np.sum(b.astype(np.float64) ** 2)) for b in batches)
    # noise of exactly 1/1000 of the signal's energy, spread over every batch: 30 dB
    noise = [rng.normal(size=b.shape) for b in batches]
    scale = math.sqrt(signal / 1000 / sum(float(np.sum(n**2)) for n in noise))
    pairs = [(b, (b + scale * n).astype(np.float32)) for b, n in zip(batches, noise, strict=True)]
    ref = np.concatenate([p[0].ravel() for p in pairs]).astype(np.float64)
    cand = np.concatenate([p[1].ravel() for p in pairs]).astype(np.float64)
    out = _output(_compare(pairs))
    assert out["snr_db"] == pytest.approx(30.0, abs=0.01)  # float32 rounding of b + noise
    assert out["snr_db"] == pytest.approx(
        10 * np.log10(np.sum(ref**2) / np.sum((ref - cand) ** 2)), rel=1e-9
    )
    assert out["max_abs"] == pytest.approx(np.max(np.abs(ref - cand)), rel=1e-12)
    assert out["mean_abs"] == pytest.approx(np.mean(np.abs(ref - cand)), rel=1e-9)
    assert out["elements"] == ref.size and out["nonfinite"] == 0


def test_cosine_is_over_the_whole_set_not_a_mean_of_batches():
    orthogonal = _output(
        _compare([(np.array([[1.0, 0.0]], np.float32), np.array([[0.0, 2.0]], np.float32))])
    )
    assert orthogonal["cosine"] == 0.0
    rng = np.random.default_rng(1)
    pairs = [
        (rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)),
        (
            10 * rng.normal(size=(2, 3)).astype(np.float32),
            rng.normal(size=(2, 3)).astype(np.float32),
        ),
    ]
    a = np.concatenate([p[0].ravel() for p in pairs]).astype(np.float64)
    b = np.concatenate([p[1].ravel() for p in pairs]).astype(np.float64)
    expected = np.sum(a * b) / (np.sqrt(np.sum(a * a)) * np.sqrt(np.sum(b * b)))
    assert _output(_compare(pairs))["cosine"] == pytest.approx(expected, rel=1e-12)
    opposite = _output(_compare([(a.reshape(1, -1), -2 * a.reshape(1, -1))]))
    assert opposite["cosine"] == pytest.approx(-1.0, abs=1e-12)


def test_equal_outputs_have_infinite_snr_and_full_agreement():
    scores = np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32)
    out = _output(_compare([(scores, scores.copy())]))
    assert out["snr_db"] == math.inf and out["cosine"] == pytest.approx(1.0)
    assert out["max_abs"] == 0.0 and out["argmax_agreement"] == 1.0 and out["equal_share"] == 1.0
    zeros = np.zeros((2, 3), np.float32)
    both_zero = _output(_compare([(zeros, zeros)]))
    assert both_zero["cosine"] == 1.0 and both_zero["snr_db"] == math.inf


def test_argmax_agreement_counts_positions_whose_winner_moved():
    rng = np.random.default_rng(3)
    scores = rng.permuted(np.tile(np.arange(5, dtype=np.float32), (10, 1)), axis=1)
    moved = scores.copy()
    rows = [1, 4, 7]
    for row in rows:  # swap the winner with the loser: argmax moves in these rows only
        hi, lo = np.argmax(moved[row]), np.argmin(moved[row])
        moved[row, [hi, lo]] = moved[row, [lo, hi]]
    out = _output(_compare([(scores[:6], moved[:6]), (scores[6:], moved[6:])]))
    assert out["argmax_positions"] == 10
    assert out["argmax_agreement"] == pytest.approx(np.mean(scores.argmax(1) == moved.argmax(1)))
    assert out["argmax_agreement"] == pytest.approx(7 / 10)
    # rank 3: one position per (batch, row), the last axis compared
    cube = rng.normal(size=(2, 3, 4)).astype(np.float32)
    flipped = cube[..., ::-1].copy()
    out3 = _output(_compare([(cube, flipped)]))
    assert out3["argmax_positions"] == 6
    assert out3["argmax_agreement"] == pytest.approx(np.mean(cube.argmax(-1) == flipped.argmax(-1)))


def test_argmax_only_for_score_like_or_declared_outputs():
    vector = np.arange(6, dtype=np.float32)  # rank 1: not score-like
    column = np.ones((6, 1), np.float32)  # last axis of one entry: not score-like
    assert _output(_compare([(vector, vector[::-1].copy())]))["argmax_agreement"] is None
    assert _output(_compare([(column, column)]))["argmax_agreement"] is None
    declared = _output(_compare([(vector, vector[::-1].copy())], argmax_outputs=["y"]))
    assert declared["argmax_agreement"] == 0.0 and declared["argmax_positions"] == 1


def test_integer_outputs_compare_by_equal_share_and_overflow_is_counted():
    ids = np.array([[3, 1], [2, 0]], np.int64)
    out = _output(_compare([(ids, np.array([[3, 1], [0, 2]], np.int64))]))
    assert out["equal_share"] == 0.5 and "snr_db" not in out
    ref = np.array([[1.0, 7e4]], np.float32)
    over = _output(_compare([(ref, np.array([[1.0, np.inf]], np.float32))]))
    assert over["nonfinite"] == 1 and over["snr_db"] == -math.inf


def test_outputs_that_differ_in_shape_or_names_are_refused():
    with pytest.raises(PipelineError, match="shape"):
        _compare([(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))])
    with pytest.raises(PipelineError, match="outputs"):
        Agreement("fp16").update({}, {"a": np.zeros(1)}, {"b": np.zeros(1)})


def mean_gap(inputs, outputs):
    """A user metric: the mean |fp32 - other| of output y per batch, and the batch's size."""
    fp32, other = (outputs[p]["y"] for p in outputs)
    return {"gap": float(np.mean(np.abs(fp32 - other))), "rows": np.float64(len(inputs["x"]))}


def not_numbers(inputs, outputs):
    return {"gap": "small"}


def changing_names(inputs, outputs):
    return {f"batch_{len(inputs['x'])}": 1.0}


def test_user_metric_is_averaged_over_batches_by_batch_size():
    metric = load_metric("tests.score.test_agreement:mean_gap")
    ref = [np.zeros((3, 2), np.float32), np.zeros((1, 2), np.float32)]
    cand = [np.full((3, 2), 1.0, np.float32), np.full((1, 2), 5.0, np.float32)]
    seen = []

    def spy(inputs, outputs):
        seen.append(sorted(outputs))
        return metric(inputs, outputs)

    result = _compare(list(zip(ref, cand, strict=True)), metric=spy)
    assert seen == [["fp32", "int8"], ["fp32", "int8"]]
    assert result["metric"]["gap"] == pytest.approx((3 * 1.0 + 1 * 5.0) / 4)
    assert result["metric"]["rows"] == pytest.approx((3 * 3 + 1 * 1) / 4)
    assert result["samples"] == 4 and result["batches"] == 2


def test_user_metric_from_a_file(tmp_path):
    (tmp_path / "mine.py").write_text("def one(inputs, outputs):\n    return {'one': 1}\n")
    metric = load_metric(f"{tmp_path / 'mine.py'}:one")
    assert metric({}, {}) == {"one": 1}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("no_colon_here", "not module:function"),
        ("tests.score.no_such_module:f", "does not import"),
        ("missing/file.py:f", "does not import"),
        ("tests.score.test_agreement:no_such_function", "no function"),
    ],
)
def test_bad_metric_settings_name_the_setting(spec, problem):
    with pytest.raises(PipelineError, match=problem) as caught:
        load_metric(spec)
    assert caught.value.subject == "agreement.metric" and caught.value.fix


@pytest.mark.parametrize("name", ["not_numbers", "changing_names"])
def test_bad_metric_results_name_the_setting(name):
    metric = load_metric(f"tests.score.test_agreement:{name}")
    pairs = [(np.zeros((2, 2), np.float32),) * 2, (np.zeros((3, 2), np.float32),) * 2]
    with pytest.raises(PipelineError) as caught:
        _compare(pairs, metric=metric)
    assert caught.value.subject == "agreement.metric" and caught.value.fix


def _ort_outputs(model: bytes, feed: dict) -> dict:
    import onnxruntime as ort

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed), strict=True))


def test_two_graphs_run_in_onnx_runtime_on_streamed_feeds():
    fp32, other = tiny_classifier_bytes(seed=0), tiny_classifier_bytes(seed=1)
    rng = np.random.default_rng(4)
    batches = [rng.normal(size=(n, 1, 4, 4)).astype(np.float32) for n in (5, 3, 7)]
    taken = []

    def stream():
        for batch in batches:
            taken.append(len(batch))
            yield batch

    result = agreement_of_graphs(fp32, other, stream(), precision="fp16", max_batches=2)
    assert taken == [5, 3]  # the third batch is never read
    ref = np.concatenate([_ort_outputs(fp32, {"input": b})["prob"] for b in batches[:2]])
    cand = np.concatenate([_ort_outputs(other, {"input": b})["prob"] for b in batches[:2]])
    ref, cand = ref.astype(np.float64), cand.astype(np.float64)
    out = _output(result, "prob")
    assert result["samples"] == 8 and result["batches"] == 2 and result["precision"] == "fp16"
    assert out["snr_db"] == pytest.approx(
        10 * np.log10(np.sum(ref**2) / np.sum((ref - cand) ** 2)), rel=1e-6
    )
    assert out["cosine"] == pytest.approx(
        np.sum(ref * cand) / np.linalg.norm(ref) / np.linalg.norm(cand), rel=1e-6
    )
    assert out["argmax_agreement"] == pytest.approx(np.mean(ref.argmax(1) == cand.argmax(1)))
    same = agreement_of_graphs(fp32, fp32, iter(batches), precision="int8", max_batches=9)
    assert _output(same, "prob")["snr_db"] == math.inf and same["batches"] == 3


def test_feed_folders_and_batch_folders(tmp_path):
    rng = np.random.default_rng(5)
    feeds = [
        {
            "user": rng.integers(0, 6, size=(n,)).astype(np.int64),
            "movies": rng.integers(0, 9, size=(n, 4)).astype(np.int64),
        }
        for n in (4, 4)
    ]
    write_feed_folder(tmp_path / "feeds", feeds)
    model = tiny_recommender_bytes()
    (tmp_path / "fp32.onnx").write_bytes(model)
    (tmp_path / "int8.onnx").write_bytes(tiny_recommender_bytes(seed=1))
    result = agreement_from_folder(
        tmp_path / "fp32.onnx",
        tmp_path / "int8.onnx",
        tmp_path / "feeds",
        source="evaluation",
        precision="int8",
        max_batches=5,
    )
    assert result["feeds"] == {"source": "evaluation", "folder": str(tmp_path / "feeds")}
    assert result["samples"] == 8 and _output(result, "scores")["argmax_positions"] == 8
    write_batch_folder(
        tmp_path / "batches",
        [batch_bytes(rng.normal(size=(2, 1, 4, 4)).astype(np.float32)) for _ in range(3)],
    )
    (tmp_path / "c.onnx").write_bytes(tiny_classifier_bytes())
    images = agreement_from_folder(
        tmp_path / "c.onnx",
        tmp_path / "c.onnx",
        tmp_path / "batches",
        source="calibration",
        precision="fp16",
        max_batches=5,
    )
    assert images["batches"] == 3 and images["feeds"]["source"] == "calibration"
    with pytest.raises(PipelineError, match="inputs"):  # one array cannot feed two inputs
        agreement_from_folder(
            tmp_path / "fp32.onnx",
            tmp_path / "int8.onnx",
            tmp_path / "batches",
            source="calibration",
            precision="int8",
            max_batches=1,
        )


def test_json_form_and_chart():
    scores = np.random.default_rng(6).normal(size=(4, 3)).astype(np.float32)
    result = _compare([(scores, scores)])
    text = json.dumps(json_ready(result), allow_nan=False)  # strict JSON
    report = json.loads(text)
    assert _output(report)["snr_db"] == "inf"
    assert first_output(report) == {"output": "y", "cosine": pytest.approx(1.0), "snr_db": math.inf}
    png = plot_agreement(report, title="mnist: INT8 against FP32")
    assert png.startswith(b"\x89PNG") and png == plot_agreement(
        report, title="mnist: INT8 against FP32"
    )
