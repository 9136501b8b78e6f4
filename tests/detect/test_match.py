import numpy as np

from workflow.detect.boxes import decode
from workflow.detect.match import match_priors
from workflow.detect.priors import SEED_CONFIG, grid_anchors

PRIORS = grid_anchors()


def test_positive_priors_decode_to_their_box():
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.6, 0.55, 0.9, 0.95]], np.float32)
    targets, labels = match_priors(
        boxes, np.array([2, 5]), PRIORS, variances=SEED_CONFIG.variances, iou_threshold=0.5
    )
    assert set(np.unique(labels)) == {0, 2, 5}
    for label, box in zip((2, 5), boxes, strict=True):
        chosen = labels == label
        assert chosen.sum() >= 1
        np.testing.assert_allclose(
            decode(targets[chosen], PRIORS[chosen], SEED_CONFIG.variances),
            np.repeat(box[None], chosen.sum(), 0),
            atol=1e-5,
        )
    assert not targets[labels == 0].any()


def test_tiny_box_still_gets_its_best_prior():
    box = np.array([[0.50, 0.50, 0.51, 0.51]], np.float32)  # IoU < 0.5 with every prior
    _, labels = match_priors(
        box, np.array([3]), PRIORS, variances=SEED_CONFIG.variances, iou_threshold=0.5
    )
    assert (labels == 3).sum() == 1


def test_no_objects_is_all_background():
    targets, labels = match_priors(
        np.zeros((0, 4)), np.zeros(0), PRIORS, variances=SEED_CONFIG.variances, iou_threshold=0.5
    )
    assert not labels.any() and targets.shape == (1917, 4)
