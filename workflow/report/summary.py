"""One results page for every sample: per sample and precision its task metric, the drop against
FP32, the sizes of the ONNX graph and the plan, the engine build job's time, and the share of
its compute layers that run in the intended precision; where its agreement report with FP32
was built (``workflow.score.agreement``), the cosine and SNR of its graph's first float
output; the seed samples covered; the samples this run did not build, with the command that
builds them. Written as JSON, CSV, an HTML
table (for the Snakemake report) and a chart; :func:`format_table` prints it in a terminal.

Every value is read from the files the pipeline wrote (``workflow.samples.summary_files``):
the score file, the engines' ``.plan.json`` (plan size), ``.layers.json`` (layer precisions),
the build rules' benchmark files and the graphs.
"""

import csv
import html
import io
import json
from pathlib import Path
from typing import Any

from workflow.report.agreement import first_output
from workflow.report.precisions import METRIC_LABELS, PRECISION_LABELS, PRECISION_ORDER, points
from workflow.samples import TASK_SCORES

#: The table's columns, in order, with their headings.
COLUMNS = {
    "sample": "sample",
    "task": "task",
    "precision": "precision",
    "metric": "metric",
    "value": "value",
    "drop": "drop vs FP32",
    "onnx_mb": "ONNX MB",
    "plan_mb": "plan MB",
    "build_s": "build s",
    "intended": "in precision",
}
#: Columns added where some row has an agreement report with FP32 (its first float output).
AGREEMENT_COLUMNS = {"cosine": "cosine vs FP32", "snr_db": "SNR dB"}


def _layer_share(report: dict[str, Any]) -> tuple[int, int]:
    """(layers in the intended precision, layers counted) of one engine: its ONNX compute
    nodes where the graph was parsed, else its multiplying layers (a network-API build)."""
    if report.get("compute_count"):
        return int(report["in_intended"]), int(report["compute_count"])
    layers = report.get("compute_layers", {})
    return int(layers.get(report["intended"], 0)), int(sum(layers.values()))


def _benchmark_seconds(path: str | Path) -> float:
    """The wall seconds of a Snakemake benchmark file (first data row, column ``s``)."""
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text()), delimiter="\t"))
    return float(rows[0]["s"])


def sample_row(
    name: str, row: dict[str, Any], precision: str, files: dict[str, Any], reference: float | None
) -> dict[str, Any]:
    """One line of the table from the files of one sample in one precision
    (``workflow.samples.summary_files``); ``reference`` is its FP32 metric, if built. A row
    whose ``agreement`` report exists also holds ``agreement_output``, ``cosine`` and
    ``snr_db`` (:func:`workflow.report.agreement.first_output`)."""
    metric = TASK_SCORES[row["task"]][1][0]
    score = json.loads(Path(files["score"]).read_text())
    # None where the score has no task metric (your model without labels)
    value = None if score.get(metric) is None else points(metric, score[metric])
    engines = files["engines"]
    line: dict[str, Any] = {
        "sample": name,
        "task": row["task"],
        "precision": precision,
        "metric": METRIC_LABELS.get(metric, metric),
        "value": value,
        "drop": None if reference is None or value is None else reference - value,
        "metrics": {m: score.get(m) for m in TASK_SCORES[row["task"]][1]},
        "engines": [Path(e["plan"]).name for e in engines],
        "onnx_mb": None,
        "plan_mb": None,
        "build_s": None,
        "intended": None,
        "seed_samples": row["seed_samples"],
    }
    agreement = files.get("agreement")
    if agreement and Path(agreement).is_file():
        found = first_output(json.loads(Path(agreement).read_text()))
        if found:
            line["agreement_output"] = found["output"]
            line["cosine"], line["snr_db"] = found["cosine"], found["snr_db"]
    if not engines:
        return line
    line["onnx_mb"] = sum(Path(e["graph"]).stat().st_size for e in engines) / 1e6
    line["plan_mb"] = (
        sum(json.loads(Path(e["meta"]).read_text())["plan"]["bytes"] for e in engines) / 1e6
    )
    if all("benchmark" in e for e in engines):
        line["build_s"] = sum(_benchmark_seconds(e["benchmark"]) for e in engines)
    if all("layers" in e for e in engines):
        shares = [_layer_share(json.loads(Path(e["layers"]).read_text())) for e in engines]
        counted = sum(total for _, total in shares)
        line["intended"] = sum(kept for kept, _ in shares) / counted if counted else None
    return line


def summarize(
    registry: dict[str, dict[str, Any]],
    chosen: list[str],
    precisions: list[str],
    files: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, Any]:
    """The summary of a run.

    Args:
        registry: every registered sample's row.
        chosen: the samples this run built (config ``samples``).
        precisions: the precisions this run built (config ``precisions``).
        files: per chosen sample, per precision it built, its files
            (``workflow.samples.summary_files``).
    """
    rows = []
    for name in chosen:
        made = [p for p in PRECISION_ORDER if p in files[name] and p in precisions]
        reference = None
        for precision in made:
            line = sample_row(name, registry[name], precision, files[name][precision], reference)
            if precision == "fp32":
                reference = line["value"]
                line["drop"] = None if reference is None else 0.0
            rows.append(line)
    covered = sorted({seed for name in chosen for seed in registry[name]["seed_samples"]})
    everything = sorted({seed for row in registry.values() for seed in row["seed_samples"]})
    not_built = [
        {
            "sample": name,
            "task": row["task"],
            "seed_samples": row["seed_samples"],
            "caption": row["caption"],
            "needs": row.get("needs", ""),
            "command": f"snakemake --cores 2 --config 'samples=[{name}]'",
        }
        for name, row in registry.items()
        if name not in chosen
    ]
    agreed = {k: h for k, h in AGREEMENT_COLUMNS.items() if any(k in row for row in rows)}
    return {
        "columns": COLUMNS | agreed,
        "rows": rows,
        "seed_samples": {"covered": covered, "registered": everything},
        "not_built": not_built,
    }


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "intended":
        return f"{100 * value:.0f}%"
    if key in ("value", "drop"):
        return f"{value:.2f}"
    if key in ("onnx_mb", "plan_mb"):
        return f"{value:.2f}"
    if key == "build_s":
        return f"{value:.1f}"
    if key == "cosine":
        return f"{value:.6f}"
    if key == "snr_db":
        return "equal" if value == float("inf") else f"{value:.1f}"
    return str(value)


def csv_bytes(summary: dict[str, Any]) -> bytes:
    """The table as CSV (raw values; empty where a sample has none)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*summary["columns"], "seed_samples"])
    for row in summary["rows"]:
        cells = ["" if row.get(k) is None else row[k] for k in summary["columns"]]
        writer.writerow([*cells, " ".join(row["seed_samples"])])
    return out.getvalue().encode()


def format_table(rows: list[dict[str, Any]], columns: dict[str, str] = COLUMNS) -> str:
    """The rows as an aligned text table."""
    cells = [[_cell(k, row.get(k)) for k in columns] for row in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(columns.values())]
    lines = ["  ".join(h.ljust(w) for h, w in zip(columns.values(), widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines) + "\n"


def html_bytes(summary: dict[str, Any]) -> bytes:
    """The table, the seed samples covered and the samples not built, as an HTML page."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in summary["columns"].values())
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_cell(k, row.get(k)))}</td>" for k in summary["columns"])
        + "</tr>"
        for row in summary["rows"]
    )
    missing = "".join(
        f"<li><b>{html.escape(item['sample'])}</b>"
        f" ({html.escape(', '.join(item['seed_samples']))}):"
        f" <code>{html.escape(item['command'])}</code>"
        + (f"; needs {html.escape(item['needs'])}" if item["needs"] else "")
        + "</li>"
        for item in summary["not_built"]
    )
    seeds = summary["seed_samples"]
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Results summary</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>"
        f"<h2>Results summary</h2><table><tr>{head}</tr>{body}</table>"
        f"<p>Seed samples covered by this run: {len(seeds['covered'])} of"
        f" {len(seeds['registered'])} registered: {html.escape(', '.join(seeds['covered']))}.</p>"
        f"<h3>Not built in this run</h3><ul>{missing or '<li>none</li>'}</ul></body></html>"
    )
    return page.encode()


def plot_summary(summary: dict[str, Any]) -> bytes:
    """Two panels, one bar per sample and precision: the task metric (points of 100) and the
    plan size (MB); PNG bytes without a timestamp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    labels = [f"{r['sample']} {PRECISION_LABELS.get(r['precision'], r['precision'])}" for r in rows]
    colors = {
        "fp32": "#4c72b0",
        "fp16": "#55a868",
        "fp8": "#dd8452",
        "int8": "#c44e52",
        "int4w": "#8172b3",
    }
    height = max(3.0, 0.28 * len(rows) + 1.2)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, height), dpi=100, sharey=True)
    positions = list(range(len(rows)))[::-1]
    left.barh(
        positions,
        [r["value"] or 0.0 for r in rows],
        color=[colors.get(r["precision"], "grey") for r in rows],
    )
    for y, r in zip(positions, rows, strict=True):
        shown = "no task metric" if r["value"] is None else f"{r['value']:.2f} {r['metric']}"
        left.text(r["value"] or 0.0, y, f" {shown}", va="center", fontsize=7)
    left.set_yticks(positions, labels, fontsize=7)
    left.set_xlim(0, 130)
    left.set_xlabel("task metric (points of 100)")
    right.barh(
        positions,
        [r["plan_mb"] or 0 for r in rows],
        color=[colors.get(r["precision"], "grey") for r in rows],
    )
    right.set_xlabel("plan size (MB; none for a serving sample)")
    fig.suptitle("Every sample and precision of this run")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
