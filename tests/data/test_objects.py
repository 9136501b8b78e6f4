"""The image classifiers' data: generated object images, your folder, preprocessing."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from workflow.data.byo import Labelled
from workflow.data.detection import read_classes
from workflow.data.objects import (
    CLASSES,
    copy_folder,
    interleaved,
    object_image,
    read_image_split,
    to_network_input,
    write_generated,
)
from workflow.errors import DataError
from workflow.formats.pnm import pnm_bytes

IMAGENET = {
    "resize": 0,
    "scale": 1 / 255,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}


def test_generated_set_is_a_pure_function_of_its_seeds(tmp_path):
    write_generated(tmp_path / "a", train=2, test=1, size=32, seed=0)
    write_generated(tmp_path / "b", train=2, test=1, size=32, seed=0)
    assert read_classes(tmp_path / "a/classes.txt") == CLASSES and len(CLASSES) == 10
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.ppm"))
    assert len(files) == 30
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    train, classes = read_image_split(tmp_path / "a", "train")
    test, _ = read_image_split(tmp_path / "a", "test")
    assert classes == CLASSES and train.labels.tolist() == [k for k in range(10) for _ in (0, 1)]
    assert not any(np.array_equal(a, b) for a in train.images for b in test.images)


def test_stripes_make_the_class_not_the_colour():
    solid = object_image(7, CLASSES.index("square_solid"), size=64)
    striped = object_image(7, CLASSES.index("square_striped"), size=64)
    assert solid.shape == (64, 64, 3) and solid.dtype == np.uint8
    centre = (slice(24, 40), slice(24, 40))
    # a striped object holds two colours; a solid one one colour and noise
    assert (
        striped[centre].reshape(-1, 3).std(axis=0).max()
        > 3 * solid[centre].reshape(-1, 3).std(axis=0).max()
    )


def test_bad_generated_settings_are_refused(tmp_path):
    with pytest.raises(DataError, match="size"):
        write_generated(tmp_path, train=1, test=1, size=8, seed=0)
    with pytest.raises(DataError, match="test"):
        write_generated(tmp_path, train=1, test=0, size=32, seed=0)


def _folder(root: Path, layout: dict[str, dict[str, int]]) -> Path:
    image = np.full((10, 14, 3), 90, np.uint8)
    for split, classes in layout.items():
        for name, count in classes.items():
            (root / split / name).mkdir(parents=True)
            for k in range(count):
                (root / split / name / f"{k}.ppm").write_bytes(pnm_bytes(image))
    return root


def _encoded(fmt: str) -> bytes:
    """A 48x64 noise image encoded by Pillow (noise so that every byte carries pixels)."""
    import io

    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("cut.jpg", _encoded("JPEG")[:-600]),
        ("cut.png", _encoded("PNG")[: len(_encoded("PNG")) // 2]),
        ("notes.png", b"these are my notes, not a picture\n"),
        ("cut.ppm", pnm_bytes(np.full((10, 14, 3), 90, np.uint8))[:-20]),
    ],
)
def test_an_image_that_does_not_decode_is_named_in_your_folder(tmp_path, name, content):
    source = _folder(tmp_path / "mine", {"train": {"ant": 1, "bee": 1}, "test": {"ant": 1}})
    (source / "test" / "bee").mkdir()
    (source / "test" / "bee" / "0.ppm").write_bytes(pnm_bytes(np.zeros((10, 14, 3), np.uint8)))
    bad = source / "test" / "bee" / name
    bad.write_bytes(content)
    with pytest.raises(
        DataError, match=rf"^{re.escape(str(bad))} \| not a readable image \(.+\) \| replace it"
    ):
        copy_folder(source, tmp_path / "tree")
    assert not (tmp_path / "tree").exists()  # nothing copied
    for fmt, suffix in (("JPEG", "jpg"), ("PNG", "png")):  # the same files complete are taken
        bad.unlink()
        bad = bad.with_name(f"whole.{suffix}")
        bad.write_bytes(_encoded(fmt))
        shutil.rmtree(tmp_path / "tree", ignore_errors=True)
        assert copy_folder(source, tmp_path / "tree") == ["ant", "bee"]


def test_your_folder_is_copied_in_classes_txt_order(tmp_path):
    source = _folder(tmp_path / "mine", {"train": {"cat": 2, "ant": 1}, "test": {"ant": 1}})
    (source / "classes.txt").write_text("cat\nbee\nant\n")
    assert copy_folder(source, tmp_path / "tree") == ["cat", "bee", "ant"]
    test, classes = read_image_split(tmp_path / "tree", "test")
    assert classes == ("cat", "bee", "ant") and test.labels.tolist() == [2]


def test_bad_folders_are_named(tmp_path):
    source = _folder(tmp_path / "a", {"train": {"cat": 1, "dog": 1}, "test": {"cat": 1}})
    with pytest.raises(DataError, match="differ from test"):
        copy_folder(source, tmp_path / "out-a")
    (source / "classes.txt").write_text("cat\n")
    with pytest.raises(DataError, match=r"class folders \['dog'\] not in"):
        copy_folder(source, tmp_path / "out-b")
    empty = _folder(tmp_path / "b", {"train": {"cat": 0}, "test": {"cat": 1}})
    with pytest.raises(DataError, match="no images"):
        copy_folder(empty, tmp_path / "out-c")
    with pytest.raises(DataError, match="missing"):
        copy_folder(_folder(tmp_path / "c", {"train": {"cat": 1}}), tmp_path / "out-d")


def test_preprocessing_resizes_the_shorter_side_and_crops_the_centre():
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 12:68] = 255  # white beyond the centre 40 columns
    split = Labelled([image], np.array([0]))
    x = to_network_input(split, IMAGENET, 20)  # 40x80 -> 20x40 -> centre 20x20: all white
    assert x.shape == (1, 3, 20, 20)
    np.testing.assert_allclose(
        x[0, :, 10, 10], (1 - np.array(IMAGENET["mean"])) / IMAGENET["std"], rtol=1e-6
    )
    assert np.allclose(x[0], x[0, :, :1, :1])
    with pytest.raises(DataError, match="resize"):
        to_network_input(split, IMAGENET | {"resize": 10}, 20)


def test_interleaved_takes_the_classes_in_turn():
    labels = np.array([0, 0, 0, 1, 1, 2])
    assert labels[interleaved(labels)].tolist() == [0, 1, 2, 0, 1, 0]


def test_imagenet_classes_come_from_the_class_index(tmp_path):
    import json

    from workflow.data.objects import imagenet_wnids

    index = {str(k): [f"n{k:08d}", f"class {k}"] for k in range(1000)}
    path = tmp_path / "imagenet_class_index.json"
    path.write_text(json.dumps(index))
    wnids = imagenet_wnids(path)
    assert wnids[:2] == ["n00000000", "n00000001"] and len(wnids) == 1000
    source = _folder(tmp_path / "val", {"train": {"n00000002": 1}, "test": {"n00000007": 2}})
    classes = copy_folder(source, tmp_path / "tree", classes=wnids)
    assert classes == wnids
    test, names = read_image_split(tmp_path / "tree", "test")
    assert test.labels.tolist() == [7, 7] and len(names) == 1000
    with pytest.raises(DataError, match=r"class folders \['cat'\] not in the classes asked for"):
        copy_folder(
            _folder(tmp_path / "c", {"train": {"cat": 1}, "test": {}}),
            tmp_path / "t2",
            classes=wnids,
        )
    path.write_text(json.dumps({"0": ["n0", "x"]}))
    with pytest.raises(DataError, match="1 classes, ImageNet has 1000"):
        imagenet_wnids(path)
    path.write_text("<html>")
    with pytest.raises(DataError, match="not the ImageNet class index"):
        imagenet_wnids(path)
