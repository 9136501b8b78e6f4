"""Faster R-CNN on the host: the seed's input handling, anchors and the proposal step.

The seed's sampleFasterRCNN fed a 375x500 PPM in BGR order minus the author's pixel mean, with
``imInfo`` (height, width, scale) beside it; its RPROI plugin turned the region proposal
network's scores and box deltas into proposals (decode, clip, top-N, NMS) and pooled them;
its host code unscaled the final boxes with ``imInfo``, clipped them to the image and ran NMS
per class. TensorRT-RTX builds neither ONNX ``NonMaxSuppression`` nor ``RoiAlign`` (measured:
no NMS kernel; RoiAlign needs the ROIAlign plugin, absent), so the model is split at the
proposal step, as the seed split off its post-processing:

1. the *rpn* graph: backbone and RPN, ending with ``features``, ``proposals`` (N, P, 4) boxes
   decoded from the anchors and clipped to the input, in input pixels, and ``objectness``
   (N, P) probabilities;
2. on the host (:func:`select_proposals`): the best ``pre_nms`` proposals, NMS at ``nms_iou``,
   the best ``rois`` kept (zero boxes pad an image with fewer);
3. the *head* graph: ``features`` and ``rois`` (N, R, 4) in, ROI pooling (bilinear samples
   taken with ``GridSample``, averaged 2x2: ROI Align with two samples per bin side), the box
   classifier, ending with ``boxes`` (N, R, 4) refined boxes in input pixels (one box per ROI,
   class-agnostic, so the SSD's host NMS applies unchanged) and ``scores`` (N, R, C + 1);
4. on the host (:func:`boxes_to_image`): boxes unscaled with ``imInfo``, clipped to the image,
   made relative to it; then the SSD's per-class NMS, mAP and drawing.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from workflow.detect.boxes import nms
from workflow.errors import PipelineError

#: The seed's pixel mean (B, G, R), subtracted from BGR pixels.
SEED_PIXEL_MEAN = (102.9801, 115.9465, 122.7717)
#: The backbone's stride: one feature cell per STRIDE x STRIDE input pixels.
STRIDE = 16
#: Box code variances: the RPN's deltas are plain, the head's are scaled as in the seed
#: (bbox_normalize stds 0.1, 0.1, 0.2, 0.2).
RPN_VARIANCES = (1.0, 1.0, 1.0, 1.0)
HEAD_VARIANCES = (0.1, 0.1, 0.2, 0.2)
#: Graph input and output names.
IMAGE = "image"
FEATURES = "features"
PROPOSALS = "proposals"
OBJECTNESS = "objectness"
ROIS = "rois"
#: The two graphs of the split model, in the order they run.
PARTS = ("rpn", "head")


@dataclass(frozen=True)
class FrcnnGeometry:
    """What the graphs and the host steps agree on (config ``train.frcnn``).

    Attributes:
        input_size: (height, width) of the network input, multiples of :data:`STRIDE`.
        pixel_mean: (B, G, R) subtracted from the BGR input.
        anchor_sizes: anchor sides in input pixels (square-root of the area).
        anchor_ratios: anchor height / width ratios.
        rois: proposals per image handed to the head (fixed in the head graph).
        pre_nms: best proposals per image that NMS considers.
        nms_iou: IoU above which NMS suppresses a proposal.
        min_size: proposals narrower or lower than this (input pixels) are dropped.
    """

    input_size: tuple[int, int]
    pixel_mean: tuple[float, float, float]
    anchor_sizes: tuple[float, ...]
    anchor_ratios: tuple[float, ...]
    rois: int
    pre_nms: int
    nms_iou: float
    min_size: float

    def __post_init__(self) -> None:
        if any(side % STRIDE or side < STRIDE for side in self.input_size):
            raise PipelineError(
                "train.frcnn.input_size",
                f"{list(self.input_size)} is not a multiple of the stride {STRIDE}",
                f"choose sides such as {STRIDE * 16}",
            )
        if self.rois < 1 or self.pre_nms < self.rois:
            raise PipelineError(
                "train.frcnn.proposals", f"need 1 <= rois ({self.rois}) <= pre_nms ({self.pre_nms})"
            )

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "FrcnnGeometry":
        """The geometry of config ``train.frcnn`` (its training-only keys ignored)."""
        proposals = cfg["proposals"]
        return cls(
            input_size=tuple(cfg["input_size"]),
            pixel_mean=tuple(cfg["pixel_mean"]),
            anchor_sizes=tuple(cfg["anchor_sizes"]),
            anchor_ratios=tuple(cfg["anchor_ratios"]),
            rois=proposals["rois"],
            pre_nms=proposals["pre_nms"],
            nms_iou=proposals["nms_iou"],
            min_size=proposals["min_size"],
        )

    @property
    def feature_size(self) -> tuple[int, int]:
        """(height, width) of the feature map."""
        return self.input_size[0] // STRIDE, self.input_size[1] // STRIDE

    @property
    def anchors_per_cell(self) -> int:
        return len(self.anchor_sizes) * len(self.anchor_ratios)


def anchors(geometry: FrcnnGeometry) -> np.ndarray:
    """All anchors, float32 (h * w * A, 4) corner boxes in input pixels, ordered by row, column,
    then anchor (sizes outer, ratios inner), centred on each cell's centre."""
    shapes = [
        (size / np.sqrt(ratio), size * np.sqrt(ratio))
        for size in geometry.anchor_sizes
        for ratio in geometry.anchor_ratios
    ]
    h, w = geometry.feature_size
    ys, xs = np.meshgrid(
        (np.arange(h) + 0.5) * STRIDE, (np.arange(w) + 0.5) * STRIDE, indexing="ij"
    )
    centres = np.stack([xs, ys], -1).reshape(-1, 1, 2)
    half = np.array(shapes).reshape(1, -1, 2) / 2
    return np.concatenate([centres - half, centres + half], -1).reshape(-1, 4).astype(np.float32)


def image_info(image_size: tuple[int, int], input_size: tuple[int, int]) -> np.ndarray:
    """The seed's ``imInfo`` of an image of (height, width): float32 (input height, input
    width, vertical scale, horizontal scale), the scales taking image to input pixels."""
    (ih, iw), (h, w) = image_size, input_size
    return np.array([h, w, h / ih, w / iw], np.float32)


def resize(images: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """uint8 images (N, H, W, 3) resized to the network input of (height, width) (bilinear);
    as they are when they already have its size."""
    from PIL import Image

    h, w = input_size
    if images.shape[1:3] == (h, w):
        return images
    return np.stack(
        [
            np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))
            for image in images
        ]
    )


def network_input(
    images: np.ndarray, input_size: tuple[int, int], pixel_mean: tuple[float, ...]
) -> np.ndarray:
    """uint8 RGB images (N, H, W, 3) as the rpn graph takes them: resized to the input
    (:func:`resize`), in BGR order, minus the (B, G, R) pixel mean: float32 (N, 3, h, w)."""
    planes = resize(images, input_size).transpose(3, 0, 1, 2)[::-1]  # (B, G, R) x (N, h, w)
    out = np.empty((3, *planes.shape[1:]), np.float32)
    for channel, (plane, mean) in enumerate(zip(planes, pixel_mean, strict=True)):
        np.subtract(plane, np.float32(mean), out=out[channel], dtype=np.float32)
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3))


def select_proposals(
    proposals: np.ndarray, objectness: np.ndarray, geometry: FrcnnGeometry, *, keep: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The proposal step of a batch: per image the best ``pre_nms`` proposals at least
    ``min_size`` wide and high, NMS at ``nms_iou``, the best ``keep`` (default ``rois``) kept.

    Args:
        proposals: (N, P, 4) decoded, clipped boxes in input pixels.
        objectness: (N, P) probabilities.
        keep: proposals kept per image (0: the geometry's ``rois``).

    Returns:
        rois float32 (N, keep, 4), zero boxes after an image's last proposal, and the count
        of real proposals per image (N,).
    """
    keep = keep or geometry.rois
    if proposals.ndim != 3 or objectness.shape != proposals.shape[:2]:
        raise PipelineError(
            "select_proposals",
            f"proposals {proposals.shape} and objectness {objectness.shape} do not pair",
        )
    out = np.zeros((len(proposals), keep, 4), np.float32)
    counts = np.zeros(len(proposals), np.int64)
    for image, (boxes, scores) in enumerate(zip(proposals, objectness, strict=True)):
        sides = boxes[:, 2:] - boxes[:, :2]
        candidates = np.flatnonzero((sides >= geometry.min_size).all(-1))
        best = candidates[np.argsort(-scores[candidates], kind="stable")[: geometry.pre_nms]]
        kept = best[
            nms(boxes[best], scores[best], iou_threshold=geometry.nms_iou, top_k=0, max_keep=keep)
        ]
        out[image, : len(kept)] = boxes[kept]
        counts[image] = len(kept)
    return out, counts


def boxes_to_image(boxes: np.ndarray, info: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Boxes (..., 4) in input pixels unscaled with ``imInfo`` (:func:`image_info`), clipped to
    the image of (height, width) and made relative to it."""
    height, width = image_size
    out = boxes.astype(np.float64) / np.array([info[3], info[2], info[3], info[2]])
    out = np.clip(out, 0.0, [width, height, width, height])
    return (out / np.array([width, height, width, height])).astype(np.float32)


def mask_padding(scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The head's scores (N, R, C + 1) with the padding ROIs' class scores set to 0 (they are
    no proposals, so they detect nothing)."""
    out = scores.copy()
    padding = np.arange(scores.shape[1])[None, :] >= counts[:, None]
    out[padding, 1:] = 0.0
    return out
