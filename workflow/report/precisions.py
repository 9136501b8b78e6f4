"""Compare the precisions of one sample, as sampleINT8 does: its metrics per precision (top-1
and top-5 for a classifier, mAP for a detector) and each one's drop from FP32."""

import io
from typing import Any

#: Precisions from the widest to the narrowest (fp8: FP8 E4M3 Q/DQ; int4w: INT4 weight-only).
PRECISION_ORDER = ("fp32", "fp16", "fp8", "int8", "int4w")
#: How each precision is named in tables and plots.
PRECISION_LABELS = {
    "fp32": "FP32",
    "fp16": "FP16",
    "fp8": "FP8 (E4M3)",
    "int8": "INT8",
    "int4w": "INT4 weight-only",
}
#: How each metric is labelled in the plot.
METRIC_LABELS = {
    "top1": "top-1",
    "top5": "top-5",
    "map": "mAP",
    "hr": "HR@k",
    "ndcg": "NDCG@k",
    "accuracy": "next-character accuracy",
    "bleu": "BLEU",
    "exact": "lines read exactly",
    "recall": "text lines found",
    "char_accuracy": "1 - CER",
}
#: Metrics already on a 0..100 scale (BLEU); the others are fractions, shown and compared in
#: percentage points.
POINT_METRICS = frozenset({"bleu"})


def points(metric: str, value: float) -> float:
    """A metric's value in points (0..100)."""
    return value if metric in POINT_METRICS else 100.0 * value


def precision_summary(
    scores: dict[str, dict[str, Any]], metrics: tuple[str, ...] | list[str] = ("top1", "top5")
) -> dict[str, Any]:
    """Metrics per precision and each one's difference to FP32 in percentage points.

    Args:
        scores: score reports by precision (``workflow.score.classify.accuracy`` or
            ``workflow.score.detect.map_report``), each holding the ``metrics`` as fractions.
        metrics: the report fields compared.

    Returns:
        ``{"reference", "metrics", "precisions": {p: {"count", <metric>,
        "<metric>_drop_points"}}}``; a drop is FP32 minus the precision in points of 100
        (percentage points of a fraction, BLEU points for BLEU; positive = worse),
        ``None`` without FP32. ``count`` is the number of test images. A metric that some
        score leaves out or gives as None (a model without a task metric; top-5 of five
        classes or fewer) is listed under ``not_reported`` instead.
    """
    reference = scores.get("fp32")
    # a metric a score leaves out (None: no task metric, or top-5 of five classes or fewer)
    left_out = [m for m in metrics if any(s.get(m) is None for s in scores.values())]
    metrics = [m for m in metrics if m not in left_out]
    table = {}
    for precision in sorted(scores, key=lambda p: (PRECISION_ORDER + (p,)).index(p)):
        score = scores[precision]
        row: dict[str, Any] = {"count": score["count"]}
        for metric in metrics:
            row[metric] = score[metric]
            row[f"{metric}_drop_points"] = (
                None
                if reference is None
                else points(metric, reference[metric]) - points(metric, score[metric])
            )
        table[precision] = row
    return {
        "reference": "fp32" if reference else None,
        "metrics": list(metrics),
        "not_reported": left_out,
        "precisions": table,
    }


def plot_precisions(summary: dict[str, Any], *, title: str) -> bytes:
    """Bar chart of each metric per precision, as PNG bytes (no timestamp inside)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["precisions"])
    metrics = summary["metrics"]
    width = 0.8 / max(1, len(metrics))
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    values = [100.0]
    if not metrics:
        ax.text(0.5, 0.5, "no task metric", ha="center", va="center", transform=ax.transAxes)
    for k, metric in enumerate(metrics):
        heights = [points(metric, summary["precisions"][p][metric]) for p in names]
        values += heights
        offset = (k - (len(metrics) - 1) / 2) * width
        bars = ax.bar(
            [x + offset for x in range(len(names))],
            heights,
            width=width,
            label=METRIC_LABELS.get(metric, metric),
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(list(range(len(names))), [p.upper() for p in names])
    ax.set_ylim(max(0.0, min(values) - 5), 100.5)
    ax.set_ylabel("score (points of 100)")
    ax.set_title(title)
    if metrics:
        ax.legend(loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
