import numpy as np
import pytest

from workflow.errors import FormatError
from workflow.formats.pnm import pnm_bytes, read_pnm, read_pnm_bytes

GREY = np.arange(12, dtype=np.uint8).reshape(3, 4)
RGB = np.arange(36, dtype=np.uint8).reshape(3, 4, 3)


@pytest.mark.parametrize("image", [GREY, RGB])
def test_round_trip(image, tmp_path):
    data = pnm_bytes(image, comment="made by a test")
    assert data.startswith(b"P5\n# made by a test\n4 3\n255\n" if image.ndim == 2 else b"P6\n")
    path = tmp_path / "image.pnm"
    path.write_bytes(data)
    back = read_pnm(path)
    np.testing.assert_array_equal(back, image)
    assert pnm_bytes(back, comment="made by a test") == data


def test_comments_between_every_field():
    data = b"P5 # magic\n#full line\n4# width\n  # more\n3\n#before maxval\n255\n" + GREY.tobytes()
    np.testing.assert_array_equal(read_pnm_bytes(data), GREY)


def test_gimp_style_header_and_lower_maxval():
    data = b"P5\n# CREATOR: GIMP PNM Filter Version 1.1\n4 3\n15\n" + (GREY % 16).tobytes()
    np.testing.assert_array_equal(read_pnm_bytes(data), GREY % 16)


def test_single_whitespace_after_maxval_is_consumed():
    # 32 is a space: a pixel equal to a whitespace byte right after the header is data
    image = np.full((1, 2), 32, np.uint8)
    np.testing.assert_array_equal(read_pnm_bytes(b"P5 2 1 255 " + image.tobytes()), image)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"P2\n4 3\n255\n" + b"0 " * 12, "unsupported magic 'P2'"),
        (b"P3\n1 1\n255\n0 0 0", "unsupported magic 'P3'"),
        (b"BM\x00\x00", "unsupported magic"),
        (b"P5\n4 3\n65535\n" + bytes(24), "maxval 65535 not supported"),
        (b"P5\n4 3\n0\n" + bytes(12), "maxval 0 not supported"),
        (b"P5\n4 x\n255\n" + bytes(12), "height is b'x'"),
        (b"P5\n-4 3\n255\n" + bytes(12), "width is b'-4'"),
        (b"P5\n0 3\n255\n", "size 0x3"),
        (b"P5\n4 3\n", "truncated header"),
        (b"P5\n4 3\n255", "no whitespace byte"),
        (b"P5\n4 3\n255\n" + bytes(11), "truncated pixel data: 11 bytes"),
        (b"P5\n4 3\n255\n" + bytes(13), "trailing bytes: 13 bytes"),
        (b"P6\n4 3\n255\n" + bytes(12), "needs 36"),
        (b"P5\n4 3\n# comment without end", "comment runs to the end"),
        (b"P5\n4 3\n15\n" + bytes([16] * 12), "pixel value 16 exceeds maxval 15"),
    ],
)
def test_bad_files_are_rejected(data, message):
    with pytest.raises(FormatError, match=message.replace("(", r"\(")) as err:
        read_pnm_bytes(data, name="digit.pgm")
    assert str(err.value).startswith("digit.pgm | ")


def test_writer_refuses_what_it_cannot_encode():
    with pytest.raises(FormatError, match="expected uint8"):
        pnm_bytes(GREY.astype(np.float32))
    with pytest.raises(FormatError, match="expected"):
        pnm_bytes(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(FormatError, match="line break"):
        pnm_bytes(GREY, comment="two\nlines")
