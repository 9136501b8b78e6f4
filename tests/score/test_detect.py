import numpy as np
import pytest

from workflow.backend.base import BaseRunner, TensorSpec
from workflow.detect.evaluate import Detection, GroundTruth
from workflow.detect.postprocess import NmsParams
from workflow.score.detect import coco_map, detect, detection_list, map_report

CLASSES = ("circle", "square", "triangle")


def _truths(seed: int, images: int) -> list[GroundTruth]:
    rng = np.random.default_rng(seed)
    truths = []
    for image in range(images):
        for _ in range(rng.integers(1, 4)):
            x, y = rng.uniform(0, 0.6, 2)
            w, h = rng.uniform(0.1, 0.4, 2)
            truths.append(GroundTruth(image, int(rng.integers(1, 4)), (x, y, x + w, y + h)))
    return truths


def _noisy(truths: list[GroundTruth], seed: int) -> list[Detection]:
    """Detections near the truths with scores, some missed, some false alarms, some on the
    wrong class."""
    rng = np.random.default_rng(seed)
    found = []
    for g in truths:
        if rng.random() < 0.1:
            continue
        box = np.array(g.box) + rng.normal(0, 0.03, 4)
        label = g.label if rng.random() < 0.9 else int(rng.integers(1, 4))
        found.append(Detection(g.image, label, float(rng.uniform(0.3, 1)), tuple(box)))
    for _ in range(len(truths) // 3):
        x, y = rng.uniform(0, 0.7, 2)
        found.append(
            Detection(
                int(rng.integers(0, 50)),
                int(rng.integers(1, 4)),
                float(rng.uniform(0, 0.8)),
                (x, y, x + 0.2, y + 0.2),
            )
        )
    return found


def test_perfect_detections_score_one_in_both():
    truths = _truths(0, 20)
    found = [Detection(g.image, g.label, 0.9, g.box) for g in truths]
    report = map_report(
        found, truths, classes=CLASSES, images=20, iou_threshold=0.5, max_detections=100
    )
    assert report["map"] == pytest.approx(1.0) and report["library"]["map"] == pytest.approx(1.0)
    assert report["objects"] == len(truths) and report["count"] == 20
    assert set(report["per_class"]) == set(CLASSES)


@pytest.mark.parametrize("seed", range(4))
def test_our_map_agrees_with_pycocotools(seed):
    truths = _truths(seed, 50)
    found = _noisy(truths, seed + 100)
    report = map_report(
        found, truths, classes=CLASSES, images=50, iou_threshold=0.5, max_detections=100
    )
    assert 0.3 < report["map"] < 0.95
    assert report["library"]["difference"] < 0.005, report
    # interpolated as COCO does, our AP is pycocotools' to rounding: the matching agrees
    assert report["library"]["difference_101point"] < 1e-9, report


def test_no_detections_score_zero():
    truths = _truths(0, 5)
    assert (
        coco_map([], truths, classes=[1, 2, 3], images=5, iou_threshold=0.5, max_detections=100)
        == 0.0
    )
    assert (
        map_report([], truths, classes=CLASSES, images=5, iou_threshold=0.5, max_detections=100)[
            "map"
        ]
        == 0.0
    )


class _Fixed(BaseRunner):
    """Returns given boxes and scores for any batch (the rows of the batch's images)."""

    def __init__(self, boxes, scores):
        super().__init__("fixed")
        self.boxes, self.scores = boxes, scores

    def _activate(self):
        pass

    def _deactivate(self):
        pass

    def _input_metadata(self):
        return [TensorSpec("image", np.dtype(np.float32), (None, 1))]

    def _infer(self, feed):
        index = feed["image"][:, 0].astype(int)
        return {"boxes": self.boxes[index], "scores": self.scores[index]}


def test_detect_numbers_images_over_the_whole_set():
    rng = np.random.default_rng(0)
    boxes = np.tile(np.array([0.1, 0.1, 0.5, 0.5], np.float32), (5, 3, 1))
    scores = rng.dirichlet(np.ones(3), (5, 3)).astype(np.float32)
    images = np.arange(5, dtype=np.float32)[:, None]
    with _Fixed(boxes, scores) as runner:
        out, counts = detect(
            runner, images, batch_size=2, place="host", params=NmsParams(0.0, 0.5, 10, 10)
        )
    assert out.shape == (5, 10, 7) and counts.tolist() == [2] * 5
    assert [d.image for d in detection_list(out, counts)] == [i for i in range(5) for _ in "ab"]
    with _Fixed(boxes, scores) as runner, pytest.raises(Exception, match="nms.place"):
        detect(runner, images, batch_size=2, place="graph", params=NmsParams(0.0, 0.5, 10, 10))


def test_weights_trained_elsewhere_are_scored_only_on_their_classes(tmp_path):
    from workflow.data.detection import write_classes
    from workflow.errors import PipelineError
    from workflow.models.detectors import detector_from
    from workflow.score.detect import score_detection_set

    write_classes(tmp_path / "classes.txt", ["circle", "square"])
    write_classes(tmp_path / "coco.names", ["person", "bicycle", "car"])
    detector = detector_from(
        {"network": "yolov3", "cfg": "x.cfg", "names": str(tmp_path / "coco.names")}
    )
    with pytest.raises(PipelineError) as err:
        score_detection_set(
            None,  # never reached
            str(tmp_path / "test"),
            str(tmp_path / "classes.txt"),
            place="host",
            params=NmsParams(0.01, 0.45, 10, 10),
            batch_size=1,
            iou_threshold=0.5,
            detector=detector,
        )
    message = str(err.value)
    assert "lists 2 classes (circle, square, ...); the detector detects the 3 of" in message
    assert "data.detect.source: folder" in message
