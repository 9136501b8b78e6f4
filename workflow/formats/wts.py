"""Weights files of the TensorRT samples: ``.wts`` (v1, hex text) and ``.wts2`` (v2, binary).

v1, as the samples' ``loadWeights`` reads it::

    <blob count>\\n
    <name> <type> <count> <hex> <hex> ...\\n      (one line per blob)

``type`` 0 is float32 and 1 is float16; each value is written as the hex of its IEEE-754 bits,
8 digits for float32 and 4 for float16 (``%08x``, as the writer here and the PyTorch exporters'
``struct.pack(">f", v).hex()`` write them). C++'s ``std::hex`` extraction would take fewer
digits, so a word that lost digits at the end of a truncated file would silently become a
different number (``40400000``, 3.0, cut to ``404000``); the reader refuses a word of any other
width. The one exception is the single digit ``0``: NVIDIA's ``dumpTFWts.py`` writes
``hex(bits)[2:]`` without padding, which gives ``0`` for every zero weight (a truncated word
reads as ``0`` only where its value was below 2.5e-29 anyway).

v2 keeps the shape and stores the values raw::

    <blob count>\\n
    <name> <type> (<d0>,<d1>,...) <raw little-endian bytes>\\n

One space separates the shape from the bytes; a scalar's shape is ``()``. Names may not contain
whitespace (the samples split on it). Both readers are strict: every problem is reported with the
blob's name and the byte offset where it was found.
"""

import re
from pathlib import Path

import numpy as np

from workflow.errors import FormatError

#: type field -> numpy dtype (little-endian for v2).
WTS_TYPES = {0: np.dtype("<f4"), 1: np.dtype("<f2")}
HEX_DIGITS = {0: 8, 1: 4}
WTS_TYPE_NAMES = {0: "float32", 1: "float16"}
BITS = {0: np.dtype("<u4"), 1: np.dtype("<u2")}
NAME = re.compile(rb"\S+")


def _type_of(array: np.ndarray, name: str) -> int:
    for code, dtype in WTS_TYPES.items():
        if array.dtype == dtype or array.dtype == dtype.newbyteorder(">"):
            return code
    raise FormatError(
        name, f"dtype {array.dtype}: .wts stores float32 (type 0) or float16 (type 1)"
    )


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name):
        raise FormatError(repr(name), "a blob name must be non-empty and hold no whitespace")


def _counted(blobs: dict[str, np.ndarray], expected: int, name: str) -> dict[str, np.ndarray]:
    """Return ``blobs`` if the file held as many as its count line says."""
    if len(blobs) != expected:
        raise FormatError(
            name,
            f"{len(blobs)} blobs, the first line announces {expected}",
            "the file is truncated or corrupt",
        )
    return blobs


def wts_v1_bytes(blobs: dict[str, np.ndarray]) -> bytes:
    """Encode blobs (float32 or float16 arrays, any shape; flattened) as a v1 ``.wts`` file."""
    lines = [str(len(blobs))]
    for name, array in blobs.items():
        _check_name(name)
        code = _type_of(np.asarray(array), name)
        flat = np.ascontiguousarray(array, dtype=WTS_TYPES[code]).ravel()
        width = HEX_DIGITS[code]
        words = " ".join(f"{int(v):0{width}x}" for v in flat.view(BITS[code]))
        lines.append(f"{name} {code} {flat.size}" + (f" {words}" if flat.size else ""))
    return ("\n".join(lines) + "\n").encode("ascii")


def read_wts_v1_bytes(data: bytes, *, name: str = "<wts>") -> dict[str, np.ndarray]:
    """Decode a v1 ``.wts`` file into flat arrays (float32 or float16) by blob name.

    Raises:
        FormatError: with the blob name and byte offset: bad count line, unknown type, a hex
            word that is not hex or not of its type's width (the line, the blob and the word
            named), fewer or more values than announced, a duplicate name, or fewer or more
            blobs than the count line says.
    """
    lines = data.split(b"\n")
    if not lines[0].strip().isdigit():
        raise FormatError(name, f"byte 0: first line {lines[0][:40]!r} is not a blob count")
    expected = int(lines[0])
    blobs: dict[str, np.ndarray] = {}
    offset = len(lines[0]) + 1
    for number, line in enumerate(lines[1:], 2):
        start, offset = offset, offset + len(line) + 1
        fields = line.split()
        if not fields:
            continue
        blob = fields[0].decode("utf-8", "replace")
        where = f"{name} (blob {blob!r}, byte {start})"
        if len(fields) < 3 or not fields[1].isdigit() or not fields[2].isdigit():
            raise FormatError(where, "expected '<name> <type> <count>' then the values")
        code, count = int(fields[1]), int(fields[2])
        if code not in WTS_TYPES:
            raise FormatError(where, f"type {code} unknown; 0 = float32, 1 = float16")
        words = fields[3:]
        if len(words) != count:
            raise FormatError(
                where,
                f"{len(words)} values, the line announces {count}",
                "the file is truncated or corrupt",
            )
        width = HEX_DIGITS[code]
        for column, word in enumerate(words, 1):
            if len(word) != width and word != b"0":
                raise FormatError(
                    f"{name} (line {number}, blob {blob!r}, byte {start})",
                    f"value {column} {word[:20]!r} has {len(word)} hex digits; "
                    f"a {WTS_TYPE_NAMES[code]} is written as exactly {width}",
                    "the file is truncated or corrupt, or was written without zero padding: "
                    f"write it again with {width} digits per value ('%0{width}x' of the bits)",
                )
        try:
            bits = np.array([int(w, 16) for w in words], dtype=np.uint64)
        except ValueError:
            bad = next(w for w in words if not re.fullmatch(rb"[0-9a-fA-F]+", w))
            raise FormatError(where, f"value {bad[:20]!r} is not hexadecimal") from None
        if blob in blobs:
            raise FormatError(where, "blob listed twice")
        blobs[blob] = (
            bits.astype(BITS[code]).view(WTS_TYPES[code]).astype(WTS_TYPES[code].newbyteorder("="))
        )
    return _counted(blobs, expected, name)


def wts_v2_bytes(blobs: dict[str, np.ndarray]) -> bytes:
    """Encode blobs (float32 or float16 arrays; shape kept) as a v2 ``.wts2`` file."""
    parts = [f"{len(blobs)}\n".encode("ascii")]
    for name, array in blobs.items():
        _check_name(name)
        array = np.asarray(array)
        code = _type_of(array, name)
        shape = ",".join(str(d) for d in array.shape)
        parts.append(f"{name} {code} ({shape}) ".encode())
        parts.append(np.ascontiguousarray(array, dtype=WTS_TYPES[code]).tobytes())
        parts.append(b"\n")
    return b"".join(parts)


HEAD_V2 = re.compile(rb"(\S+) (\d+) \(([0-9,]*)\) ")


def read_wts_v2_bytes(data: bytes, *, name: str = "<wts2>") -> dict[str, np.ndarray]:
    """Decode a v2 ``.wts2`` file into arrays of their stored shape.

    Raises:
        FormatError: with the blob name and byte offset: bad count line or blob header, unknown
            type, data running past the end, a missing newline after the data, a duplicate name,
            or fewer or more blobs than announced.
    """
    end = data.find(b"\n")
    if end < 0 or not data[:end].isdigit():
        raise FormatError(name, f"byte 0: first line {data[:40]!r} is not a blob count")
    expected = int(data[:end])
    pos = end + 1
    blobs: dict[str, np.ndarray] = {}
    while pos < len(data):
        match = HEAD_V2.match(data, pos)
        token = NAME.match(data, pos)
        blob = (token.group(0) if token else b"?").decode("utf-8", "replace")
        where = f"{name} (blob {blob!r}, byte {pos})"
        if not match:
            raise FormatError(where, "expected '<name> <type> (<shape>) ' before the data")
        code = int(match.group(2))
        if code not in WTS_TYPES:
            raise FormatError(where, f"type {code} unknown; 0 = float32, 1 = float16")
        dims = match.group(3)
        try:
            shape = tuple(int(d) for d in dims.split(b",")) if dims else ()
        except ValueError:
            raise FormatError(where, f"shape ({dims.decode()}) is malformed") from None
        start = match.end()
        size = int(np.prod(shape, dtype=np.int64)) * WTS_TYPES[code].itemsize
        if start + size + 1 > len(data):
            raise FormatError(
                where,
                f"data needs {size} bytes from byte {start} plus a newline, "
                f"the file ends at byte {len(data)}",
                "the file is truncated",
            )
        if data[start + size : start + size + 1] != b"\n":
            raise FormatError(
                where,
                f"byte {start + size}: no newline after {size} bytes of data",
                "the shape disagrees with the data",
            )
        if blob in blobs:
            raise FormatError(where, "blob listed twice")
        values = np.frombuffer(
            data, dtype=WTS_TYPES[code], count=size // WTS_TYPES[code].itemsize, offset=start
        )
        blobs[blob] = values.reshape(shape).astype(WTS_TYPES[code].newbyteorder("="))
        pos = start + size + 1
    return _counted(blobs, expected, name)


def read_wts(path: str | Path) -> dict[str, np.ndarray]:
    """Read a ``.wts`` (v1) or ``.wts2`` (v2) file, chosen by the suffix."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise FormatError(path, "no such file") from err
    reader = read_wts_v2_bytes if path.suffix == ".wts2" else read_wts_v1_bytes
    return reader(data, name=str(path))


def wts_bytes(blobs: dict[str, np.ndarray], *, version: int) -> bytes:
    """Encode blobs as v1 (``version=1``) or v2 (``version=2``)."""
    if version not in (1, 2):
        raise FormatError(f"wts version {version}", "unknown", "use 1 (.wts) or 2 (.wts2)")
    return wts_v1_bytes(blobs) if version == 1 else wts_v2_bytes(blobs)
