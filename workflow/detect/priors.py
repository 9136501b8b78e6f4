"""SSD prior (default) boxes as TensorRT's GridAnchor_TRT plugin generates them.

The seed's configuration (sampleUffSSD, uff_ssd): six feature maps 19, 10, 5, 3, 2, 1;
minSize 0.2, maxSize 0.95; aspect ratios 1, 2, 0.5, 3, 0.33; variances 0.1, 0.1, 0.2, 0.2.
Layer ``k`` of ``n`` has scale ``s_k = minSize + (maxSize - minSize) * k / (n - 1)``. The first
layer has 3 boxes per cell (aspect ratio 1 at scale 0.1, and 2 and 0.5 at ``s_0``); every other
layer has one box per aspect ratio at ``s_k`` plus one of aspect ratio 1 at
``sqrt(s_k * s_{k+1})`` (``s_n = 1``): 6 boxes per cell. For the seed's maps this makes
19*19*3 + (10*10 + 5*5 + 3*3 + 2*2 + 1) * 6 = 1,917 boxes (the seed's 7,668 location values).

Boxes are (xmin, ymin, xmax, ymax) relative to the image, cell by cell in row-major order, the
boxes of a cell consecutive; a box of width ``s * sqrt(ar)`` and height ``s / sqrt(ar)`` centred on
the cell. They are not clipped to the image, as in the plugin.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GridAnchorConfig:
    """The GridAnchor_TRT parameters."""

    feature_maps: tuple[int, ...]
    min_size: float
    max_size: float
    aspect_ratios: tuple[float, ...]
    variances: tuple[float, float, float, float]


#: The seed's configuration (sampleUffSSD's config.py).
SEED_CONFIG = GridAnchorConfig(
    feature_maps=(19, 10, 5, 3, 2, 1),
    min_size=0.2,
    max_size=0.95,
    aspect_ratios=(1.0, 2.0, 0.5, 3.0, 0.33),
    variances=(0.1, 0.1, 0.2, 0.2),
)


def layer_boxes(config: GridAnchorConfig, layer: int) -> list[tuple[float, float]]:
    """(width, height) of the boxes of one cell of ``layer``, in order."""
    count = len(config.feature_maps)
    scales = [
        config.min_size + (config.max_size - config.min_size) * k / (count - 1)
        for k in range(count)
    ] + [1.0]
    scale = scales[layer]
    if layer == 0:
        shapes = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
    else:
        shapes = [(scale, ar) for ar in config.aspect_ratios]
        shapes.append((float(np.sqrt(scale * scales[layer + 1])), 1.0))
    return [(s * float(np.sqrt(ar)), s / float(np.sqrt(ar))) for s, ar in shapes]


def grid_anchors(config: GridAnchorConfig = SEED_CONFIG) -> np.ndarray:
    """All prior boxes, float32 (N, 4) as (xmin, ymin, xmax, ymax)."""
    boxes = []
    for layer, size in enumerate(config.feature_maps):
        sizes = np.array(layer_boxes(config, layer), dtype=np.float64)  # (B, 2)
        centres = (np.arange(size, dtype=np.float64) + 0.5) / size
        cy, cx = np.meshgrid(centres, centres, indexing="ij")  # row-major cells
        cx = np.repeat(cx.reshape(-1, 1), len(sizes), axis=1)
        cy = np.repeat(cy.reshape(-1, 1), len(sizes), axis=1)
        half_w, half_h = sizes[:, 0] / 2, sizes[:, 1] / 2
        layer_boxes_ = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1)
        boxes.append(layer_boxes_.reshape(-1, 4))
    return np.concatenate(boxes).astype(np.float32)
