"""VOC-style detection metrics: average precision per class at an IoU threshold, and mAP.

A detection is a true positive when its IoU with a not yet matched ground-truth box of its class
in the same image is at least the threshold (0.5 for VOC), matching in order of decreasing
score; ground truths marked ``difficult`` neither count as misses nor make false positives.
AP is the area under the precision-recall curve with precision made monotone (VOC 2010 and
later), the 11-point interpolation of VOC 2007 (``method="11point"``) or COCO's 101-point
interpolation (``method="101point"``, to compare with pycocotools like for like).
"""

from dataclasses import dataclass

import numpy as np

from workflow.data.detection import DetectionSet
from workflow.detect.boxes import iou
from workflow.errors import PipelineError


@dataclass(frozen=True)
class Detection:
    """One detection in the seed's 7-value form (without the image id, kept separately)."""

    image: int
    label: int
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class GroundTruth:
    """One annotated object."""

    image: int
    label: int
    box: tuple[float, float, float, float]
    difficult: bool = False


def average_precision(recall: np.ndarray, precision: np.ndarray, *, method: str) -> float:
    """AP from a precision-recall curve (points in order of decreasing score)."""
    if method == "11point":
        points = [
            precision[recall >= t].max() if (recall >= t).any() else 0.0
            for t in np.linspace(0, 1, 11)
        ]
        return float(np.mean(points))
    if method == "101point":  # COCO's: monotone precision read at recall 0, 0.01, ..., 1
        if not len(recall):
            return 0.0
        monotone = np.maximum.accumulate(precision[::-1])[::-1]
        index = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
        found = index < len(recall)
        return float(np.sum(monotone[index[found]]) / 101)
    if method != "area":
        raise PipelineError(f"AP method {method!r}", "unknown", "use area, 11point or 101point")
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def class_ap(
    detections: list[Detection],
    truths: list[GroundTruth],
    label: int,
    *,
    iou_threshold: float,
    method: str,
) -> float | None:
    """AP of one class; ``None`` when the class has no (non-difficult) ground truth."""
    gts = [g for g in truths if g.label == label]
    positives = sum(not g.difficult for g in gts)
    if positives == 0:
        return None
    dets = sorted((d for d in detections if d.label == label), key=lambda d: -d.score)
    by_image: dict[int, list[int]] = {}
    for index, g in enumerate(gts):
        by_image.setdefault(g.image, []).append(index)
    matched = np.zeros(len(gts), dtype=bool)
    tp = np.zeros(len(dets))
    fp = np.zeros(len(dets))
    for k, det in enumerate(dets):
        candidates = by_image.get(det.image, [])
        if not candidates:
            fp[k] = 1
            continue
        overlaps = iou(np.array([det.box]), np.array([gts[i].box for i in candidates]))[0]
        best = int(np.argmax(overlaps))
        gt_index = candidates[best]
        if overlaps[best] >= iou_threshold:
            if gts[gt_index].difficult:
                continue  # neither a hit nor a false alarm
            if not matched[gt_index]:
                matched[gt_index] = True
                tp[k] = 1
            else:
                fp[k] = 1
        else:
            fp[k] = 1
    tp_cum, fp_cum = np.cumsum(tp), np.cumsum(fp)
    recall = tp_cum / positives
    precision = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
    return average_precision(recall, precision, method=method)


def mean_average_precision(
    detections: list[Detection],
    truths: list[GroundTruth],
    *,
    classes: list[int],
    iou_threshold: float = 0.5,
    method: str = "area",
) -> dict[str, object]:
    """mAP over ``classes`` (those without ground truth are left out), with each class's AP."""
    per_class = {
        c: class_ap(detections, truths, c, iou_threshold=iou_threshold, method=method)
        for c in classes
    }
    scored = [ap for ap in per_class.values() if ap is not None]
    return {
        "map": float(np.mean(scored)) if scored else 0.0,
        "per_class": {str(c): ap for c, ap in per_class.items()},
        "iou_threshold": iou_threshold,
        "method": method,
    }


def ground_truths(data: DetectionSet, classes: tuple[str, ...]) -> list[GroundTruth]:
    """The split's objects as ground truths: boxes relative to the image, labels 1-based."""
    height, width = data.images.shape[1:3]
    scale = np.array([width, height, width, height], np.float64)
    return [
        GroundTruth(
            index, classes.index(obj.name) + 1, tuple(np.asarray(obj.box) / scale), obj.difficult
        )
        for index, objects in enumerate(data.annotations)
        for obj in objects
    ]
