"""Compare the precisions of one sample, as sampleINT8 does: top-1 and top-5 per precision."""

import io
from typing import Any

PRECISION_ORDER = ("fp32", "fp16", "int8")


def precision_summary(scores: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Top-1/top-5 per precision and each one's difference to FP32 in percentage points.

    Args:
        scores: accuracy reports (``workflow.score.classify.accuracy``) by precision.

    Returns:
        ``{"precisions": {p: {"top1", "top5", "count", "top1_drop_points"}}, "reference"}``;
        the drop is FP32 minus the precision (positive = worse), ``None`` without FP32.
    """
    reference = scores.get("fp32")
    table = {}
    for precision in sorted(scores, key=lambda p: (PRECISION_ORDER + (p,)).index(p)):
        score = scores[precision]
        drop = None if reference is None else 100.0 * (reference["top1"] - score["top1"])
        table[precision] = {
            "count": score["count"],
            "top1": score["top1"],
            "top5": score["top5"],
            "top1_drop_points": drop,
        }
    return {"reference": "fp32" if reference else None, "precisions": table}


def plot_precisions(summary: dict[str, Any], *, title: str) -> bytes:
    """Bar chart of top-1 and top-5 per precision, as PNG bytes (no timestamp inside)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["precisions"])
    top1 = [100 * summary["precisions"][p]["top1"] for p in names]
    top5 = [100 * summary["precisions"][p]["top5"] for p in names]
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    xs = range(len(names))
    bars1 = ax.bar([x - 0.2 for x in xs], top1, width=0.4, label="top-1")
    bars5 = ax.bar([x + 0.2 for x in xs], top5, width=0.4, label="top-5")
    ax.bar_label(bars1, fmt="%.2f", fontsize=8)
    ax.bar_label(bars5, fmt="%.2f", fontsize=8)
    ax.set_xticks(list(xs), [p.upper() for p in names])
    low = min(top1 + top5)
    ax.set_ylim(max(0.0, low - 5), 100.5)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
