"""Training targets of an SSD: ground-truth boxes matched to prior boxes."""

import numpy as np

from workflow.detect.boxes import encode, iou


def match_priors(
    boxes: np.ndarray,
    labels: np.ndarray,
    priors: np.ndarray,
    *,
    variances: tuple[float, float, float, float],
    iou_threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """SSD matching: every prior takes its best-overlapping box if the IoU reaches the threshold
    (else background, label 0), and every box claims its best prior whatever the IoU.

    Args:
        boxes: (M, 4) corner boxes in [0, 1]; M may be 0.
        labels: (M,) classes, 1-based (0 is the background).
        priors: (N, 4) prior boxes.
        variances: the box code's variances.
        iou_threshold: IoU from which a prior is positive (0.5 in SSD).

    Returns:
        Regression targets (N, 4) float32 (zeros where background) and labels (N,) int64.
    """
    count = len(priors)
    if len(boxes) == 0:
        return np.zeros((count, 4), np.float32), np.zeros(count, np.int64)
    overlaps = iou(np.asarray(boxes, np.float32), priors)  # (M, N)
    best_box = overlaps.argmax(axis=0)
    best_overlap = overlaps.max(axis=0)
    best_prior = overlaps.argmax(axis=1)
    best_overlap[best_prior] = 1.0  # each box keeps at least one prior
    best_box[best_prior] = np.arange(len(boxes))
    matched = np.asarray(labels, np.int64)[best_box]
    matched[best_overlap < iou_threshold] = 0
    targets = encode(np.asarray(boxes, np.float32)[best_box], priors, variances)
    targets[matched == 0] = 0.0
    return targets, matched
