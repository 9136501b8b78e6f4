"""Every complete config (the default and one per branch in tests/configs/) plans a valid DAG."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SHARED_DATA, copy_workflow, planned_jobs, snakemake
from workflow.errors import PipelineError
from workflow.samples import check_config, load_registry

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


@pytest.mark.slow
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


def _engine_build_gpus(dry_run_output: str) -> set[int]:
    """The gpu resource of every engine_build job of a dry run's job list."""
    gpus = set()
    for block in dry_run_output.split("rule engine_build:")[1:]:
        resources = next(line for line in block.splitlines() if "resources:" in line)
        gpus.add(int(re.search(r"\bgpu=(\d+)", resources).group(1)))
    return gpus


@pytest.mark.parametrize(
    ("tensorrt", "gpus"),
    [({"module": "tensorrt"}, 1), ({"module": "auto"}, 0), ({"module": "tensorrt_rtx"}, 0)],
    ids=lambda value: value["module"] if isinstance(value, dict) else str(value),
)
@pytest.mark.slow
def test_engine_gpu_follows_the_config_not_the_submitting_host(tensorrt, gpus, work, tmp_path):
    # a submitting host "with" TensorRT: a stand-in package that is found, never imported
    fake = tmp_path / "host" / "tensorrt"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('the submitting host imported it')\n")
    with_tensorrt = {"PYTHONPATH": str(fake.parent)}
    probe = "import importlib.util; print(importlib.util.find_spec('tensorrt') is not None)"
    found = subprocess.run(
        [sys.executable, "-c", probe], env=dict(os.environ, **with_tensorrt), capture_output=True
    )
    assert found.stdout.strip() == b"True"
    extra = work / f"tensorrt_{tensorrt['module']}.yaml"
    extra.write_text(yaml.safe_dump({"tensorrt": tensorrt}))
    seen = {}
    for host, env in (("without", {}), ("with", with_tensorrt)):
        out = snakemake(
            work,
            "-n",
            "--forceall",
            "engines/mnist_fp32.plan",
            "--configfile",
            "config/config.yaml",
            extra.name,
            env=env,
        )
        seen[host] = _engine_build_gpus(out.stdout)
    assert seen == {"without": {gpus}, "with": {gpus}}


@pytest.mark.slow
def test_a_misspelt_key_is_one_short_message_naming_it(work):
    (work / "misspelt.yaml").write_text("train:\n  ncf:\n    epochz: 3\n")
    out = snakemake(work, "-n", "--configfile", "config/config.yaml", "misspelt.yaml", check=False)
    assert out.returncode != 0
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert len(lines) < 20, "\n".join(lines[:40])
    assert any(
        "unknown key 'epochz' in train.ncf; did you mean 'epochs'?" in line
        and "config/config.schema.yaml" in line
        for line in lines
    ), lines


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"samplez": ["mnist"]}, "unknown key 'samplez' in the top level; did you mean 'samples'?"),
        (
            {"precisions": ["int3"]},
            "precisions.0: 'int3' is not one of ['fp32', 'fp16', 'int8', 'fp8', 'int4w']",
        ),
        ({"train": {"ncf": {"epochs": "many"}}}, "train.ncf.epochs: 'many' is not of type"),
        (
            {"tensorrt": {"modul": "auto"}},
            "unknown key 'modul' in tensorrt; did you mean 'module'?",
        ),
    ],
)
def test_config_errors_name_the_key_path_and_the_problem(settings, problem):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text()) | settings
    with pytest.raises(PipelineError) as caught:
        check_config(config)
    assert problem in str(caught.value) and "config.schema.yaml" in str(caught.value)
    check_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))  # defaults pass
