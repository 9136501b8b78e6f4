"""The comparison with ModelOpt (workflow.report.modelopt): losses by the metric's direction,
the verdict, the failures' text, and that docs/modelopt.md shows what benchmarks/modelopt.py
renders from the committed JSON."""

import json

import pytest

from tests.conftest import ROOT
from workflow.report.modelopt import (
    ERROR_CHARS,
    at_least_as_accurate,
    loss,
    quantized_nodes,
    render_table,
    replace_between,
    short_error,
)


def _row(sample, precision, metrics, *, ours_s, modelopt_s, error=None, graphs=None):
    return {
        "sample": sample,
        "precision": precision,
        "metrics": [
            {"name": name, "fp32": fp32, "ours": ours, "modelopt": theirs}
            for name, fp32, ours, theirs in metrics
        ],
        "ours": {"seconds": ours_s, "graphs": graphs or {}},
        "modelopt": {"seconds": modelopt_s, "error": error, "graphs": graphs or {}},
    }


def test_loss_is_positive_when_worse_whichever_way_the_metric_points():
    assert loss("top1", 0.98, 0.97) == pytest.approx(1.0)
    assert loss("top1", 0.98, 0.99) == pytest.approx(-1.0)
    assert loss("cer", 0.005, 0.015) == pytest.approx(1.0)  # a higher error rate is worse
    assert loss("map", 0.9, None) is None


def test_at_least_as_accurate_follows_the_direction_and_counts_ties():
    assert at_least_as_accurate("top1", 0.9, 0.9) is True
    assert at_least_as_accurate("top1", 0.89, 0.9) is False
    assert at_least_as_accurate("cer", 0.01, 0.02) is True
    assert at_least_as_accurate("cer", 0.03, 0.02) is False
    assert at_least_as_accurate("hr", 0.6, None) is None


def test_short_error_keeps_the_first_line_cut_and_table_safe():
    assert short_error("ValueError: a | b\nTraceback ...") == "ValueError: a \\| b"
    long = short_error("RuntimeError: " + "x" * 500)
    assert len(long) == ERROR_CHARS and long.endswith("...")
    assert short_error("   ") == "failed"


def test_render_table_shows_points_losses_verdicts_times_and_failures():
    two = {"ocr_det": {"seconds": 10.0}, "ocr_rec": {"seconds": 2.5}}
    data = {
        "rows": [
            _row("mnist", "int8", [("top1", 0.9861, 0.9861, 0.9850)], ours_s=2.4, modelopt_s=5.0),
            _row(
                "ocr",
                "fp8",
                [("exact", 0.96, 0.845, 0.90), ("cer", 0.0051, 0.0179, 0.0100)],
                ours_s=12.5,
                modelopt_s=12.5,
                graphs=two,
            ),
            _row(
                "movielens",
                "int4w",
                [("hr", 0.642, 0.640, None)],
                ours_s=0.3,
                modelopt_s=None,
                error="movielens: ImportError: cupy needs a GPU",
            ),
        ]
    }
    table = render_table(data)
    mnist = "| `mnist` | INT8 | top-1 | 98.61 | 98.61 | 98.50 | +0.00 / +0.11 | yes | 2.40 / 5.00 "
    assert mnist in table
    ocr = "| `ocr` | FP8 (E4M3) | lines read exactly | 96.00 | 84.50 | 90.00 | +11.50 / +6.00 | no "
    assert ocr in table
    assert "| 12.50 (10.00 + 2.50) / 12.50 (10.00 + 2.50) |" in table
    # the second metric of a row leaves the times out; CER's loss is its rise
    assert "| `ocr` | FP8 (E4M3) | CER | 0.51 | 1.79 | 1.00 | +1.28 / +0.49 | no |  |  |" in table
    assert "| 64.20 | 64.00 | failed | +0.20 / - | - | 0.30 / - |" in table
    assert "- `movielens` INT4 weight-only: movielens: ImportError: cupy needs a GPU" in table


def test_quantized_nodes_counts_compute_nodes_behind_a_dequantize_over_the_graphs():
    det = {"made": {"dq_feeds": {"Conv": 60, "MaxPool": 2, "Add": 3}}}
    rec = {"made": {"dq_feeds": {"MatMul": 10, "Gemm": 1}}}
    assert quantized_nodes({"graphs": {"det": det, "rec": rec}}) == 71
    assert quantized_nodes({"graphs": {"det": det, "rec": {"error": "x"}}}) is None
    assert quantized_nodes({"graphs": {}}) is None
    row = _row("mnist", "int8", [("top1", 0.9, 0.9, 0.9)], ours_s=1, modelopt_s=2)
    row["ours"]["graphs"] = {"mnist": {"made": {"dq_feeds": {"Conv": 2, "Gemm": 2}}}}
    row["modelopt"]["graphs"] = {"mnist": {"made": {"dq_feeds": {"Conv": 1, "MaxPool": 2}}}}
    row["compute_nodes"] = {"mnist": 4}
    assert render_table({"rows": [row]}).splitlines()[2].endswith("| 1.00 / 2.00 | 4 / 1 (4) |")


def test_render_table_lists_our_placement_with_modelopt_ranges_where_it_was_measured():
    row = _row("ssd", "int8", [("map", 0.9564, 0.9561, 0.9564)], ours_s=1, modelopt_s=2)
    row["ours_with_modelopt_ranges"] = {
        "metrics": {"map": 0.9563},
        "ranges": {"ssd": {"from_modelopt": 12, "of": 13}},
    }
    plain = _row("mnist", "int8", [("top1", 0.98, 0.98, 0.98)], ours_s=1, modelopt_s=2)
    table = render_table({"rows": [plain, row]})
    assert table.rstrip().splitlines()[-1] == (
        "- `ssd` INT8: mAP@0.5 95.63 (ours 95.61, ModelOpt 95.64; 12 of 13 ranges from ModelOpt)"
    )
    assert "our placement, its calibration" not in render_table({"rows": [plain]})


def test_render_table_says_when_nothing_failed():
    data = {"rows": [_row("ssd", "fp8", [("map", 0.95, 0.95, 0.95)], ours_s=1, modelopt_s=2)]}
    assert table_tail(render_table(data)) == "- none"


def table_tail(table):
    return table.rstrip().splitlines()[-1]


def test_docs_table_is_the_one_rendered_from_the_committed_json():
    measured = json.loads((ROOT / "benchmarks/results/modelopt.json").read_text())
    page = (ROOT / "docs/modelopt.md").read_text()
    assert replace_between(page, render_table(measured)) == page
    assert measured["rows"], "the committed JSON holds measurements"
