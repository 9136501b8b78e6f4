"""The image classifiers' data (ResNet-50, GoogLeNet): labelled RGB images in class folders.

Sources (config ``data.images.source``):

* ``generated`` (embedded, no network): one object per image on a textured background, its
  class a shape of the detection scenes (circle, square, triangle, diamond, cross) and a fill
  (``solid``, or ``striped`` with stripes of a second colour), so ten classes such as
  ``circle_striped``. Colours, size, position, stripe period and angle vary at random, so
  neither colour nor place gives the class away. An image is a pure function of its seed.
* ``folder``: your own images, ``<folder>/train/<class>/*`` and ``<folder>/test/<class>/*``
  (PPM, PGM, PNG, JPEG), classes in sorted order, or in the order of ``<folder>/classes.txt``
  where there is one (a model's output order, e.g. ImageNet's).

Every source becomes the same tree, ``classes.txt`` + ``train/`` + ``test/``, read by
:func:`read_image_split` and fed to the networks by :func:`to_network_input` with the
configured preprocessing (resize the shorter side, centre crop, scale, mean, std). A split too
large to hold decoded (ImageNet's 50,000 validation images are about 60 GB as network input) is
listed by :func:`list_image_split` and decoded batch by batch by :func:`network_input_batches`,
with the same preprocessing and the same bytes.
"""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workflow.data.byo import (
    IMAGE_SUFFIXES,
    Labelled,
    folder_split_files,
    read_folder_split,
    read_image_file,
)
from workflow.data.detection import read_classes, write_classes
from workflow.data.shapes import CLASSES as SHAPES
from workflow.data.shapes import background, shape_mask
from workflow.errors import DataError
from workflow.formats.pnm import pnm_bytes
from workflow.io import write_atomically

FILLS = ("solid", "striped")
#: The generated classes, in label order.
CLASSES = tuple(f"{shape}_{fill}" for shape in SHAPES for fill in FILLS)
#: The ImageNet class index Keras publishes (index -> [wnid, name]): the output order of the
#: ImageNet weights, (url, md5).
IMAGENET_CLASS_INDEX = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
    "c2c37ea517e94d9795004a39431a14cb",
)
#: Seeds of the test images start here (training images from 0), per dataset seed stride.
TEST_SEED_OFFSET = 500_000
SEED_STRIDE = 1_000_000


def object_image(seed: int, label: int, *, size: int) -> np.ndarray:
    """One generated image of class ``CLASSES[label]``: uint8 (size, size, 3)."""
    rng = np.random.default_rng(seed)
    shape, fill = CLASSES[label].rsplit("_", 1)
    image = background(rng, size)
    half = rng.uniform(0.22, 0.42) * size
    cx, cy = rng.uniform(half, size - half, 2)
    mask = shape_mask(shape, cx, cy, half, size)
    colour = rng.uniform(0, 255, 3)
    while np.abs(colour - image[mask].mean(axis=0)).max() < 70:  # keep it visible
        colour = rng.uniform(0, 255, 3)
    paint = np.broadcast_to(colour, image.shape).copy()
    if fill == "striped":
        other = rng.uniform(0, 255, 3)
        while np.abs(other - colour).max() < 90:
            other = rng.uniform(0, 255, 3)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.12, 0.2) * size
        stripes = np.sin(2 * np.pi * (np.cos(angle) * xx + np.sin(angle) * yy) / period) > 0
        paint[stripes] = other
    image[mask] = paint[mask] + rng.normal(0, 4, (int(mask.sum()), 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def write_generated(root: str | Path, *, train: int, test: int, size: int, seed: int) -> None:
    """The generated set into ``root``: ``classes.txt``, ``train/<class>/NNNNNN.ppm`` and
    ``test/...``; ``train`` and ``test`` images per class.

    Raises:
        DataError: counts or a size the generator cannot make.
    """
    if not 16 <= size <= 512:
        raise DataError("data.images.generated.size", f"{size}", "use 16 to 512 pixels")
    for split, count in (("train", train), ("test", test)):
        if not 1 <= count <= TEST_SEED_OFFSET // len(CLASSES):
            raise DataError(f"data.images.generated.{split}", f"{count} images per class")
    root = Path(root)
    for split, count in (("train", train), ("test", test)):
        start = seed * SEED_STRIDE + (TEST_SEED_OFFSET if split == "test" else 0)
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                image_seed = start + index * len(CLASSES) + label
                image = object_image(image_seed, label, size=size)
                write_atomically(folder / f"{index:06d}.ppm", pnm_bytes(image))
    write_classes(root / "classes.txt", CLASSES)


def imagenet_wnids(index_path: str | Path) -> list[str]:
    """ImageNet's 1000 class folder names (WordNet ids such as ``n01440764``) in the output
    order of the ImageNet weights, from the class index file.

    Raises:
        DataError: not the class index (not JSON, not 1000 entries).
    """
    import json

    try:
        index = json.loads(Path(index_path).read_text())
        wnids = [index[str(k)][0] for k in range(len(index))]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise DataError(index_path, f"not the ImageNet class index ({err})") from err
    if len(wnids) != 1000:
        raise DataError(index_path, f"{len(wnids)} classes, ImageNet has 1000")
    return wnids


def _check_image(path: Path) -> None:
    """Decode one image in full (a header check misses a truncated JPEG).

    Raises:
        DataError: naming ``path`` when Pillow cannot open or decode it.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DataError(
            path,
            f"not a readable image ({err})",
            "replace it with a complete image file or remove it from the folder "
            f"(every {'/'.join(IMAGE_SUFFIXES)} file in a class folder is read)",
        ) from err


def copy_folder(
    source: str | Path, root: str | Path, *, classes: list[str] | None = None
) -> list[str]:
    """Check your image folder and copy it into ``root`` as the pipeline's tree; return the
    class names: ``classes`` where given (e.g. ImageNet's), else ``<source>/classes.txt``, else
    the class folders in sorted order.

    Every image (a file with an image suffix) is decoded in full before anything is copied,
    so a truncated or mislabelled file is named here, in your folder, not later in training.

    Raises:
        DataError: no train/ or test/, classes that differ between them (without a
            classes.txt), class folders that classes.txt does not list, a class folder without
            images, an image that does not decode (its path in ``source``).
    """
    source, root = Path(source), Path(root)
    listed = source / "classes.txt"
    origin = "the classes asked for"
    if classes is None and listed.is_file():
        classes, origin = list(read_classes(listed)), str(listed)
    folders = {}
    for split in ("train", "test"):
        if not (source / split).is_dir():
            raise DataError(source / split, "missing", f"{source} needs train/ and test/")
        folders[split] = sorted(p.name for p in (source / split).iterdir() if p.is_dir())
        unknown = sorted(set(folders[split]) - set(classes or folders[split]))
        if unknown:
            raise DataError(source / split, f"class folders {unknown[:5]} not in {origin}")
    if classes is None:
        if folders["train"] != folders["test"]:
            raise DataError(
                source, f"train classes {folders['train']} differ from test {folders['test']}"
            )
        classes = folders["train"]
    for split in ("train", "test"):
        for name in folders[split]:
            images = sorted(
                p for p in (source / split / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not images:
                raise DataError(source / split / name, "no images")
            for path in images:
                _check_image(path)
    for split in ("train", "test"):
        for name in folders[split]:
            shutil.copytree(source / split / name, root / split / name)
    write_classes(root / "classes.txt", classes)
    return list(classes)


def read_image_split(root: str | Path, split: str) -> tuple[Labelled, list[str]]:
    """One split of the tree (``train`` or ``test``) and the class names (label order)."""
    root = Path(root)
    classes = read_classes(root / "classes.txt")
    present = [name for name in classes if (root / split / name).is_dir()]
    data = read_folder_split(root / split, present)
    labels = np.array([classes.index(present[k]) for k in data.labels], np.int64)
    return Labelled(data.images, labels), classes


@dataclass(frozen=True)
class ImageFiles:
    """One split as files, not yet decoded: ``paths`` and their ``labels`` (N,)."""

    paths: list[Path]
    labels: np.ndarray


def list_image_split(root: str | Path, split: str) -> tuple[ImageFiles, list[str]]:
    """One split of the tree as files (the images and labels of :func:`read_image_split`, in
    the same order, none decoded) and the class names (label order)."""
    root = Path(root)
    classes = read_classes(root / "classes.txt")
    present = [name for name in classes if (root / split / name).is_dir()]
    paths, found = folder_split_files(root / split, present)
    labels = np.array([classes.index(present[k]) for k in found], np.int64)
    return ImageFiles(paths, labels), classes


def network_input_batches(
    files: ImageFiles, preprocess: dict[str, Any], size: int, *, batch_size: int
) -> Iterator[np.ndarray]:
    """The images of ``files`` as :func:`to_network_input` makes them, ``batch_size`` at a
    time: each batch is decoded, preprocessed and yielded before the next is read, so only one
    batch of images is in memory. The batches, concatenated, are byte for byte
    ``to_network_input`` of the whole split.

    Raises:
        DataError: a batch size below 1, an unreadable image, an image whose channel count
            differs from the first image's, or a resize below the input size.
    """
    if batch_size < 1:
        raise DataError("batch_size", f"{batch_size}", "use 1 or more images per batch")
    channels = None
    for start in range(0, len(files.paths), batch_size):
        images = []
        for path in files.paths[start : start + batch_size]:
            image = read_image_file(path)
            channels = channels or image.shape[2]
            if image.shape[2] != channels:
                raise DataError(path, f"{image.shape[2]} channels, the first image has {channels}")
            images.append(image)
        labels = files.labels[start : start + batch_size]
        yield to_network_input(Labelled(images, labels), preprocess, size)


def to_network_input(split: Labelled, preprocess: dict[str, Any], size: int) -> np.ndarray:
    """A split's images as the networks take them: float32 (N, 3, size, size), the shorter
    side resized to ``preprocess["resize"]`` (bilinear; 0: to ``size``), centre cropped to
    ``size``, then ``(pixel * scale - mean) / std`` per RGB channel."""
    from PIL import Image

    resize = preprocess["resize"] or size
    if resize < size:
        raise DataError("data.images.preprocess.resize", f"{resize} < input size {size}")
    out = np.empty((len(split.images), size, size, 3), np.float32)
    for index, image in enumerate(split.images):
        image = np.asarray(image, np.uint8)
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        h, w = image.shape[:2]
        if min(h, w) != resize:
            ratio = resize / min(h, w)
            new = (max(resize, round(w * ratio)), max(resize, round(h * ratio)))
            image = np.asarray(
                Image.fromarray(image).resize(new, Image.Resampling.BILINEAR), np.uint8
            )
            h, w = image.shape[:2]
        top, left = (h - size) // 2, (w - size) // 2
        out[index] = image[top : top + size, left : left + size]
    scale = np.float32(preprocess["scale"])
    mean = np.asarray(preprocess["mean"], np.float32)
    std = np.asarray(preprocess["std"], np.float32)
    out = (out * scale - mean) / std
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32)


def interleaved(labels: np.ndarray) -> np.ndarray:
    """An order of the images that takes the classes in turn (the first image of each class,
    then the second, ...), so that any first k images hold every class about equally."""
    labels = np.asarray(labels)
    rank = np.zeros(len(labels), np.int64)
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        rank[where] = np.arange(len(where))
    return np.lexsort((labels, rank))
