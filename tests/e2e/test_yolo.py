"""The yolov3 sample's tiny chain in its own tree: darknet cfg -> PyTorch training -> darknet
.weights -> ONNX -> engines in three precisions -> mAP and drawn detections."""

import json

import numpy as np
import pytest

from tests.conftest import copy_workflow, snakemake
from tests.e2e.conftest import PRECISIONS, TINY
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


def test_official_files_placed_by_hand_are_checked_and_your_own_set_is_copied(tmp_path):
    from tests.conftest import planned_jobs
    from tests.e2e.conftest import overlay
    from workflow.data.detection import read_split, write_classes
    from workflow.data.shapes import CLASSES, shape_seeds, write_shapes

    work = copy_workflow(tmp_path / "coco")
    mine = tmp_path / "mine"  # your detection set
    for split in ("train", "test"):
        write_shapes(
            mine / split, shape_seeds(0, split, 3), max_objects=2, min_size=30, max_size=90
        )
    write_classes(mine / "classes.txt", CLASSES)
    settings = {
        "samples": ["yolov3_coco"],
        "data": {"detect": {"source": "folder", "folder": str(mine)}},
        "train": {"darknet": {"dir": "official"}},
    }
    config = ["--configfile", TINY, overlay(work, settings)]
    plan = planned_jobs(snakemake(work, "-n", *config).stdout)
    assert plan["data_download_darknet"] == 3 and plan["data_detect_folder"] == 1
    assert plan["onnx_export_darknet"] == 1 and "train_yolo" not in plan
    snakemake(work, "results/data/folder/classes.txt", "--cores", "1", *config)
    copied = read_split(work / "results/data/folder/train", classes=CLASSES)
    assert copied.names == ["000000", "000001", "000002"]
    official = work / "official"  # files placed by hand, not the official ones
    official.mkdir()
    (official / "yolov3.cfg").write_text((work / "config/darknet/yolov3-shapes.cfg").read_text())
    (official / "yolov3.weights").write_bytes(bytes(64))
    (official / "coco.names").write_text("person\n")
    target = "results/onnx/yolov3_coco/model.onnx"
    out = snakemake(work, target, "--cores", "1", *config, check=False)
    log = (work / "logs/onnx/yolov3_coco.darknet.log").read_text()
    assert out.returncode != 0 and not (work / target).exists()
    assert (
        "official/yolov3.cfg | md5 " in log and "expected b969a43a848bbf26901643b833cfb96c" in log
    )
    assert "download it by hand from https://raw.githubusercontent.com/pjreddie/darknet/" in log


def test_the_cfg_follows_the_detection_set(tmp_path):
    from tests.e2e.conftest import overlay

    work = copy_workflow(tmp_path / "cfg")

    def dry(detect):
        settings = {"samples": ["yolov3"], "data": {"detect": detect}}
        return snakemake(work, "-n", "--configfile", TINY, overlay(work, settings), check=False)

    voc = dry({"source": "voc2007"}).stdout
    train = voc.split("rule train_yolo:", 1)[1].split("\n\n", 1)[0]
    assert "config/darknet/yolov3-voc.cfg" in train
    mine = dry({"source": "folder", "folder": str(tmp_path)})
    assert mine.returncode != 0
    assert "train.yolo.cfg | no darknet cfg for data.detect.source folder" in mine.stdout
