"""Text boxes from a DB text detector's probability map (Liao et al., *Real-time Scene Text
Detection with Differentiable Binarization*, AAAI 2020; the conventions of PaddleOCR's
``DBPostProcess``).

The map (one channel, the detector's input size) is binarised at ``threshold``; each connected
text region gives its minimum-area rectangle, scored by the mean probability inside it and kept
when that score reaches ``box_threshold``. DB's shrunk text kernels are then grown back by the
offset distance ``D = A * r / L`` (area ``A``, perimeter ``L`` of the rectangle, unclip ratio
``r``): offsetting a rectangle by ``D`` and taking the minimum-area rectangle again adds ``2 D``
to both sides. Boxes end in the original image's pixels.
"""

import numpy as np

#: Regions whose rectangle has a side shorter than this (pixels of the map) are dropped; after
#: growing, a side must reach this plus 2.
MIN_SIDE = 3


def rectangle_corners(centre: tuple[float, float], size: tuple[float, float], angle: float):
    """The four corners (4, 2) of a rotated rectangle (OpenCV's ``RotatedRect`` convention:
    ``angle`` in degrees), clockwise from the top-left one."""
    import cv2

    points = cv2.boxPoints((tuple(centre), tuple(size), float(angle)))
    return order_corners(points)


def order_corners(points: np.ndarray) -> np.ndarray:
    """Four points ordered top-left, top-right, bottom-right, bottom-left (float32 (4, 2))."""
    points = np.asarray(points, np.float32)
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    top_left, bottom_left = left[np.argsort(left[:, 1], kind="stable")]
    top_right, bottom_right = right[np.argsort(right[:, 1], kind="stable")]
    return np.stack([top_left, top_right, bottom_right, bottom_left])


def polygon_area_perimeter(points: np.ndarray) -> tuple[float, float]:
    """Area (shoelace formula) and perimeter of a closed polygon (N, 2)."""
    points = np.asarray(points, np.float64)
    following = np.roll(points, -1, axis=0)
    area = 0.5 * abs(float(np.sum(points[:, 0] * following[:, 1] - following[:, 0] * points[:, 1])))
    perimeter = float(np.sum(np.linalg.norm(following - points, axis=1)))
    return area, perimeter


def box_score(prob: np.ndarray, corners: np.ndarray) -> float:
    """Mean probability of ``prob`` (H, W) inside the polygon ``corners`` (pixels of the map)."""
    import cv2

    height, width = prob.shape
    x0 = int(np.clip(np.floor(corners[:, 0].min()), 0, width - 1))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()), 0, width - 1))
    y0 = int(np.clip(np.floor(corners[:, 1].min()), 0, height - 1))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()), 0, height - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    shifted = np.round(corners - [x0, y0]).astype(np.int32)
    cv2.fillPoly(mask, [shifted], 1)
    if not mask.any():
        return 0.0
    return float(prob[y0 : y1 + 1, x0 : x1 + 1][mask.astype(bool)].mean())


def text_boxes(
    prob: np.ndarray,
    *,
    threshold: float,
    box_threshold: float,
    unclip_ratio: float,
    max_candidates: int,
    scale: tuple[float, float] = (1.0, 1.0),
    image_size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The text boxes of one probability map.

    Args:
        prob: float (H, W) text probability of each pixel of the detector's input.
        threshold: probability above which a pixel is text (DB's binarisation).
        box_threshold: least mean probability inside a region's rectangle.
        unclip_ratio: ``r`` of the growing distance ``D = A * r / L``.
        max_candidates: most regions considered (largest first).
        scale: (x, y) factors from the map's pixels to the original image's.
        image_size: (width, height) of the original image the boxes are clipped to. Defaults
            to the map's size times ``scale``.

    Returns:
        Corners float32 (N, 4, 2) (top-left, top-right, bottom-right, bottom-left, in the
        original image's pixels) and scores float32 (N,), top to bottom then left to right.
    """
    import cv2

    prob = np.asarray(prob, np.float32)
    if image_size is None:
        image_size = (round(prob.shape[1] * scale[0]), round(prob.shape[0] * scale[1]))
    bitmap = (prob > threshold).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    contours = sorted(contours, key=lambda c: -cv2.contourArea(c))[:max_candidates]
    boxes, scores = [], []
    for contour in contours:
        centre, (width, height), angle = cv2.minAreaRect(contour)
        if min(width, height) < MIN_SIDE:
            continue
        corners = rectangle_corners(centre, (width, height), angle)
        score = box_score(prob, corners)
        if score < box_threshold:
            continue
        area, perimeter = polygon_area_perimeter(corners)
        grow = area * unclip_ratio / perimeter
        width, height = width + 2 * grow, height + 2 * grow
        if min(width, height) < MIN_SIDE + 2:
            continue
        corners = rectangle_corners(centre, (width, height), angle) * np.float32(scale)
        corners[:, 0] = np.clip(np.round(corners[:, 0]), 0, image_size[0])
        corners[:, 1] = np.clip(np.round(corners[:, 1]), 0, image_size[1])
        boxes.append(corners)
        scores.append(score)
    if not boxes:
        return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
    order = sorted(range(len(boxes)), key=lambda k: (boxes[k][0, 1], boxes[k][0, 0]))
    return (
        np.stack([boxes[k] for k in order]).astype(np.float32),
        np.asarray([scores[k] for k in order], np.float32),
    )


def axis_aligned(corners: np.ndarray) -> np.ndarray:
    """The enclosing axis-aligned boxes (N, 4) ``[x0, y0, x1, y1]`` of polygons (N, K, 2)."""
    corners = np.asarray(corners, np.float32).reshape(len(corners), -1, 2)
    if not len(corners):
        return np.zeros((0, 4), np.float32)
    return np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
