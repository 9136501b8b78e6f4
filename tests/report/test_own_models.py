"""The own-models table: cells read back from a run's files (made, failed with the reason its
log gives, not run), the Markdown rendered from them, and docs/byo.md's table being exactly
what benchmarks/own_models.py renders from its committed JSON."""

import json

import pytest

from tests.conftest import ROOT
from workflow.report.own_models import (
    TABLE_END,
    TABLE_START,
    collect_cell,
    log_error,
    render_table,
    replace_between,
)


def test_the_docs_table_is_the_committed_json_rendered():
    data = json.loads((ROOT / "benchmarks" / "results" / "own_models.json").read_text())
    page = (ROOT / "docs" / "byo.md").read_text()
    assert TABLE_START in page and TABLE_END in page
    shown = page.split(TABLE_START + "\n", 1)[1].split(TABLE_END, 1)[0]
    assert shown == render_table(data)
    models = {cell["model"] for cell in data["cells"]}
    assert len(data["cells"]) == len(models) * len(data["precisions"])


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cells_read_what_was_made_and_why_the_rest_was_not(tmp_path):
    _write(tmp_path / "results/onnx/m/model.onnx", "graph")
    _write(tmp_path / "results/precision/m/int8.onnx", "graph")
    _write(tmp_path / "engines/m_int8.plan", "plan")
    _write(tmp_path / "engines/m_int8.plan.json", json.dumps({"plan": {"bytes": 2_500_000}}))
    layers = {"compute_count": 10, "in_intended": 9, "removed": 0, "other_intended": {}}
    _write(tmp_path / "engines/m_int8.layers.json", json.dumps(layers))
    outputs = [
        {"name": "a", "cosine": 0.99, "snr_db": 17.0, "argmax_agreement": None},
        {"name": "b", "cosine": 0.999, "snr_db": 25.0, "argmax_agreement": 0.75},
    ]
    report = {"outputs": outputs, "samples": 8}
    _write(tmp_path / "results/precision/m/int8.agreement.json", json.dumps(report))
    first = {"index": 3, "tensor": "t", "as": "t", "op": "Conv", "snr_db": 12.5}
    divergence = {"threshold_db": 20, "tensors": [{}] * 7, "first_divergent": first}
    _write(tmp_path / "results/precision/m/int8.divergence.json", json.dumps(divergence))
    # FP16: the graph's rule failed; its log ends with the uncaught error
    _write(
        tmp_path / "logs/precision/m.fp16.log",
        "2026-01-01 10:00:00,000 INFO workflow.quant: converting\n"
        "2026-01-01 10:00:01,000 CRITICAL uncaught: m.onnx | op X | fix it\n"
        "Traceback (most recent call last):\n  ...\n",
    )
    int8 = collect_cell(tmp_path, "m", "int8", argmax=["b"])
    assert int8["graph"] == {"made": True}
    assert int8["engine"]["plan_bytes"] == 2_500_000 and int8["engine"]["in_intended"] == 9
    assert int8["divergence"]["first"]["tensor"] == "t" and int8["divergence"]["tensors"] == 7
    # argmax agreement only for the outputs named: a's last axis holds no classes
    assert [o["argmax_agreement"] for o in int8["agreement"]] == [None, 0.75]
    assert collect_cell(tmp_path, "m", "int8")["agreement"][1]["argmax_agreement"] is None
    fp16 = collect_cell(tmp_path, "m", "fp16")
    assert fp16["graph"] == {"made": False, "reason": "m.onnx | op X | fix it"}
    assert fp16["engine"] == {"made": False, "reason": "not run"}
    assert fp16["agreement"] is None and fp16["agreement_error"] is None
    fp32 = collect_cell(tmp_path, "m", "fp32")
    assert fp32["graph"]["made"] and not fp32["engine"]["made"]
    table = render_table({"cells": [fp32, fp16, int8]}).splitlines()
    assert table[2].startswith("| `m` | FP32 | yes | not run | reference |")
    assert "refused: m.onnx \\| op X \\| fix it | no graph |" in table[3]
    # the worst output of several is named: cosine of a, SNR of a, argmax of b
    assert table[4] == (
        "| `m` | INT8 | yes | yes, 2.50 MB; 9/10 in int8 | 0.9900 (a) | 17.0 (a) | 0.7500 (b) "
        "| `t` (Conv, 12.5 dB; 4 of 7) |"
    )


def test_log_error_takes_the_last_error_line(tmp_path):
    log = tmp_path / "x.log"
    assert log_error(log) is None
    log.write_text(
        "2026-01-01 10:00:00,000 ERROR workflow.trt.layers: first\n"
        "2026-01-01 10:00:01,000 INFO workflow.trt: fine\n"
        "2026-01-01 10:00:02,000 ERROR workflow.trt.loader: second | why | fix\n"
    )
    assert log_error(log) == "second | why | fix"
    log.write_text("2026-01-01 10:00:00,000 INFO a: nothing wrong\n")
    assert log_error(log) is None


def test_replace_between_keeps_the_rest_and_needs_both_markers():
    page = f"head\n{TABLE_START}\nold\n{TABLE_END}\ntail\n"
    assert replace_between(page, "new\n") == f"head\n{TABLE_START}\nnew\n{TABLE_END}\ntail\n"
    with pytest.raises(ValueError, match="markers"):
        replace_between("head\n", "new\n")
