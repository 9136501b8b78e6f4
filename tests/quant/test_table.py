import numpy as np
import pytest

from workflow.errors import FormatError
from workflow.quant.table import (
    check_algorithm,
    hex_to_scale,
    parse_ranges,
    parse_table,
    ranges_to_text,
    read_ranges,
    read_table,
    scale_to_hex,
    table_from_amax,
)

SEED_TABLE = """TRT-5100-EntropyCalibration2
data: 3c000889
conv1: 3c8954be
pool1: 3c8954be
conv2: 3dd33169
pool2: 3dd33169
ip1: 3daeff07
ip2: 3e7d50ec
prob: 3c010a14
"""


def test_reads_the_seed_table():
    table = parse_table(SEED_TABLE)
    assert (table.version, table.algorithm) == (5100, "EntropyCalibration2")
    assert list(table.scales) == ["data", "conv1", "pool1", "conv2", "pool2", "ip1", "ip2", "prob"]
    assert table.scales["data"] == pytest.approx(0.0078145, rel=1e-4)
    assert table.amax("data") == pytest.approx(0.99245, rel=1e-4)  # MNIST input in [0, 1]
    assert table.to_text() == SEED_TABLE


def test_names_with_spaces_and_colons(tmp_path):
    text = (
        "TRT-10000-MinMaxCalibration\n"
        "block 1: conv: out: 3f800000\n"
        "(Unnamed Layer* 3) [Shuffle]_output: 40000000\n"
    )
    path = tmp_path / "table"
    path.write_text(text)
    table = read_table(path)
    assert table.scales == {"block 1: conv: out": 1.0, "(Unnamed Layer* 3) [Shuffle]_output": 2.0}
    assert table.to_text() == text


def test_write_read_write_is_byte_identical():
    amax = {"input": 1.0, "conv 1:out": 2.3456789, "relu": 1e-3}
    text = table_from_amax(amax, version=10000, algorithm="entropy").to_text()
    assert text.startswith("TRT-10000-EntropyCalibration2\n")
    assert parse_table(text).to_text() == text
    ranges = ranges_to_text(amax)
    assert ranges_to_text(parse_ranges(ranges)) == ranges
    assert parse_ranges(ranges) == amax


def test_scale_bits():
    assert scale_to_hex(1.0) == "3f800000"
    assert hex_to_scale("3f800000") == 1.0
    assert np.float32(hex_to_scale(scale_to_hex(0.1))) == np.float32(0.1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: header ''"),
        ("TRT-abc-Entropy\n", "line 1: header"),
        ("TRT-5100-EntropyCalibration2\ndata 3c000889\n", "line 2: 'data 3c000889' is not"),
        (
            "TRT-5100-EntropyCalibration2\ndata: 3c0008\n",
            "line 2: value '3c0008' is not 8 hex digits",
        ),
        ("TRT-5100-EntropyCalibration2\ndata: 3c00088g\n", "line 2: value '3c00088g'"),
        ("TRT-5100-EntropyCalibration2\ndata: 7fc00000\n", "line 2: scale nan"),
        ("TRT-5100-EntropyCalibration2\ndata: bf800000\n", "line 2: scale -1.0"),
        (
            "TRT-5100-EntropyCalibration2\na: 3f800000\n\na: 3f800000\n",
            "line 4: tensor 'a' listed twice",
        ),
    ],
)
def test_garbled_tables_are_rejected(text, message):
    with pytest.raises(FormatError, match=message):
        parse_table(text, name="CalibrationTable")


def test_table_from_another_algorithm_is_refused():
    table = parse_table(SEED_TABLE)
    check_algorithm(table, "entropy", name="t")
    with pytest.raises(
        FormatError, match="written by EntropyCalibration2, the config asks for MinMaxCalibration"
    ):
        check_algorithm(table, "minmax", name="t")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data 1.0\n", "line 1: 'data 1.0' is not"),
        ("data:abc\n", "line 1: 'abc' is not a number"),
        ("data:-2\n", "range -2.0 of 'data' is not positive"),
        ("data:inf\n", "range inf"),
        ("a:1\na:2\n", "line 2: tensor 'a' listed twice"),
        ("\n\n", "no ranges"),
    ],
)
def test_garbled_range_files_are_rejected(text, message, tmp_path):
    path = tmp_path / "ranges.txt"
    path.write_text(text)
    with pytest.raises(FormatError, match=message):
        read_ranges(path)


def test_range_file_as_sample_int8_api_reads_it():
    assert parse_ranges("data:1.5\nconv1: 2\nscope:name:3.25\n") == {
        "data": 1.5,
        "conv1": 2.0,
        "scope:name": 3.25,
    }
