"""YOLOv3 pre- and post-processing: letterbox, the decoding of every head, and the way back to
the original image.

Each ``[yolo]`` head outputs (N, A * (5 + C), h, w): for every cell and each of its A anchors,
``tx, ty, tw, th``, an objectness logit and C class logits. A box's centre is
``((sigmoid(tx) + column) / w, (sigmoid(ty) + row) / h)`` of the network input, its size
``anchor * exp(t) / input size``, its class scores ``sigmoid(objectness) * sigmoid(class)``.
The decoded boxes and scores come in the SSD's layout (corner boxes (N, P, 4); scores
(N, P, C + 1) with a zero column 0, where the SSD has its background), so the SSD's per-class
NMS, mAP and drawing apply unchanged.
"""

import numpy as np

from workflow.errors import PipelineError

#: Grey of the letterbox's bars (darknet fills with 0.5).
LETTERBOX_FILL = 128


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def decode_heads(
    outputs: list[np.ndarray],
    anchors: list[list[tuple[float, float]]],
    *,
    input_size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Decode every head of a batch.

    Args:
        outputs: each head's (N, A * (5 + C), h, w) output, in head order.
        anchors: each head's A anchors (width, height) in input pixels.
        input_size: the network input (height, width) in pixels.

    Returns:
        boxes float32 (N, P, 4) as (xmin, ymin, xmax, ymax) relative to the input, and scores
        float32 (N, P, C + 1), column 0 zero; P is the sum of A * h * w over the heads.

    Raises:
        PipelineError: a head whose channels are not A * (5 + C) for its anchors, or heads
            that disagree on C.
    """
    if len(outputs) != len(anchors):
        raise PipelineError("yolo decode", f"{len(outputs)} outputs, {len(anchors)} anchor sets")
    height, width = input_size
    all_boxes, all_scores, classes = [], [], None
    for out, head in zip(outputs, anchors, strict=True):
        n, channels, h, w = out.shape
        count = len(head)
        if channels % count or channels // count < 6:
            raise PipelineError("yolo decode", f"{channels} channels for {count} anchors")
        if classes is not None and channels // count - 5 != classes:
            raise PipelineError("yolo decode", "heads disagree on the number of classes")
        classes = channels // count - 5
        t = out.astype(np.float64).reshape(n, count, 5 + classes, h, w)
        columns = np.arange(w)[None, None, None, :]
        rows = np.arange(h)[None, None, :, None]
        sizes = np.asarray(head, dtype=np.float64)  # (A, 2)
        cx = (_sigmoid(t[:, :, 0]) + columns) / w
        cy = (_sigmoid(t[:, :, 1]) + rows) / h
        bw = np.exp(t[:, :, 2]) * sizes[None, :, 0, None, None] / width
        bh = np.exp(t[:, :, 3]) * sizes[None, :, 1, None, None] / height
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=-1)
        scores = _sigmoid(t[:, :, 4])[:, :, None] * _sigmoid(t[:, :, 5:])  # (n, A, C, h, w)
        all_boxes.append(boxes.reshape(n, -1, 4))
        all_scores.append(np.moveaxis(scores, 2, -1).reshape(n, -1, classes))
    scores = np.concatenate(all_scores, axis=1)
    background = np.zeros(scores.shape[:2] + (1,))
    return (
        np.concatenate(all_boxes, axis=1).astype(np.float32),
        np.concatenate([background, scores], axis=2).astype(np.float32),
    )


def letterbox_geometry(
    image_size: tuple[int, int], input_size: tuple[int, int]
) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """How an image of (height, width) fits the input: the scale, the resized (height, width)
    and the (top, left) offset of the resized image in the input."""
    (ih, iw), (h, w) = image_size, input_size
    scale = min(h / ih, w / iw)
    rh, rw = max(1, round(ih * scale)), max(1, round(iw * scale))
    return scale, (rh, rw), ((h - rh) // 2, (w - rw) // 2)


def letterbox(image: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """The image (H, W, 3) uint8 resized to fit the input keeping its aspect ratio (bilinear),
    centred on grey bars: (height, width, 3) uint8."""
    from PIL import Image

    _, (rh, rw), (top, left) = letterbox_geometry(image.shape[:2], input_size)
    canvas = np.full((*input_size, 3), LETTERBOX_FILL, dtype=np.uint8)
    resized = Image.fromarray(image).resize((rw, rh), Image.Resampling.BILINEAR)
    canvas[top : top + rh, left : left + rw] = np.asarray(resized)
    return canvas


def boxes_to_image(
    boxes: np.ndarray, image_size: tuple[int, int], input_size: tuple[int, int]
) -> np.ndarray:
    """Boxes relative to the letterboxed input, made relative to the original image (clipped
    to it)."""
    _, (rh, rw), (top, left) = letterbox_geometry(image_size, input_size)
    h, w = input_size
    out = boxes.astype(np.float64).copy()
    out[..., [0, 2]] = (out[..., [0, 2]] * w - left) / rw
    out[..., [1, 3]] = (out[..., [1, 3]] * h - top) / rh
    return np.clip(out, 0.0, 1.0).astype(np.float32)
