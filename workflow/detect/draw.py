"""Detections drawn on their image (uff_ssd's output): a box outline per detection above a
confidence threshold, with its class name and score on a filled tag."""

from typing import Any

import numpy as np

from workflow.data.detection import read_classes
from workflow.formats.pnm import read_pnm

#: Outline colour of each label (cycled); saturated, so they stand out on the scenes.
PALETTE = (
    (255, 0, 0),
    (0, 200, 0),
    (0, 90, 255),
    (255, 150, 0),
    (200, 0, 255),
    (0, 220, 220),
    (255, 255, 0),
)
LINE = 2


def colour_of(label: int) -> tuple[int, int, int]:
    """The outline colour of a 1-based label."""
    return PALETTE[(label - 1) % len(PALETTE)]


def pixel_box(row: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """A detection's box (relative corners) in pixels, clipped to the image; max inclusive."""
    xmin, ymin, xmax, ymax = (float(v) for v in row[3:7])
    return (
        int(np.clip(round(xmin * width), 0, width - 1)),
        int(np.clip(round(ymin * height), 0, height - 1)),
        int(np.clip(round(xmax * width) - 1, 0, width - 1)),
        int(np.clip(round(ymax * height) - 1, 0, height - 1)),
    )


def draw_detections(
    image: np.ndarray, rows: np.ndarray, *, classes: tuple[str, ...], threshold: float
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Draw the detections of one image whose confidence is at least ``threshold``.

    Args:
        image: uint8 (H, W, 3).
        rows: the image's kept detections (M, 7) in the seed's form, best first.
        classes: class names; label k is ``classes[k - 1]``.
        threshold: the visualisation threshold.

    Returns:
        The drawn image (a copy) and what was drawn: per box its label, class, confidence and
        pixel box (xmin, ymin, xmax, ymax, max inclusive). Boxes are drawn lowest score first,
        so the best ones end on top.
    """
    from PIL import Image, ImageDraw

    height, width = image.shape[:2]
    canvas = Image.fromarray(np.ascontiguousarray(image, np.uint8), "RGB")
    pen = ImageDraw.Draw(canvas)
    chosen = [row for row in rows if row[2] >= threshold]
    drawn = []
    for row in reversed(chosen):
        label = int(row[1])
        box = pixel_box(row, width, height)
        colour = colour_of(label)
        pen.rectangle(box, outline=colour, width=LINE)
        text = f"{classes[label - 1]} {row[2]:.2f}"
        left, top, right, bottom = pen.textbbox((0, 0), text)
        tag_height = bottom - top + 2
        y = box[1] - tag_height if box[1] >= tag_height else box[1] + LINE
        x = box[0] + LINE if box[1] < tag_height else box[0]
        pen.rectangle((x, y, x + right - left + 3, y + tag_height - 1), fill=colour)
        pen.text((x + 2 - left, y + 1 - top), text, fill=(255, 255, 255))
        drawn.append(
            {"label": label, "class": classes[label - 1], "confidence": float(row[2]), "box": box}
        )
    drawn.reverse()
    return np.asarray(canvas, np.uint8), drawn


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of a uint8 RGB image (no timestamp inside, so equal images give equal
    bytes)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def draw_detection_set(
    detections_npz: str, test_folder: str, classes_path: str, *, images: int, threshold: float
) -> list[tuple[str, np.ndarray, list[dict[str, Any]]]]:
    """Draw the detections of the first ``images`` test images (the rule score_draw).

    Args:
        detections_npz: the scores' ``detections.npz`` (seed-form detections, keep counts and
            the images' file stems).
        test_folder: the split's folder holding ``<stem>.ppm``.
        classes_path: the dataset's ``classes.txt``.
        images: how many images to draw.
        threshold: the visualisation threshold.

    Returns:
        Per image: its stem, the drawn uint8 image and what was drawn (:func:`draw_detections`).
    """
    from pathlib import Path

    classes = read_classes(classes_path)
    found = np.load(detections_npz)
    out = []
    for index, name in enumerate(found["names"][:images]):
        rows = found["detections"][index, : found["keep_count"][index]]
        image = read_pnm(Path(test_folder) / f"{name}.ppm")
        drawn, boxes = draw_detections(image, rows, classes=classes, threshold=threshold)
        out.append((str(name), drawn, boxes))
    return out
