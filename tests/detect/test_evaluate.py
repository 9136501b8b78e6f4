import numpy as np
import pytest

from workflow.detect.evaluate import (
    Detection,
    GroundTruth,
    average_precision,
    mean_average_precision,
)
from workflow.errors import PipelineError

BOX = (0.1, 0.1, 0.4, 0.4)
OTHER = (0.6, 0.6, 0.9, 0.9)


def test_perfect_detections_give_map_one():
    truths = [GroundTruth(0, 1, BOX), GroundTruth(1, 2, OTHER)]
    dets = [Detection(0, 1, 0.9, BOX), Detection(1, 2, 0.8, OTHER)]
    result = mean_average_precision(dets, truths, classes=[1, 2, 3])
    assert result["map"] == 1.0 and result["per_class"]["3"] is None


def test_false_positive_ranked_first_halves_precision_at_full_recall():
    truths = [GroundTruth(0, 1, BOX)]
    dets = [Detection(0, 1, 0.9, OTHER), Detection(0, 1, 0.8, BOX)]
    assert mean_average_precision(dets, truths, classes=[1])["map"] == pytest.approx(0.5)


def test_duplicates_and_misses():
    truths = [GroundTruth(0, 1, BOX), GroundTruth(1, 1, BOX)]
    dets = [Detection(0, 1, 0.9, BOX), Detection(0, 1, 0.8, BOX)]  # a duplicate; image 1 missed
    ap = mean_average_precision(dets, truths, classes=[1])["map"]
    assert ap == pytest.approx(0.5)  # recall stops at 0.5 with precision 1


def test_difficult_objects_neither_count_nor_punish():
    truths = [GroundTruth(0, 1, BOX), GroundTruth(0, 1, OTHER, difficult=True)]
    dets = [Detection(0, 1, 0.9, OTHER), Detection(0, 1, 0.8, BOX)]
    assert mean_average_precision(dets, truths, classes=[1])["map"] == 1.0


def test_iou_threshold():
    shifted = (0.15, 0.1, 0.45, 0.4)  # IoU 0.714 with BOX
    truths = [GroundTruth(0, 1, BOX)]
    dets = [Detection(0, 1, 0.9, shifted)]
    assert mean_average_precision(dets, truths, classes=[1], iou_threshold=0.5)[
        "map"
    ] == pytest.approx(1.0)
    assert mean_average_precision(dets, truths, classes=[1], iou_threshold=0.75)["map"] == 0.0


def test_ap_methods():
    recall = np.array([0.5, 1.0])
    precision = np.array([1.0, 0.5])
    assert average_precision(recall, precision, method="area") == pytest.approx(0.75)
    assert average_precision(recall, precision, method="11point") == pytest.approx(
        (6 * 1.0 + 5 * 0.5) / 11
    )
    with pytest.raises(PipelineError, match="use area, 11point or 101point"):
        average_precision(recall, precision, method="coco")
