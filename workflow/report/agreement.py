"""The agreement of a reduced-precision graph with FP32 (``workflow.score.agreement``) as a
JSON-ready dict and a chart of the SNR of every output."""

import io
import math
from typing import Any

#: Where the chart draws an output equal to FP32 (infinite SNR), in dB.
EXACT_DB = 150.0


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float written as the string ``"inf"``, ``"-inf"`` or
    ``"nan"`` (strict JSON has no such numbers; ``float()`` reads them back)."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def first_output(report: dict[str, Any]) -> dict[str, Any]:
    """The cosine and SNR (dB, a float: ``inf`` where equal) of the graph's first float
    output in an agreement report as written (``json_ready``); ``{}`` when it has none."""
    for output in report["outputs"]:
        if "snr_db" in output:
            return {
                "output": output["name"],
                "cosine": float(output["cosine"]),
                "snr_db": float(output["snr_db"]),
            }
    return {}


def plot_agreement(report: dict[str, Any], *, title: str) -> bytes:
    """One bar per float output: its SNR against FP32 in dB, labelled with the cosine and the
    argmax agreement where measured; an output equal to FP32 is drawn at ``EXACT_DB`` and
    labelled "equal". PNG bytes without a timestamp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outputs = [o for o in report["outputs"] if "snr_db" in o]
    snrs = [float(o["snr_db"]) for o in outputs]
    heights = [EXACT_DB if s == math.inf else max(s, 0.0) for s in snrs]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(outputs) + 2), 3.5), dpi=100)
    bars = ax.bar(range(len(outputs)), heights, color="#55a868")
    labels = []
    for output, snr in zip(outputs, snrs, strict=True):
        text = "equal" if snr == math.inf else f"{snr:.1f} dB"
        text += f"\ncos {float(output['cosine']):.6f}"
        if output.get("argmax_agreement") is not None:
            text += f"\nargmax {100 * output['argmax_agreement']:.1f}%"
        labels.append(text)
    ax.bar_label(bars, labels=labels, fontsize=7)
    ax.set_xticks(list(range(len(outputs))), [o["name"] for o in outputs], fontsize=8)
    ax.set_ylim(0, max([*heights, 10.0]) * 1.35)
    ax.set_ylabel("SNR vs FP32 (dB; higher is closer)")
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
