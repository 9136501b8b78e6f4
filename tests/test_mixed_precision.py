"""benchmarks/mixed_precision.py: the table in docs/mixed-precision.md is the one the script
writes from the committed JSON, and the JSON's numbers hold together (the engine check's INT8
share is the map's; the layer map's counts add up)."""

import importlib.util
import json

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def script():
    path = ROOT / "benchmarks" / "mixed_precision.py"
    spec = importlib.util.spec_from_file_location("mixed_precision", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_table_is_what_the_script_writes_from_the_committed_json(script):
    data = json.loads(script.RESULTS.read_text())
    docs = script.DOCS.read_text(encoding="utf-8")
    assert docs.count(script.BEGIN) == 1 and docs.count(script.END) == 1
    begin = docs.index(script.BEGIN) + len(script.BEGIN) + 1
    assert docs[begin : docs.index(script.END)] == script.table(data)


def test_the_committed_numbers_hold_together(script):
    data = json.loads(script.RESULTS.read_text())
    assert [entry["graph"] for entry in data["graphs"]][0] == "ocr_rec"
    for entry in data["graphs"]:
        mixed, check = entry["mixed"], entry["check"]
        assert mixed["int8_nodes"] + len(mixed["fp32"]) == mixed["quantizable_nodes"]
        by_map = check["by_precision"]
        assert by_map["int8"]["nodes"] + by_map["fp32"]["nodes"] == check["nodes"]
        if check["agrees"]:
            assert check["int8_share"]["engine"] == check["int8_share"]["map"]
            assert (
                entry["engines"]["mixed"]["nodes_by_precision"].get("int8")
                == (by_map["int8"]["nodes"])
            )


def test_a_stale_table_is_replaced_and_the_text_around_it_kept(script):
    text = f"before\n{script.BEGIN}\n| old |\n{script.END}\nafter\n"
    assert script.with_table(text, "| new |\n") == (
        f"before\n{script.BEGIN}\n| new |\n{script.END}\nafter\n"
    )
    with pytest.raises(SystemExit, match="no table markers"):
        script.with_table("no markers here\n", "| new |\n")
