"""The opt-in precisions' table (workflow.report.opt_in): what it reads from a built tree, and
that docs/reduced-precision.md shows what benchmarks/precisions.py renders from the committed
JSON."""

import json

import pytest

from tests.conftest import ROOT
from workflow.report.opt_in import TABLE_END, TABLE_START, collect, render_table, replace_between
from workflow.samples import load_registry, summary_files

REGISTRY = load_registry()


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _fake(tree, sample, precision, top1, plan_bytes, layers):
    found = summary_files(REGISTRY, sample, precision)
    _write(tree / found["score"], json.dumps({"top1": top1, "top5": 1.0, "runner": "ort"}))
    for engine in found["engines"]:
        _write(tree / engine["plan"], "plan")
        _write(tree / engine["graph"], "x" * 1000)
        _write(tree / engine["meta"], json.dumps({"plan": {"bytes": plan_bytes}}))
        _write(tree / engine["layers"], json.dumps(layers))
        _write(tree / engine["benchmark"], "s\th:m:s\n1.50\t0:00:01\n")


def test_collect_reads_metric_drops_plan_sizes_and_layer_shares(tmp_path):
    # a network-API build (counted by multiplying layers) and a parsed one (by ONNX nodes)
    _fake(tmp_path, "mlp", "fp32", 0.9805, 1_100_000, {"intended": "fp32"})
    api = {"intended": "int4w", "compute_layers": {"int4w": 3, "fp32": 1}}
    _fake(tmp_path, "mlp", "int4w", 0.9790, 300_000, api)
    for precision, top1 in (("fp32", 0.9861), ("fp16", 0.9861)):
        _fake(tmp_path, "mnist", precision, top1, 2_000_000, {"intended": precision})
    parsed = {"intended": "fp8", "in_intended": 3, "compute_count": 4}
    _fake(tmp_path, "mnist", "fp8", 0.9851, 1_000_000, parsed)
    measured = collect(tmp_path, REGISTRY)
    rows = {(r["sample"], r["precision"]): r for r in measured["rows"]}
    assert set(rows) == {("mlp", "int4w"), ("mnist", "fp8")}
    mlp = rows["mlp", "int4w"]
    assert mlp["values"] == {"fp32": pytest.approx(98.05), "int4w": pytest.approx(97.90)}
    assert mlp["drop_fp32"] == pytest.approx(0.15) and mlp["drop_fp16"] is None
    assert mlp["plan_mb"] == {"fp32": 1.1, "int4w": 0.3}
    assert mlp["layers"] == [{"engine": "mlp_int4w.plan", "in_precision": 3, "of": 4}]
    mnist = rows["mnist", "fp8"]
    assert mnist["drop_fp16"] == pytest.approx(0.10) and mnist["layers"][0]["of"] == 4
    assert {"sample": "ssd", "precision": "fp8"} in measured["not_built"]
    table = render_table(measured)
    assert "| `mlp` | INT4 weight-only | top-1 | 98.05 | - | 97.90 | 0.15 | - " in table
    assert "| 1.100 / - / 0.300 | 3/4 |" in table and "`ssd` fp8" in table


def test_replace_between_needs_both_markers():
    page = f"a\n{TABLE_START}\nold\n{TABLE_END}\nb\n"
    assert replace_between(page, "new\n") == f"a\n{TABLE_START}\nnew\n{TABLE_END}\nb\n"
    with pytest.raises(ValueError, match="markers"):
        replace_between("a\n", "new\n")


def test_docs_table_is_the_one_rendered_from_the_committed_json():
    measured = json.loads((ROOT / "benchmarks/results/precisions.json").read_text())
    page = (ROOT / "docs/reduced-precision.md").read_text()
    assert replace_between(page, render_table(measured)) == page
    assert measured["rows"], "the committed JSON holds measurements"
