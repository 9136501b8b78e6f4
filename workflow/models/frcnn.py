"""A small Faster R-CNN for the detection scenes (the faster_rcnn sample), trained in PyTorch.

Backbone: plain conv blocks (BatchNorm, ReLU) to stride 16. RPN: a 3x3 conv, then per anchor an
objectness logit and 4 box deltas. ROI pooling: :func:`roi_pool` (bilinear samples through
``grid_sample``, averaged 2x2: ROI Align with 2x2 samples per bin, an op the ONNX parser maps
to a GridSample layer). Head: two fully connected layers, then the class logits (C + 1) and
one class-agnostic box refinement. How the host and the two graphs share the work:
:mod:`workflow.detect.frcnn`.

Training (approximate joint training, as torchvision's): per image 128 anchors sampled for the
RPN loss (at most half positive: IoU >= 0.7 with an object, or an object's best anchor;
negative below 0.3), the proposals of the detached RPN (NMS, best 128) plus the objects' boxes
as ROI candidates, 32 sampled (at most a quarter positive: IoU >= 0.5) for the head's
cross-entropy and smooth-L1 losses, in the shared detector loop
(``workflow.models.detector.train_detector``: AdamW, one-cycle learning rate), flips every other
epoch. On the host, :class:`FrcnnDetector` runs both graphs as one :class:`FrcnnRunner`.
"""

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Unpack

import numpy as np

from workflow.backend.base import BaseRunner
from workflow.detect.boxes import encode, iou
from workflow.detect.frcnn import (
    FEATURES,
    HEAD_VARIANCES,
    IMAGE,
    OBJECTNESS,
    PARTS,
    PROPOSALS,
    ROIS,
    RPN_VARIANCES,
    FrcnnGeometry,
    anchors,
    boxes_to_image,
    image_info,
    mask_padding,
    network_input,
    resize,
    select_proposals,
)
from workflow.detect.postprocess import BOXES, SCORES
from workflow.errors import PipelineError
from workflow.formats.voc import Annotation
from workflow.models.checkpoint import load_state_dict
from workflow.models.detector import (
    BatchLoss,
    Decode,
    Detector,
    LoopSettings,
    train_detector,
)
from workflow.models.export import onnx_from_torch, parity_report
from workflow.models.ssd import fuse_batchnorm

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: Samples per ROI bin side, and the pooled size.
POOL = 7
SAMPLES_PER_BIN = 2
CHANNELS = 64
HIDDEN = 256
#: Training: anchors per image in the RPN loss, ROIs per image in the head loss, proposals
#: per image among the ROI candidates.
RPN_BATCH = 128
ROI_BATCH = 32
TRAIN_PROPOSALS = 128


def frcnn_net(num_classes: int, geometry: FrcnnGeometry) -> "torch.nn.Module":
    """The Faster R-CNN for ``num_classes`` object classes (plus the background)."""
    import torch
    from torch import nn

    def block(inp: int, out: int, stride: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(inp, out, 3, stride, 1), nn.BatchNorm2d(out), nn.ReLU())

    count = geometry.anchors_per_cell

    class FasterRCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(
                block(3, 16, 2),
                block(16, 32, 2),
                block(32, 32, 1),
                block(32, 64, 2),
                block(64, 64, 1),
                block(64, CHANNELS, 2),
                block(CHANNELS, CHANNELS, 1),
            )  # stride 16
            self.rpn = nn.Sequential(nn.Conv2d(CHANNELS, CHANNELS, 3, 1, 1), nn.ReLU())
            self.objectness = nn.Conv2d(CHANNELS, count, 1)
            self.deltas = nn.Conv2d(CHANNELS, count * 4, 1)
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(CHANNELS * POOL * POOL, HIDDEN),
                nn.ReLU(),
                nn.Linear(HIDDEN, HIDDEN),
                nn.ReLU(),
            )
            self.classes = nn.Linear(HIDDEN, num_classes + 1)
            self.refine = nn.Linear(HIDDEN, 4)

        def propose(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """features (N, C, h, w), objectness logits (N, P), deltas (N, P, 4)."""
            features = self.backbone(x)
            hidden = self.rpn(features)
            n = x.shape[0]
            logits = self.objectness(hidden).permute(0, 2, 3, 1).reshape(n, -1)
            deltas = self.deltas(hidden).permute(0, 2, 3, 1).reshape(n, -1, 4)
            return features, logits, deltas

        def classify(
            self, features: torch.Tensor, rois: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            """Class logits (N, R, C + 1) and box deltas (N, R, 4) of rois (N, R, 4)."""
            n, r = rois.shape[:2]
            pooled = roi_pool(features, rois, geometry.input_size)
            hidden = self.head(pooled)
            return self.classes(hidden).reshape(n, r, -1), self.refine(hidden).reshape(n, r, 4)

    return FasterRCNN()


def roi_pool(
    features: "torch.Tensor", rois: "torch.Tensor", input_size: tuple[int, int]
) -> "torch.Tensor":
    """ROI Align of rois (N, R, 4) in input pixels over features (N, C, h, w): (N * R, C, 7, 7).

    Each bin averages 2x2 bilinear samples at the centres of its sub-cells; a feature cell k
    covers input pixels [k * stride, (k + 1) * stride) and its value sits at its centre, which
    is ``grid_sample``'s convention without corner alignment, so a sample at input pixel x has
    the normalised coordinate 2 x / width - 1. Samples off the map read zeros. The R ROIs of an
    image are stacked along the sampling grid's height: one GridSample and one AveragePool
    serve the whole batch.
    """
    import torch
    import torch.nn.functional as F

    side = POOL * SAMPLES_PER_BIN
    n, r = rois.shape[:2]
    height, width = input_size
    steps = (torch.arange(side, dtype=rois.dtype) + 0.5) / side
    x0, y0, x1, y1 = (rois[..., k : k + 1] for k in range(4))
    xs = (x0 + steps * (x1 - x0)) * (2 / width) - 1  # (N, R, side)
    ys = (y0 + steps * (y1 - y0)) * (2 / height) - 1
    grid = torch.stack(
        [
            xs[:, :, None, :].expand(n, r, side, side),
            ys[:, :, :, None].expand(n, r, side, side),
        ],
        -1,
    ).reshape(n, r * side, side, 2)
    sampled = F.grid_sample(features, grid, mode="bilinear", align_corners=False)
    pooled = F.avg_pool2d(sampled, SAMPLES_PER_BIN)  # (N, C, R * 7, 7)
    c = features.shape[1]
    return pooled.reshape(n, c, r, POOL, POOL).transpose(1, 2).reshape(n * r, c, POOL, POOL)


def decode_torch(
    deltas: "torch.Tensor",
    priors: "torch.Tensor",
    variances: tuple[float, ...],
    limit: "torch.Tensor | None" = None,
) -> "torch.Tensor":
    """:func:`workflow.detect.boxes.decode` in torch (exported into the graphs): corner boxes
    from deltas (..., 4) and priors (..., 4) that broadcast with them; clipped to
    [0, ``limit``] (:func:`input_limit`) when given."""
    import torch

    size = priors[..., 2:] - priors[..., :2]
    centre = priors[..., :2] + size / 2
    scale = torch.tensor(variances, dtype=deltas.dtype)
    xy = deltas[..., :2] * scale[:2] * size + centre
    half = torch.exp(deltas[..., 2:] * scale[2:]) * size / 2
    boxes = torch.cat([xy - half, xy + half], -1)
    return boxes if limit is None else torch.minimum(boxes.clamp(min=0), limit)


def input_limit(geometry: FrcnnGeometry) -> "torch.Tensor":
    """(width, height, width, height) of the input, what boxes are clipped to."""
    import torch

    height, width = geometry.input_size
    return torch.tensor([width, height, width, height], dtype=torch.float32)


def rpn_graph(net: "torch.nn.Module", geometry: FrcnnGeometry) -> "torch.nn.Module":
    """The exported first stage: image -> features, proposals (clipped, input pixels),
    objectness probabilities."""
    import torch
    from torch import nn

    class Rpn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("anchors", torch.from_numpy(anchors(geometry)))
            self.register_buffer("limit", input_limit(geometry))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            features, logits, deltas = self.net.propose(x)
            boxes = decode_torch(deltas, self.anchors, RPN_VARIANCES, self.limit)
            return features, boxes, torch.sigmoid(logits)

    return Rpn().eval()


def head_graph(net: "torch.nn.Module", geometry: FrcnnGeometry) -> "torch.nn.Module":
    """The exported second stage: features and rois -> refined boxes (clipped, input pixels)
    and class probabilities."""
    import torch
    from torch import nn

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("limit", input_limit(geometry))

        def forward(
            self, features: torch.Tensor, rois: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            logits, deltas = self.net.classify(features, rois)
            boxes = decode_torch(deltas, rois, HEAD_VARIANCES, self.limit)
            return boxes, torch.softmax(logits, -1)

    return Head().eval()


def _anchor_targets(objects: np.ndarray, all_anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RPN targets of one image: labels (P,) int8 (1 object, 0 background, -1 ignored) and
    deltas (P, 4) of the matched objects (zeros elsewhere)."""
    labels = np.zeros(len(all_anchors), np.int8)
    deltas = np.zeros((len(all_anchors), 4), np.float32)
    if not len(objects):
        return labels, deltas
    overlaps = iou(all_anchors, objects)  # (P, M)
    best = overlaps.max(1)
    labels[(best >= 0.3) & (best < 0.7)] = -1
    positive = best >= 0.7
    positive[overlaps.argmax(0)] = True  # every object keeps its best anchor
    labels[positive] = 1
    matched = objects[overlaps.argmax(1)]
    deltas[positive] = encode(matched[positive], all_anchors[positive], RPN_VARIANCES)
    return labels, deltas


def _sample(
    positive: np.ndarray,
    negative: np.ndarray,
    count: int,
    fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """``count`` indices: at most ``fraction`` of them positive, the rest negative (drawn
    again where too few)."""
    wanted = min(len(positive), int(count * fraction))
    chosen = rng.choice(positive, wanted, replace=False) if wanted else positive[:0]
    rest = count - wanted
    pool = negative if len(negative) else positive
    negatives = rng.choice(pool, rest, replace=len(pool) < rest)
    return np.concatenate([chosen, negatives]).astype(np.int64)


def _roi_targets(
    proposals: np.ndarray,
    objects: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROI_BATCH sampled ROIs of one image (4,), their classes and their box targets."""
    candidates = np.concatenate([proposals, objects]) if len(objects) else proposals
    if not len(objects):
        picked = _sample(np.zeros(0, np.int64), np.arange(len(candidates)), ROI_BATCH, 0, rng)
        rois = candidates[picked]
        return rois, np.zeros(ROI_BATCH, np.int64), np.zeros((ROI_BATCH, 4), np.float32)
    overlaps = iou(candidates, objects)
    best = overlaps.max(1)
    positive = np.flatnonzero(best >= 0.5)
    picked = _sample(positive, np.flatnonzero(best < 0.5), ROI_BATCH, 0.25, rng)
    rois = candidates[picked]
    matched = overlaps[picked].argmax(1)
    classes = np.where(best[picked] >= 0.5, labels[matched], 0)
    targets = encode(objects[matched], rois, HEAD_VARIANCES)
    targets[classes == 0] = 0.0
    return rois.astype(np.float32), classes.astype(np.int64), targets


def _input_boxes(
    annotations: list[list[Annotation]],
    classes: tuple[str, ...],
    image_size: tuple[int, int],
    geometry: FrcnnGeometry,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each image's objects as boxes in input pixels (M, 4) and labels (M,), 1-based."""
    (ih, iw), (h, w) = image_size, geometry.input_size
    scale = np.array([w / iw, h / ih, w / iw, h / ih], np.float32)
    out = []
    for objects in annotations:
        unknown = [o.name for o in objects if o.name not in classes]
        if unknown:
            raise PipelineError(f"class {unknown[0]!r}", f"not among {classes}")
        boxes = np.array([o.box for o in objects], np.float32).reshape(-1, 4) * scale
        labels = np.array([classes.index(o.name) + 1 for o in objects], np.int64)
        out.append((boxes, labels))
    return out


def train_frcnn(
    images: np.ndarray,
    annotations: list[list[Annotation]],
    classes: tuple[str, ...],
    geometry: FrcnnGeometry,
    **loop: Unpack[LoopSettings],
) -> "torch.nn.Module":
    """Train the Faster R-CNN on uint8 RGB scenes (N, H, W, 3) (seeded, deterministic; see the
    module docstring).

    Args:
        loop: the shared loop's settings (``LoopSettings``: seed, epochs, batch size, learning
            rate, weight decay, threads).

    Raises:
        PipelineError: an unknown class, or the loss became NaN or infinite.
    """
    import torch
    import torch.nn.functional as F

    def build() -> tuple["torch.nn.Module", BatchLoss]:
        rng = np.random.default_rng(loop["seed"])
        all_anchors = anchors(geometry)
        width = geometry.input_size[1]
        pixels = resize(images, geometry.input_size)
        object_sets = []
        for flip in (False, True):
            sets = _input_boxes(annotations, classes, images.shape[1:3], geometry)
            if flip:
                sets = [
                    (np.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], -1), k)
                    for b, k in sets
                ]
            object_sets.append(sets)
        rpn_targets = [[_anchor_targets(b, all_anchors) for b, _ in sets] for sets in object_sets]
        anchor_tensor = torch.from_numpy(all_anchors)
        limit = input_limit(geometry)
        model = frcnn_net(len(classes), geometry)

        def batch_loss(order: "torch.Tensor", mirrored: bool) -> "torch.Tensor":
            idx = order.tolist()
            x = torch.from_numpy(
                network_input(pixels[idx], geometry.input_size, geometry.pixel_mean)
            )
            x = x.flip(-1) if mirrored else x
            features, logits, deltas = model.propose(x)
            # RPN loss over sampled anchors
            rows, cols, labels, boxes = [], [], [], []
            for row, image in enumerate(idx):
                label, target = rpn_targets[mirrored][image]
                picked = _sample(
                    np.flatnonzero(label == 1), np.flatnonzero(label == 0), RPN_BATCH, 0.5, rng
                )
                rows.append(np.full(len(picked), row))
                cols.append(picked)
                labels.append(label[picked])
                boxes.append(target[picked])
            rows_t = torch.from_numpy(np.concatenate(rows))
            cols_t = torch.from_numpy(np.concatenate(cols))
            labels_t = torch.from_numpy(np.concatenate(labels).astype(np.float32))
            boxes_t = torch.from_numpy(np.concatenate(boxes))
            positive = labels_t > 0
            rpn_loss = F.binary_cross_entropy_with_logits(
                logits[rows_t, cols_t], labels_t
            ) + F.smooth_l1_loss(
                deltas[rows_t, cols_t][positive], boxes_t[positive], beta=1 / 9, reduction="sum"
            ) / len(rows_t)
            # head loss over sampled ROIs of the detached proposals
            with torch.no_grad():
                decoded = decode_torch(deltas, anchor_tensor, RPN_VARIANCES, limit)
                found, counts = select_proposals(
                    decoded.numpy(), torch.sigmoid(logits).numpy(), geometry, keep=TRAIN_PROPOSALS
                )
            sampled = [
                _roi_targets(found[row, : counts[row]], *object_sets[mirrored][image], rng)
                for row, image in enumerate(idx)
            ]
            rois = torch.from_numpy(np.stack([s[0] for s in sampled]))
            roi_classes = torch.from_numpy(np.concatenate([s[1] for s in sampled]))
            roi_targets = torch.from_numpy(np.concatenate([s[2] for s in sampled]))
            class_logits, refine = model.classify(features, rois)
            class_logits = class_logits.reshape(-1, class_logits.shape[-1])
            refine = refine.reshape(-1, 4)
            fg = roi_classes > 0
            head_loss = F.cross_entropy(class_logits, roi_classes) + F.smooth_l1_loss(
                refine[fg], roi_targets[fg], beta=1.0, reduction="sum"
            ) / len(roi_classes)
            return rpn_loss + head_loss

        return model, batch_loss

    return train_detector(build, len(images), name="frcnn", flip=True, **loop)


def export_frcnn(
    weights: str,
    classes: int,
    images: np.ndarray,
    geometry: FrcnnGeometry,
    *,
    opset: int,
    batch_size: int,
    tolerance: float,
) -> tuple[bytes, bytes, dict[str, dict[str, dict[str, float | int]]]]:
    """The rpn and head graphs (BatchNorm folded) from trained weights, each checked against
    PyTorch on uint8 scenes ``images`` (N, H, W, 3): the rpn on their inputs, the head on the
    features and proposals the PyTorch rpn gives for them. Each output's tolerance is
    ``tolerance`` times its largest absolute value (at least 1): boxes are in input pixels.

    Returns:
        The rpn graph, the head graph and their parity reports by part and output.

    Raises:
        ToleranceError: ONNX Runtime and PyTorch differ by more than the tolerance.
    """
    import torch

    net = fuse_batchnorm(load_state_dict(frcnn_net(classes, geometry), weights).eval())
    rpn, head = rpn_graph(net, geometry), head_graph(net, geometry)
    inputs = network_input(images, geometry.input_size, geometry.pixel_mean)
    with torch.no_grad():
        first = [t.numpy() for t in rpn(torch.from_numpy(inputs))]
        rois, _ = select_proposals(first[1], first[2], geometry)
        second = [t.numpy() for t in head(torch.from_numpy(first[0]), torch.from_numpy(rois))]
    rpn_outputs, head_outputs = (FEATURES, PROPOSALS, OBJECTNESS), (BOXES, SCORES)
    rpn_bytes = onnx_from_torch(rpn, inputs, input_name=IMAGE, output_name=rpn_outputs, opset=opset)
    head_inputs = {FEATURES: first[0], ROIS: rois}
    head_bytes = onnx_from_torch(head, head_inputs, output_name=head_outputs, opset=opset)
    checks = (
        ("rpn", rpn_bytes, {IMAGE: inputs}, rpn_outputs, first),
        ("head", head_bytes, head_inputs, head_outputs, second),
    )
    parity = {
        part: {
            name: parity_report(
                values,
                graph,
                feeds,
                output_name=name,
                batch_size=batch_size,
                tolerance=tolerance * max(1.0, float(np.abs(values).max())),
                framework="PyTorch",
            )
            for name, values in zip(names, expected, strict=True)
        }
        for part, graph, feeds, names, expected in checks
    }
    return rpn_bytes, head_bytes, parity


class FrcnnRunner(BaseRunner):
    """A Faster R-CNN's two runners and the proposal step between them, as one runner: the
    rpn graph's input in; ``boxes`` (N, R, 4) in input pixels, ``scores`` (N, R, C + 1) (the
    padding ROIs' class scores 0), and the ``rois`` (N, R, 4) and their ``counts`` (N,) out.

    Args:
        rpn: an inactive runner of the rpn graph or engine.
        head: an inactive runner of the head graph or engine.
        geometry: what the graphs were exported with.
    """

    def __init__(self, rpn: BaseRunner, head: BaseRunner, geometry: FrcnnGeometry) -> None:
        super().__init__(f"frcnn({rpn.name} -> {head.name})")
        self.rpn, self.head, self.geometry = rpn, head, geometry

    def _activate(self) -> None:
        self.rpn.activate()
        try:
            self.head.activate()
        except BaseException:
            self.rpn.deactivate()
            raise

    def _deactivate(self) -> None:
        try:
            self.head.deactivate()
        finally:
            self.rpn.deactivate()

    def _input_metadata(self) -> list:
        return list(self.rpn.input_metadata().values())

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        first = self.rpn.infer(feed)
        rois, counts = select_proposals(
            first[PROPOSALS].astype(np.float32),
            first[OBJECTNESS].astype(np.float32),
            self.geometry,
        )
        specs = self.head.input_metadata()
        second = self.head.infer(
            {
                FEATURES: first[FEATURES].astype(specs[FEATURES].dtype),
                ROIS: rois.astype(specs[ROIS].dtype),
            }
        )
        scores = mask_padding(second[SCORES].astype(np.float32), counts)
        return {
            BOXES: second[BOXES].astype(np.float32),
            SCORES: scores,
            ROIS: rois,
            "counts": counts,
        }


class FrcnnDetector(Detector):
    """The Faster R-CNN, two graphs with the proposal step between them (see
    ``workflow.detect.frcnn``): images resized to the input, BGR minus the pixel mean; the
    head's boxes in input pixels are unscaled to the image. Its spec carries the geometry
    (config ``train.frcnn``)."""

    network = "faster_rcnn"
    parts = PARTS
    config_section = "frcnn"
    config_keys = ("input_size", "pixel_mean", "anchor_sizes", "anchor_ratios", "proposals")
    input_keys = ("input_size", "pixel_mean")

    @cached_property
    def geometry(self) -> FrcnnGeometry:
        """The geometry of the spec."""
        return FrcnnGeometry.from_config(self.spec)

    def network_input(self, images: np.ndarray) -> np.ndarray:
        return network_input(images, self.spec["input_size"], self.spec["pixel_mean"])

    def decode(self, image_size: tuple[int, int]) -> Decode:
        info = image_info(image_size, tuple(self.spec["input_size"]))

        def unscale(result: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            return boxes_to_image(result[BOXES], info, image_size), result[SCORES]

        return unscale

    def join(self, runners: list[BaseRunner]) -> BaseRunner:
        return FrcnnRunner(*runners, self.geometry)

    def part_feeds(
        self, part: str, images: np.ndarray, earlier: BaseRunner, *, batch_size: int
    ) -> list[dict[str, np.ndarray]]:
        if part != PARTS[1]:
            return super().part_feeds(part, images, earlier, batch_size=batch_size)
        inputs = self.network_input(images)
        feeds = []
        with earlier:
            for start in range(0, len(inputs), batch_size):
                first = earlier.infer({IMAGE: inputs[start : start + batch_size]})
                rois, _ = select_proposals(first[PROPOSALS], first[OBJECTNESS], self.geometry)
                feeds.append({FEATURES: first[FEATURES], ROIS: rois})
        return feeds
