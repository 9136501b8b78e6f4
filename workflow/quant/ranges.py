"""Where an INT8 graph's dynamic ranges come from: a CalibrationTable or a range file."""

from pathlib import Path

from workflow.errors import PipelineError
from workflow.quant.table import check_algorithm, read_ranges, read_table

SOURCES = ("calibrate", "table", "ranges")


def amax_from_file(path: str | Path, *, source: str, algorithm: str) -> dict[str, float]:
    """Per-tensor dynamic ranges for the INT8 graph.

    Args:
        path: the CalibrationTable (sources ``calibrate`` and ``table``) or the range file
            (source ``ranges``).
        source: ``calibrate`` (the pipeline's own table), ``table`` (a user's table) or
            ``ranges`` (a user's sampleINT8API range file, no calibration).
        algorithm: the configured calibration algorithm; a table written by another one is
            refused rather than silently reused.

    Raises:
        PipelineError: unknown source. FormatError: a malformed file or an algorithm mismatch.
    """
    if source == "ranges":
        return read_ranges(path)
    if source in ("calibrate", "table"):
        table = read_table(path)
        check_algorithm(table, algorithm, name=str(path))
        return {name: table.amax(name) for name in table.scales}
    raise PipelineError(f"calibration.source={source!r}", f"choose among {SOURCES}")
