import numpy as np
import pytest

from workflow.data.detection import read_classes, read_split, write_classes, write_example
from workflow.data.shapes import CLASSES, shape_seeds, write_shapes
from workflow.detect.evaluate import ground_truths
from workflow.errors import DataError, FormatError
from workflow.formats.voc import Annotation


def _image(value: int = 7) -> np.ndarray:
    return np.full((300, 300, 3), value, np.uint8)


def test_generated_scenes_read_back_exactly(tmp_path):
    seeds = shape_seeds(0, "train", 5)
    objects = write_shapes(tmp_path, seeds, max_objects=3, min_size=30, max_size=120)
    data = read_split(tmp_path, classes=CLASSES)
    assert data.names == [f"{i:06d}" for i in range(5)]
    assert data.images.shape == (5, 300, 300, 3) and data.images.dtype == np.uint8
    assert sum(len(a) for a in data.annotations) == objects
    truths = ground_truths(data, CLASSES)
    assert len(truths) == objects
    first = data.annotations[0][0]
    assert truths[0].label == CLASSES.index(first.name) + 1
    assert truths[0].box == pytest.approx(tuple(v / 300 for v in first.box))


def test_train_and_test_scenes_never_share_seeds():
    train, test = set(shape_seeds(3, "train", 1000)), set(shape_seeds(3, "test", 1000))
    assert not train & test and not train & set(shape_seeds(4, "train", 1000))
    with pytest.raises(DataError, match="at most"):
        shape_seeds(0, "train", 500_001)


def test_difficult_flags_survive_the_round_trip(tmp_path):
    objects = [Annotation("circle", (1, 2, 30, 40), True), Annotation("cross", (50, 50, 99, 98))]
    write_example(tmp_path, "a", _image(), objects)
    data = read_split(tmp_path, classes=CLASSES)
    assert data.annotations == [objects]
    assert [g.difficult for g in ground_truths(data, CLASSES)] == [True, False]


def test_classes_file(tmp_path):
    write_classes(tmp_path / "classes.txt", CLASSES)
    assert read_classes(tmp_path / "classes.txt") == CLASSES
    (tmp_path / "twice.txt").write_text("a\nb\na\n")
    with pytest.raises(DataError, match="distinct"):
        read_classes(tmp_path / "twice.txt")
    with pytest.raises(DataError, match="missing"):
        read_classes(tmp_path / "absent.txt")


def test_a_ppm_with_a_wrong_header_is_named(tmp_path):
    write_example(tmp_path, "good", _image(), [Annotation("square", (0, 0, 10, 10))])
    write_example(tmp_path, "bad", _image(), [Annotation("square", (0, 0, 10, 10))])
    data = (tmp_path / "bad.ppm").read_bytes()
    (tmp_path / "bad.ppm").write_bytes(data.replace(b"300 300", b"300 299", 1))
    with pytest.raises(FormatError, match="bad.ppm"):
        read_split(tmp_path, classes=CLASSES)
    (tmp_path / "bad.ppm").write_bytes(b"P3" + data[2:])
    with pytest.raises(FormatError, match="bad.ppm"):
        read_split(tmp_path, classes=CLASSES)


def test_unknown_class_and_box_outside_the_image_are_named(tmp_path):
    write_example(tmp_path, "x", _image(), [Annotation("square", (0, 0, 10, 10))])
    xml = tmp_path / "x.xml"
    xml.write_text(xml.read_text().replace("square", "hexagon"))
    with pytest.raises(FormatError, match=r"x.xml.*unknown class 'hexagon'.*known classes"):
        read_split(tmp_path, classes=CLASSES)
    write_example(tmp_path, "x", _image(), [Annotation("square", (250, 0, 301, 10))])
    with pytest.raises(FormatError, match=r"x.xml.*outside the 300x300 image"):
        read_split(tmp_path, classes=CLASSES)


def test_images_and_annotations_must_pair(tmp_path):
    write_example(tmp_path, "x", _image(), [])
    (tmp_path / "x.xml").rename(tmp_path / "y.xml")
    with pytest.raises(DataError, match="y.xml.*annotation without an image"):
        read_split(tmp_path, classes=CLASSES)
    (tmp_path / "y.xml").unlink()
    with pytest.raises(DataError, match="x.ppm.*image without an annotation"):
        read_split(tmp_path, classes=CLASSES)
    with pytest.raises(DataError, match="no .ppm images"):
        read_split(tmp_path / "none", classes=CLASSES)


def test_annotation_size_must_match_its_image(tmp_path):
    write_example(tmp_path, "x", _image(), [])
    xml = tmp_path / "x.xml"
    xml.write_text(xml.read_text().replace("<width>300</width>", "<width>320</width>"))
    with pytest.raises(DataError, match="size 320x300"):
        read_split(tmp_path, classes=CLASSES)


def test_your_own_set_is_checked_whole_then_copied(tmp_path):
    from workflow.data.detection import copy_detection_set

    source = tmp_path / "mine"
    for split, count in (("train", 3), ("test", 2)):
        write_shapes(
            source / split, shape_seeds(0, split, count), max_objects=2, min_size=30, max_size=90
        )
    write_classes(source / "classes.txt", CLASSES)
    out = tmp_path / "out"
    counts = copy_detection_set(source, out / "train", out / "test", out / "classes.txt")
    assert counts == {"train": 3, "test": 2}
    assert read_classes(out / "classes.txt") == CLASSES
    copied = read_split(out / "test", classes=CLASSES)
    original = read_split(source / "test", classes=CLASSES)
    assert copied.names == original.names and np.array_equal(copied.images, original.images)
    with pytest.raises(DataError, match="no such folder"):
        copy_detection_set(tmp_path / "absent", out / "a", out / "b", out / "c")
    (source / "test" / "000001.xml").unlink()
    with pytest.raises(DataError, match="000001.ppm | image without an annotation"):
        copy_detection_set(source, out / "train2", out / "test2", out / "c2")
    (source / "classes.txt").unlink()
    with pytest.raises(DataError, match="classes.txt | missing"):
        copy_detection_set(source, out / "train3", out / "test3", out / "c3")
