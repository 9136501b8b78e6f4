"""Every complete config (the default and one per branch in tests/configs/) plans a valid DAG."""

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SHARED_DATA, copy_workflow, planned_jobs, snakemake
from workflow.samples import load_registry

CONFIGS = [ROOT / "config" / "config.yaml", *sorted((ROOT / "tests" / "configs").glob("*.yaml"))]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("configs") / "wf")


def test_there_is_a_config_per_branch():
    names = {path.stem for path in CONFIGS[1:]}
    assert {
        "tiny",
        "fp16_only",
        "int8_percentile",
        "gpu_host",
        "voc2007",
        "t10k",
        "movielens_1m",
    } <= names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.parent.name + "/" + p.stem)
def test_each_config_dry_runs(config, work):
    settings = yaml.safe_load(config.read_text())
    registry = load_registry(ROOT / "config" / "samples.yaml")
    registry.check_chosen(settings.get("samples", []))
    if "../shared/" in config.read_text():
        if not (SHARED_DATA / "mnist-t10k").is_dir():
            pytest.skip(f"{SHARED_DATA} is absent: {config.name} reads the shared MNIST test set")
        (work.parent / "shared").symlink_to(ROOT.parent / "shared", target_is_directory=True)
    out = snakemake(work, "-n", "--configfile", str(config))
    jobs = planned_jobs(out.stdout)
    expected = [
        t
        for s in settings["samples"]
        for t in registry.targets(s, settings.get("precisions", ["fp32", "fp16", "int8"]))
    ]
    assert jobs["all"] == 1 and len(expected) > 0
    for target in expected:
        assert target in out.stdout, (config.name, target)
