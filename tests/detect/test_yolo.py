import numpy as np
import pytest

from workflow.detect.postprocess import NmsParams, host_nms
from workflow.detect.yolo import (
    LETTERBOX_FILL,
    boxes_to_image,
    decode_heads,
    letterbox,
    letterbox_geometry,
)
from workflow.errors import PipelineError


def _logit(p):
    return np.log(p / (1 - p))


def test_one_confident_cell_decodes_to_its_box_and_class():
    classes, anchors = 2, [(8.0, 16.0), (20.0, 10.0)]
    out = np.full((1, 2 * (5 + classes), 4, 4), -20.0, np.float32)  # nothing anywhere
    # anchor 1, row 2, column 1: centre offsets 0.5, size exp(0) * anchor, objectness 0.9
    base = 1 * (5 + classes)
    out[0, base + 0, 2, 1] = 0.0
    out[0, base + 1, 2, 1] = 0.0
    out[0, base + 2, 2, 1] = 0.0
    out[0, base + 3, 2, 1] = np.log(2.0)
    out[0, base + 4, 2, 1] = _logit(0.9)
    out[0, base + 5 + 1, 2, 1] = _logit(0.8)  # class 1
    boxes, scores = decode_heads([out], [anchors], input_size=(32, 32))
    assert boxes.shape == (1, 32, 4) and scores.shape == (1, 32, 3)
    best = int(np.argmax(scores[0, :, 2]))
    assert scores[0, best, 2] == pytest.approx(0.72, abs=1e-6)  # 0.9 * 0.8
    assert (scores[0, :, 0] == 0).all()  # no background column
    cx, cy, w, h = (1 + 0.5) / 4, (2 + 0.5) / 4, 20 / 32, 2 * 10 / 32
    assert boxes[0, best] == pytest.approx([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    found = host_nms(boxes, scores, NmsParams(0.5, 0.45, 10, 10))
    assert found.shape == (1, 7) and found[0, 1] == 2  # label 2 = class 1 after the zero column


def test_heads_of_two_scales_are_concatenated():
    a = np.zeros((2, 3 * 6, 2, 2), np.float32)
    b = np.zeros((2, 3 * 6, 4, 4), np.float32)
    boxes, scores = decode_heads([a, b], [[(1, 1)] * 3, [(2, 2)] * 3], input_size=(16, 16))
    assert boxes.shape == (2, 3 * 4 + 3 * 16, 4) and scores.shape == (2, 60, 2)
    with pytest.raises(PipelineError, match="channels for 3 anchors"):
        decode_heads([np.zeros((1, 10, 2, 2))], [[(1, 1)] * 3], input_size=(16, 16))
    with pytest.raises(PipelineError, match="disagree"):
        decode_heads([a, np.zeros((2, 3 * 7, 2, 2))], [[(1, 1)] * 3] * 2, input_size=(16, 16))


def test_letterbox_keeps_the_aspect_and_boxes_come_back():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :100] = 255
    boxed = letterbox(image, (64, 64))
    scale, (rh, rw), (top, left) = letterbox_geometry((100, 200), (64, 64))
    assert (rh, rw, top, left) == (32, 64, 16, 0) and scale == pytest.approx(0.32)
    assert (boxed[:16] == LETTERBOX_FILL).all() and (boxed[48:] == LETTERBOX_FILL).all()
    assert boxed[30, 10].tolist() == [255, 255, 255] and boxed[30, 50].tolist() == [0, 0, 0]
    # the image's left half, as seen in the input, maps back to (0, 0, 0.5, 1)
    inside = np.array([[0.0, 16 / 64, 32 / 64, 48 / 64]], np.float32)
    assert boxes_to_image(inside, (100, 200), (64, 64))[0] == pytest.approx([0, 0, 0.5, 1])
    outside = np.array([[-0.1, 0.0, 1.2, 0.3]], np.float32)
    assert boxes_to_image(outside, (100, 200), (64, 64))[0] == pytest.approx([0, 0, 1, 0.1])
