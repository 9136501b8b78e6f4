"""sampleNMT's binary weight files, as its chpt_to_bin wrote them: the raw values of one or more
arrays in order (float32, or float16), then the metadata as int32 values (the data type, 0 =
float32 and 1 = float16 as in TensorRT's DataType, then the layer's dimensions), then the count
of metadata values as one int32, then the ASCII footer ``trtsamplenmt``. Little-endian.

:func:`unpack_bin` reads strictly: a file too short for its own trailer, a wrong footer, a
metadata count that does not fit, an unknown data type, a payload that is not whole values or
not the number of values its dimensions call for is refused with what was found and expected.
"""

from pathlib import Path

import numpy as np

from workflow.errors import FormatError

FOOTER = b"trtsamplenmt"
#: TensorRT's DataType codes of the payload.
DTYPES = {0: np.dtype("<f4"), 1: np.dtype("<f2")}


def pack_bin(arrays: list[np.ndarray], dims: list[int]) -> bytes:
    """One file's bytes: the arrays' values in order, the metadata, its count and the footer.

    Raises:
        FormatError: arrays of different or unsupported dtypes.
    """
    kinds = {np.dtype(a.dtype) for a in arrays}
    codes = [code for code, kind in DTYPES.items() if kind.newbyteorder("=") in kinds]
    if len(kinds) != 1 or len(codes) != 1:
        raise FormatError(
            "nmt .bin", f"arrays of dtypes {sorted(map(str, kinds))}", "one of float32, float16"
        )
    kind = DTYPES[codes[0]]
    payload = b"".join(np.asarray(a, kind).tobytes() for a in arrays)
    meta = np.asarray([codes[0], *dims], "<i4")
    return payload + meta.tobytes() + np.asarray(len(meta), "<i4").tobytes() + FOOTER


def unpack_bin(
    data: bytes, *, source: str | Path, values: int | None = None
) -> tuple[np.ndarray, list[int]]:
    """The payload (a flat array of its data type) and the dimensions of one file.

    Args:
        data: the file's bytes.
        source: named in errors.
        values: the number of values the caller's layer needs, if known beforehand
            (otherwise check it with :func:`expect_values` once the dimensions are read).

    Raises:
        FormatError: naming what is wrong.
    """
    trailer = len(FOOTER) + 4
    if len(data) < trailer:
        raise FormatError(
            source,
            f"{len(data)} bytes, shorter than the {trailer}-byte trailer",
            "a truncated file?",
        )
    if data[-len(FOOTER) :] != FOOTER:
        found = data[-len(FOOTER) :]
        raise FormatError(
            source,
            f"ends with {found!r}, not the footer {FOOTER!r}",
            "not a sampleNMT weight file, or truncated",
        )
    count = int(np.frombuffer(data[-trailer : -len(FOOTER)], "<i4")[0])
    if not 1 <= count <= (len(data) - trailer) // 4:
        raise FormatError(source, f"metadata count {count} does not fit a {len(data)}-byte file")
    meta = np.frombuffer(data[-trailer - 4 * count : -trailer], "<i4").tolist()
    if meta[0] not in DTYPES:
        raise FormatError(source, f"data type {meta[0]}", "0 (float32) or 1 (float16)")
    kind, dims = DTYPES[meta[0]], [int(d) for d in meta[1:]]
    payload = data[: len(data) - trailer - 4 * count]
    if len(payload) % kind.itemsize:
        raise FormatError(
            source, f"{len(payload)} payload bytes, not whole {kind} values", "a truncated file?"
        )
    array = np.frombuffer(payload, kind)
    if values is not None:
        expect_values(array, values, source=source, dims=dims)
    return array, dims


def expect_values(array: np.ndarray, values: int, *, source: str | Path, dims: list[int]) -> None:
    """Check that a payload holds exactly ``values`` values.

    Raises:
        FormatError: it holds another count.
    """
    if array.size != values:
        raise FormatError(
            source,
            f"{array.size} values, its dimensions {dims} call for {values}",
            "a truncated or mismatched file?",
        )
