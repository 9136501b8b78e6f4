"""Real ``snakemake`` runs of the workflow on small configs: the shared tiny tree and helpers.

The tiny config (``tests/configs/tiny.yaml``) runs every CPU sample's whole chain once per test
session; the tests that only read its outputs or dry-run against it share that tree, and the
ones that change it work on a copy.
"""

import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, copy_workflow, planned_jobs, snakemake

CONFIGS = ROOT / "tests" / "configs"
TINY = str(CONFIGS / "tiny.yaml")
PRECISIONS = ("fp32", "fp16", "int8")
ONNX_SAMPLES = ("mnist", "mnist_tf")
API_SAMPLES = ("mnist_api", "mlp")
#: What a change to INT8 alone reruns in the tiny tree: the INT8 graphs, engines and scores of
#: the four ONNX samples (two classifiers, the SSD, the recommender), the INT8 serving run and
#: their comparisons.
INT8_ONLY = {
    "precision_int8": 4,
    "engine_build": 4,
    "score_hello": 2,
    "score_accuracy": 2,
    "score_detect": 1,
    "score_draw": 1,
    "score_recommend": 1,
    "serve_recommender": 1,
    "score_precisions": 5,
    "all": 1,
}


def overlay(folder: Path, settings: dict) -> str:
    """Config file with ``settings``, given after the base config (Snakemake's ``--config``
    turns nested numbers into strings, so nested overrides go through a file)."""
    path = folder / f"overlay-{abs(hash(repr(settings)))}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def dry_run(tree: Path, settings: dict) -> dict[str, int]:
    """The jobs a dry run of the tiny config with ``settings`` on top plans, by rule."""
    return planned_jobs(snakemake(tree, "-n", "--configfile", TINY, overlay(tree, settings)).stdout)


def clone(tree: Path, tmp_path: Path) -> Path:
    """A copy of a built tree (timestamps kept, so it is up to date) for tests that change it."""
    return Path(shutil.copytree(tree, tmp_path / "clone", symlinks=True))


def build(tree: Path, target: str, settings: dict, *, check: bool = True):
    """Build one target of the tiny config with ``settings`` on top."""
    args = [target, "--cores", "1", "--configfile", TINY, overlay(tree, settings)]
    return snakemake(tree, *args, check=check)  # target first: --configfile takes a list


def run_tiny(folder: Path, *extra: str) -> Path:
    """A fresh copy of the workflow in ``folder`` with the tiny config built in it."""
    work = copy_workflow(folder)
    snakemake(work, "--cores", "2", "--configfile", TINY, *extra)
    return work


@pytest.fixture(scope="session")
def tree(tmp_path_factory) -> Path:
    """The tiny config built once for the session (read-only: copy it with :func:`clone`)."""
    return run_tiny(tmp_path_factory.mktemp("tiny") / "a")
