import pytest

from workflow.report.precisions import plot_precisions, precision_summary


def _score(top1, top5=1.0):
    return {"count": 100, "top1": top1, "top5": top5, "per_class_top1": []}


def test_summary_orders_precisions_and_measures_drops():
    summary = precision_summary({"int8": _score(0.97), "fp32": _score(0.98), "fp16": _score(0.98)})
    assert list(summary["precisions"]) == ["fp32", "fp16", "int8"]
    assert summary["precisions"]["int8"]["top1_drop_points"] == pytest.approx(1.0)
    assert summary["precisions"]["fp32"]["top1_drop_points"] == 0.0
    assert (
        precision_summary({"int8": _score(0.9)})["precisions"]["int8"]["top1_drop_points"] is None
    )


def test_plot_is_a_deterministic_png():
    summary = precision_summary({"fp32": _score(0.98), "int8": _score(0.97, 0.99)})
    first = plot_precisions(summary, title="mnist")
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and len(first) > 5000
    assert plot_precisions(summary, title="mnist") == first


def test_bleu_is_already_in_points():
    scores = {"fp32": {"count": 5, "bleu": 99.5}, "fp16": {"count": 5, "bleu": 99.2}}
    summary = precision_summary(scores, ["bleu"])
    assert summary["precisions"]["fp16"]["bleu_drop_points"] == pytest.approx(0.3)


def test_metrics_a_score_leaves_out_are_listed_not_compared():
    scores = {
        p: {"count": 4, "top1": t, "top5": None, "metric": "none"}
        for p, t in (("fp32", 0.5), ("int8", 0.25))
    }
    summary = precision_summary(scores, ("top1", "top5"))
    assert summary["metrics"] == ["top1"] and summary["not_reported"] == ["top5"]
    assert summary["precisions"]["int8"]["top1_drop_points"] == 25.0
    free = {p: s | {"top1": None} for p, s in scores.items()}
    summary = precision_summary(free, ("top1", "top5"))
    assert summary["metrics"] == [] and summary["precisions"]["fp32"] == {"count": 4}
    assert plot_precisions(summary, title="no task")[:4] == b"\x89PNG"
