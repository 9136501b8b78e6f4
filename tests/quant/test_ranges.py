import pytest

from workflow.errors import FormatError, PipelineError
from workflow.quant.ranges import amax_from_file
from workflow.quant.table import ranges_to_text, table_from_amax

AMAX = {"input": 1.0, "relu": 7.5}


def test_each_source(tmp_path):
    table = tmp_path / "calibration.table"
    table.write_text(table_from_amax(AMAX, version=10000, algorithm="percentile").to_text())
    got = amax_from_file(table, source="table", algorithm="percentile")
    assert got == pytest.approx(AMAX, rel=1e-6)
    ranges = tmp_path / "ranges.txt"
    ranges.write_text(ranges_to_text(AMAX))
    assert amax_from_file(ranges, source="ranges", algorithm="entropy") == AMAX


def test_table_of_another_algorithm_is_not_reused(tmp_path):
    table = tmp_path / "calibration.table"
    table.write_text(table_from_amax(AMAX, version=10000, algorithm="minmax").to_text())
    with pytest.raises(
        FormatError, match="written by MinMaxCalibration, the config asks for EntropyCalibration2"
    ):
        amax_from_file(table, source="calibrate", algorithm="entropy")
    with pytest.raises(PipelineError, match="choose among"):
        amax_from_file(table, source="guess", algorithm="entropy")
