"""The SSD samples' embedded dataset: generated scenes of coloured shapes with VOC-style boxes.

Each scene is a 300x300 RGB image on a textured background (a colour gradient with seeded
noise, sometimes stripes) holding one to ``max_objects`` shapes of the classes in ``CLASSES``,
of varied size, colour and position, overlapping little. A scene is a pure function of its
seed, so the dataset is reproducible image by image. Boxes are the tight pixel bounds of what is
drawn: (xmin, ymin, xmax, ymax) with xmax/ymax exclusive.
"""

from pathlib import Path

import numpy as np

from workflow.data.detection import IMAGE_SIZE, write_example
from workflow.errors import DataError
from workflow.formats.voc import Annotation

#: Class names; label k (1-based) is CLASSES[k - 1], label 0 is the background.
CLASSES = ("circle", "square", "triangle", "diamond", "cross")
SIZE = IMAGE_SIZE


def background(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A float (size, size, 3) textured background: a colour gradient at a random angle,
    sometimes stripes, and seeded noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    start, end = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy + 1.5) / 3
    image = start + (end - start) * t[..., None]
    if rng.random() < 0.4:  # stripes
        period = rng.uniform(8, 40) * size / SIZE
        image += (
            18
            * np.sign(np.sin(2 * np.pi * (xx if rng.random() < 0.5 else yy) * size / period))[
                ..., None
            ]
        )
    image += rng.normal(0, rng.uniform(3, 12), image.shape)
    return image


def shape_mask(name: str, cx: float, cy: float, half: float, size: int = SIZE) -> np.ndarray:
    """Boolean (size, size) mask of one shape of :data:`CLASSES` centred on (cx, cy), its
    bounding square's half side ``half``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx, dy = xx - cx, yy - cy
    if name == "circle":
        return dx**2 + dy**2 <= half**2
    if name == "square":
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if name == "diamond":
        return np.abs(dx) + np.abs(dy) <= half
    if name == "cross":
        arm = half / 3
        return ((np.abs(dx) <= half) & (np.abs(dy) <= arm)) | (
            (np.abs(dx) <= arm) & (np.abs(dy) <= half)
        )
    # triangle pointing up: inside the three half-planes
    return (dy <= half) & (2 * dx <= (dy + half)) & (-2 * dx <= (dy + half))


def scene(
    seed: int, *, max_objects: int, min_size: int, max_size: int
) -> tuple[np.ndarray, list[Annotation]]:
    """One generated scene: uint8 (300, 300, 3) image and its annotations.

    Args:
        seed: the scene's seed (the dataset uses a different seed per image).
        max_objects: at most this many shapes (at least one).
        min_size, max_size: shape size range in pixels (side of the bounding square).
    """
    rng = np.random.default_rng(seed)
    image = background(rng)
    annotations: list[Annotation] = []
    count = int(rng.integers(1, max_objects + 1))
    placed: list[tuple[int, int, int, int]] = []
    for _ in range(count * 20):  # tries; a crowded scene may hold fewer shapes
        if len(annotations) == count:
            break
        name = CLASSES[int(rng.integers(len(CLASSES)))]
        size = rng.uniform(min_size, max_size)
        half = size / 2
        cx, cy = rng.uniform(half, SIZE - half, 2)
        mask = shape_mask(name, cx, cy, half)
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        if any(_overlap(box, other) > 0.15 for other in placed):
            continue
        colour = rng.uniform(0, 255, 3)
        while np.abs(colour - image[mask].mean(axis=0)).max() < 70:  # keep it visible
            colour = rng.uniform(0, 255, 3)
        image[mask] = colour + rng.normal(0, 4, (int(mask.sum()), 3))
        placed.append(box)
        annotations.append(Annotation(name, box))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), annotations


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


#: Offset between the seeds of the generated training scenes and the test scenes.
TEST_SEED_OFFSET = 500_000
#: Seeds of different dataset seeds are this far apart.
SEED_STRIDE = 1_000_000


def shape_seeds(seed: int, split: str, count: int) -> range:
    """Scene seeds of a generated split: disjoint between splits and dataset seeds."""
    if count > TEST_SEED_OFFSET:
        raise DataError(
            f"data.detect.shapes.{split}", f"{count} scenes; at most {TEST_SEED_OFFSET}"
        )
    start = seed * SEED_STRIDE + (TEST_SEED_OFFSET if split == "test" else 0)
    return range(start, start + count)


def write_shapes(
    folder: str | Path, seeds: range, *, max_objects: int, min_size: int, max_size: int
) -> int:
    """Generate one scene per seed into ``folder`` (``NNNNNN.ppm`` + ``.xml``, numbered from
    0); return the number of objects written."""
    if not 8 <= min_size <= max_size:
        raise DataError(
            "data.detect.shapes",
            f"min_size {min_size}, max_size {max_size}",
            "need 8 <= min_size <= max_size",
        )
    objects = 0
    for index, scene_seed in enumerate(seeds):
        image, annotations = scene(
            scene_seed, max_objects=max_objects, min_size=min_size, max_size=max_size
        )
        write_example(folder, f"{index:06d}", image, annotations)
        objects += len(annotations)
    return objects
