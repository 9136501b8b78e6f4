"""TensorRT's CalibrationTable text format, and sampleINT8API's per-tensor dynamic-range files.

CalibrationTable::

    TRT-5100-EntropyCalibration2
    data: 3c000889

The header names the TensorRT version and the algorithm. Each following line is a tensor name,
``": "`` and the 8 hex digits of the IEEE-754 bits of the float32 scale, scale = amax / 127. Names
may contain spaces and colons, so a line is split on its *last* ``": "``.

Dynamic-range file: one ``name:value`` line per tensor; the range is [-value, value] (amax). Split
on the last ``":"``.
"""

import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workflow.errors import FormatError

HEADER = re.compile(r"TRT-(\d+)-([A-Za-z][A-Za-z0-9]*)")
HEX = re.compile(r"[0-9a-fA-F]{8}")
QMAX = 127.0

#: Header name of each calibration algorithm. The first two are TensorRT's own names;
#: percentile and least_error are this pipeline's.
ALGORITHM_NAMES = {
    "entropy": "EntropyCalibration2",
    "minmax": "MinMaxCalibration",
    "percentile": "PercentileCalibration",
    "least_error": "LeastErrorCalibration",
}


def scale_to_hex(scale: float) -> str:
    """8 lowercase hex digits of the float32 bits of ``scale``."""
    return struct.pack(">f", scale).hex()


def hex_to_scale(digits: str) -> float:
    """The float32 whose bits the 8 hex digits give."""
    return struct.unpack(">f", bytes.fromhex(digits))[0]


@dataclass
class CalibrationTable:
    """Per-tensor INT8 scales (amax / 127) with the algorithm that produced them."""

    version: int
    algorithm: str
    scales: dict[str, float] = field(default_factory=dict)

    def amax(self, name: str) -> float:
        """The dynamic range (127 * scale) of tensor ``name``."""
        return float(np.float32(self.scales[name]) * np.float32(QMAX))

    def to_text(self) -> str:
        """Serialise in TensorRT's format (tensor order kept)."""
        lines = [f"TRT-{self.version}-{self.algorithm}"]
        lines += [f"{name}: {scale_to_hex(scale)}" for name, scale in self.scales.items()]
        return "\n".join(lines) + "\n"


def table_from_amax(amax: dict[str, float], *, version: int, algorithm: str) -> CalibrationTable:
    """Build a table from per-tensor ranges (scale = float32(amax / 127)).

    Args:
        amax: dynamic range per tensor name, in tensor order.
        version: the number in the header.
        algorithm: ``entropy``, ``minmax`` or ``percentile``.
    """
    scales = {name: float(np.float32(value / QMAX)) for name, value in amax.items()}
    return CalibrationTable(version, ALGORITHM_NAMES[algorithm], scales)


def parse_table(text: str, *, name: str = "<table>") -> CalibrationTable:
    """Parse a CalibrationTable.

    Raises:
        FormatError: bad header, a line without ``": "``, a value that is not 8 hex digits, a
            scale that is not finite and positive, or a tensor listed twice; the line number is
            given.
    """
    lines = text.splitlines()
    match = HEADER.fullmatch(lines[0].strip()) if lines else None
    if not match:
        first = lines[0] if lines else ""
        raise FormatError(name, f"line 1: header {first!r}", "expected TRT-<version>-<algorithm>")
    table = CalibrationTable(int(match.group(1)), match.group(2))
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        tensor, sep, digits = line.rpartition(": ")
        if not sep or not tensor:
            raise FormatError(name, f"line {number}: {line!r} is not '<tensor>: <8 hex digits>'")
        if not HEX.fullmatch(digits.strip()):
            raise FormatError(name, f"line {number}: value {digits!r} is not 8 hex digits")
        scale = hex_to_scale(digits.strip())
        if not (math.isfinite(scale) and scale > 0):
            raise FormatError(name, f"line {number}: scale {scale} of {tensor!r} is not positive")
        if tensor in table.scales:
            raise FormatError(name, f"line {number}: tensor {tensor!r} listed twice")
        table.scales[tensor] = scale
    return table


def read_table(path: str | Path) -> CalibrationTable:
    """Read a CalibrationTable file; see :func:`parse_table`."""
    return parse_table(Path(path).read_text(encoding="utf-8"), name=str(path))


def check_algorithm(table: CalibrationTable, algorithm: str, *, name: str) -> None:
    """Refuse a table written by another algorithm than the configured one.

    Raises:
        FormatError: the header names another algorithm.
    """
    expected = ALGORITHM_NAMES[algorithm]
    if table.algorithm != expected:
        raise FormatError(
            name,
            f"table was written by {table.algorithm}, the config asks for {expected}",
            "recalibrate (delete the table) or set calibration.algorithm to match",
        )


def ranges_to_text(amax: dict[str, float]) -> str:
    """Serialise per-tensor ranges as ``name:value`` lines (shortest exact float repr)."""
    return "".join(f"{name}:{float(value)!r}\n" for name, value in amax.items())


def parse_ranges(text: str, *, name: str = "<ranges>") -> dict[str, float]:
    """Parse a dynamic-range file.

    Raises:
        FormatError: a line without ``:``, a value that is not a positive finite number, or a
            tensor listed twice; the line number is given.
    """
    ranges: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        tensor, sep, value = line.rpartition(":")
        if not sep or not tensor:
            raise FormatError(name, f"line {number}: {line!r} is not '<tensor>:<value>'")
        try:
            amax = float(value)
        except ValueError:
            raise FormatError(name, f"line {number}: {value!r} is not a number") from None
        if not (math.isfinite(amax) and amax > 0):
            raise FormatError(name, f"line {number}: range {amax} of {tensor!r} is not positive")
        if tensor in ranges:
            raise FormatError(name, f"line {number}: tensor {tensor!r} listed twice")
        ranges[tensor] = amax
    if not ranges:
        raise FormatError(name, "no ranges")
    return ranges


def read_ranges(path: str | Path) -> dict[str, float]:
    """Read a dynamic-range file; see :func:`parse_ranges`."""
    return parse_ranges(Path(path).read_text(encoding="utf-8"), name=str(path))
