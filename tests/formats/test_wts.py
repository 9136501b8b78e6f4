import struct

import numpy as np
import pytest

from workflow.errors import FormatError
from workflow.formats.wts import (
    read_wts,
    read_wts_v1_bytes,
    read_wts_v2_bytes,
    wts_bytes,
    wts_v1_bytes,
    wts_v2_bytes,
)

RNG = np.random.default_rng(0)
BLOBS = {
    "conv1.weight": RNG.normal(size=(2, 1, 3, 3)).astype(np.float32),
    "conv1.bias": np.array([0.5, -0.25], np.float32),
    "half": np.array([1.0, -2.0, 65504.0], np.float16),
    "scalar": np.array(3.0, np.float32),
    "empty": np.zeros((0,), np.float32),
}


def test_v1_round_trip_is_byte_identical(tmp_path):
    data = wts_v1_bytes(BLOBS)
    back = read_wts_v1_bytes(data)
    assert list(back) == list(BLOBS)
    for name, array in BLOBS.items():
        np.testing.assert_array_equal(back[name], array.ravel())
        assert back[name].dtype == array.dtype
    assert wts_v1_bytes(back) == data
    path = tmp_path / "w.wts"
    path.write_bytes(data)
    assert read_wts(path).keys() == BLOBS.keys()


def test_v2_round_trip_keeps_shapes():
    data = wts_v2_bytes(BLOBS)
    back = read_wts_v2_bytes(data)
    for name, array in BLOBS.items():
        assert back[name].shape == array.shape and back[name].dtype == array.dtype
        np.testing.assert_array_equal(back[name], array)
    assert wts_v2_bytes(back) == data
    assert data.startswith(b"5\nconv1.weight 0 (2,1,3,3) ")


def test_hand_made_v1_file_in_the_seed_layout():
    text = b"2\nip1bias 0 2 3f800000 bf000000\nconv1filter 1 3 3c00 0 c000\n"
    blobs = read_wts_v1_bytes(text)
    assert blobs["ip1bias"].tolist() == [1.0, -0.5] and blobs["ip1bias"].dtype == np.float32
    assert blobs["conv1filter"].tolist() == [1.0, 0.0, -2.0]  # "0": dumpTFWts' unpadded zero
    assert blobs["conv1filter"].dtype == np.float16


def _dump_tf_wts_v1(blobs):
    """NVIDIA's samples/common/dumpTFWts.py (TensorRT 5.1), v1 branch, written out: the count,
    then per blob "<name> 0 <size> " and each value as hex(<bits>)[2:] plus a space."""
    out = f"{len(blobs)}\n"
    for key, tensor in blobs.items():
        out += f"{key} 0 {tensor.size} "
        for weight in tensor.flatten():
            bits = struct.unpack("<I", struct.pack("<f", float(weight)))[0]
            out += f"{hex(bits)[2:]} "
        out += "\n"
    return out.encode()


def test_nvidia_dump_tf_wts_output_with_unpadded_zeros_reads_back():
    blobs = {
        "dense_kernel": np.array([[0.5, 0.0], [-0.0, 3.0]], np.float32),
        "dense_bias": np.zeros(3, np.float32),
    }
    data = _dump_tf_wts_v1(blobs)
    assert b" 0 0 0 \n" in data  # the zero bias as dumpTFWts writes it
    back = read_wts_v1_bytes(data)
    for name, array in blobs.items():
        assert back[name].tobytes() == array.ravel().tobytes()  # -0.0 kept


def test_a_file_cut_short_is_refused_not_misread():
    """Cutting two bytes off turned a bias of 3.0 (40400000) into 404000 (a denormal)."""
    data = wts_v1_bytes({"w": np.array([1.0, 2.0], np.float32), "b": np.array([3.0], np.float32)})
    assert data.endswith(b"b 0 1 40400000\n")
    message = (
        r"w.wts \(line 3, blob 'b', byte \d+\) \| value 1 b'404000' has 6 hex digits; a float32"
        r" is written as exactly 8 \| the file is truncated.*'%08x'"
    )
    with pytest.raises(FormatError, match=message):
        read_wts_v1_bytes(data[:-3], name="w.wts")
    with pytest.raises(FormatError, match="value 1 b'4040000' has 7 hex digits"):
        read_wts_v1_bytes(data[:-2], name="w.wts")
    half = wts_v1_bytes({"h": np.array([1.0, -2.0], np.float16)})
    with pytest.raises(FormatError, match="value 2 b'c00' has 3 hex digits; a float16 .* 4"):
        read_wts_v1_bytes(half[:-2])
    tiny = _dump_tf_wts_v1({"t": np.array([1e-30], np.float32)})  # hex()[2:] gives 7 digits
    with pytest.raises(FormatError, match="7 hex digits"):
        read_wts_v1_bytes(tiny)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x\n", "byte 0: first line"),
        (b"2\na 0 1 3f800000\n", "1 blobs, the first line announces 2"),
        (b"1\na 0 3 3f800000 00000000\n", r"blob 'a', byte 2\) \| 2 values, the line announces 3"),
        (b"1\na 7 1 3f800000\n", "type 7 unknown"),
        (b"1\na 0 1 3f80zz00\n", "value b'3f80zz00' is not hexadecimal"),
        (b"1\na 1 1 3f800000\n", "line 2, blob 'a', byte 2\\) \\| value 1 b'3f800000' has 8"),
        (b"1\na 0 2 3f800000 0000003f80\n", "value 2 b'0000003f80' has 10 hex digits"),
        (b"1\na 0\n", "expected '<name> <type> <count>'"),
        (b"2\na 0 1 0\na 0 1 0\n", "blob 'a', byte 10\\) \\| blob listed twice"),
    ],
)
def test_bad_v1(data, message):
    with pytest.raises(FormatError, match=message):
        read_wts_v1_bytes(data, name="w.wts")


def test_truncated_v2_names_blob_and_offset():
    data = wts_v2_bytes(BLOBS)
    with pytest.raises(FormatError, match=r"blob 'conv1.weight', byte 2\) \| data needs 72 bytes"):
        read_wts_v2_bytes(data[:50])
    start = data.index(b"conv1.bias")
    broken = data[:start] + b"conv1.bias 0 (3) " + data[start + len(b"conv1.bias 0 (2) ") :]
    with pytest.raises(FormatError, match="blob 'conv1.bias'.*no newline after 12 bytes"):
        read_wts_v2_bytes(broken)
    with pytest.raises(FormatError, match="expected '<name> <type> \\(<shape>\\) '"):
        read_wts_v2_bytes(b"1\nname 0 [2] xxxxxxxx\n")
    with pytest.raises(FormatError, match="2 blobs, the first line announces 3"):
        read_wts_v2_bytes(
            b"3" + wts_v2_bytes({"a": np.ones(1, np.float32), "b": np.ones(1, np.float32)})[1:]
        )


def test_writer_refuses_what_it_cannot_store():
    with pytest.raises(FormatError, match="float32 \\(type 0\\) or float16"):
        wts_v1_bytes({"a": np.ones(2, np.float64)})
    with pytest.raises(FormatError, match="no whitespace"):
        wts_v2_bytes({"a b": np.ones(2, np.float32)})
    with pytest.raises(FormatError, match="use 1"):
        wts_bytes(BLOBS, version=3)
