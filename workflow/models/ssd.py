"""A small SSD for the generated shape scenes: trains on 2 CPU cores in minutes.

Input (N, 3, 300, 300) in [-1, 1] (the seed's preprocessing). A plain conv backbone (BatchNorm,
ReLU) reaches the 19x19 map at stride 16; extra layers give 10, 5, 3, 2 and 1; a 3x3 conv head
per map predicts, for each prior of :func:`workflow.detect.priors.grid_anchors`, 4 box codes and
``classes + 1`` scores (class 0 = background). Outputs: ``loc`` (N, 1917, 4) and ``conf`` logits
(N, 1917, classes + 1), priors in grid order.

Measured (exploration, one thread, while other jobs ran): 1,000 training scenes, 12 epochs of
~27 s, AdamW + one-cycle, gave mAP@0.5 = 0.95 on 100 test scenes (host NMS at IoU 0.45).
"""

import logging
from typing import TYPE_CHECKING, Unpack

import numpy as np

from workflow.data.detection import IMAGE_SIZE
from workflow.data.images import to_nchw
from workflow.detect.match import match_priors
from workflow.detect.postprocess import BOXES, SCORES
from workflow.detect.priors import SEED_CONFIG, GridAnchorConfig, grid_anchors, layer_boxes
from workflow.formats.voc import Annotation
from workflow.models.checkpoint import load_state_dict
from workflow.models.detector import BatchLoss, Detector, LoopSettings, train_detector
from workflow.models.export import onnx_from_torch, parity_report

if TYPE_CHECKING:
    import torch


log = logging.getLogger(__name__)

#: The seed's preprocessing: pixel * INPUT_SCALE + INPUT_OFFSET maps 0..255 to [-1, 1].
INPUT_SCALE = 2 / 255
INPUT_OFFSET = -1.0
INPUT_NAME = "image"
#: Side of the square RGB input, in pixels (the seed's 300x300, the detection sets' size).
INPUT_SIZE = IMAGE_SIZE


def ssd_net(num_classes: int, boxes_per_layer: list[int]) -> "torch.nn.Module":
    """The SSD network for ``num_classes`` object classes (plus the background)."""
    import torch
    from torch import nn

    def block(inp: int, out: int, stride: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(inp, out, 3, stride, 1), nn.BatchNorm2d(out), nn.ReLU())

    scores = num_classes + 1

    class SSD(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                block(3, 16, 2),
                block(16, 32, 2),
                block(32, 32, 1),
                block(32, 64, 2),
                block(64, 64, 1),
                block(64, 96, 2),
                block(96, 96, 1),
            )  # 300 -> 19
            self.extra = nn.ModuleList(
                [
                    block(96, 128, 2),
                    block(128, 128, 2),
                    block(128, 128, 2),
                    block(128, 128, 2),
                    nn.Sequential(nn.Conv2d(128, 128, 2), nn.ReLU()),
                ]
            )  # 10, 5, 3, 2, 1
            channels = [96, 128, 128, 128, 128, 128]
            self.loc = nn.ModuleList(
                nn.Conv2d(c, b * 4, 3, 1, 1) for c, b in zip(channels, boxes_per_layer, strict=True)
            )
            self.conf = nn.ModuleList(
                nn.Conv2d(c, b * scores, 3, 1, 1)
                for c, b in zip(channels, boxes_per_layer, strict=True)
            )

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            feature = self.stem(x)
            features = [feature]
            for layer in self.extra:
                feature = layer(feature)
                features.append(feature)
            batch = x.shape[0]
            loc = torch.cat(
                [
                    h(f).permute(0, 2, 3, 1).reshape(batch, -1, 4)
                    for h, f in zip(self.loc, features, strict=True)
                ],
                1,
            )
            conf = torch.cat(
                [
                    h(f).permute(0, 2, 3, 1).reshape(batch, -1, scores)
                    for h, f in zip(self.conf, features, strict=True)
                ],
                1,
            )
            return loc, conf

    return SSD()


def multibox_loss(
    loc: "torch.Tensor",
    conf: "torch.Tensor",
    target_loc: "torch.Tensor",
    target_labels: "torch.Tensor",
    *,
    negatives_per_positive: int,
) -> "torch.Tensor":
    """SSD's loss: smooth-L1 on the positive priors' codes plus cross-entropy on the positives
    and the hardest negatives (``negatives_per_positive`` per positive), over the positives."""
    import torch.nn.functional as F

    positive = target_labels > 0
    count = positive.sum().clamp(min=1)
    box_loss = F.smooth_l1_loss(loc[positive], target_loc[positive], reduction="sum")
    scores = conf.shape[-1]
    ce = F.cross_entropy(conf.reshape(-1, scores), target_labels.reshape(-1), reduction="none")
    ce = ce.reshape(target_labels.shape)
    negative = ce.detach().clone()
    negative[positive] = 0
    wanted = (negatives_per_positive * positive.sum(1)).clamp(max=target_labels.shape[1] - 1)
    rank = negative.argsort(1, descending=True).argsort(1)
    hard = rank < wanted[:, None]
    return (box_loss + ce[positive | hard].sum()) / count


def boxes_per_layer(config: GridAnchorConfig = SEED_CONFIG) -> list[int]:
    """Prior boxes per cell of each feature map (3, 6, 6, 6, 6, 6 for the seed's config)."""
    return [len(layer_boxes(config, k)) for k in range(len(config.feature_maps))]


def fuse_batchnorm(model: "torch.nn.Module") -> "torch.nn.Module":
    """Fold every BatchNorm that follows a Conv (in a Sequential) into the Conv's weights.

    The exported graph then has plain convolutions, which INT8 quantizes per output channel
    without a scale applied after the quantized weights. The model must be in eval mode.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            conv, norm = module[index], module[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[index] = fuse_conv_bn_eval(conv, norm)
                module[index + 1] = nn.Identity()
    return model


def ssd_detector(
    net: "torch.nn.Module",
    priors: np.ndarray,
    variances: tuple[float, float, float, float],
) -> "torch.nn.Module":
    """The exported SSD: the network, softmax over classes and box decoding in the graph.

    Outputs ``boxes`` (N, P, 4), corner boxes relative to the image (the inverse of
    :func:`workflow.detect.boxes.encode`), and ``scores`` (N, P, C + 1) probabilities; only
    Slice, Mul, Add, Exp, Concat and Softmax after the convolutions.
    """
    import torch
    from torch import nn

    centre = (priors[:, :2] + priors[:, 2:]) / 2
    size = priors[:, 2:] - priors[:, :2]

    class Detector(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("centre", torch.from_numpy(centre.astype(np.float32)))
            self.register_buffer("size", torch.from_numpy(size.astype(np.float32)))
            self.register_buffer(
                "variances", torch.tensor(variances, dtype=torch.float32).reshape(2, 2)
            )

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            loc, conf = self.net(x)
            xy = loc[..., :2] * self.variances[0] * self.size + self.centre
            half = torch.exp(loc[..., 2:] * self.variances[1]) * self.size / 2
            return torch.cat([xy - half, xy + half], -1), torch.softmax(conf, -1)

    return Detector().eval()


def train_ssd(
    images: np.ndarray,
    annotations: list[list["Annotation"]],
    classes: tuple[str, ...],
    *,
    negatives_per_positive: int,
    match_iou: float,
    **loop: Unpack[LoopSettings],
) -> "torch.nn.Module":
    """Train the SSD on uint8 scenes (N, H, W, 3) and their annotations (seeded, deterministic).

    The shared detector loop (``workflow.models.detector.train_detector``: AdamW, one-cycle
    learning rate peaking at ``learning_rate``); targets are the priors matched at IoU
    ``match_iou``; inputs are scaled to [-1, 1] per batch.

    Args:
        loop: the shared loop's settings (``LoopSettings``: seed, epochs, batch size, learning
            rate, weight decay, threads).

    Returns:
        The trained network (not fused, eval mode).

    Raises:
        PipelineError: the loss became NaN or infinite.
    """
    import torch

    def build() -> tuple["torch.nn.Module", BatchLoss]:
        priors = grid_anchors(SEED_CONFIG)
        height, width = images.shape[1:3]
        scale = np.array([width, height, width, height], np.float32)
        targets = [
            match_priors(
                np.array([obj.box for obj in objects], np.float32).reshape(-1, 4) / scale,
                np.array([classes.index(obj.name) + 1 for obj in objects], np.int64),
                priors,
                variances=SEED_CONFIG.variances,
                iou_threshold=match_iou,
            )
            for objects in annotations
        ]
        target_loc = torch.from_numpy(np.stack([t[0] for t in targets]))
        target_labels = torch.from_numpy(np.stack([t[1] for t in targets]))
        model = ssd_net(len(classes), boxes_per_layer())
        pixels = torch.from_numpy(np.ascontiguousarray(images))

        def batch_loss(idx: "torch.Tensor", mirrored: bool) -> "torch.Tensor":
            x = pixels[idx].permute(0, 3, 1, 2).float() * INPUT_SCALE + INPUT_OFFSET
            loc, conf = model(x)
            return multibox_loss(
                loc,
                conf,
                target_loc[idx],
                target_labels[idx],
                negatives_per_positive=negatives_per_positive,
            )

        return model, batch_loss

    return train_detector(build, len(images), name="ssd", **loop)


def export_ssd(
    weights: str,
    classes: int,
    inputs: np.ndarray,
    *,
    opset: int,
    batch_size: int,
    tolerance: float,
) -> tuple[bytes, dict[str, dict[str, float | int]]]:
    """The SSD's ONNX graph (BatchNorm folded, softmax and box decoding inside) from trained
    weights, checked against PyTorch on ``inputs`` (N, 3, 300, 300).

    Returns:
        The graph, ending with ``boxes`` and ``scores``, and the parity report of each output.

    Raises:
        ToleranceError: ONNX Runtime and PyTorch differ by more than ``tolerance``.
    """
    import torch

    net = load_state_dict(ssd_net(classes, boxes_per_layer()), weights)
    model = ssd_detector(fuse_batchnorm(net), grid_anchors(SEED_CONFIG), SEED_CONFIG.variances)
    graph = onnx_from_torch(
        model, inputs, input_name=INPUT_NAME, output_name=(BOXES, SCORES), opset=opset
    )
    with torch.no_grad():
        expected = [
            torch.cat(parts).numpy()
            for parts in zip(
                *(
                    model(torch.from_numpy(inputs[start : start + batch_size]))
                    for start in range(0, len(inputs), batch_size)
                ),
                strict=True,
            )
        ]
    parity = {
        name: parity_report(
            values,
            graph,
            inputs,
            input_name=INPUT_NAME,
            output_name=name,
            batch_size=batch_size,
            tolerance=tolerance,
            framework="PyTorch",
        )
        for name, values in zip((BOXES, SCORES), expected, strict=True)
    }
    return graph, parity


class SsdDetector(Detector):
    """The SSD: 300x300 images scaled to [-1, 1]; its graph ends with ``boxes`` and ``scores``
    (box decoding and softmax inside), or with NMS's ``detections``."""

    network = "ssd"
    image_size = (INPUT_SIZE, INPUT_SIZE)

    def network_input(self, images: np.ndarray) -> np.ndarray:
        return to_nchw(images, scale=INPUT_SCALE, offset=INPUT_OFFSET)
