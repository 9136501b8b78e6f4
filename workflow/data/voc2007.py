"""PASCAL VOC 2007 as a detection set: the official archives, checked and converted.

The archives hold ``VOCdevkit/VOC2007/{JPEGImages,Annotations,ImageSets/Main}``. Conversion
takes the ids of ``ImageSets/Main/<split>.txt`` in order, resizes each JPEG to 300x300 (the
seed's SSD input; aspect ratio not kept, as in uff_ssd), scales its boxes alike (VOC boxes are
1-based and inclusive; ours are 0-based with exclusive max) and writes PPM + VOC XML, keeping
the ``difficult`` flags. Needs Pillow (a dependency of matplotlib) to decode JPEG.
"""

import io
import logging
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from workflow.data.detection import IMAGE_SIZE as SIZE
from workflow.data.detection import write_classes, write_example
from workflow.errors import DataError, FormatError
from workflow.formats.voc import Annotation

log = logging.getLogger(__name__)

#: Archive of each split: (file name, md5), as published on the VOC 2007 site.
VOC2007_ARCHIVES = {
    "trainval": ("VOCtrainval_06-Nov-2007.tar", "c52e279531787c972589f7e41ab4ae64"),
    "test": ("VOCtest_06-Nov-2007.tar", "b6e924de25625d8de591ea690078ad9f"),
}
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
ROOT = "VOCdevkit/VOC2007"


def _member(archive: tarfile.TarFile, path: str, tar_path: Path) -> bytes:
    try:
        handle = archive.extractfile(path)
    except KeyError:
        handle = None
    if handle is None:
        raise DataError(tar_path, f"no {path} in the archive", "is it the VOC 2007 archive?")
    return handle.read()


def _objects(data: bytes, name: str, scale_x: float, scale_y: float) -> list[Annotation]:
    """The objects of one VOC annotation, boxes scaled to the resized image."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise FormatError(name, f"malformed XML ({err})") from err
    objects = []
    for obj in root.findall("object"):
        label = (obj.findtext("name") or "").strip()
        if label not in VOC_CLASSES:
            raise FormatError(name, f"unknown class {label!r}")
        try:
            xmin, ymin, xmax, ymax = (
                float(obj.findtext(f"bndbox/{tag}") or "")
                for tag in ("xmin", "ymin", "xmax", "ymax")
            )
        except ValueError as err:
            raise FormatError(name, f"object {label}: a box coordinate is missing") from err
        box = (
            int(np.clip(np.floor((xmin - 1) * scale_x), 0, SIZE - 1)),
            int(np.clip(np.floor((ymin - 1) * scale_y), 0, SIZE - 1)),
            int(np.clip(np.ceil(xmax * scale_x), 1, SIZE)),
            int(np.clip(np.ceil(ymax * scale_y), 1, SIZE)),
        )
        if box[0] >= box[2] or box[1] >= box[3]:
            raise FormatError(name, f"object {label}: empty box {(xmin, ymin, xmax, ymax)}")
        difficult = (obj.findtext("difficult") or "0").strip() == "1"
        objects.append(Annotation(label, box, difficult))
    return objects


def convert_split(tar_path: str | Path, split: str, folder: str | Path, *, limit: int) -> int:
    """Write the images of ``split`` (``trainval`` or ``test``) of an archive into ``folder``
    as 300x300 PPM + XML named by their VOC id; ``limit`` > 0 keeps the first ``limit``.
    Returns the number of images written."""
    from PIL import Image

    tar_path = Path(tar_path)
    with tarfile.open(tar_path, "r:") as archive:
        ids_text = _member(archive, f"{ROOT}/ImageSets/Main/{split}.txt", tar_path).decode()
        ids = [line.strip() for line in ids_text.splitlines() if line.strip()]
        if limit:
            ids = ids[:limit]
        for image_id in ids:
            jpeg = _member(archive, f"{ROOT}/JPEGImages/{image_id}.jpg", tar_path)
            with Image.open(io.BytesIO(jpeg)) as image:
                width, height = image.size
                resized = image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
            objects = _objects(
                _member(archive, f"{ROOT}/Annotations/{image_id}.xml", tar_path),
                f"{tar_path}:{image_id}.xml",
                SIZE / width,
                SIZE / height,
            )
            write_example(folder, image_id, np.asarray(resized, np.uint8), objects)
    log.info("%s | %s: %d images", tar_path, split, len(ids))
    return len(ids)


def write_voc2007(archives: dict[str, str], out: dict[str, str], *, limits: dict[str, int]) -> None:
    """Convert both splits: ``archives`` and ``out`` by split name (``trainval`` -> ``train``
    folder, ``test`` -> ``test``); write the class list to ``out["classes"]``."""
    convert_split(archives["trainval"], "trainval", out["train"], limit=limits["train"])
    convert_split(archives["test"], "test", out["test"], limit=limits["test"])
    write_classes(out["classes"], VOC_CLASSES)
