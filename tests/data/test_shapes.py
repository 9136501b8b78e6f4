import numpy as np
import pytest

from workflow.data.shapes import CLASSES, SIZE, scene
from workflow.errors import FormatError
from workflow.formats.voc import Annotation, read_voc, voc_xml

ARGS = {"max_objects": 4, "min_size": 30, "max_size": 150}


def test_scenes_are_seeded():
    a_image, a_objects = scene(7, **ARGS)
    b_image, b_objects = scene(7, **ARGS)
    np.testing.assert_array_equal(a_image, b_image)
    assert a_objects == b_objects
    assert not np.array_equal(scene(8, **ARGS)[0], a_image)


def test_objects_are_within_bounds_and_varied():
    names, sizes = set(), []
    for seed in range(60):
        image, objects = scene(seed, **ARGS)
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
        assert 1 <= len(objects) <= 4
        for obj in objects:
            xmin, ymin, xmax, ymax = obj.box
            assert 0 <= xmin < xmax <= SIZE and 0 <= ymin < ymax <= SIZE
            assert 28 <= xmax - xmin <= 152
            names.add(obj.name)
            sizes.append(xmax - xmin)
    assert names == set(CLASSES)
    assert np.std(sizes) > 20


def test_box_is_tight_around_the_drawn_shape():
    image, objects = scene(3, max_objects=1, min_size=60, max_size=60)
    (obj,) = objects
    xmin, ymin, xmax, ymax = obj.box
    inside = image[ymin:ymax, xmin:xmax].reshape(-1, 3).astype(int)
    ring = np.concatenate([image[ymin - 2, xmin:xmax], image[ymax + 1, xmin:xmax]]).astype(int)
    # the shape's colour appears inside the box and not on the rows just outside it
    colour = np.median(inside[np.abs(inside - ring.mean(axis=0)).max(axis=1) > 60], axis=0)
    assert (np.abs(ring - colour).max(axis=1) > 30).all()


def test_voc_round_trip(tmp_path):
    objects = [Annotation("circle", (10, 20, 60, 70)), Annotation("cross", (0, 0, 300, 300))]
    path = tmp_path / "00001.xml"
    path.write_text(voc_xml("00001.ppm", 300, 300, objects))
    assert read_voc(path, classes=CLASSES) == ((300, 300), objects)


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        (
            [Annotation("hexagon", (1, 1, 5, 5))],
            "object 0 \\(hexagon\\): unknown class 'hexagon' | known classes: circle",
        ),
        (
            [Annotation("circle", (250, 10, 320, 60))],
            "box \\(250, 10, 320, 60\\) is empty or outside the 300x300 image",
        ),
        ([Annotation("square", (10, 10, 10, 40))], "is empty or outside"),
    ],
)
def test_bad_annotations(tmp_path, objects, message):
    path = tmp_path / "bad.xml"
    path.write_text(voc_xml("bad.ppm", 300, 300, objects))
    with pytest.raises(FormatError, match=message):
        read_voc(path, classes=CLASSES)


def test_malformed_xml(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text("<annotation><size><width>300</width>")
    with pytest.raises(FormatError, match="not a readable XML annotation"):
        read_voc(path, classes=CLASSES)
    path.write_text("<annotation><size><width>300</width></size></annotation>")
    with pytest.raises(FormatError, match="<height> missing"):
        read_voc(path, classes=CLASSES)
