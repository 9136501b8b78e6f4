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


def _image_tree(root: Path, per_class: int, classes: int = 4) -> Path:
    """A tree of RGB noise images of several sizes (so that resizing and cropping both
    happen), ``per_class`` in each of ``classes`` folders, classes.txt in reverse order."""
    rng = np.random.default_rng(1)
    names = [f"c{k}" for k in range(classes)]
    for label, name in enumerate(names):
        (root / "test" / name).mkdir(parents=True)
        for index in range(per_class):
            h, w = 24 + (index % 5) * 7, 30 + (label * 3 + index) % 17
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            (root / "test" / name / f"{index:04d}.ppm").write_bytes(pnm_bytes(image))
    (root / "classes.txt").write_text("\n".join(reversed(names)) + "\n")
    return root


def test_batches_are_the_whole_split_byte_for_byte(tmp_path):
    from workflow.data.objects import list_image_split, network_input_batches

    write_generated(tmp_path / "gen", train=1, test=3, size=32, seed=0)
    _image_tree(tmp_path / "mixed", per_class=5)
    for root, preprocess, size in (
        (tmp_path / "gen", IMAGENET, 32),
        (tmp_path / "gen", IMAGENET | {"resize": 40}, 32),
        (tmp_path / "mixed", IMAGENET | {"resize": 26}, 24),
    ):
        split, classes = read_image_split(root, "test")
        whole = to_network_input(split, preprocess, size)
        files, listed = list_image_split(root, "test")
        assert listed == classes and np.array_equal(files.labels, split.labels)
        for batch_size in (1, 4, 7, len(files.paths) + 3):
            parts = list(network_input_batches(files, preprocess, size, batch_size=batch_size))
            assert [len(p) for p in parts[:-1]] == [batch_size] * (len(parts) - 1)
            streamed = np.concatenate(parts)
            assert streamed.dtype == whole.dtype and streamed.shape == whole.shape
            assert streamed.tobytes() == whole.tobytes()
    with pytest.raises(DataError, match="batch_size"):
        next(network_input_batches(files, IMAGENET, 24, batch_size=0))


def test_streamed_scoring_holds_one_batch_of_images_at_a_time(tmp_path, monkeypatch):
    """320 images in batches of 16: when a batch is run, at most that batch's images have been
    decoded; the memory Python allocates stays near one batch, not the split."""
    import inspect
    import tracemalloc

    import workflow.data.objects as objects
    from workflow.backend.base import BaseRunner, TensorSpec
    from workflow.score.classify import predict_batches

    root = _image_tree(tmp_path / "tree", per_class=80)
    files, _ = objects.list_image_split(root, "test")
    assert len(files.paths) == 320
    size, batch = 24, 16
    decoded = []
    real_read = objects.read_image_file
    monkeypatch.setattr(objects, "read_image_file", lambda p: decoded.append(p) or real_read(p))

    class Counting(BaseRunner):
        """Scores each image by its mean; records how many images were decoded per call."""

        def __init__(self):
            super().__init__("counting")
            self.seen = []

        def _activate(self):
            pass

        def _deactivate(self):
            pass

        def _input_metadata(self):
            return [TensorSpec("input", np.dtype(np.float32), (None, 3, size, size))]

        def _infer(self, feed):
            self.seen.append((len(feed["input"]), len(decoded)))
            return {"prob": feed["input"].mean(axis=(1, 2, 3))[:, None]}

    batches = objects.network_input_batches(files, IMAGENET, size, batch_size=batch)
    assert inspect.isgenerator(batches) and decoded == []  # nothing read before it is asked
    with Counting() as runner:
        scores = predict_batches(runner, batches, output_name="prob")
    assert scores.shape == (320, 1) and len(runner.seen) == 20
    assert all(count == batch * (k + 1) for k, (_, count) in enumerate(runner.seen))

    def peak(work):
        tracemalloc.start()
        work()
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    def streamed():
        with Counting() as runner:
            stream = objects.network_input_batches(files, IMAGENET, size, batch_size=batch)
            predict_batches(runner, stream, output_name="prob")

    def whole():
        split, _ = objects.read_image_split(root, "test")
        objects.to_network_input(split, IMAGENET, size)

    one_batch = batch * 3 * size * size * 4  # float32 network input
    streamed_peak, whole_peak = peak(streamed), peak(whole)
    # measured: streamed 0.57 MB (about 5 batches), whole split 8.2 MB (74 batches)
    assert streamed_peak < 10 * one_batch, (streamed_peak, one_batch)
    assert whole_peak > 40 * one_batch and streamed_peak < whole_peak / 6
