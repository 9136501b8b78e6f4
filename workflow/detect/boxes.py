"""Box arithmetic for SSD: IoU, center-size encoding with variances, and NMS (vectorised)."""

import numpy as np


def area(boxes: np.ndarray) -> np.ndarray:
    """Areas of (..., 4) corner boxes; empty boxes have area 0."""
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(
        boxes[..., 3] - boxes[..., 1], 0, None
    )


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of corner boxes a (N, 4) and b (M, 4): (N, M)."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=-1)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _centre_size(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + w / 2, boxes[..., 1] + h / 2, w, h


def encode(boxes: np.ndarray, priors: np.ndarray, variances: tuple[float, ...]) -> np.ndarray:
    """Regression targets of ``boxes`` (N, 4) matched to ``priors`` (N, 4): SSD's CENTER_SIZE
    code, (dx / w_p / v0, dy / h_p / v1, log(w / w_p) / v2, log(h / h_p) / v3)."""
    bx, by, bw, bh = _centre_size(boxes)
    px, py, pw, ph = _centre_size(priors)
    v0, v1, v2, v3 = variances
    return np.stack(
        [(bx - px) / pw / v0, (by - py) / ph / v1, np.log(bw / pw) / v2, np.log(bh / ph) / v3],
        axis=-1,
    ).astype(np.float32)


def decode(codes: np.ndarray, priors: np.ndarray, variances: tuple[float, ...]) -> np.ndarray:
    """Inverse of :func:`encode`: corner boxes from codes (..., N, 4) and priors (N, 4)."""
    px, py, pw, ph = _centre_size(priors)
    v0, v1, v2, v3 = variances
    cx = codes[..., 0] * v0 * pw + px
    cy = codes[..., 1] * v1 * ph + py
    w = np.exp(codes[..., 2] * v2) * pw
    h = np.exp(codes[..., 3] * v3) * ph
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).astype(np.float32)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    *,
    iou_threshold: float,
    top_k: int,
    max_keep: int = 0,
) -> np.ndarray:
    """Greedy non-maximum suppression of one class: indices kept, best score first.

    ``top_k`` (> 0) limits the boxes considered, ``max_keep`` (> 0) the boxes kept (the search
    stops there: the first ``max_keep`` of the full result). Ties in score keep the lower index
    first (a stable order), so the result is deterministic.
    """
    order = (
        np.argsort(-scores, kind="stable")[:top_k]
        if top_k > 0
        else np.argsort(-scores, kind="stable")
    )
    keep: list[int] = []
    if not len(order):
        return np.array(keep, dtype=np.int64)
    # one row of the IoU matrix per kept box, the same arithmetic as iou()
    x0, y0, x1, y1 = boxes[order].T
    areas = area(boxes[order])
    suppressed = np.zeros(len(order), dtype=bool)
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(int(order[i]))
        if len(keep) == max_keep:
            break
        width = np.clip(np.minimum(x1[i], x1) - np.maximum(x0[i], x0), 0, None)
        height = np.clip(np.minimum(y1[i], y1) - np.maximum(y0[i], y0), 0, None)
        inter = width * height
        union = areas[i] + areas - inter
        overlap = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        suppressed |= overlap > iou_threshold
    return np.array(keep, dtype=np.int64)
