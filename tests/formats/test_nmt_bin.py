"""The seed's NMT weight files: layout (payload, metadata, count, footer) and the strict reader."""

import numpy as np
import pytest

from workflow.errors import FormatError
from workflow.formats.nmt_bin import FOOTER, pack_bin, unpack_bin


def test_layout_is_payload_then_metadata_then_count_then_footer():
    data = pack_bin([np.arange(6, dtype=np.float32), np.ones(2, np.float32)], [2, 4])
    assert data[:32] == np.concatenate([np.arange(6), np.ones(2)]).astype("<f4").tobytes()
    assert np.frombuffer(data[32:44], "<i4").tolist() == [0, 2, 4]  # float32, then the dims
    assert np.frombuffer(data[44:48], "<i4").tolist() == [3]
    assert data[48:] == FOOTER == b"trtsamplenmt"
    values, dims = unpack_bin(data, source="x.bin", values=8)
    assert dims == [2, 4] and values.tolist() == [0, 1, 2, 3, 4, 5, 1, 1]


def test_float16_payload_is_type_1():
    data = pack_bin([np.array([1.5, -2], np.float16)], [2])
    values, dims = unpack_bin(data, source="h.bin")
    assert values.dtype == np.float16 and values.tolist() == [1.5, -2] and dims == [2]
    assert np.frombuffer(data[4:8], "<i4")[0] == 1


def test_mixed_dtypes_are_refused():
    with pytest.raises(FormatError, match="dtypes"):
        pack_bin([np.zeros(1, np.float32), np.zeros(1, np.float16)], [2])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d[:10], "shorter than the 16-byte trailer"),
        (lambda d: d[:-1], "not the footer"),
        (lambda d: d[:-4] + b"xxxx", "not the footer"),
        (lambda d: d[8:], "values, its dimensions"),  # payload cut at the front: wrong count
        (lambda d: d[:2] + d[4:], "not whole"),
        (lambda d: d[:-16] + np.asarray(99, "<i4").tobytes() + FOOTER, "metadata count 99"),
        (lambda d: d[:-28] + np.asarray(7, "<i4").tobytes() + d[-24:], "data type 7"),
    ],
)
def test_bad_files_say_what_is_wrong(edit, message):
    data = pack_bin([np.arange(12, dtype=np.float32)], [3, 4])
    with pytest.raises(FormatError, match=message):
        unpack_bin(edit(data), source="bad.bin", values=12)
