"""The divergence and sensitivity reports of a built tree as one JSON and the table of
docs/reduced-precision.md: real reports of a lossy graph read back against numpy's INT8
arithmetic, the flagging rule, and the committed table being the one the committed JSON gives."""

import json

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT
from tests.score.test_divergence import feeds, lossy_graph, numpy_amax, numpy_forward
from workflow.quant.qdq import qdq_from_ranges
from workflow.report.agreement import json_ready
from workflow.report.precision_reports import (
    TABLE_END,
    TABLE_START,
    collect,
    flagged,
    int8_graphs,
    merge,
    render_table,
    replace_between,
)
from workflow.samples import load_registry
from workflow.score.divergence import divergence_of_graphs
from workflow.score.sensitivity import sensitivity_of_graph

MEASURED = ROOT / "benchmarks" / "results" / "precision_reports.json"
DOC = ROOT / "docs" / "reduced-precision.md"


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A tree holding mnist's reports (the lossy graph's), its FP32 and INT8 scores and the
    report jobs' benchmark files."""
    root = tmp_path_factory.mktemp("tree")
    fp32, weights = lossy_graph()
    batches = feeds()
    amax = numpy_amax(batches, weights)
    int8 = qdq_from_ranges(fp32, amax, source="test ranges")
    folder = root / "results" / "precision" / "mnist"
    folder.mkdir(parents=True)
    divergence = divergence_of_graphs(
        fp32, int8, iter(batches), precision="int8", max_batches=3, threshold_db=20.0
    )
    sensitivity = sensitivity_of_graph(fp32, amax, iter(batches), source="test", max_batches=3)
    (folder / "int8.divergence.json").write_text(json.dumps(json_ready(divergence)))
    (folder / "int8.sensitivity.json").write_text(json.dumps(json_ready(sensitivity)))
    for precision, top1 in (("fp32", 0.9861), ("int8", 0.979)):
        score = root / "results" / "score" / "mnist" / precision
        score.mkdir(parents=True)
        (score / "accuracy.json").write_text(json.dumps({"top1": top1, "top5": 1.0}))
    bench = root / "benchmarks" / "precision"
    bench.mkdir(parents=True)
    for report, seconds in (("divergence", 3.25), ("sensitivity", 41.5)):
        (bench / f"mnist.int8.{report}.tsv").write_text(f"s\th:m:s\n{seconds}\t0:00:03\n")
    quantized = [numpy_forward(x, weights, amax)["out"] for x in batches]
    reference = [numpy_forward(x, weights)["out"] for x in batches]
    # conv2 reads channels INT8 rounds to zero: numpy's INT8 output is all zero, hence an
    # output SNR of 0 dB (the noise is the signal) and a cosine of 0
    assert not any(np.any(q) for q in quantized) and all(np.any(r) for r in reference)
    return root


def test_only_graphs_built_in_int8_are_read_and_serving_samples_have_none(registry):
    assert int8_graphs(registry, ["mnist", "mnist_api", "faster_rcnn", "movielens_mps"]) == [
        ("mnist", "mnist"),
        ("faster_rcnn", "faster_rcnn_rpn"),
        ("faster_rcnn", "faster_rcnn_head"),
    ]


def test_a_trees_reports_read_back_against_numpy(tree, registry):
    root = tree
    measured = collect(root, registry, ["mnist", "mnist_api"])
    (entry,) = measured["graphs"]
    div, sens = entry["divergence"], entry["sensitivity"]
    assert [o["name"] for o in div["outputs"]] == ["out"]
    assert div["snr_db"] == pytest.approx(0.0, abs=1e-9)
    assert div["cosine"] == 0.0 and sens["int8"]["cosine"] == 0.0
    first = div["first_divergent"]
    assert (first["tensor"], first["op"], first["as"]) == ("y2", "Conv", "computed")
    assert sens["nodes"] == 3 and sens["worst"]["node"] == "conv2"
    assert sens["worst"]["all_but_snr_db"] > sens["int8"]["snr_db"]
    assert (div["seconds"], sens["seconds"]) == (3.25, 41.5)
    assert entry["metric"]["drop"] == pytest.approx(0.71)
    why = ["drop 0.71 points", "output cosine 0.0000"]
    assert measured["flagged"] == [{"sample": "mnist", "graph": "mnist", "why": why}]
    row = render_table(measured).splitlines()[2]
    assert row.startswith("| `mnist` | `mnist` | 98.61 → 97.90 (")
    assert "`y2` (Conv, computed; row" in row and "`conv2` (Conv; of 3)" in row
    assert row.endswith("| 3 / 42 |")


def test_a_graph_without_reports_is_listed_not_built(tree, registry):
    measured = collect(tree, registry, ["mnist_tf"])
    assert measured["graphs"] == [
        {
            "sample": "mnist_tf",
            "graph": "mnist_tf",
            "metric": None,
            "divergence": None,
            "sensitivity": None,
        }
    ]
    assert measured["flagged"] == []
    assert render_table(measured).splitlines()[2] == (
        "| `mnist_tf` | `mnist_tf` | - | not built | not built | not built | - |"
    )


def _entry(sample, drop, cosine):
    metric = None if drop is None else {"drop": drop}
    return {"sample": sample, "graph": sample, "metric": metric, "divergence": {"cosine": cosine}}


def test_a_drop_over_half_a_point_or_a_cosine_under_099_is_flagged():
    found = flagged(
        [
            _entry("kept", 0.5, 0.99),
            _entry("lossy", 0.51, 0.999),
            _entry("bent", -1.0, 0.9899),
            _entry("unscored", None, np.float64(0.995)),
        ]
    )
    assert found == [
        {"sample": "lossy", "graph": "lossy", "why": ["drop 0.51 points"]},
        {"sample": "bent", "graph": "bent", "why": ["output cosine 0.9899"]},
    ]


def test_one_samples_rows_from_another_tree_replace_only_theirs():
    order = [("a", "a"), ("b", "b_det"), ("b", "b_rec"), ("c", "c")]
    old = {"graphs": [_entry("a", 0.1, 0.999), _entry("b", 0.0, 0.999), _entry("c", 0.2, 0.999)]}
    old["graphs"][1]["graph"] = "b_old"  # a graph the sample no longer has
    new = [_entry("b", 0.7, 0.999), _entry("b", 0.0, 0.98)]
    new[0]["graph"], new[1]["graph"] = "b_rec", "b_det"
    merged = merge(old, {"graphs": new}, order)
    assert [(e["sample"], e["graph"]) for e in merged["graphs"]] == order
    assert merged["graphs"][0] is old["graphs"][0] and merged["graphs"][3] is old["graphs"][2]
    assert merged["flagged"] == [
        {"sample": "b", "graph": "b_det", "why": ["output cosine 0.9800"]},
        {"sample": "b", "graph": "b_rec", "why": ["drop 0.70 points"]},
    ]
    with pytest.raises(ValueError, match=r"\('d', 'd'\)"):
        merge(old, {"graphs": new}, [*order, ("d", "d")])


def test_a_stale_table_is_replaced_and_the_text_around_it_kept():
    text = f"before\n{TABLE_START}\n| old |\n{TABLE_END}\nafter\n"
    assert (
        replace_between(text, "| new |\n")
        == f"before\n{TABLE_START}\n| new |\n{TABLE_END}\nafter\n"
    )
    with pytest.raises(ValueError, match="markers"):
        replace_between("no markers here\n", "| new |\n")


def test_the_docs_table_is_what_the_committed_json_gives_for_every_int8_graph(registry):
    measured = json.loads(MEASURED.read_text(encoding="utf-8"))
    docs = DOC.read_text(encoding="utf-8")
    assert replace_between(docs, render_table(measured)) == docs
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    expected = int8_graphs(registry, config["samples"])
    assert [(e["sample"], e["graph"]) for e in measured["graphs"]] == expected
    assert len(expected) == 10
