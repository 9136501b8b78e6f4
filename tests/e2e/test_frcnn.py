"""The faster_rcnn sample's tiny chain in its own tree: PyTorch training -> rpn and head graphs
-> calibration of each (the head on the rpn's features and proposals) -> two engines per
precision -> mAP through both graphs and the host's proposal step, drawn detections."""

import json

import numpy as np
import pytest

from tests.conftest import copy_workflow, snakemake
from tests.e2e.conftest import PRECISIONS, TINY
from workflow.quant.batches import iter_feeds
from workflow.samples import load_registry

pytestmark = pytest.mark.slow


def test_faster_rcnn_chain_from_training_to_two_engines_per_precision(tmp_path):
    work = copy_workflow(tmp_path / "frcnn")
    snakemake(work, "--cores", "2", "--configfile", TINY, "--config", "samples=[faster_rcnn]")
    registry = load_registry(work / "config/samples.yaml")
    for target in registry.targets("faster_rcnn", list(PRECISIONS)):
        assert (work / target).exists(), target
    outputs = {"rpn": ["features", "proposals", "objectness"], "head": ["boxes", "scores"]}
    for part, names in outputs.items():
        parity = json.loads(
            (work / f"results/onnx/faster_rcnn_{part}/model.parity.json").read_text()
        )
        assert sorted(parity) == sorted(names)
        assert all(p["max_abs_diff"] <= p["tolerance"] for p in parity.values())
        for precision in PRECISIONS:
            meta = json.loads(
                (work / f"engines/faster_rcnn_{part}_{precision}.plan.json").read_text()
            )
            assert [o["name"] for o in meta["outputs"]] == names
            assert meta["source"]["path"].endswith(
                f"faster_rcnn_{part}/model.onnx" if precision == "fp32" else f"{precision}.onnx"
            )
    feeds = list(iter_feeds(work / "results/calibrate/faster_rcnn_head/batches"))
    assert len(feeds) == 2  # tiny: 2 batches of 4 scenes
    assert feeds[0]["features"].shape == (4, 64, 16, 16) and feeds[0]["rois"].shape == (4, 64, 4)
    table = (work / "results/calibrate/faster_rcnn_head/calibration.table").read_text()
    assert len(table.splitlines()) > 1
    for precision in PRECISIONS:
        score = json.loads((work / f"results/score/faster_rcnn/{precision}/map.json").read_text())
        assert score["count"] == 16 and 0 <= score["map"] <= 1
        assert score["runner"].startswith("frcnn(ort:")
        found = np.load(work / f"results/score/faster_rcnn/{precision}/detections.npz")
        assert found["detections"].shape == (16, 100, 7)
        assert len(list((work / f"results/score/faster_rcnn/{precision}/drawn").glob("*.png"))) == 3
    summary = json.loads((work / "results/score/faster_rcnn/precisions.json").read_text())
    assert summary["metrics"] == ["map"] and set(summary["precisions"]) == set(PRECISIONS)
