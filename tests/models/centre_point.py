"""A tiny anchor-free detector of object centres (after Zhou et al., *Objects as Points*, 2019):
the new detector kind that tests/models/test_detector.py adds to a copy of the workflow as
``workflow/models/centre.py``.

Per cell of a stride-8 grid, the graph gives each class's probability that an object's centre
lies in the cell (``heatmap`` (N, C, h, w)) and the object's width and height relative to the
image (``size`` (N, 2, h, w)); the host turns every cell into a box around its centre, with the
background score 1 - the best class's. Trained in the shared detector loop: binary
cross-entropy on the heatmap (the centre's cell of its class is 1) plus L1 on the sizes at
the centres.
"""

from typing import TYPE_CHECKING, Any, Unpack

import numpy as np

from workflow.data.detection import IMAGE_SIZE
from workflow.data.images import to_nchw
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

if TYPE_CHECKING:
    import torch

INPUT_NAME = "image"
HEATMAP = "heatmap"
SIZE = "size"


def centre_net(num_classes: int) -> "torch.nn.Module":
    """The network: two strided convolutions (stride 8), then a heatmap logit per class and
    two size logits per cell."""
    from torch import nn

    class CentreNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(3, 16, 4, 4), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU()
            )
            self.heatmap = nn.Conv2d(32, num_classes, 1)
            self.size = nn.Conv2d(32, 2, 1)

        def forward(self, x: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
            features = self.body(x)
            return self.heatmap(features), self.size(features)

    return CentreNet()


def grid_size(side: int) -> int:
    """Cells of the grid along an input side of ``side`` pixels."""
    return (side // 4 - 1) // 2 + 1


def _probabilities(net: "torch.nn.Module") -> "torch.nn.Module":
    """The exported graph: the network's logits through a sigmoid."""
    import torch
    from torch import nn

    class Graph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            heat, size = self.net(x)
            return torch.sigmoid(heat), torch.sigmoid(size)

    return Graph().eval()


def _targets(
    annotations: list[list[Annotation]], classes: tuple[str, ...], height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmaps (N, C, h, w), sizes (N, 2, h, w) and the centre cells (N, h, w)."""
    h, w = grid_size(height), grid_size(width)
    heat = np.zeros((len(annotations), len(classes), h, w), np.float32)
    sizes = np.zeros((len(annotations), 2, h, w), np.float32)
    centres = np.zeros((len(annotations), h, w), np.float32)
    for image, objects in enumerate(annotations):
        for obj in objects:
            x0, y0, x1, y1 = (float(v) for v in obj.box)
            gx = min(int((x0 + x1) / 2 / width * w), w - 1)
            gy = min(int((y0 + y1) / 2 / height * h), h - 1)
            heat[image, classes.index(obj.name), gy, gx] = 1.0
            sizes[image, :, gy, gx] = ((x1 - x0) / width, (y1 - y0) / height)
            centres[image, gy, gx] = 1.0
    return heat, sizes, centres


class CentreDetector(Detector):
    """The centre-point detector: images in [0, 1]; boxes decoded on the host."""

    network = "centre"
    image_size = (IMAGE_SIZE, IMAGE_SIZE)

    def network_input(self, images: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(to_nchw(images, scale=1 / 255, offset=0.0))

    def decode(self, image_size: tuple[int, int]) -> Decode:
        def decode(result: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            heat, size = result[HEATMAP], result[SIZE]
            n, c, h, w = heat.shape
            cy, cx = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w, indexing="ij")
            half_w, half_h = size[:, 0] / 2, size[:, 1] / 2
            boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], -1)
            scores = heat.reshape(n, c, h * w).transpose(0, 2, 1)
            background = 1.0 - scores.max(-1, keepdims=True)
            return (
                np.clip(boxes.reshape(n, h * w, 4), 0.0, 1.0).astype(np.float32),
                np.concatenate([background, scores], -1).astype(np.float32),
            )

        return decode

    def train(
        self,
        images: np.ndarray,
        annotations: list[list[Annotation]],
        classes: tuple[str, ...],
        **loop: Unpack[LoopSettings],
    ) -> "torch.nn.Module":
        import torch
        import torch.nn.functional as F

        def build() -> tuple["torch.nn.Module", BatchLoss]:
            model = centre_net(len(classes))
            heat, sizes, centres = (
                torch.from_numpy(t) for t in _targets(annotations, classes, *images.shape[1:3])
            )
            inputs = torch.from_numpy(self.network_input(images))

            def batch_loss(idx: "torch.Tensor", mirrored: bool) -> "torch.Tensor":
                heat_logits, size_logits = model(inputs[idx])
                at = centres[idx] > 0
                size_error = (torch.sigmoid(size_logits) - sizes[idx]).abs().sum(1)[at].sum()
                return F.binary_cross_entropy_with_logits(heat_logits, heat[idx]) + (
                    size_error / at.sum().clamp(min=1)
                )

            return model, batch_loss

        hint = "lower train.detector.learning_rate"
        return train_detector(build, len(images), name="centre", hint=hint, **loop)

    def export(
        self,
        weights: str,
        classes: int,
        images: np.ndarray,
        *,
        opset: int,
        batch_size: int,
        tolerance: float,
    ) -> tuple[bytes, dict[str, Any]]:
        import torch

        graph_model = _probabilities(load_state_dict(centre_net(classes), weights))
        inputs = self.network_input(images)
        graph = onnx_from_torch(
            graph_model, inputs, input_name=INPUT_NAME, output_name=(HEATMAP, SIZE), opset=opset
        )
        with torch.no_grad():
            expected = [t.numpy() for t in graph_model(torch.from_numpy(inputs))]
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
            for name, values in zip((HEATMAP, SIZE), expected, strict=True)
        }
        return graph, parity
