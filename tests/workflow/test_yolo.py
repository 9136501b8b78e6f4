"""The yolov3 sample's tiny chain in its own tree: darknet cfg -> PyTorch training -> darknet
.weights -> ONNX -> engines in three precisions -> mAP and drawn detections."""

import json

import numpy as np
import pytest

from tests.conftest import copy_workflow, snakemake
from tests.workflow.conftest import PRECISIONS, TINY
from workflow.formats.darknet import read_cfg, read_weights
from workflow.samples import load_registry

pytestmark = pytest.mark.slow


def test_yolov3_chain_from_cfg_and_weights_to_scored_engines(tmp_path):
    work = copy_workflow(tmp_path / "yolo")
    snakemake(work, "--cores", "2", "--configfile", TINY, "--config", "samples=[yolov3]")
    for target in load_registry(work / "config/samples.yaml").targets("yolov3", list(PRECISIONS)):
        assert (work / target).exists(), target
    network = read_cfg(work / "config/darknet/yolov3-shapes.cfg")
    weights = read_weights(work / "results/train/yolov3/model.weights", network)
    assert weights.seen == 48 and len(weights.convs) == len(network.convolutions())
    parity = json.loads((work / "results/onnx/yolov3/model.parity.json").read_text())
    assert sorted(parity) == ["yolo0", "yolo1"]
    assert all(p["max_abs_diff"] <= p["tolerance"] for p in parity.values())
    for precision in PRECISIONS:
        meta = json.loads((work / f"engines/yolov3_{precision}.plan.json").read_text())
        assert [o["name"] for o in meta["outputs"]] == ["yolo0", "yolo1"]
        layers = json.loads((work / f"engines/yolov3_{precision}.layers.json").read_text())
        assert layers["in_intended"] == layers["compute_count"] == 14  # every convolution
        score = json.loads((work / f"results/score/yolov3/{precision}/map.json").read_text())
        assert score["count"] == 16 and 0 <= score["map"] <= 1
        found = np.load(work / f"results/score/yolov3/{precision}/detections.npz")
        assert found["detections"].shape == (16, 100, 7)
    summary = json.loads((work / "results/score/yolov3/precisions.json").read_text())
    assert summary["metrics"] == ["map"] and set(summary["precisions"]) == set(PRECISIONS)
