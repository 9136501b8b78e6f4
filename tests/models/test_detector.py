"""The Detector interface: one implementation per registry network, the factory, and a new
detector kind (tests/models/centre_point.py) added as a registry row, its model module and a
line in the detectors' table, then planned by Snakemake and scored by the shared scorer."""

import io
import shutil

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT, copy_workflow, planned_jobs, snakemake
from tests.models.centre_point import HEATMAP, SIZE, CentreDetector
from workflow.data.detection import read_split, write_classes
from workflow.data.shapes import CLASSES, shape_seeds, write_shapes
from workflow.detect.postprocess import NmsParams
from workflow.errors import PipelineError
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.detectors import DETECTORS, detector_class, detector_from
from workflow.samples import load_registry
from workflow.score.detect import detector_runner, score_detection_set

#: The files a new detector kind touches beyond its test, docs and tiny config (the count
#: docs/adding-a-sample.md states): its module, the detectors' table, its registry row and
#: its network in the registry's schema.
NEW_DETECTOR_FILES = (
    "workflow/models/centre.py",
    "workflow/models/detectors.py",
    "config/samples.yaml",
    "config/samples.schema.yaml",
)


def test_every_registered_detector_network_has_one_detector_of_its_parts():
    for name, row in load_registry().samples.items():
        if row["task"] == "detect":
            cls = detector_class(row["network"])
            assert cls.network == row["network"], name
            assert cls.parts == tuple(row.get("parts", ())), name


def test_an_unknown_network_names_the_choices():
    with pytest.raises(PipelineError, match="choose among ssd, yolov3, faster_rcnn"):
        detector_from({"network": "centre"})
    with pytest.raises(PipelineError, match="names no network"):
        detector_from({"cfg": "x.cfg"})
    with pytest.raises(PipelineError, match="no graph 'head'"):
        detector_from({"network": "ssd"}).part_feeds(
            "head", np.zeros((1, 2, 2, 3)), None, batch_size=1
        )
    assert set(DETECTORS) == {"ssd", "yolov3", "faster_rcnn"}


def _add_centre_detector(work):
    """Add the centre-point detector to a copy of the workflow (rules, scripts and config in
    ``work``, the package in ``work/workflow``); return the files that differ from the
    checkout's or are new."""
    shutil.copytree(
        ROOT / "workflow", work / "workflow", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "tests/models/centre_point.py", work / "workflow/models/centre.py")
    table = work / "workflow/models/detectors.py"
    text = table.read_text()
    text = text.replace(
        "from workflow.models.frcnn import FrcnnDetector\n",
        "from workflow.models.centre import CentreDetector\n"
        "from workflow.models.frcnn import FrcnnDetector\n",
    )
    text = text.replace(
        "(SsdDetector, YoloDetector, FrcnnDetector)",
        "(SsdDetector, YoloDetector, FrcnnDetector, CentreDetector)",
    )
    table.write_text(text)
    rows = yaml.safe_load((work / "config/samples.yaml").read_text())
    rows["centre"] = {
        "task": "detect",
        "data": "detect",
        "train": "detector",
        "network": "centre",
        "weights": "centre",
        "builder": "onnx",
        "precisions": ["fp32", "fp16", "int8"],
        "seed_samples": [],
        "caption": "An anchor-free detector of object centres, trained by the shared loop.",
    }
    (work / "config/samples.yaml").write_text(yaml.safe_dump(rows, sort_keys=False))
    schema = work / "config/samples.schema.yaml"
    text = schema.read_text()
    schema.write_text(text.replace("yolov3, faster_rcnn,", "yolov3, faster_rcnn, centre,", 1))
    return sorted(
        str(path.relative_to(work))
        for path in work.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and (
            not (ROOT / path.relative_to(work)).is_file()
            or (ROOT / path.relative_to(work)).read_bytes() != path.read_bytes()
        )
    )


@pytest.mark.slow
def test_a_new_detector_kind_is_planned_through_the_shared_rules(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    assert _add_centre_detector(work) == sorted(NEW_DETECTOR_FILES)
    out = snakemake(work, "-n", "--config", "samples=[centre]", env={"PYTHONPATH": str(work)})
    jobs = planned_jobs(out.stdout)
    assert jobs["train_detector"] == 1 and jobs["onnx_export_detector"] == 1
    assert jobs["calibrate_batches_ppm"] == 1 and jobs["engine_build"] == 3
    assert jobs["score_detect"] == 3 and jobs["score_draw"] == 3
    assert "results/train/centre/weights.pt" in out.stdout


@pytest.mark.slow
def test_a_new_detector_kind_trains_exports_and_is_scored(tmp_path):
    for split, count in (("train", 8), ("test", 4)):
        write_shapes(
            tmp_path / split, shape_seeds(0, split, count), max_objects=3, min_size=40, max_size=90
        )
    write_classes(tmp_path / "classes.txt", CLASSES)
    train = read_split(tmp_path / "train", classes=CLASSES)
    detector = CentreDetector({"network": "centre"})
    settings = dict(seed=0, epochs=1, batch_size=4, learning_rate=0.003, weight_decay=0.0)
    model = detector.train(train.images, train.annotations, CLASSES, threads=1, **settings)
    again = detector.train(train.images, train.annotations, CLASSES, threads=1, **settings)
    assert state_dict_bytes(model) == state_dict_bytes(again)  # the shared loop is seeded
    (tmp_path / "w.pt").write_bytes(state_dict_bytes(model))
    graph, parity = detector.export(
        str(tmp_path / "w.pt"),
        len(CLASSES),
        train.images[:2],
        opset=18,
        batch_size=2,
        tolerance=1e-4,
    )
    assert sorted(parity) == [HEATMAP, SIZE]
    (tmp_path / "centre.onnx").write_bytes(graph)
    runner = detector_runner("ort", {"onnx": str(tmp_path / "centre.onnx")}, detector)
    found, report = score_detection_set(
        runner,
        str(tmp_path / "test"),
        str(tmp_path / "classes.txt"),
        place="host",
        params=NmsParams(0.01, 0.45, 20, 20),
        batch_size=2,
        iou_threshold=0.5,
        detector=detector,
    )
    assert report["count"] == 4 and 0.0 <= report["map"] <= 1.0 and report["detections"] > 0
    with np.load(io.BytesIO(found)) as saved:
        rows = saved["detections"][saved["keep_count"] > 0]
        assert saved["detections"].shape == (4, 20, 7)
        assert (rows[..., 3:] >= 0).all() and (rows[..., 3:] <= 1).all()
