import numpy as np
import pytest

from workflow.errors import FormatError
from workflow.quant.batches import (
    batch_bytes,
    check_batch_folder,
    is_feed_folder,
    iter_batches,
    iter_feeds,
    read_batch,
    split_into_batches,
    write_feed_folder,
)

RNG = np.random.default_rng(0)
IMAGES = RNG.random((4, 1, 3, 2), dtype=np.float32)
LABELS = np.array([3, 1, 4, 1], np.float32)


def _write(folder, files):
    folder.mkdir(exist_ok=True)
    for index, data in enumerate(files):
        (folder / f"batch{index}").write_bytes(data)
    return folder


@pytest.mark.parametrize("labels", [LABELS, None])
def test_round_trip_is_byte_identical(tmp_path, labels):
    data = batch_bytes(IMAGES, labels)
    assert data[:16] == np.array([4, 1, 3, 2], "<i4").tobytes()
    path = tmp_path / "batch0"
    path.write_bytes(data)
    images, back = read_batch(path)
    np.testing.assert_array_equal(images, IMAGES)
    assert (back is None) == (labels is None)
    assert batch_bytes(images, back) == data


def test_folder_streams_in_numeric_order(tmp_path):
    files = split_into_batches(
        np.arange(12 * 2, dtype=np.float32).reshape(12, 1, 1, 2), None, batch_size=1, batches=12
    )
    folder = _write(tmp_path / "b", files)
    assert [info.path.name for info in check_batch_folder(folder)][:3] == [
        "batch0",
        "batch1",
        "batch2",
    ]
    firsts = [float(batch[0, 0, 0, 0]) for batch in iter_batches(folder)]
    assert firsts == [2.0 * i for i in range(12)]  # batch10 after batch9, not after batch1


def test_truncated_file(tmp_path):
    folder = _write(tmp_path / "b", [batch_bytes(IMAGES, LABELS)[:-3]])
    with pytest.raises(
        FormatError,
        match=r"batch0 \| 125 bytes, header \(4, 1, 3, 2\) needs 112 \(no labels\) or 128",
    ):
        check_batch_folder(folder)


def test_header_disagreeing_with_size(tmp_path):
    data = np.array([5, 1, 3, 2], "<i4").tobytes() + batch_bytes(IMAGES)[16:]
    folder = _write(tmp_path / "b", [data])
    with pytest.raises(FormatError, match="112 bytes, header .5, 1, 3, 2. needs 136"):
        check_batch_folder(folder)


def test_short_or_bad_header(tmp_path):
    with pytest.raises(FormatError, match="shorter than the 16-byte"):
        check_batch_folder(_write(tmp_path / "a", [b"\x01\x00"]))
    with pytest.raises(FormatError, match="dimension below 1"):
        check_batch_folder(_write(tmp_path / "b", [np.array([0, 1, 1, 1], "<i4").tobytes()]))


def test_batches_of_different_dims(tmp_path):
    folder = _write(tmp_path / "b", [batch_bytes(IMAGES), batch_bytes(IMAGES[:, :, :2])])
    with pytest.raises(
        FormatError,
        match=r"batch1 \| dimensions \(4, 1, 2, 2\) differ from batch0's \(4, 1, 3, 2\)",
    ):
        check_batch_folder(folder)


def test_labels_in_some_files_only(tmp_path):
    folder = _write(tmp_path / "b", [batch_bytes(IMAGES, LABELS), batch_bytes(IMAGES)])
    with pytest.raises(FormatError, match="labels in batch0 but not in every batch file"):
        check_batch_folder(folder)


def test_gap_and_empty_folder(tmp_path):
    folder = _write(tmp_path / "b", [batch_bytes(IMAGES)] * 3)
    (folder / "batch1").unlink()
    with pytest.raises(FormatError, match="batch1 is missing but batch2 exists"):
        check_batch_folder(folder)
    with pytest.raises(FormatError, match="no batch files"):
        check_batch_folder(tmp_path / "nothing")


def test_feeds_with_a_scalar_input_and_sizes_that_vary_beyond_the_batch(tmp_path):
    """A scalar input has no batch axis; a dynamic height differs from one feed to the next."""
    feeds = [
        {"x": np.zeros((2, 3, h, 8), np.float32), "scale": np.float32(0.5 * h)} for h in (4, 6)
    ]
    write_feed_folder(tmp_path / "f", feeds)
    back = list(iter_feeds(tmp_path / "f"))
    assert [b["x"].shape for b in back] == [(2, 3, 4, 8), (2, 3, 6, 8)]
    assert [float(b["scale"]) for b in back] == [2.0, 3.0]
    with pytest.raises(FormatError, match=r"'x': \('<f8', 3\).*expected \{'x': \('<f4', 4\)"):
        write_feed_folder(tmp_path / "g", [feeds[0], feeds[1] | {"x": np.zeros((2, 3, 4))}])


def test_split_needs_enough_images():
    with pytest.raises(FormatError, match="3 batches of 2 need 6 images, the dataset has 4"):
        split_into_batches(IMAGES, LABELS, batch_size=2, batches=3)
    with pytest.raises(FormatError, match="labels for 4 images"):
        batch_bytes(IMAGES, LABELS[:3])


def test_feed_files_round_trip_and_are_checked(tmp_path):
    feeds = [
        {"user": np.arange(k, k + 3), "movies": np.ones((3, 4), np.int64) * k} for k in range(3)
    ]
    write_feed_folder(tmp_path / "f", feeds)
    assert is_feed_folder(tmp_path / "f") and not is_feed_folder(tmp_path)
    back = list(iter_feeds(tmp_path / "f"))
    assert all(np.array_equal(b["user"], f["user"]) for b, f in zip(back, feeds, strict=True))
    with pytest.raises(FormatError, match="expected"):
        write_feed_folder(tmp_path / "g", [feeds[0], {"user": np.arange(3)}])
    with pytest.raises(FormatError, match="batch sizes \\[2, 3\\]"):
        write_feed_folder(tmp_path / "g", [feeds[0], feeds[1] | {"user": np.arange(2)}])
    (tmp_path / "f" / "batch1.npz").unlink()
    with pytest.raises(FormatError, match="batch1.npz is missing but batch2.npz exists"):
        list(iter_feeds(tmp_path / "f"))
