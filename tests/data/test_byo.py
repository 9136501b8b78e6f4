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


INPUTS = [
    {"name": "x", "dtype": "float32", "shape": ["N", 3, "?", "?"]},
    {"name": "s", "dtype": "float32", "shape": []},
    {"name": "ids", "dtype": "int64", "shape": ["N", 4]},
]
FEED = {
    "x": np.zeros((2, 3, 5, 7), np.float32),
    "s": np.float32(1.5),
    "ids": np.zeros((2, 4), np.int64),
}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"ids": None}, r"feed.npz \| no array for input 'ids' \(int64 \['N', 4\]\).*np.savez"),
        ({"extra": np.zeros(2)}, r"array 'extra' is no input of the graph; its inputs are"),
        ({"x": np.zeros((2, 3, 5, 7))}, r"input 'x' is float64 .*save it as float32"),
        ({"x": np.zeros((2, 3, 5), np.float32)}, r"input 'x' .* rank 4 .*save it with 4 axes"),
        ({"ids": np.zeros((2, 5), np.int64)}, r"input 'ids' .*axis 1 is 5, not 4.*4 along axis 1"),
        ({"s": np.zeros(1, np.float32)}, r"input 's' is float32 \[1\], the graph takes rank 0"),
        ({"ids": np.zeros((3, 4), np.int64)}, r"batched inputs hold different .*'x': 2, 'ids': 3"),
    ],
)
def test_npz_feeds_are_checked_against_the_graph(tmp_path, change, match):
    from workflow.data.byo import read_npz_folder

    feed = {k: v for k, v in (FEED | change).items() if v is not None}
    np.savez(tmp_path / "feed.npz", **feed)
    with pytest.raises(DataError, match=match):
        read_npz_folder(tmp_path, INPUTS, batched=["x", "ids"])


def test_npz_feeds_in_name_order_and_folders_without_feeds(tmp_path):
    from workflow.data.byo import image_folder_files, is_npz_folder, read_npz_folder

    for name, h in (("b", 9), ("a", 5)):
        np.savez(tmp_path / f"{name}.npz", **(FEED | {"x": np.zeros((2, 3, h, 7), np.float32)}))
    feeds = read_npz_folder(tmp_path, INPUTS, batched=["x", "ids"])
    assert [f["x"].shape[2] for f in feeds] == [5, 9] and is_npz_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty | no .npz feed files"):
        read_npz_folder(tmp_path / "empty", INPUTS, batched=["x"])
    with pytest.raises(DataError, match="neither .npz feed files nor images"):
        image_folder_files(tmp_path / "empty")
    with pytest.raises(DataError, match="absent | no such folder"):
        image_folder_files(tmp_path / "absent")


def test_batches_keep_every_row():
    from workflow.data.byo import cut_batches

    rows = np.arange(48, dtype=np.float32)[:, None]
    batches, real = cut_batches([{"x": rows}], batched=["x"], size=100)
    assert real == [48] and np.array_equal(batches[0]["x"], rows)
    batches, real = cut_batches([{"x": rows}], batched=["x"], size=20)
    assert real == [20, 20, 8]
    assert np.array_equal(np.concatenate([b["x"] for b in batches]), rows)
    batches, real = cut_batches([{"x": rows}], batched=["x"], size=100, static=10)
    assert real == [10, 10, 10, 10, 8] and all(len(b["x"]) == 10 for b in batches)
    assert batches[-1]["x"][8:].tolist() == [[47.0], [47.0]]


def test_batches_join_feeds_only_where_their_whole_inputs_agree():
    from workflow.data.byo import cut_batches

    feeds = [
        {"x": np.full((3, 2), k, np.float32), "s": np.float32(s)}
        for k, s in ((0, 1), (1, 1), (2, 2))
    ]
    batches, real = cut_batches(feeds, batched=["x"], size=4)
    assert real == [4, 2, 3]
    assert [float(b["s"]) for b in batches] == [1.0, 1.0, 2.0]
    assert batches[1]["x"][:, 0].tolist() == [1.0, 1.0]
    kept, real = cut_batches(feeds, batched=["x"], size=0)
    assert real == [3, 3, 3] and kept == feeds
