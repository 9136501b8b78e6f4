"""Real ``snakemake`` runs of the workflow on small configs in temporary directories."""

import json
import time

import pytest
import yaml

from tests.conftest import ROOT, SHARED_DATA, copy_workflow, planned_jobs, snakemake
from workflow.io import sha256_file

pytestmark = pytest.mark.slow
TINY = str(ROOT / "tests" / "configs" / "tiny.yaml")
DOWNSTREAM_OF_TRAINING = {
    "train_torch": 1,
    "onnx_export": 1,
    "engine_build": 1,
    "score_hello": 1,
    "score_accuracy": 1,
    "all": 1,
}
ARTIFACTS = [
    "results/data/mnist/train-images.idx",
    "results/data/mnist/train-labels.idx",
    "results/data/mnist/test-images.idx",
    "results/data/mnist/test-labels.idx",
    *(f"results/data/mnist/pgm/{d}.pgm" for d in range(10)),
    "results/train/mnist/weights.pt",
    "results/onnx/mnist/model.onnx",
    "results/onnx/mnist/model.parity.json",
    "engines/mnist_fp32.plan",
    "engines/mnist_fp32.plan.json",
    "results/score/mnist/fp32/hello.txt",
    "results/score/mnist/fp32/accuracy.json",
]


def _overlay(folder, settings):
    """Config file with ``settings``, given after the base config (Snakemake's ``--config``
    turns nested numbers into strings, so nested overrides go through a file)."""
    path = folder / f"overlay-{abs(hash(repr(settings)))}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def _dry_run(tree, settings):
    return planned_jobs(
        snakemake(tree, "-n", "--configfile", TINY, _overlay(tree, settings)).stdout
    )


def _run_tiny(folder):
    work = copy_workflow(folder)
    snakemake(work, "--cores", "2", "--configfile", TINY)
    return work


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _run_tiny(tmp_path_factory.mktemp("run") / "a")


def test_builds_the_engine_with_tensorrt_rtx(tree):
    meta = json.loads((tree / "engines/mnist_fp32.plan.json").read_text())
    assert meta["tensorrt"]["module"] == "tensorrt_rtx"
    assert meta["target"]["kind"] == "ahead-of-time"
    assert meta["source"]["sha256"] == sha256_file(tree / "results/onnx/mnist/model.onnx")
    assert meta["plan"]["sha256"] == sha256_file(tree / "engines/mnist_fp32.plan")
    assert meta["build"]["profile"]["input"]["max"] == [64, 1, 28, 28]
    score = json.loads((tree / "results/score/mnist/fp32/accuracy.json").read_text())
    assert score["count"] == 359 and score["runtime"] == "ort" and score["top1"] > 0.9
    hello = (tree / "results/score/mnist/fp32/hello.txt").read_text()
    assert "Output probabilities:" in hello and "Prediction:" in hello
    assert "@" in hello  # the digit is drawn
    parity = json.loads((tree / "results/onnx/mnist/model.parity.json").read_text())
    assert parity["max_abs_diff"] <= parity["tolerance"]
    assert not list(tree.rglob(".tmp-*"))


def test_unchanged_tree_reruns_nothing(tree):
    out = snakemake(tree, "-n", "--configfile", TINY)
    assert planned_jobs(out.stdout) == {}


def test_training_param_reruns_exactly_its_dependents(tree):
    assert _dry_run(tree, {"train": {"epochs": 4}}) == DOWNSTREAM_OF_TRAINING


def test_digit_seed_reruns_only_the_hello_world(tree):
    assert _dry_run(tree, {"score": {"digit_seed": 7}}) == {"score_hello": 1, "all": 1}


def test_engine_param_reruns_engine_only(tree):
    assert _dry_run(tree, {"engine": {"workspace_mib": 512}}) == {"engine_build": 1, "all": 1}


def test_two_fresh_runs_give_identical_bytes(tree, tmp_path):
    other = _run_tiny(tmp_path / "b")
    differ = [a for a in ARTIFACTS if sha256_file(tree / a) != sha256_file(other / a)]
    assert differ == []


def test_bad_config_stops_with_the_key_named(tree):
    out = snakemake(tree, "-n", "--configfile", TINY, "--config", "trian=1", check=False)
    assert out.returncode != 0 and "'trian' was unexpected" in out.stdout + out.stderr
    out = snakemake(
        tree, "-n", "--configfile", TINY, "--config", "train={'epochs': 'x'}", check=False
    )
    assert out.returncode != 0 and "'x' is not of type 'integer'" in out.stdout + out.stderr


def test_trt_runtime_stops_clearly_without_gpu(tree):
    # runs last on the shared tree: the failed job removes the tree's accuracy.json
    out = snakemake(
        tree,
        "results/score/mnist/fp32/accuracy.json",  # before --configfile, which takes a list
        "--cores",
        "1",
        "--configfile",
        TINY,
        _overlay(tree, {"score": {"runtime": "trt"}}),
        check=False,
    )
    log = (tree / "logs/score/mnist.fp32.accuracy.log").read_text()
    assert out.returncode != 0
    assert "engine execution needs a CUDA GPU" in log and "score.runtime: ort" in log
    assert not (tree / "results/score/mnist/fp32/accuracy.json").exists()


def test_default_config_meets_the_accuracy_bar(tmp_path):
    work = copy_workflow(tmp_path / "default")
    start = time.perf_counter()
    snakemake(work, "--cores", "2")
    elapsed = time.perf_counter() - start
    score = json.loads((work / "results/score/mnist/fp32/accuracy.json").read_text())
    print(f"default run: {elapsed:.1f} s, top-1 {score['top1']:.4f}")
    assert score["top1"] >= 0.97
    assert "PASSED" in (work / "results/score/mnist/fp32/hello.txt").read_text()


def test_real_mnist_first_8000_train_last_2000_test(tmp_path):
    work = copy_workflow(tmp_path / "t10k")
    t10k = SHARED_DATA / "mnist-t10k"
    source = {
        "source": "idx",
        "idx": {
            "images": str(t10k / "t10k-images-idx3-ubyte.gz"),
            "labels": str(t10k / "t10k-labels-idx1-ubyte.gz"),
            "test_count": 2000,
        },
    }
    snakemake(
        work,
        "--cores",
        "2",
        "--configfile",
        "config/config.yaml",
        _overlay(work, {"mnist": source}),
    )
    score = json.loads((work / "results/score/mnist/fp32/accuracy.json").read_text())
    print(f"real MNIST t10k split: top-1 {score['top1']:.4f} over {score['count']}")
    assert score["count"] == 2000 and score["top1"] >= 0.97
