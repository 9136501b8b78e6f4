"""Training a YOLOv3-style detector built from a darknet ``.cfg`` (the yolov3 sample).

Targets as YOLOv3 assigns them: each object goes to the anchor (of all heads) whose size fits
its box best (IoU of centred boxes), in the cell holding its centre; that anchor learns the
centre offset in the cell (binary cross-entropy on the sigmoid, as darknet), the log size ratio
to the anchor (squared error), objectness 1 and its class (binary cross-entropy per class); box
terms are weighted by ``2 - w * h`` (small boxes count more). Every other anchor learns
objectness 0, except where its predicted box already overlaps an object by more than the
head's ``ignore_thresh``. Images are letterboxed to the network input and scaled to [0, 1].
"""

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Unpack

import numpy as np

from workflow.detect.yolo import boxes_to_image, decode_heads, letterbox, letterbox_geometry
from workflow.errors import PipelineError
from workflow.formats.darknet import Network, read_cfg
from workflow.formats.voc import Annotation
from workflow.models.darknet import darknet_model
from workflow.models.detector import (
    BatchLoss,
    Decode,
    Detector,
    LoopSettings,
    train_detector,
)

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: Pixel values scaled to [0, 1], as darknet feeds them.
INPUT_SCALE = 1.0 / 255.0


def head_anchors(network: Network) -> list[list[tuple[float, float]]]:
    """Each ``[yolo]`` head's anchors (width, height) in input pixels, in head order."""
    out = []
    for head in network.heads():
        values = head.numbers("anchors")
        pairs = list(zip(values[::2], values[1::2], strict=True))
        out.append([tuple(map(float, pairs[m])) for m in head.numbers("mask")])
    return out


def network_input(images: np.ndarray, network: Network) -> np.ndarray:
    """uint8 images (N, H, W, 3) letterboxed to the network input, float32 (N, 3, h, w)."""
    _, height, width = network.input_shape
    boxed = np.stack([letterbox(image, (height, width)) for image in images])
    return np.ascontiguousarray(boxed.transpose(0, 3, 1, 2), dtype=np.float32) * INPUT_SCALE


def build_targets(
    annotations: list[list[Annotation]],
    classes: tuple[str, ...],
    network: Network,
    image_size: tuple[int, int],
) -> list[np.ndarray]:
    """Per head, float32 (N, A, h, w, 6 + C): [assigned, tx, ty, tw, th, weight, one-hot].

    Raises:
        PipelineError: an object of a class the detector does not know.
    """
    _, height, width = network.input_shape
    scale, _, (top, left) = letterbox_geometry(image_size, (height, width))
    anchors = head_anchors(network)
    flat = [(k, a, size) for k, head in enumerate(anchors) for a, size in enumerate(head)]
    sizes = np.array([size for _, _, size in flat])
    heads = network.heads()
    targets = [
        np.zeros((len(annotations), len(anchors[k]), h.height, h.width, 6 + len(classes)), "f4")
        for k, h in enumerate(heads)
    ]
    for image, objects in enumerate(annotations):
        for obj in objects:
            if obj.name not in classes:
                raise PipelineError(f"class {obj.name!r}", f"not among {classes}")
            x0, y0, x1, y1 = (float(v) for v in obj.box)
            cx = (x0 + x1) / 2 * scale + left
            cy = (y0 + y1) / 2 * scale + top
            bw, bh = (x1 - x0) * scale, (y1 - y0) * scale
            inter = np.minimum(sizes[:, 0], bw) * np.minimum(sizes[:, 1], bh)
            fit = inter / (sizes[:, 0] * sizes[:, 1] + bw * bh - inter)
            k, a, (aw, ah) = flat[int(np.argmax(fit))]
            head = heads[k]
            gx = min(int(cx / width * head.width), head.width - 1)
            gy = min(int(cy / height * head.height), head.height - 1)
            row = targets[k][image, a, gy, gx]
            row[0] = 1.0
            row[1] = cx / width * head.width - gx
            row[2] = cy / height * head.height - gy
            row[3] = np.log(max(bw, 1.0) / aw)
            row[4] = np.log(max(bh, 1.0) / ah)
            row[5] = 2.0 - (bw / width) * (bh / height)
            row[6:] = 0.0
            row[6 + classes.index(obj.name)] = 1.0
    return targets


def yolo_loss(
    outputs: tuple["torch.Tensor", ...],
    targets: list["torch.Tensor"],
    anchors: list[list[tuple[float, float]]],
    truths: "torch.Tensor",
    *,
    input_size: tuple[int, int],
    ignore: float,
) -> "torch.Tensor":
    """The summed YOLOv3 loss of a batch, divided by its size (see the module docstring).

    Args:
        outputs: each head's (N, A * (5 + C), h, w).
        targets: :func:`build_targets`' arrays of the batch, as tensors.
        anchors: each head's anchors in input pixels.
        truths: (N, M, 4) each image's objects' corner boxes relative to the input, padded
            with zero boxes (which overlap nothing).
        input_size: (height, width) of the input.
        ignore: IoU above which an unassigned anchor's objectness is not pushed to 0.
    """
    import torch
    import torch.nn.functional as F

    height, width = input_size
    total = outputs[0].new_zeros(())
    for out, target, head in zip(outputs, targets, anchors, strict=True):
        n, _, h, w = out.shape
        count = len(head)
        p = out.view(n, count, -1, h, w).permute(0, 1, 3, 4, 2)  # (n, A, h, w, 5 + C)
        assigned = target[..., 0] > 0
        weight = target[..., 5][assigned]
        xy = F.binary_cross_entropy_with_logits(
            p[..., 0:2][assigned], target[..., 1:3][assigned], reduction="none"
        ).sum(-1)
        wh = ((p[..., 2:4][assigned] - target[..., 3:5][assigned]) ** 2).sum(-1)
        classes = F.binary_cross_entropy_with_logits(
            p[..., 5:][assigned], target[..., 6:][assigned], reduction="sum"
        )
        with torch.no_grad():  # unassigned anchors whose box already fits an object: no push
            sizes = torch.tensor(head, dtype=p.dtype)
            cols = torch.arange(w, dtype=p.dtype).view(1, 1, 1, w)
            rows = torch.arange(h, dtype=p.dtype).view(1, 1, h, 1)
            cx = (torch.sigmoid(p[..., 0]) + cols) / w
            cy = (torch.sigmoid(p[..., 1]) + rows) / h
            bw = torch.exp(p[..., 2].clamp(max=8)) * sizes[:, 0].view(1, count, 1, 1) / width
            bh = torch.exp(p[..., 3].clamp(max=8)) * sizes[:, 1].view(1, count, 1, 1) / height
            boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
            overlap = _box_iou(boxes.reshape(n, -1, 4), truths)  # (n, A*h*w, M)
            skip = _best(overlap) > ignore
            skip = skip.view(n, count, h, w)
        objectness = target[..., 0]
        keep = assigned | ~skip
        obj = F.binary_cross_entropy_with_logits(p[..., 4][keep], objectness[keep], reduction="sum")
        total = total + (weight * (xy + wh)).sum() + obj + classes
    return total / outputs[0].shape[0]


def _box_iou(a: "torch.Tensor", b: "torch.Tensor") -> "torch.Tensor":
    """IoU of boxes (n, P, 4) with each image's objects (n, M, 4) (rows of zeros: padding)."""
    import torch

    lt = torch.maximum(a[:, :, None, :2], b[:, None, :, :2])
    rb = torch.minimum(a[:, :, None, 2:], b[:, None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, :, None] + area_b[:, None, :] - inter + 1e-9)


def _best(overlap: "torch.Tensor") -> "torch.Tensor":
    """Each box's best IoU with its image's objects (0 where the image has none)."""
    if overlap.shape[-1] == 0:
        return overlap.new_zeros(overlap.shape[:-1])
    return overlap.max(-1).values


def train_yolo(
    images: np.ndarray,
    annotations: list[list[Annotation]],
    classes: tuple[str, ...],
    network: Network,
    **loop: Unpack[LoopSettings],
) -> "torch.nn.Module":
    """Train the cfg's network on uint8 scenes (N, H, W, 3) (seeded, deterministic): the
    shared detector loop (``workflow.models.detector.train_detector``: AdamW, one-cycle learning
    rate); horizontal flips of every other epoch's images.

    Args:
        loop: the shared loop's settings (``LoopSettings``: seed, epochs, batch size, learning
            rate, weight decay, threads).

    Raises:
        PipelineError: the loss became NaN or infinite, or the cfg's heads do not know
            ``len(classes)`` classes.
    """
    import torch

    if any(head.number("classes") != len(classes) for head in network.heads()):
        raise PipelineError(network.source, f"the heads are not for {len(classes)} classes")

    def build() -> tuple["torch.nn.Module", BatchLoss]:
        _, height, width = network.input_shape
        anchors = head_anchors(network)
        ignore = float(network.heads()[0].options.get("ignore_thresh", "0.7"))
        inputs = torch.from_numpy(network_input(images, network))
        side = images.shape[2]  # mirrored boxes of mirrored images (letterbox bars are symmetric)
        flipped = [
            [
                Annotation(
                    o.name, (side - o.box[2], o.box[1], side - o.box[0], o.box[3]), o.difficult
                )
                for o in objects
            ]
            for objects in annotations
        ]
        target_sets = [
            [torch.from_numpy(t) for t in build_targets(a, classes, network, images.shape[1:3])]
            for a in (annotations, flipped)
        ]
        scale, _, (top, left) = letterbox_geometry(images.shape[1:3], (height, width))
        most = max((len(objects) for objects in annotations), default=0)
        truth_sets = []
        for a in (annotations, flipped):
            padded = np.zeros((len(a), most, 4), np.float32)
            for image, objects in enumerate(a):
                for j, o in enumerate(objects):
                    padded[image, j] = [
                        (o.box[0] * scale + left) / width,
                        (o.box[1] * scale + top) / height,
                        (o.box[2] * scale + left) / width,
                        (o.box[3] * scale + top) / height,
                    ]
            truth_sets.append(torch.from_numpy(padded))
        model = darknet_model(network)

        def batch_loss(idx: "torch.Tensor", mirrored: bool) -> "torch.Tensor":
            x = inputs[idx].flip(-1) if mirrored else inputs[idx]
            return yolo_loss(
                model(x),
                [t[idx] for t in target_sets[mirrored]],
                anchors,
                truth_sets[mirrored][idx],
                input_size=(height, width),
                ignore=ignore,
            )

        return model, batch_loss

    return train_detector(build, len(images), name="yolo", flip=True, **loop)


class YoloDetector(Detector):
    """A YOLOv3 of a darknet cfg (the spec's ``cfg``): images letterboxed to the cfg's input,
    values in [0, 1]; its graph ends with one raw output per head (``yolo0``, ``yolo1``, ...),
    decoded on the host (``workflow.detect.yolo``)."""

    network = "yolov3"
    input_keys = ("cfg",)
    darknet_cfg = True

    @cached_property
    def cfg_network(self) -> Network:
        """The network of the spec's cfg (read once)."""
        return read_cfg(self.spec["cfg"])

    def network_input(self, images: np.ndarray) -> np.ndarray:
        return network_input(images, self.cfg_network)

    def decode(self, image_size: tuple[int, int]) -> Decode:
        anchors = head_anchors(self.cfg_network)
        input_size = self.cfg_network.input_shape[1:]

        def decode(result: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            heads = [result[f"yolo{k}"] for k in range(len(anchors))]
            boxes, scores = decode_heads(heads, anchors, input_size=input_size)
            return boxes_to_image(boxes, image_size, input_size), scores

        return decode
