import io

import numpy as np

from workflow.detect.draw import LINE, colour_of, draw_detections, pixel_box, png_bytes

CLASSES = ("circle", "square", "triangle")


def _edges(box):
    xmin, ymin, xmax, ymax = box
    return {
        "top": (slice(ymin, ymin + LINE), slice(xmin, xmax + 1)),
        "bottom": (slice(ymax - LINE + 1, ymax + 1), slice(xmin, xmax + 1)),
        "left": (slice(ymin, ymax + 1), slice(xmin, xmin + LINE)),
        "right": (slice(ymin, ymax + 1), slice(xmax - LINE + 1, xmax + 1)),
    }


def boxes_found(image: np.ndarray, drawn: list[dict]) -> None:
    """Every listed box is an outline of its class colour at its place (the tag may cover part
    of the top edge)."""
    for item in drawn:
        colour = np.array(colour_of(item["label"]))
        for side, where in _edges(item["box"]).items():
            share = (image[where] == colour).all(-1).mean()
            assert share > (0.5 if side == "top" else 0.95), (item, side, share)


def test_boxes_drawn_are_the_detections_above_the_threshold():
    image = np.full((300, 300, 3), 128, np.uint8)
    rows = np.array(
        [
            [0, 2, 0.95, 0.10, 0.20, 0.40, 0.50],
            [0, 1, 0.60, 0.55, 0.55, 0.90, 0.95],
            [0, 3, 0.45, 0.60, 0.05, 0.80, 0.30],  # below the threshold
        ],
        np.float32,
    )
    out, drawn = draw_detections(image, rows, classes=CLASSES, threshold=0.5)
    assert [d["class"] for d in drawn] == ["square", "circle"]
    assert drawn[0]["box"] == pixel_box(rows[0], 300, 300) == (30, 60, 119, 149)
    boxes_found(out, drawn)
    changed = (out != image).any(-1)
    below = pixel_box(rows[2], 300, 300)
    assert not changed[below[1] + 20 : below[3], below[0] : below[2] + 1].any()
    assert image.max() == 128  # the input is not modified
    # the tag with the class and score sits on top of the box, in the box's colour
    tag = out[60 - 12 : 60, 30:90]
    assert (tag == np.array(colour_of(2))).all(-1).mean() > 0.4
    assert (tag > 200).all(-1).sum() > 30  # the white text


def test_nothing_above_the_threshold_leaves_the_image_as_it_was():
    image = np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    rows = np.array([[0, 1, 0.2, 0.1, 0.1, 0.5, 0.5]], np.float32)
    out, drawn = draw_detections(image, rows, classes=CLASSES, threshold=0.5)
    assert drawn == [] and np.array_equal(out, image)


def test_boxes_are_clipped_to_the_image_and_png_is_stable():
    from PIL import Image

    image = np.zeros((300, 300, 3), np.uint8)
    rows = np.array([[0, 1, 0.9, -0.2, 0.0, 1.3, 0.4]], np.float32)
    out, drawn = draw_detections(image, rows, classes=CLASSES, threshold=0.5)
    assert drawn[0]["box"] == (0, 0, 299, 119)
    data = png_bytes(out)
    assert data == png_bytes(out)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), out)
