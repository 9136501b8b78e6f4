"""Charts of where a reduced precision leaves FP32: the SNR of every tensor along the graph
(``workflow.score.divergence``) and the per-layer INT8 sensitivity
(``workflow.score.sensitivity``)."""

import io
import math
from typing import Any

from workflow.report.agreement import EXACT_DB

#: Marker and colour per row kind of a divergence report.
STYLES = {"computed": ("o", "#4c72b0"), "quantized": ("v", "#dd8452"), "cast": ("s", "#55a868")}


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _height(snr: Any, exact: float = EXACT_DB) -> float:
    """A chart's height of an SNR as written (``json_ready``): ``exact`` for an equal tensor,
    0 for ``-inf`` or ``nan``."""
    value = float(snr)
    if value == math.inf:
        return exact
    return value if math.isfinite(value) else 0.0


def plot_divergence(reports: list[dict[str, Any]], *, title: str) -> bytes:
    """The SNR against FP32 of every compared tensor in graph order, one series per report
    (precision), marked by row kind; the threshold as a dashed line and each report's first
    divergent tensor circled and named. An equal tensor (a graph input) is drawn 10 dB above
    the highest finite SNR. PNG bytes without a timestamp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    longest = max((len(r["tensors"]) for r in reports), default=0)
    finite = [
        float(r["snr_db"])
        for report in reports
        for r in report["tensors"]
        if r.get("snr_db") is not None and math.isfinite(float(r["snr_db"]))
    ]
    exact = max([*finite, *(float(r["threshold_db"]) for r in reports), 0.0]) + 10
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.03 * longest + 4)), 4.5), dpi=100)
    for report in reports:
        rows = [r for r in report["tensors"] if r.get("snr_db") is not None]
        precision = report["precision"].upper()
        ax.plot(
            [r["index"] for r in rows],
            [_height(r["snr_db"], exact) for r in rows],
            lw=0.8,
            alpha=0.6,
            label=f"{precision} vs FP32",
        )
        for kind, (marker, colour) in STYLES.items():
            part = [r for r in rows if r["as"] == kind]
            if part:
                ax.scatter(
                    [r["index"] for r in part],
                    [_height(r["snr_db"], exact) for r in part],
                    s=10,
                    marker=marker,
                    color=colour,
                    label=f"{precision} {kind}",
                    zorder=3,
                )
        first = report.get("first_divergent")
        if first:
            y = _height(first["snr_db"], exact)
            ax.scatter([first["index"]], [y], s=120, facecolors="none", edgecolors="red", zorder=4)
            ax.annotate(
                f"{precision} first below: {first['tensor']} ({first['op']}, {first['as']})",
                (first["index"], y),
                xytext=(8, 12),
                textcoords="offset points",
                fontsize=8,
                color="red",
            )
    if reports:
        threshold = float(reports[0]["threshold_db"])
        ax.axhline(threshold, ls="--", color="grey", lw=1, label=f"threshold {threshold:g} dB")
    ax.set_xlabel("tensor, in graph order")
    ax.set_ylabel(f"SNR vs FP32 (dB; equal drawn at {exact:.0f})")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper right")
    return _png(fig)


def plot_sensitivity(report: dict[str, Any], *, title: str, worst: int = 20) -> bytes:
    """The ``worst`` nodes by the SNR of the graph outputs with only that node in INT8, and
    beside each the SNR with every quantized node but that one in INT8; the full INT8 graph's
    SNR as a dashed line. PNG bytes without a timestamp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["nodes"][:worst]
    fig, ax = plt.subplots(figsize=(9.5, max(3.0, 0.32 * len(rows) + 1.5)), dpi=100)
    ys = list(range(len(rows)))
    only = [_height(r["only"]["snr_db"]) for r in rows]
    rest = [_height(r["all_but"]["snr_db"]) if r["all_but"] else 0.0 for r in rows]
    ax.barh([y - 0.2 for y in ys], only, height=0.4, color="#c44e52", label="only this in INT8")
    ax.barh([y + 0.2 for y in ys], rest, height=0.4, color="#4c72b0", label="all but this")
    whole = report["int8"]["snr_db"]
    if whole is not None:
        ax.axvline(_height(whole), ls="--", color="grey", label="all INT8")
    ax.set_yticks(ys, [f"{r['node']} ({r['op']})" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("SNR of the graph outputs vs FP32 (dB; higher is closer)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)
