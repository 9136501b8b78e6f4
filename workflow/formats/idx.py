"""IDX files, the format of the MNIST distribution (gzip-compressed or raw).

Layout: two zero bytes, a type byte, a byte with the number of dimensions ``n``; then ``n``
big-endian int32 sizes; then the data, big-endian, in C order. The reader is strict: it checks the
magic, the type, the dimensions it is told to expect and that the data is exactly as long as the
header says.
"""

import gzip
import struct
from pathlib import Path

import numpy as np

from workflow.errors import FormatError

#: IDX type byte -> big-endian numpy dtype.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def read_idx_bytes(data: bytes, *, name: str = "<bytes>", ndim: int | None = None) -> np.ndarray:
    """Decode IDX bytes (gzip-compressed or raw) into a native-endian array.

    Args:
        data: the file's bytes.
        name: how to name the source in errors (usually its path).
        ndim: number of dimensions the caller expects (3 for images, 1 for labels); ``None``
            accepts any.

    Returns:
        The array, native byte order, shape from the header.

    Raises:
        FormatError: bad gzip stream, magic, type, dimension count, or a data length that
            disagrees with the header.
    """
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise FormatError(
                name, f"corrupt gzip stream ({err})", "download the file again"
            ) from err
    if len(data) < 4:
        raise FormatError(name, f"{len(data)} bytes, too short for an IDX header (4 bytes)")
    zero, kind, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or kind not in IDX_TYPES:
        raise FormatError(
            name,
            f"bad IDX magic {data[:4].hex()}",
            "expected 0000 then a type byte among "
            + ", ".join(f"{k:02x}" for k in IDX_TYPES)
            + " (e.g. 00000803 for MNIST images)",
        )
    if ndim is not None and dims != ndim:
        raise FormatError(name, f"IDX header has {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise FormatError(name, f"truncated header: {len(data)} bytes, need {header}")
    shape = struct.unpack(f">{dims}i", data[4:header])
    if any(size < 0 for size in shape):
        raise FormatError(name, f"negative dimension in header {shape}")
    dtype = IDX_TYPES[kind]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise FormatError(
            name,
            f"{len(data)} bytes, header {shape} of {dtype.name} needs {expected}",
            "the file is truncated or not IDX; download it again",
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw); see :func:`read_idx_bytes`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise FormatError(path, "no such file") from err
    return read_idx_bytes(data, name=str(path), ndim=ndim)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as raw (uncompressed) IDX bytes.

    Args:
        array: uint8, int8, int16, int32, float32 or float64 data, any number of dimensions
            up to 255.

    Returns:
        The IDX file content.

    Raises:
        FormatError: the dtype has no IDX type code.
    """
    array = np.asarray(array)
    codes = [code for code, dtype in IDX_TYPES.items() if dtype == array.dtype.newbyteorder(">")]
    if not codes:
        raise FormatError("idx_bytes", f"dtype {array.dtype} has no IDX type code")
    code = codes[0]
    dtype = IDX_TYPES[code]
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()
