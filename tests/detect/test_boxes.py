import numpy as np

from workflow.detect.boxes import decode, encode, iou, nms
from workflow.detect.priors import SEED_CONFIG, grid_anchors


def test_iou():
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1]], np.float32)
    b = np.array([[1, 1, 3, 3], [5, 5, 6, 6], [0, 0, 2, 2]], np.float32)
    np.testing.assert_allclose(iou(a, b), [[1 / 7, 0, 1], [0, 0, 0.25]], rtol=1e-6)


def test_encode_decode_round_trip():
    priors = grid_anchors()[:50]
    rng = np.random.default_rng(0)
    centre = rng.uniform(0.2, 0.8, (50, 2))
    size = rng.uniform(0.05, 0.4, (50, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32)
    codes = encode(boxes, priors, SEED_CONFIG.variances)
    np.testing.assert_allclose(decode(codes, priors, SEED_CONFIG.variances), boxes, atol=1e-6)
    np.testing.assert_allclose(
        decode(np.zeros((2, 50, 4), np.float32), priors, SEED_CONFIG.variances)[1],
        priors,
        atol=1e-6,
    )


def test_nms_keeps_the_best_of_each_cluster():
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.5]], np.float32
    )
    scores = np.array([0.9, 0.95, 0.5, 0.9], np.float32)
    assert nms(boxes, scores, iou_threshold=0.5, top_k=0).tolist() == [1, 2]
    assert nms(boxes, scores, iou_threshold=0.99, top_k=0).tolist() == [
        1,
        0,
        3,
        2,
    ]  # ties: index order
    assert nms(boxes, scores, iou_threshold=0.5, top_k=1).tolist() == [1]
    assert nms(boxes[:0], scores[:0], iou_threshold=0.5, top_k=0).tolist() == []
