import gzip
import re
import struct

import numpy as np
import pytest

from workflow.errors import FormatError
from workflow.formats.idx import idx_bytes, read_idx, read_idx_bytes


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip_is_byte_identical(dtype):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    data = idx_bytes(array)
    back = read_idx_bytes(data)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)
    assert idx_bytes(back) == data


def test_reads_gzip(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(path, ndim=1), array)


def test_header_layout_is_the_mnist_one():
    data = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    assert data[:4] == bytes.fromhex("00000803")
    assert struct.unpack(">3i", data[4:16]) == (2, 28, 28)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + struct.pack(">i", 0), "bad IDX magic"),
        (b"\x00\x00\x07\x01" + struct.pack(">i", 0), "bad IDX magic"),
        (b"\x00\x00\x08\x02" + struct.pack(">i", 1), "truncated header"),
        (b"\x00\x00\x08\x01" + struct.pack(">i", -3), "negative dimension"),
        (b"\x00\x00\x08\x01" + struct.pack(">i", 5) + b"abc", "needs 13"),
        (b"\x00\x00\x08\x01" + struct.pack(">i", 2) + b"abc", "needs 10"),
        (b"\x1f\x8b\x08garbage", "corrupt gzip"),
    ],
)
def test_bad_bytes_are_rejected(data, message):
    with pytest.raises(FormatError, match=message):
        read_idx_bytes(data, name="bad.idx")


def test_wrong_dimension_count():
    with pytest.raises(FormatError, match="3 dimensions, expected 1"):
        read_idx_bytes(idx_bytes(np.zeros((1, 2, 2), np.uint8)), ndim=1)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FormatError, match=re.escape("nothing.idx | no such file")):
        read_idx(tmp_path / "nothing.idx")


def test_unsupported_dtype():
    with pytest.raises(FormatError, match="no IDX type code"):
        idx_bytes(np.zeros(3, np.uint16))


def test_real_mnist_test_set(t10k):
    images = read_idx(t10k / "t10k-images-idx3-ubyte.gz", ndim=3)
    labels = read_idx(t10k / "t10k-labels-idx1-ubyte.gz", ndim=1)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    counts = np.bincount(labels, minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
