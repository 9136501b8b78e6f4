"""Calibration on the real graphs and batch files of the tiny tree (MNIST's LeNet, the SSD).

The vectorised entropy search against the candidate-by-candidate reference (written from the
published descriptions) on every tensor's real histogram, and the INT8 graph's table (only the
activations it quantizes) against the full one (every float tensor, on request).
"""

import pytest

from tests.e2e.conftest import build, clone
from tests.quant.reference_entropy import entropy_amax_counts, first_holding
from workflow.quant.batches import iter_batches
from workflow.quant.calibrate import (
    MIN_KEPT,
    activation_stream,
    collect_amax,
    collect_histograms,
    entropy_amax,
)
from workflow.quant.qdq import quantized_activations
from workflow.quant.table import read_table

pytestmark = pytest.mark.slow
MODELS = ("mnist", "ssd")


@pytest.mark.parametrize("model", MODELS)
def test_search_matches_the_reference_on_every_real_tensor(tree, model):
    onnx = (tree / f"results/onnx/{model}/model.onnx").read_bytes()
    batches = tree / f"results/calibrate/{model}/batches"
    stream, names = activation_stream(onnx, lambda: iter_batches(batches), 1, None)
    amax = collect_amax(stream())
    hists = collect_histograms(stream(), amax, bins=2048)
    differing = {
        name: (
            entropy_amax(hists[name], amax[name]),
            entropy_amax_counts(hists[name], amax[name], first_holding(hists[name], MIN_KEPT)),
        )
        for name in names
    }
    differing = {name: pair for name, pair in differing.items() if pair[0] != pair[1]}
    assert len(names) > 8 and not differing, differing


def test_int8_graph_table_is_the_full_tables_quantized_rows(tree, tmp_path):
    work = clone(tree, tmp_path)
    for model in MODELS:
        build(work, f"results/calibrate/{model}/calibration_all.table", {})
        full = read_table(work / f"results/calibrate/{model}/calibration_all.table")
        table = read_table(work / f"results/calibrate/{model}/calibration.table")
        onnx = (work / f"results/onnx/{model}/model.onnx").read_bytes()
        assert list(table.scales) == quantized_activations(onnx)
        assert len(full.scales) > len(table.scales)
        assert table.scales == {name: full.scales[name] for name in table.scales}
