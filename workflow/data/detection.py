"""Detection datasets on disk: a folder of PPM images, each with a VOC XML annotation beside it.

Layout (the same for the generated scenes and for PASCAL VOC converted by the pipeline)::

    <folder>/classes.txt        class names, one per line; label k (1-based) is line k
    <folder>/<split>/NNNNNN.ppm 300x300 RGB image (binary PPM, as the seed reads)
    <folder>/<split>/NNNNNN.xml its annotation (VOC XML, pixel boxes)

Every image must have its annotation and every annotation its image; a missing partner, a
malformed PPM or XML, an unknown class or a box outside the image stops the read naming the file.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workflow.errors import DataError, FormatError
from workflow.formats.pnm import pnm_bytes, read_pnm
from workflow.formats.voc import Annotation, read_voc, voc_xml
from workflow.io import write_atomically

#: Side of the square RGB images of every detection set (the seed SSD's 300x300 input).
IMAGE_SIZE = 300


@dataclass(frozen=True)
class DetectionSet:
    """One split: uint8 images (N, H, W, 3), their annotations and file stems."""

    images: np.ndarray
    annotations: list[list[Annotation]]
    names: list[str]


def write_classes(path: str | Path, classes: tuple[str, ...] | list[str]) -> None:
    """Write a dataset's ``classes.txt``."""
    write_atomically(path, "".join(f"{name}\n" for name in classes))


def read_classes(path: str | Path) -> tuple[str, ...]:
    """Class names of a dataset (its ``classes.txt``).

    Raises:
        DataError: the file is missing, empty or names a class twice.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "missing", "a dataset folder starts with its classes.txt")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names or len(set(names)) != len(names):
        raise DataError(path, f"needs distinct class names, found {names}")
    return tuple(names)


def write_example(
    folder: str | Path, stem: str, image: np.ndarray, objects: list[Annotation]
) -> None:
    """Write one image as ``<stem>.ppm`` and its annotation as ``<stem>.xml``."""
    folder = Path(folder)
    height, width = image.shape[:2]
    write_atomically(folder / f"{stem}.xml", voc_xml(f"{stem}.ppm", width, height, objects))
    write_atomically(folder / f"{stem}.ppm", pnm_bytes(image))


def read_split(folder: str | Path, *, classes: tuple[str, ...]) -> DetectionSet:
    """Read every PPM of a split folder with its annotation, in name order.

    Raises:
        DataError: no images, an image without annotation (or the reverse), images of
            different sizes, or an annotation whose size differs from its image.
        FormatError: a malformed PPM or XML, an unknown class, a box outside the image.
    """
    folder = Path(folder)
    images_found = sorted(folder.glob("*.ppm")) if folder.is_dir() else []
    if not images_found:
        raise DataError(folder, "no .ppm images")
    stems = {p.stem for p in images_found}
    orphans = sorted(p.name for p in folder.glob("*.xml") if p.stem not in stems)
    if orphans:
        raise DataError(folder / orphans[0], "annotation without an image", "remove it")
    images, annotations = [], []
    for path in images_found:
        xml = path.with_suffix(".xml")
        if not xml.is_file():
            raise DataError(path, "image without an annotation", f"add {xml.name}")
        image = read_pnm(path)
        if image.ndim != 3:
            raise FormatError(path, "greyscale image; the detection samples read RGB (P6)")
        (width, height), objects = read_voc(xml, classes=classes)
        if (height, width) != image.shape[:2]:
            raise DataError(
                xml,
                f"size {width}x{height}, image {path.name} is {image.shape[1]}x{image.shape[0]}",
            )
        if images and image.shape != images[0].shape:
            raise DataError(path, f"shape {image.shape} differs from {images_found[0].name}'s")
        images.append(image)
        annotations.append(objects)
    return DetectionSet(np.stack(images), annotations, [p.stem for p in images_found])


def copy_detection_set(
    source: str | Path, train: str | Path, test: str | Path, classes: str | Path
) -> dict[str, int]:
    """Check your own detection set (``classes.txt``, ``train/``, ``test/`` in this module's
    layout) by reading it whole, then copy it: the splits to ``train`` and ``test``, the class
    names to ``classes``.

    Returns:
        Images per split.

    Raises:
        DataError: a missing part, or anything :func:`read_split` refuses (named by file).
        FormatError: a malformed image or annotation.
    """
    import shutil

    source = Path(source)
    if not source.is_dir():
        raise DataError(source, "no such folder", "data.detect.folder names your detection set")
    names = read_classes(source / "classes.txt")
    counts = {}
    for split, dest in (("train", train), ("test", test)):
        found = read_split(source / split, classes=names)
        Path(dest).mkdir(parents=True, exist_ok=True)
        for stem in found.names:
            for suffix in (".ppm", ".xml"):
                shutil.copyfile(source / split / f"{stem}{suffix}", Path(dest) / f"{stem}{suffix}")
        counts[split] = len(found.names)
    write_classes(classes, names)
    return counts
