"""Your own model's data: IDX files or class folders, and the preprocessing."""

import numpy as np
import pytest
from PIL import Image

from workflow.data.byo import Labelled, preprocess, read_labelled
from workflow.errors import DataError, PipelineError
from workflow.formats.idx import idx_bytes


def test_idx_files_and_the_class_count(tmp_path):
    rng = np.random.default_rng(0)
    files = {}
    for split, count in (("train", 6), ("test", 4)):
        images = rng.integers(0, 255, (count, 5, 7), dtype=np.uint8)
        (tmp_path / f"{split}-images.idx").write_bytes(idx_bytes(images))
        (tmp_path / f"{split}-labels.idx").write_bytes(
            idx_bytes(np.arange(count, dtype=np.uint8) % 3)
        )
        files |= {
            f"{split}_images": str(tmp_path / f"{split}-images.idx"),
            f"{split}_labels": str(tmp_path / f"{split}-labels.idx"),
        }
    train, test, classes = read_labelled(files)
    assert train.images.shape == (6, 5, 7, 1) and test.labels.tolist() == [0, 1, 2, 0]
    assert classes == ["class_0", "class_1", "class_2"]
    with pytest.raises(DataError, match="missing"):
        read_labelled(files | {"test_labels": str(tmp_path / "absent.idx")})
    with pytest.raises(PipelineError, match="names neither a folder nor the four IDX files"):
        read_labelled({"train_images": files["train_images"]})


def test_class_folders_must_agree_and_hold_images(tmp_path):
    for split, names in (("train", ("cat", "dog")), ("test", ("cat", "dog"))):
        for name in names:
            (tmp_path / split / name).mkdir(parents=True)
            Image.fromarray(np.full((4, 6, 3), 9, np.uint8)).save(tmp_path / split / name / "a.png")
    train, test, classes = read_labelled({"folder": str(tmp_path)})
    assert classes == ["cat", "dog"] and train.labels.tolist() == [0, 1]
    (tmp_path / "test" / "dog" / "b.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="b.png | not an image"):
        read_labelled({"folder": str(tmp_path)})
    (tmp_path / "test" / "dog" / "b.png").unlink()
    (tmp_path / "test" / "eel").mkdir()
    with pytest.raises(DataError, match="differ from test"):
        read_labelled({"folder": str(tmp_path)})


def test_preprocessing_resizes_orders_and_normalises():
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0] = 255  # red
    split = Labelled([image], np.array([0]))
    kw = {"size": (4, 4), "channels": 3, "scale": 1 / 255, "mean": [0.5], "std": [0.5]}
    rgb = preprocess(split, layout="NCHW", order="RGB", **kw)
    bgr = preprocess(split, layout="NHWC", order="BGR", **kw)
    assert rgb.shape == (1, 3, 4, 4) and bgr.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(rgb[0, :, 0, 0], [1.0, -1.0, -1.0])
    np.testing.assert_allclose(bgr[0, 0, 0], [-1.0, -1.0, 1.0])
    grey = preprocess(
        Labelled(np.full((1, 3, 3, 1), 255, np.uint8), np.array([0])),
        size=(3, 3),
        channels=3,
        layout="NCHW",
        scale=1.0,
        mean=[0],
        std=[1],
        order="RGB",
    )
    assert grey.shape == (1, 3, 3, 3) and (grey == 255).all()  # grey repeated to three channels
