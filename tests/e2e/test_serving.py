"""The serving rule (movielens_mps) by serve.backend and serve.mps: what it reads, whether it
asks for a GPU, what it refuses, planned by real ``snakemake -n`` runs on the tiny config; and
the torch backend served for real on this CPU."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT, copy_workflow, planned_jobs, snakemake
from tests.e2e.conftest import TINY, build, overlay

pytestmark = pytest.mark.slow

SERVED = "results/serve/movielens_mps/{}/serving.json"


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A fresh copy of the workflow (nothing built)."""
    return copy_workflow(tmp_path_factory.mktemp("serving") / "w")


def _plan(work: Path, precision: str, settings: dict, *, check: bool = True):
    args = ["-n", SERVED.format(precision), "--configfile", TINY, overlay(work, settings)]
    return snakemake(work, *args, check=check)


def _serve_job(stdout: str) -> dict[str, str]:
    """The serve_recommender job's input and resources lines of a dry run."""
    block = stdout.split("rule serve_recommender:", 1)[1].split("\n\n", 1)[0]
    fields = dict(re.findall(r"^\s+(\w+): (.*)$", block, flags=re.M))
    fields["gpu"] = re.search(r"\bgpu=(\d+)", fields["resources"]).group(1)
    return fields


def test_the_default_backend_is_onnx_runtime_on_the_cpu(work):
    schema = yaml.safe_load((ROOT / "config/config.schema.yaml").read_text())
    serve = schema["properties"]["serve"]["properties"]
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())["serve"]
    assert serve["backend"]["default"] == config["backend"] == "ort"
    assert serve["mps"]["default"] == config["mps"] == "auto"
    out = _plan(work, "int8", {})
    job = _serve_job(out.stdout)
    assert job["input"] == "results/precision/movielens/int8.onnx, results/data/movielens-generated"
    assert job["gpu"] == "0"
    assert "engine_build" not in planned_jobs(out.stdout)


def test_trt_serves_the_engine_on_a_gpu(work):
    out = _plan(work, "fp16", {"serve": {"backend": "trt"}})
    job = _serve_job(out.stdout)
    plan = "engines/movielens_fp16.plan"
    assert job["input"] == f"{plan}, {plan}.json, results/data/movielens-generated"
    assert job["gpu"] == "1"
    assert planned_jobs(out.stdout)["engine_build"] == 1


def test_torch_serves_the_trained_weights_on_a_gpu(work):
    out = _plan(work, "fp32", {"serve": {"backend": "torch", "mps": True}})
    job = _serve_job(out.stdout)
    assert job["input"] == "results/train/movielens/weights.pt, results/data/movielens-generated"
    assert job["gpu"] == "1"
    assert planned_jobs(out.stdout) == {"data_movielens": 1, "train_ncf": 1, "serve_recommender": 1}


def test_settings_that_cannot_hold_stop_the_plan(work):
    out = _plan(work, "int8", {"serve": {"backend": "torch"}}, check=False)
    said = out.stdout + out.stderr
    assert out.returncode != 0
    assert "serve.backend=torch with precision int8" in said
    assert "set serve.backend to ort (ONNX Runtime) or trt" in said
    out = _plan(work, "fp32", {"serve": {"mps": True}}, check=False)
    assert out.returncode != 0
    assert "serve.mps: true with serve.backend: ort" in out.stdout + out.stderr
    out = _plan(work, "fp32", {"serve": {"backend": "tensorflow"}}, check=False)
    said = out.stdout + out.stderr
    assert out.returncode != 0 and "'tensorflow' is not one of ['ort', 'trt', 'torch']" in said


@pytest.mark.extended
def test_torch_backend_serves_for_real_and_agrees_with_onnx_runtime(work):
    """On this GPU-less machine: ort, then torch (mps auto: off here, the model on the CPU),
    then torch with mps true, which stops with nvidia-cuda-mps-control named."""
    target = SERVED.format("fp32")
    answers = work / "results/serve/movielens_mps/fp32/answers.npz"
    build(work, target, {})
    by_ort = np.load(answers)["answers"]
    report = json.loads((work / target).read_text())
    assert (report["backend"], report["mps"], report["device"]) == ("ort", False, "cpu")
    build(work, target, {"serve": {"backend": "torch"}})
    report = json.loads((work / target).read_text())
    assert report["backend"] == "torch" and report["precision"] == "fp32"
    assert report["mps"] is False and report["mps_setting"] == "auto"
    assert report["device"] == "cpu"
    assert [run["processes"] for run in report["runs"]] == [1, 2]
    assert all(run["answers_equal_first_run"] for run in report["runs"])
    by_torch = np.load(answers)["answers"]
    # the same trained model through PyTorch and through its exported graph in ONNX Runtime
    assert by_torch.shape == by_ort.shape == (400, 10)
    assert np.mean(np.all(by_torch == by_ort, axis=1)) >= 0.99
    out = build(work, target, {"serve": {"backend": "torch", "mps": True}}, check=False)
    assert out.returncode != 0
    log = (work / "logs/serve/movielens_mps.fp32.log").read_text()
    assert "nvidia-cuda-mps-control | not found on the PATH" in log
