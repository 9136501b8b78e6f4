"""Binary PGM (P5) and PPM (P6) images, the seed samples' input format.

The header is ``P5`` or ``P6``, width, height and maxval as ASCII decimals separated by
whitespace, with ``#`` comments (to the end of the line) allowed between any two fields; one
whitespace byte then separates the header from the pixel data. The seed's readers broke on
comments; this one does not. Only maxval <= 255 (one byte per sample) is supported; ASCII
variants (P2, P3) and 16-bit files are refused with a message saying so.
"""

from pathlib import Path

import numpy as np

from workflow.errors import FormatError

CHANNELS = {b"P5": 1, b"P6": 3}
WHITESPACE = b" \t\n\r\v\f"
HASH = ord("#")


def _header_fields(data: bytes, name: str) -> tuple[list[bytes], int]:
    """Split the magic and three header numbers off ``data``; return them and the data offset."""
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        if pos >= len(data):
            raise FormatError(name, f"truncated header: found {len(fields)} of 4 fields")
        if data[pos] in WHITESPACE:
            pos += 1
        elif data[pos] == HASH:
            end = data.find(b"\n", pos)
            if end < 0:
                raise FormatError(name, "comment runs to the end of the file: no pixel data")
            pos = end + 1
        else:
            start = pos
            while pos < len(data) and data[pos] not in WHITESPACE and data[pos] != HASH:
                pos += 1
            fields.append(data[start:pos])
            if len(fields) == 1 and fields[0] not in CHANNELS:
                kind = fields[0][:2].decode("latin-1")
                raise FormatError(
                    name,
                    f"unsupported magic {kind!r}",
                    "only binary PGM (P5) and PPM (P6) are read; convert ASCII P2/P3 files "
                    "with e.g. `pnmtopnm` or Pillow",
                )
    if pos >= len(data) or data[pos] not in WHITESPACE:
        raise FormatError(name, "no whitespace byte between the header and the pixel data")
    return fields, pos + 1


def read_pnm_bytes(data: bytes, *, name: str = "<bytes>") -> np.ndarray:
    """Decode a binary PGM/PPM image.

    Args:
        data: the file's bytes.
        name: how to name the source in errors.

    Returns:
        uint8 array of shape (height, width) for P5 or (height, width, 3) for P6.

    Raises:
        FormatError: unsupported magic (P2, P3, ...), non-numeric or out-of-range fields,
            maxval above 255, missing, truncated or trailing pixel data.
    """
    fields, offset = _header_fields(data, name)
    numbers: list[int] = []
    for label, raw in zip(("width", "height", "maxval"), fields[1:], strict=True):
        if not raw.isdigit():
            raise FormatError(name, f"bad header: {label} is {raw!r}, not a decimal number")
        numbers.append(int(raw))
    width, height, maxval = numbers
    if width < 1 or height < 1:
        raise FormatError(name, f"bad header: size {width}x{height}")
    if not 1 <= maxval <= 255:
        raise FormatError(
            name, f"maxval {maxval} not supported", "only 8-bit images (maxval 1..255) are read"
        )
    channels = CHANNELS[fields[0]]
    expected = width * height * channels
    pixels = data[offset:]
    if len(pixels) != expected:
        problem = "truncated pixel data" if len(pixels) < expected else "trailing bytes"
        raise FormatError(
            name,
            f"{problem}: {len(pixels)} bytes after the header, {width}x{height}x{channels} "
            f"needs {expected}",
        )
    image = np.frombuffer(pixels, dtype=np.uint8)
    if int(image.max(initial=0)) > maxval:
        raise FormatError(name, f"pixel value {int(image.max())} exceeds maxval {maxval}")
    shape = (height, width) if channels == 1 else (height, width, channels)
    return image.reshape(shape).copy()


def read_pnm(path: str | Path) -> np.ndarray:
    """Read a binary PGM/PPM file; see :func:`read_pnm_bytes`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise FormatError(path, "no such file") from err
    return read_pnm_bytes(data, name=str(path))


def pnm_bytes(image: np.ndarray, *, comment: str | None = None) -> bytes:
    """Encode a uint8 image as binary PGM (2-D) or PPM (height, width, 3), maxval 255.

    Args:
        image: uint8 array, (H, W) or (H, W, 3).
        comment: optional one-line comment written after the magic.

    Raises:
        FormatError: wrong dtype or shape, or a comment containing a newline.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise FormatError("pnm_bytes", f"dtype {image.dtype}, expected uint8")
    if image.ndim == 2:
        magic = b"P5"
    elif image.ndim == 3 and image.shape[2] == 3:
        magic = b"P6"
    else:
        raise FormatError("pnm_bytes", f"shape {image.shape}, expected (H, W) or (H, W, 3)")
    lines = [magic]
    if comment is not None:
        if "\n" in comment or "\r" in comment:
            raise FormatError("pnm_bytes", "comment contains a line break")
        lines.append(b"# " + comment.encode("utf-8"))
    lines.append(f"{image.shape[1]} {image.shape[0]}".encode())
    lines.append(b"255")
    return b"\n".join(lines) + b"\n" + np.ascontiguousarray(image).tobytes()
