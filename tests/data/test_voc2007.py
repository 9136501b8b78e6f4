import io
import tarfile

import numpy as np
import pytest

from workflow.data.detection import read_split
from workflow.data.voc2007 import ROOT, VOC_CLASSES, convert_split
from workflow.errors import DataError, FormatError


def _annotation(width, height, objects):
    parts = "".join(
        f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>"
        f"<xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax>"
        "</bndbox></object>"
        for name, box, difficult in objects
    )
    return (
        f"<annotation><size><width>{width}</width><height>{height}</height><depth>3</depth>"
        f"</size>{parts}</annotation>"
    ).encode()


def fake_archive(path, split, items):
    """A VOC-2007-shaped tar: items are (id, width, height, objects)."""
    from PIL import Image

    def add(archive, name, data):
        info = tarfile.TarInfo(f"{ROOT}/{name}")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))

    with tarfile.open(path, "w") as archive:
        add(archive, f"ImageSets/Main/{split}.txt", "".join(f"{i}\n" for i, *_ in items).encode())
        for image_id, width, height, objects in items:
            pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8)
            jpeg = io.BytesIO()
            Image.fromarray(pixels).save(jpeg, format="JPEG")
            add(archive, f"JPEGImages/{image_id}.jpg", jpeg.getvalue())
            add(archive, f"Annotations/{image_id}.xml", _annotation(width, height, objects))


def test_conversion_resizes_images_and_boxes(tmp_path):
    items = [
        ("000001", 500, 375, [("dog", (1, 1, 500, 375), 0), ("person", (101, 76, 200, 150), 1)]),
        ("000002", 333, 500, [("car", (34, 51, 100, 400), 0)]),
        ("000003", 400, 300, [("cat", (5, 5, 50, 50), 0)]),
    ]
    fake_archive(tmp_path / "test.tar", "test", items)
    assert convert_split(tmp_path / "test.tar", "test", tmp_path / "out", limit=2) == 2
    data = read_split(tmp_path / "out", classes=VOC_CLASSES)
    assert data.names == ["000001", "000002"] and data.images.shape == (2, 300, 300, 3)
    dog, person = data.annotations[0]
    assert dog.box == (0, 0, 300, 300) and not dog.difficult
    assert person.box == (60, 60, 120, 120) and person.difficult  # 1-based inclusive -> 0-based
    (car,) = data.annotations[1]
    assert car.box == (29, 30, 91, 240)


def test_bad_archives_are_named(tmp_path):
    fake_archive(tmp_path / "a.tar", "test", [("1", 50, 50, [("unicorn", (1, 1, 9, 9), 0)])])
    with pytest.raises(FormatError, match="unknown class 'unicorn'"):
        convert_split(tmp_path / "a.tar", "test", tmp_path / "out", limit=0)
    with pytest.raises(DataError, match=r"a.tar.*no VOCdevkit/VOC2007/ImageSets/Main/trainval"):
        convert_split(tmp_path / "a.tar", "trainval", tmp_path / "out", limit=0)
