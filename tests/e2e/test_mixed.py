"""The mixed engine chain: planned on request only (never by rule all), from the tiny config's
FP32 graph and the mixed calibrator's ranges to the sensitivity ranking, the mixed graph, its
engine and the check of its layer report against the map; no other precision's graph or engine.
With the INT8 graph's calibrator the INT8 ranges and ranking serve."""

import pytest

from tests.conftest import copy_workflow, planned_jobs, snakemake
from tests.e2e.conftest import TINY
from workflow.samples import load_registry


@pytest.mark.slow  # one dry run: snakemake's start
def test_the_mixed_engine_is_planned_on_request_with_its_chain_only(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    out = snakemake(work, "-n", "engines/mnist_mixed.map.json", "--configfile", TINY).stdout
    jobs = planned_jobs(out)
    # mixed.algorithm (least_error) is not the INT8 calibrator: its own ranges and ranking
    mixed_chain = (
        "calibrate_table_mixed",
        "precision_sensitivity_mixed",
        "precision_mixed",
        "engine_build",
        "engine_check_mixed",
    )
    assert {rule: jobs.get(rule) for rule in mixed_chain} == dict.fromkeys(mixed_chain, 1)
    assert "engines/mnist_mixed.plan" in out and "results/precision/mnist/mixed.onnx" in out
    assert "results/calibrate/mnist/calibration_mixed.table" in out
    # what the mixed graph is made from, and nothing of the registry's precisions
    assert set(jobs) - set(mixed_chain) <= {"data_mnist", "train_torch", "onnx_export"} | {
        "calibrate_batches"
    }
    registry = load_registry(work / "config/samples.yaml")
    made = [t for name in registry.samples for t in registry.targets(name, ["fp32", "int8"])]
    assert made and not [t for t in made if "mixed" in t]  # rule all never asks for it


@pytest.mark.slow  # one dry run: snakemake's start
def test_the_mixed_graph_reuses_the_int8_ranges_and_ranking_of_the_same_calibrator(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    out = snakemake(
        work,
        "-n",
        "engines/mnist_mixed.map.json",
        "--configfile",
        TINY,
        "--config",
        "mixed={algorithm: entropy}",
    ).stdout
    jobs = planned_jobs(out)
    assert jobs.get("calibrate_table") == 1 and jobs.get("precision_sensitivity") == 1
    assert "calibrate_table_mixed" not in jobs and "precision_sensitivity_mixed" not in jobs
    assert "results/precision/mnist/int8.sensitivity.json" in out
