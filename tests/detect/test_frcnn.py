"""Faster R-CNN's host side: geometry, anchors, the seed's input handling, the proposal step."""

import numpy as np
import pytest

from workflow.detect.boxes import iou, nms
from workflow.detect.frcnn import (
    SEED_PIXEL_MEAN,
    FrcnnGeometry,
    anchors,
    boxes_to_image,
    image_info,
    mask_padding,
    network_input,
    select_proposals,
)
from workflow.errors import PipelineError


def geometry(**changes) -> FrcnnGeometry:
    cfg = {
        "input_size": [64, 96],
        "pixel_mean": list(SEED_PIXEL_MEAN),
        "anchor_sizes": [16, 32],
        "anchor_ratios": [0.5, 1.0, 2.0],
        "proposals": {"rois": 4, "pre_nms": 10, "nms_iou": 0.5, "min_size": 2},
    }
    cfg.update(changes)
    return FrcnnGeometry.from_config(cfg)


def test_anchors_sit_on_cell_centres_with_their_sizes_and_ratios():
    g = geometry()
    found = anchors(g)
    assert g.feature_size == (4, 6) and g.anchors_per_cell == 6
    assert found.shape == (4 * 6 * 6, 4) and found.dtype == np.float32
    centres = (found[:, :2] + found[:, 2:]) / 2
    np.testing.assert_allclose(centres[0], [8, 8])  # row 0, column 0
    np.testing.assert_allclose(centres[6], [24, 8])  # row 0, column 1
    np.testing.assert_allclose(centres[6 * 6], [8, 24])  # row 1, column 0
    sides = found[:6, 2:] - found[:6, :2]
    np.testing.assert_allclose(np.sqrt(sides.prod(1)), [16, 16, 16, 32, 32, 32], rtol=1e-6)
    np.testing.assert_allclose(sides[:, 1] / sides[:, 0], [0.5, 1, 2] * 2, rtol=1e-6)


def test_bad_geometry_is_refused():
    with pytest.raises(PipelineError, match=r"\[60, 96\] is not a multiple of the stride 16"):
        geometry(input_size=[60, 96])
    with pytest.raises(PipelineError, match=r"need 1 <= rois \(20\) <= pre_nms \(10\)"):
        geometry(proposals={"rois": 20, "pre_nms": 10, "nms_iou": 0.5, "min_size": 0})


def test_input_is_resized_bgr_minus_the_pixel_mean():
    image = np.zeros((1, 32, 48, 3), np.uint8)
    image[..., 0] = 200  # red
    x = network_input(image, (64, 96), SEED_PIXEL_MEAN)
    assert x.shape == (1, 3, 64, 96) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_allclose(x[0, 2], 200 - SEED_PIXEL_MEAN[2], rtol=1e-6)  # R is last
    np.testing.assert_allclose(x[0, 0], -SEED_PIXEL_MEAN[0], rtol=1e-6)
    same = network_input(np.full((2, 64, 96, 3), 7, np.uint8), (64, 96), (1.0, 2.0, 3.0))
    np.testing.assert_array_equal(same[:, :, 0, 0], [[6, 5, 4], [6, 5, 4]])


def test_boxes_are_unscaled_with_im_info_clipped_and_made_relative():
    info = image_info((100, 200), (64, 96))
    np.testing.assert_allclose(info, [64, 96, 0.64, 0.48], rtol=1e-6)
    in_image = np.array([[20.0, 10.0, 120.0, 90.0], [-5.0, 0.0, 250.0, 120.0]])
    scaled = in_image * [info[3], info[2], info[3], info[2]]
    out = boxes_to_image(scaled, info, (100, 200))
    np.testing.assert_allclose(out[0], [0.1, 0.1, 0.6, 0.9], rtol=1e-5)
    np.testing.assert_allclose(out[1], [0.0, 0.0, 1.0, 1.0])


def test_select_proposals_ranks_filters_suppresses_and_pads():
    g = geometry()
    boxes = np.array(
        [
            [0, 0, 10, 10],  # best
            [0, 0, 10, 11],  # overlaps the best: suppressed
            [20, 20, 30, 30],
            [40, 40, 41, 50],  # narrower than min_size: dropped
            [50, 0, 60, 10],
        ],
        np.float32,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.1], np.float32)
    rois, counts = select_proposals(boxes[None], scores[None], g)
    assert rois.shape == (1, 4, 4) and counts.tolist() == [3]
    np.testing.assert_array_equal(rois[0, :3], boxes[[0, 2, 4]])
    np.testing.assert_array_equal(rois[0, 3], 0)  # padding
    few, count = select_proposals(boxes[None], scores[None], g, keep=1)
    assert few.shape == (1, 1, 4) and count.tolist() == [1]
    with pytest.raises(PipelineError, match="do not pair"):
        select_proposals(boxes[None], scores, g)


def test_pre_nms_limits_what_nms_considers():
    g = geometry(proposals={"rois": 4, "pre_nms": 4, "nms_iou": 0.5, "min_size": 0})
    boxes = np.array([[k * 20, 0, k * 20 + 10, 10] for k in range(6)], np.float32)
    scores = np.linspace(0.9, 0.4, 6, dtype=np.float32)
    rois, counts = select_proposals(boxes[None], scores[None], g)
    assert counts.tolist() == [4]
    np.testing.assert_array_equal(rois[0], boxes[:4])


def test_padding_rois_detect_nothing():
    scores = np.full((2, 3, 3), 0.5, np.float32)
    out = mask_padding(scores, np.array([3, 1]))
    np.testing.assert_array_equal(out[0], scores[0])
    np.testing.assert_array_equal(out[1, 1:, 1:], 0)
    np.testing.assert_array_equal(out[1, :, 0], 0.5)
    np.testing.assert_array_equal(out[1, 0], 0.5)


def _nms_full_matrix(boxes, scores, threshold):
    """The greedy NMS over the whole IoU matrix (how workflow.detect.boxes.nms was written)."""
    order = np.argsort(-scores, kind="stable")
    overlaps = iou(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), bool)
    keep = []
    for i in range(len(order)):
        if not suppressed[i]:
            keep.append(int(order[i]))
            suppressed |= overlaps[i] > threshold
    return keep


@pytest.mark.parametrize("seed", range(5))
def test_nms_row_by_row_equals_the_full_matrix_and_max_keep_is_its_prefix(seed):
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 100, (300, 2)).astype(np.float32)
    boxes = np.concatenate([corner, corner + rng.uniform(1, 40, (300, 2))], 1).astype(np.float32)
    boxes[:5] = boxes[5]  # ties and duplicates
    scores = rng.uniform(size=300).astype(np.float32)
    scores[10:20] = scores[9]
    full = nms(boxes, scores, iou_threshold=0.45, top_k=0)
    assert full.tolist() == _nms_full_matrix(boxes, scores, 0.45)
    assert nms(boxes, scores, iou_threshold=0.45, top_k=0, max_keep=7).tolist() == full[:7].tolist()
