"""The ocr sample's tiny chain in its own tree: PP-OCRv4's shipped graphs -> prepared FP32
graphs -> FP16 graphs and calibrated INT8 graphs -> scores of each on rendered text, drawn
pages; the FP32 engines of both graphs built with their profiles."""

import json

import pytest

from tests.conftest import copy_workflow, planned_jobs, snakemake
from tests.e2e.conftest import PRECISIONS, TINY, overlay
from workflow.quant.batches import iter_feeds

pytestmark = pytest.mark.slow

#: A few lines and pages: enough for one calibration feed of each graph.
SMALL = {
    "samples": ["ocr"],
    "ocr": {
        "data": {"lines": 8, "pages": 1, "calib_lines": 8, "calib_pages": 1},
        "rec": {"batch_size": 8},
        "draw": 1,
    },
}


def test_ocr_chain_scores_every_precision_and_builds_fp32_engines(tmp_path):
    work = copy_workflow(tmp_path / "ocr")
    config = ["--configfile", TINY, overlay(work, SMALL)]
    targets = [
        "results/score/ocr/precisions.json",
        "results/score/ocr/fp32/drawn",
        "engines/ocr_det_fp32.plan",
        "engines/ocr_rec_fp32.plan",
    ]
    planned = planned_jobs(snakemake(work, "-n", *targets, *config).stdout)
    assert planned["ocr_onnx"] == 2 and planned["ocr_score"] == len(PRECISIONS)
    snakemake(work, *targets, "--cores", "2", *config)
    feeds = list(iter_feeds(work / "results/calibrate/ocr_rec/batches"))
    assert len(feeds) == 1 and feeds[0]["x"].shape == (8, 3, 48, 320)
    (page,) = iter_feeds(work / "results/calibrate/ocr_det/batches")
    assert page["x"].shape == (1, 3, 480, 640)
    scores = {
        p: json.loads((work / f"results/score/ocr/{p}/ocr.json").read_text()) for p in PRECISIONS
    }
    assert scores["fp32"]["count"] == 8 and scores["fp32"]["pages"] == 1
    # the shipped FP32 models read these rendered lines and find the page's lines
    assert scores["fp32"]["exact"] >= 0.75 and scores["fp32"]["recall"] >= 0.75
    assert abs(scores["fp16"]["exact"] - scores["fp32"]["exact"]) <= 0.125  # one line of 8
    assert 0.0 <= scores["int8"]["cer"]
    compared = json.loads((work / "results/score/ocr/precisions.json").read_text())
    assert compared["metrics"] == ["exact", "recall", "char_accuracy"]
    assert len(list((work / "results/score/ocr/fp32/drawn").glob("*.png"))) == 1
    profiles = {  # the named dimensions' ranges: ocr.det.limit_side, ocr.rec widths and batch
        "det": {"min": [1, 3, 32, 32], "opt": [1, 3, 480, 640], "max": [1, 3, 960, 960]},
        "rec": {"min": [1, 3, 48, 320], "opt": [8, 3, 48, 320], "max": [8, 3, 48, 1280]},
    }
    for part, profile in profiles.items():
        meta = json.loads((work / f"engines/ocr_{part}_fp32.plan.json").read_text())
        assert meta["source"]["path"] == f"results/onnx/ocr_{part}/model.onnx"
        assert meta["build"]["profile"] == {"x": profile}
        prepared = json.loads((work / f"results/onnx/ocr_{part}/prepare.json").read_text())
        assert prepared["opset"]["found"] == 12 and prepared["constants_folded"] > 300
