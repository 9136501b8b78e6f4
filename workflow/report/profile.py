"""The per-layer profile chart: the slowest layers of a sample, one bar per precision."""

import io
from typing import Any

from workflow.report.precisions import PRECISION_ORDER


def slowest_layers(tables: dict[str, dict[str, Any]], *, top: int) -> list[str]:
    """The ``top`` layers with the largest time in any precision, slowest first."""
    worst: dict[str, float] = {}
    for table in tables.values():
        for layer in table["layers"]:
            worst[layer["name"]] = max(worst.get(layer["name"], 0.0), layer["ms"])
    return sorted(worst, key=lambda name: (-worst[name], name))[:top]


def plot_profiles(tables: dict[str, dict[str, Any]], *, top: int, title: str) -> bytes:
    """Horizontal bars of the slowest layers' median times, one bar per precision, and each
    precision's whole-run time in the legend; PNG bytes (no timestamp inside)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = slowest_layers(tables, top=top)
    precisions = sorted(tables, key=lambda p: (PRECISION_ORDER + (p,)).index(p))
    height = 0.8 / len(precisions)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.32 * len(names) * len(precisions)), dpi=100)
    for k, precision in enumerate(precisions):
        ms = {layer["name"]: layer["ms"] for layer in tables[precision]["layers"]}
        offset = (k - (len(precisions) - 1) / 2) * height
        ax.barh(
            [y + offset for y in range(len(names))],
            [ms.get(name, 0.0) for name in names],
            height=height,
            label=f"{precision.upper()} (whole run {tables[precision]['total_ms']:.2f} ms)",
        )
    ax.set_yticks(list(range(len(names))), [name[-48:] for name in names], fontsize=7)
    ax.invert_yaxis()
    first = tables[precisions[0]]
    ax.set_xlabel(f"median ms per run (batch {first['batch_size']}, {first['runs']} runs)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
