"""Real ``snakemake`` runs of the workflow on small configs: the shared tiny tree and helpers.

The tiny config (``tests/configs/tiny.yaml``) runs every CPU sample's whole chain once per test
session; the tests that only read its outputs or dry-run against it share that tree, and the
ones that change it work on a copy.
"""

import json
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
#: The jobs that score one precision of a sample, by the registry row's task (what each task is
#: measured by; the workflow's plan is not consulted). A row built by ``serve`` is not scored
#: from its own engine: it is served.
SCORED_BY = {
    "classify": ("score_hello", "score_accuracy"),
    "detect": ("score_detect", "score_draw"),
    "recommend": ("score_recommend",),
}


def tiny_rows(names=None) -> dict[str, dict]:
    """The tiny config's registry rows (``names`` of them, when given), by sample."""
    from workflow.samples import load_registry

    chosen = yaml.safe_load(Path(TINY).read_text())["samples"]
    rows = load_registry().samples
    return {name: rows[name] for name in chosen if names is None or name in names}


def downstream_of_graphs(rows: dict[str, dict], precisions) -> dict[str, int]:
    """What a change to the ``precisions`` graphs of the samples ``rows`` reruns: each one's
    engine and scores (or serving run) in those precisions, the comparison of the precisions of
    each sample that has more than one in the tiny config, and the results summary."""
    configured = yaml.safe_load(Path(TINY).read_text())["precisions"]
    jobs: dict[str, int] = {}

    def add(rule: str, count: int = 1) -> None:
        jobs[rule] = jobs.get(rule, 0) + count

    for row in rows.values():
        chosen = [p for p in row["precisions"] if p in configured and p in precisions]
        for _ in chosen:
            if row["builder"] == "serve":
                add("serve_recommender")
                continue
            add("engine_build_api" if row["builder"] == "api" else "engine_build")
            for rule in SCORED_BY[row["task"]]:
                add(rule)
        if chosen and sum(p in configured for p in row["precisions"]) > 1:
            add("score_precisions")
    return jobs | {"summary": 1, "all": 1}


def reduced_graphs(rows: dict[str, dict]) -> dict[str, int]:
    """The reduced-precision graphs of the samples ``rows`` (a sample served from another's
    graphs has none) and the calibration tables their INT8 graphs read."""
    built = [row for row in rows.values() if row["builder"] not in ("serve", "api")]
    jobs = {
        "precision_fp16": sum("fp16" in row["precisions"] for row in built),
        "precision_int8": sum("int8" in row["precisions"] for row in built),
    }
    return {rule: count for rule, count in jobs.items() if count} | {
        "calibrate_table": jobs["precision_int8"]
    }


def engines_of(rows: dict[str, dict]) -> dict[str, int]:
    """Every engine build of the samples ``rows`` in the tiny config's precisions."""
    return {
        rule: count
        for rule, count in downstream_of_graphs(rows, PRECISIONS).items()
        if rule.startswith("engine_build") or rule in ("summary", "all")
    }


#: What a change to INT8 alone reruns in the tiny tree: the INT8 graphs, engines, scores and
#: serving runs and the comparisons of precisions, derived from the registry rows.
INT8_ONLY = downstream_of_graphs(tiny_rows(), ["int8"]) | {
    "precision_int8": reduced_graphs(tiny_rows())["precision_int8"]
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


def run_tiny(folder: Path, *extra: str, targets=(), env: dict[str, str] | None = None) -> Path:
    """A fresh copy of the workflow in ``folder`` with the tiny config built in it (``targets``
    instead of rule ``all`` when given; ``env`` added to the environment)."""
    work = copy_workflow(folder)
    snakemake(work, *targets, "--cores", "2", "--configfile", TINY, *extra, env=env)
    return work


@pytest.fixture(scope="session")
def tree(tmp_path_factory) -> Path:
    """The tiny config built once for the session (read-only: copy it with :func:`clone`)."""
    return run_tiny(tmp_path_factory.mktemp("tiny") / "a")


#: What a user's environment might say; strict mode must not listen. The second run starts with
#: it (instruction sets lower than the machine's, TensorFlow's oneDNN and contraction kernel on).
PRESET = {
    "ATEN_CPU_CAPABILITY": "default",
    "DNNL_MAX_CPU_ISA": "SSE41",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_CBWR": "AUTO",
    "OPENBLAS_CORETYPE": "Sandybridge",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3",
    "TF_ENABLE_ONEDNN_OPTS": "1",
    "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "1",
}
#: The samples of the second run: the digit chains (PyTorch, Keras, network API) and the SSD.
RERUN_SAMPLES = ("mnist", "mnist_api", "mlp", "mnist_tf", "ssd")


@pytest.fixture(scope="session")
def rerun(tmp_path_factory) -> Path:
    """A second fresh run of the tiny config, of :data:`RERUN_SAMPLES` and the MNIST calibration
    table of every float tensor, started with :data:`PRESET` in its environment (read-only): the
    determinism test compares its bytes with the tree's, the golden test with recorded sums."""
    return run_tiny(
        tmp_path_factory.mktemp("tiny") / "b",
        "--config",
        f"samples=[{','.join(RERUN_SAMPLES)}]",
        targets=("all", "results/calibrate/mnist/calibration_all.table"),
        env=PRESET,
    )


#: The samples of the text run: the character model and the translator, with the digit
#: classifier (ONNX parser and network API) and the recommender (its engines end in TopK) beside
#: them, so that the engine verification meets every kind of engine input and output.
TEXT_SAMPLES = ("charrnn", "nmt", "mnist", "mnist_api", "movielens", "movielens_mps")


@pytest.fixture(scope="session")
def text_tree(tmp_path_factory) -> Path:
    """A fresh tiny run of :data:`TEXT_SAMPLES` (read-only), independent of :func:`tree`, so
    that the other worker builds it meanwhile: the text chain tests and the engine verification
    read it."""
    return run_tiny(
        tmp_path_factory.mktemp("text") / "clone", "--config", f"samples=[{','.join(TEXT_SAMPLES)}]"
    )


def check_summary(tree: Path, chosen: list[str], precisions) -> dict:
    """Check the run's results/summary.json against the samples' own files: a row per chosen
    sample and precision, in order; its metric (in points) the sample's score file's, its drop
    the precision comparison's, its plan size the engines' metadata's; every compute layer in
    the row's precision; every other registered sample listed as not built. Returns it."""
    from workflow.report.precisions import points
    from workflow.samples import TASK_SCORES, load_registry

    registry = load_registry(tree / "config/samples.yaml")
    summary = json.loads((tree / "results/summary.json").read_text())
    expected = [
        (name, p)
        for name in chosen
        for p in precisions
        if p in registry.samples[name]["precisions"]
    ]
    assert [(r["sample"], r["precision"]) for r in summary["rows"]] == expected
    for row in summary["rows"]:
        name, precision = row["sample"], row["precision"]
        sample = registry.samples[name]
        file, metrics = TASK_SCORES[sample["task"]]
        own = json.loads((tree / f"results/score/{name}/{precision}/{file}").read_text())
        assert row["value"] == pytest.approx(points(metrics[0], own[metrics[0]])), (name, precision)
        if len([p for p in precisions if p in sample["precisions"]]) > 1:  # compared
            compared = json.loads((tree / f"results/score/{name}/precisions.json").read_text())
            drop = compared["precisions"][precision][f"{metrics[0]}_drop_points"]
            assert row["drop"] == pytest.approx(drop, abs=1e-9), (name, precision)
        if sample["builder"] == "serve":
            assert row["plan_mb"] is None
            continue
        plans = registry.engines(name, precision)
        size = sum(
            json.loads((tree / f"{plan}.json").read_text())["plan"]["bytes"] for plan in plans
        )
        assert row["plan_mb"] == size / 1e6 and row["build_s"] > 0, (name, precision)
        if row["intended"] != 1.0:  # only what TensorRT-RTX 1.7.1 runs in FP32 layers: INT8
            off = [  # Q/DQ ConvTranspose nodes (PP-OCRv4's detector), as the reports say
                node
                for plan in plans
                for node in json.loads((tree / f"{plan[: -len('.plan')]}.layers.json").read_text())[
                    "compute"
                ]
                if node["precision"] != node["intended"]
            ]
            assert off and all(n["op"] == "ConvTranspose" for n in off), (name, precision, off)
            assert {n["precision"] for n in off} == {"fp32"}, (name, precision, off)
    assert {item["sample"] for item in summary["not_built"]} == set(registry.samples) - set(chosen)
    table = (tree / "results/summary.csv").read_text().splitlines()
    assert len(table) == len(expected) + 1 and table[0].startswith("sample,task,precision")
    return summary
