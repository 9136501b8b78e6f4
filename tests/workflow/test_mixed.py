"""The mixed engine chain: planned on request only (never by rule all), from the tiny config's
FP32 graph and calibration to the sensitivity ranking, the mixed graph, its engine and the check
of its layer report against the map; no other precision's graph or engine."""

import pytest

from tests.conftest import copy_workflow, planned_jobs, snakemake
from tests.workflow.conftest import TINY
from workflow.samples import load_registry


@pytest.mark.slow  # one dry run: snakemake's start
def test_the_mixed_engine_is_planned_on_request_with_its_chain_only(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    out = snakemake(work, "-n", "engines/mnist_mixed.map.json", "--configfile", TINY).stdout
    jobs = planned_jobs(out)
    mixed_chain = ("precision_sensitivity", "precision_mixed", "engine_build", "engine_check_mixed")
    assert {rule: jobs.get(rule) for rule in mixed_chain} == dict.fromkeys(mixed_chain, 1)
    assert "engines/mnist_mixed.plan" in out and "results/precision/mnist/mixed.onnx" in out
    # what the mixed graph is made from, and nothing of the registry's precisions
    assert set(jobs) - set(mixed_chain) <= {"data_mnist", "train_torch", "onnx_export"} | {
        "calibrate_batches",
        "calibrate_table",
    }
    registry = load_registry(work / "config/samples.yaml")
    made = [t for name in registry.samples for t in registry.targets(name, ["fp32", "int8"])]
    assert made and not [t for t in made if "mixed" in t]  # rule all never asks for it
