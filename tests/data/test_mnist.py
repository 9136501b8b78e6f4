import gzip

import numpy as np
import pytest

from workflow.data.mnist import (
    MNIST_FILES,
    bilinear_resize,
    check_digits,
    embedded_digits,
    first_of_each_class,
    mnist_splits,
    split_shuffled,
    split_tail,
    to_input,
)
from workflow.errors import DataError
from workflow.formats.idx import idx_bytes

SPLIT_ARGS = {"test_fraction": 0.2, "seed": 0, "test_count": 2000, "base_url": "http://x/"}


def test_embedded_digits_transform():
    images, labels = embedded_digits()
    assert images.shape == (1797, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).min() >= 170
    # the 4-pixel border stays black, the 20x20 box holds the digit
    assert not images[:, :4].any() and not images[:, -4:].any()
    assert not images[:, :, :4].any() and not images[:, :, -4:].any()
    assert images.max() == 255


def test_bilinear_resize_keeps_corners_and_constants():
    image = np.arange(4.0).reshape(1, 2, 2)
    out = bilinear_resize(image, 5)
    assert out[0, 0, 0] == 0 and out[0, -1, -1] == 3 and out[0, 0, -1] == 1
    assert out[0, 2, 2] == pytest.approx(1.5)
    np.testing.assert_allclose(bilinear_resize(np.full((1, 8, 8), 7.0), 20), 7.0)


def test_split_is_seeded_and_disjoint():
    images, labels = embedded_digits()
    (a_train, _), (a_test, _) = split_shuffled(images, labels, test_fraction=0.2, seed=3)
    (b_train, _), (b_test, _) = split_shuffled(images, labels, test_fraction=0.2, seed=3)
    (_, _), (c_test, _) = split_shuffled(images, labels, test_fraction=0.2, seed=4)
    np.testing.assert_array_equal(a_test, b_test)
    np.testing.assert_array_equal(a_train, b_train)
    assert len(a_test) == 359 and len(a_train) == 1438
    assert not np.array_equal(a_test, c_test)


def test_split_errors_name_the_setting():
    x, y = np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.uint8)
    with pytest.raises(DataError, match="test_fraction"):
        split_shuffled(x, y, test_fraction=0.01, seed=0)
    with pytest.raises(DataError, match="test_count"):
        split_tail(x, y, test_count=5)
    (train, _), (test, _) = split_tail(x, y, test_count=2)
    assert len(train) == 3 and len(test) == 2


def test_check_digits_rejects_bad_splits():
    good = np.zeros((2, 28, 28), np.uint8)
    with pytest.raises(DataError, match="expected uint8"):
        check_digits(good.astype(np.float32), np.zeros(2, np.uint8), name="x")
    with pytest.raises(DataError, match="3 labels for 2 images"):
        check_digits(good, np.zeros(3, np.uint8), name="x")
    with pytest.raises(DataError, match="label 12"):
        check_digits(good, np.array([1, 12], np.uint8), name="x")


def test_first_of_each_class_and_missing_digit():
    assert first_of_each_class(np.array([3, 0, 1, 2, 4, 5, 6, 7, 8, 9, 0])) == [
        1,
        2,
        3,
        0,
        4,
        5,
        6,
        7,
        8,
        9,
    ]
    with pytest.raises(DataError, match="no image of digit 9"):
        first_of_each_class(np.arange(9))


def test_to_input_scales_to_unit_range():
    x = to_input(np.full((2, 28, 28), 255, np.uint8))
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32 and x.max() == 1.0


def test_idx_source_splits_the_tail(t10k):
    files = {
        "images": str(t10k / "t10k-images-idx3-ubyte.gz"),
        "labels": str(t10k / "t10k-labels-idx1-ubyte.gz"),
    }
    (train_x, train_y), (test_x, test_y) = mnist_splits(source="idx", files=files, **SPLIT_ARGS)
    assert len(train_x) == 8000 and len(test_x) == 2000
    assert train_y.dtype == np.uint8 and set(np.unique(test_y)) == set(range(10))


def _fake_mnist(tmp_path, corrupt=None):
    files = {}
    for name in MNIST_FILES:
        array = (
            np.zeros((3, 28, 28), np.uint8) if "images" in name else np.arange(3, dtype=np.uint8)
        )
        path = tmp_path / name
        path.write_bytes(gzip.compress(idx_bytes(array)))
        files[name] = str(path)
    return files


def test_mnist_source_checks_every_checksum(tmp_path):
    files = _fake_mnist(tmp_path)
    with pytest.raises(DataError) as err:
        mnist_splits(source="mnist", files=files, **SPLIT_ARGS)
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz | md5" in message
    assert f"place it at {files['train-images-idx3-ubyte.gz']}" in message
    assert MNIST_FILES["train-images-idx3-ubyte.gz"] in message


def test_mnist_source_reads_files_with_the_right_checksums(tmp_path, monkeypatch):
    files = _fake_mnist(tmp_path)
    from workflow.data import download

    sums = {name: download.md5_hex(open(path, "rb").read()) for name, path in files.items()}
    monkeypatch.setattr("workflow.data.mnist.MNIST_FILES", sums)
    (train_x, _), (test_x, test_y) = mnist_splits(source="mnist", files=files, **SPLIT_ARGS)
    assert train_x.shape == (3, 28, 28) and test_y.tolist() == [0, 1, 2]


def test_unknown_source():
    with pytest.raises(DataError, match="unknown source"):
        mnist_splits(source="cifar", files={}, **SPLIT_ARGS)
