"""The results summary from a run's files: one row per sample and precision, read from the
score files, engine metadata, layer reports, benchmarks and graphs; the table, CSV, HTML and
chart; the command-line table."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from workflow.report.summary import csv_bytes, format_table, html_bytes, plot_summary, summarize
from workflow.samples import load_registry, summary_files

REGISTRY = load_registry()


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _fake_run(work, sample, scores, *, layers=(3, 3)):
    """The files the pipeline writes for ``sample``: scores by precision, and per engine a
    graph, metadata, a layer report and a benchmark."""
    files = {}
    for precision, score in scores.items():
        found = summary_files(REGISTRY, sample, precision)
        _write(work / found["score"], json.dumps(score))
        for engine in found["engines"]:
            _write(work / engine["graph"], "x" * 2_000_000)
            _write(work / engine["meta"], json.dumps({"plan": {"bytes": 3_000_000}}))
            report = {"intended": precision, "in_intended": layers[0], "compute_count": layers[1]}
            _write(work / engine["layers"], json.dumps(report))
            _write(work / engine["benchmark"], "s\th:m:s\n1.50\t0:00:01\n")
        files[precision] = {
            "score": str(work / found["score"]),
            "engines": [{k: str(work / v) for k, v in e.items()} for e in found["engines"]],
        }
    return files


def test_rows_read_every_file(tmp_path):
    files = {
        "mnist": _fake_run(
            tmp_path,
            "mnist",
            {
                "fp32": {"count": 10, "top1": 0.99, "top5": 1.0},
                "int8": {"count": 10, "top1": 0.98, "top5": 1.0},
            },
            layers=(2, 4),
        ),
        "faster_rcnn": _fake_run(tmp_path, "faster_rcnn", {"fp16": {"count": 3, "map": 0.9}}),
        "movielens_mps": _fake_run(
            tmp_path, "movielens_mps", {"fp32": {"count": 5, "hr": 0.6, "ndcg": 0.4}}
        ),
    }
    summary = summarize(
        REGISTRY.samples, ["mnist", "faster_rcnn", "movielens_mps"], ["fp32", "fp16", "int8"], files
    )
    rows = {(r["sample"], r["precision"]): r for r in summary["rows"]}
    assert list(rows) == [
        ("mnist", "fp32"),
        ("mnist", "int8"),
        ("faster_rcnn", "fp16"),
        ("movielens_mps", "fp32"),
    ]
    int8 = rows["mnist", "int8"]
    assert int8["value"] == pytest.approx(98.0) and int8["drop"] == pytest.approx(1.0)
    assert int8["onnx_mb"] == 2.0 and int8["plan_mb"] == 3.0 and int8["build_s"] == 1.5
    assert int8["intended"] == 0.5 and int8["metric"] == "top-1"
    frcnn = rows["faster_rcnn", "fp16"]  # two engines: rpn and head
    assert frcnn["plan_mb"] == 6.0 and frcnn["build_s"] == 3.0 and frcnn["drop"] is None
    assert frcnn["engines"] == ["faster_rcnn_rpn_fp16.plan", "faster_rcnn_head_fp16.plan"]
    served = rows["movielens_mps", "fp32"]
    assert served["plan_mb"] is None and served["value"] == pytest.approx(60.0)
    chosen = ("mnist", "faster_rcnn", "movielens_mps")
    seeds = {seed for name in chosen for seed in REGISTRY.samples[name]["seed_samples"]}
    assert summary["seed_samples"]["covered"] == sorted(seeds)
    assert set(summary["seed_samples"]["registered"]) > seeds
    missing = {item["sample"]: item for item in summary["not_built"]}
    assert (
        "ssd" in missing
        and missing["ssd"]["command"] == "snakemake --cores 2 --config 'samples=[ssd]'"
    )
    assert "mnist" not in missing
    table = format_table(summary["rows"])
    assert table.splitlines()[0].startswith("sample") and "50%" in table and "-" in table
    assert csv_bytes(summary).decode().splitlines()[2].startswith("mnist,classify,int8,top-1,98.0")
    page = html_bytes(summary).decode()
    assert "<table>" in page and "samples=[ssd]" in page
    assert plot_summary(summary)[:8] == b"\x89PNG\r\n\x1a\n"


def test_network_api_builds_count_their_matrix_multiplies(tmp_path):
    files = _fake_run(tmp_path, "charrnn", {"fp16": {"count": 9, "accuracy": 0.5}})
    layers = files["fp16"]["engines"][0]["layers"]
    report = {
        "intended": "fp16",
        "compute_count": 0,
        "in_intended": 0,
        "compute_layers": {"fp16": 3, "fp32": 1},
    }
    _write(tmp_path / layers, json.dumps(report))
    row = summarize(REGISTRY.samples, ["charrnn"], ["fp16"], {"charrnn": files})["rows"][0]
    assert row["intended"] == 0.75 and row["value"] == pytest.approx(50.0)


def test_command_line_table(tmp_path):
    files = {
        "mnist": _fake_run(
            tmp_path,
            "mnist",
            {
                "fp32": {"count": 1, "top1": 0.9, "top5": 1},
                "fp16": {"count": 1, "top1": 0.95, "top5": 1},
            },
        )
    }
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summarize(REGISTRY.samples, ["mnist"], ["fp32", "fp16"], files)))
    tool = [sys.executable, str(ROOT / "scripts/cli/summary.py"), "--summary", str(path)]
    out = subprocess.run(
        [*tool, "--sort", "value"], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines[2].split()[:3] == ["mnist", "classify", "fp16"]  # 95 before 90
    assert "not built: ssd: snakemake --cores 2 --config 'samples=[ssd]'" in out
    only = subprocess.run(
        [*tool, "--precision", "fp32"], capture_output=True, text=True, check=True
    ).stdout
    assert "fp16" not in only.split("seed samples")[0]
    none = subprocess.run([*tool, "--task", "detect"], capture_output=True, text=True)
    assert none.returncode == 2 and "no row" in none.stderr
    missing = subprocess.run(
        [*tool[:-1], str(tmp_path / "nope.json")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "missing" in missing.stderr


def test_agreement_columns_where_a_report_exists(tmp_path):
    scores = {
        "fp32": {"count": 10, "top1": 0.99, "top5": 1.0},
        "fp16": {"count": 10, "top1": 0.99, "top5": 1.0},
        "int8": {"count": 10, "top1": 0.98, "top5": 1.0},
    }
    files = {"mnist": _fake_run(tmp_path, "mnist", scores)}
    plain = summarize(REGISTRY.samples, ["mnist"], list(scores), files)
    assert "agreement" not in files["mnist"]["fp16"]  # _fake_run keeps score and engines only
    for precision in ("fp16", "int8"):
        files["mnist"][precision]["agreement"] = str(
            tmp_path / summary_files(REGISTRY, "mnist", precision)["agreement"]
        )
    assert summarize(REGISTRY.samples, ["mnist"], list(scores), files) == plain  # none built
    report = {  # as the rule writes it: an integer output first, SNR "inf" where equal
        "outputs": [
            {"name": "ids", "dtype": "int64", "equal_share": 1.0},
            {"name": "prob", "dtype": "float32", "cosine": 0.999871, "snr_db": 31.25},
        ]
    }
    _write(tmp_path / files["mnist"]["int8"]["agreement"], json.dumps(report))
    summary = summarize(REGISTRY.samples, ["mnist"], list(scores), files)
    rows = {r["precision"]: r for r in summary["rows"]}
    assert rows["int8"]["cosine"] == 0.999871 and rows["int8"]["snr_db"] == 31.25
    assert rows["int8"]["agreement_output"] == "prob"
    assert "cosine" not in rows["fp16"] and "snr_db" not in rows["fp32"]
    for key in ("value", "onnx_mb", "plan_mb", "intended"):  # the rest as without the report
        assert rows["int8"][key] == {r["precision"]: r for r in plain["rows"]}["int8"][key]
    assert list(summary["columns"])[-2:] == ["cosine", "snr_db"]
    assert list(plain["columns"]) == list(summary["columns"])[:-2]
    lines = csv_bytes(summary).decode().splitlines()
    assert lines[0].endswith(",cosine,snr_db,seed_samples")
    assert ",0.999871,31.25," in lines[3] and lines[2].count(",,,") == 1  # fp16: both empty
    report["outputs"][1]["snr_db"] = "inf"
    _write(tmp_path / files["mnist"]["int8"]["agreement"], json.dumps(report))
    summary = summarize(REGISTRY.samples, ["mnist"], list(scores), files)
    table = format_table(summary["rows"], summary["columns"])
    assert "SNR dB" in table.splitlines()[0] and "equal" in table.splitlines()[4]
    assert "0.999871" in html_bytes(summary).decode()


def test_agreement_reports_of_the_pipelines_graphs_only():
    assert summary_files(REGISTRY, "mnist", "int8")["agreement"] == (
        "results/precision/mnist/int8.agreement.json"
    )
    assert "agreement" not in summary_files(REGISTRY, "mnist", "fp32")
    assert "agreement" not in summary_files(REGISTRY, "charrnn", "fp16")  # network API
    assert summary_files(REGISTRY, "faster_rcnn", "fp16")["agreement"] == (
        "results/precision/faster_rcnn_rpn/fp16.agreement.json"
    )
