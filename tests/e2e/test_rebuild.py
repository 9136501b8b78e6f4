"""You change X, these jobs rerun: each row of the rebuild table in docs/reproducibility.md,
through real ``snakemake -n`` runs on the built tiny tree."""

import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, planned_jobs, snakemake
from tests.e2e.conftest import (
    INT8_ONLY,
    PRECISIONS,
    TINY,
    clone,
    downstream_of_graphs,
    dry_run,
    engines_of,
    reduced_graphs,
    tiny_rows,
)
from workflow.samples import check_config

pytestmark = pytest.mark.slow
DIGITS = tiny_rows(["mnist", "mnist_api", "mlp", "mnist_tf"])
SSD = tiny_rows(["ssd"])
RECOMMENDER = tiny_rows(["movielens", "movielens_mps"])
#: The tiny config's samples trained on digits: two built through ONNX (PyTorch, Keras), two
#: through the network API (LeNet from the PyTorch weights, the MLP); from their training on.
DOWNSTREAM_OF_TRAINING = downstream_of_graphs(DIGITS, PRECISIONS) | {
    "train_torch": 2,
    "train_keras": 1,
    "weights_torch": 2,
    "weights_tf": 1,
    "onnx_export": 1,
    "onnx_export_tf": 1,
    "onnx_layers": 2,
    **reduced_graphs(DIGITS),
}
#: The same for the PyTorch-trained samples only (mnist, its network-API twin, the MLP).
TORCH_DIGITS = tiny_rows(["mnist", "mnist_api", "mlp"])
DOWNSTREAM_OF_TORCH_TRAINING = downstream_of_graphs(TORCH_DIGITS, PRECISIONS) | {
    "train_torch": 2,
    "weights_torch": 2,
    "onnx_export": 1,
    "onnx_layers": 2,
    **reduced_graphs(TORCH_DIGITS),
}
#: Everything of the SSD sample after its data, and what reads its detections (not its engines).
SSD_FROM_TRAINING = downstream_of_graphs(SSD, PRECISIONS) | {
    "train_ssd": 1,
    "onnx_export_ssd": 1,
    **reduced_graphs(SSD),
}
SSD_SCORES = {
    rule: count
    for rule, count in downstream_of_graphs(SSD, PRECISIONS).items()
    if not rule.startswith("engine_build")
}
#: Everything of the recommender after its data, and its serving runs.
NCF_FROM_TRAINING = downstream_of_graphs(RECOMMENDER, PRECISIONS) | {
    "train_ncf": 1,
    "onnx_export_ncf": 1,
    **reduced_graphs(RECOMMENDER),
}
ENGINES_ONLY = engines_of(tiny_rows())
#: Samples with more than one precision in the tiny config: each has a comparison of them.
COMPARED = downstream_of_graphs(tiny_rows(), PRECISIONS)["score_precisions"]


@pytest.fixture
def library_copy(tree, tmp_path):
    """A clone of the tree with a private copy of the library, and its dry run."""
    work = clone(tree, tmp_path)
    shutil.copytree(ROOT / "workflow", work / "workflow")
    env = {"PYTHONPATH": str(work)}

    def plan():
        return planned_jobs(snakemake(work, "-n", "--configfile", TINY, env=env).stdout)

    return work, plan


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_unchanged_tree_reruns_nothing(tree):
    out = snakemake(tree, "-n", "--configfile", TINY)
    assert planned_jobs(out.stdout) == {}


def test_library_change_reruns_exactly_the_jobs_that_use_it(library_copy):
    work, plan = library_copy
    assert plan() == {}
    calibrate = work / "workflow/quant/calibrate.py"
    calibrate.write_text(calibrate.read_text() + "\n# a comment changes no code\n")
    assert plan() == {}
    _edit(calibrate, "ZERO_RANGE = 1e-8", "ZERO_RANGE = 1e-9")
    assert plan() == INT8_ONLY | {"calibrate_table": INT8_ONLY["precision_int8"]}
    _edit(calibrate, "ZERO_RANGE = 1e-9", "ZERO_RANGE = 1e-8")
    _edit(
        work / "workflow/report/precisions.py",
        'ylabel("score (points of 100)")',
        'ylabel("points")',
    )
    assert plan() == {"score_precisions": COMPARED, "summary": 1, "all": 1}  # both draw with it


def test_a_docstring_edit_reruns_nothing(library_copy):
    work, plan = library_copy
    for module in ("io.py", "errors.py", "data/mnist.py", "models/train.py"):
        path = work / "workflow" / module
        text = path.read_text()
        start = text.index('"""') + 3
        path.write_text(text[:start] + "Edited. " + text[start:])
    assert plan() == {}


def test_the_mnist_trainer_reruns_nothing_of_the_ssd_or_voc(library_copy):
    work, plan = library_copy
    _edit(work / "workflow/models/train.py", "log.info(", "log.warning(")
    assert plan() == DOWNSTREAM_OF_TORCH_TRAINING  # no SSD job, no Keras job


def test_the_tensorrt_backend_reruns_no_onnx_runtime_scoring(library_copy):
    work, plan = library_copy
    _edit(work / "workflow/trt/runner.py", "log.info(", "log.warning(")
    assert plan() == {}  # scoring runs ONNX Runtime here; engine builds do not run engines
    _edit(work / "workflow/trt/loader.py", "log.info(", "log.warning(")
    assert plan() == ENGINES_ONLY


def test_dataset_choice_reruns_everything_from_the_data(tree, tmp_path):
    files = {"images": tmp_path / "images.gz", "labels": tmp_path / "labels.gz"}
    for path in files.values():
        path.touch()  # a dry run plans from the files; it does not read them
    source = {"source": "idx", "idx": {key: str(path) for key, path in files.items()}}
    expected = DOWNSTREAM_OF_TRAINING | {"data_mnist": 1, "data_pgm": 1, "calibrate_batches": 2}
    assert dry_run(tree, {"data": {"mnist": source}}) == expected


def test_tensorrt_choice_rebuilds_the_engines_only(tree):
    assert dry_run(tree, {"tensorrt": {"module": "tensorrt_rtx"}}) == ENGINES_ONLY


def test_training_param_reruns_exactly_its_dependents(tree):
    assert dry_run(tree, {"train": {"classifier": {"epochs": 4}}}) == DOWNSTREAM_OF_TRAINING
    assert dry_run(tree, {"train": {"ssd": {"epochs": 2}}}) == SSD_FROM_TRAINING
    data = {"data_shapes": 1, "calibrate_batches_ppm": 1}
    shapes = {"data": {"detect": {"shapes": {"test": 17}}}}
    assert dry_run(tree, shapes) == SSD_FROM_TRAINING | data
    assert dry_run(tree, {"train": {"ncf": {"epochs": 2}}}) == NCF_FROM_TRAINING
    interactions = {"data_movielens": 1, "calibrate_batches_queries": 1}
    users = {"data": {"movielens": {"users": 151}}}
    assert dry_run(tree, users) == NCF_FROM_TRAINING | interactions


def test_top_k_cut_off_reruns_only_the_recommenders_engines_scores_and_serving(tree):
    expected = downstream_of_graphs(RECOMMENDER, PRECISIONS)
    assert dry_run(tree, {"score": {"recommend": {"k": 5}}}) == expected
    assert dry_run(tree, {"score": {"recommend": {"show_users": 2}}}) == {
        "score_recommend": NCF_FROM_TRAINING["score_recommend"],  # the printout comes with them
        "score_precisions": 1,
        "summary": 1,
        "all": 1,
    }


def test_detection_thresholds_rerun_only_what_reads_them(tree):
    host_nms = {"nms": {"confidence": 0.05}}
    assert dry_run(tree, host_nms) == SSD_SCORES
    visualize = {"score": {"detect": {"visualize": 0.3}}}
    assert dry_run(tree, visualize) == {"score_draw": SSD_SCORES["score_draw"], "all": 1}
    graph = {"nms": {"place": "graph"}}
    after_training = {k: v for k, v in SSD_FROM_TRAINING.items() if k != "train_ssd"}
    assert dry_run(tree, graph) == after_training


def test_digit_seed_reruns_only_the_hello_world(tree):
    digit = {"score": {"classify": {"digit_seed": 7}}}
    assert dry_run(tree, digit) == {"score_hello": DOWNSTREAM_OF_TRAINING["score_hello"], "all": 1}


def test_engine_param_reruns_engines_only(tree):
    assert dry_run(tree, {"engine": {"workspace_mib": 512}}) == ENGINES_ONLY


def _calibrated_by_algorithm() -> dict[str, dict]:
    """The tiny config's rows whose graphs take `calibration.algorithm`: not those of a sample
    (or served from one) with its own entry in `calibration.per_sample`."""
    config = yaml.safe_load(Path(TINY).read_text())
    own = check_config(config)["calibration"]["per_sample"]
    return {
        name: row
        for name, row in tiny_rows().items()
        if name not in own and row.get("weights", name) not in own
    }


def test_calibration_param_recalibrates_and_rebuilds_int8_only(tree):
    followers = _calibrated_by_algorithm()
    assert "movielens" not in followers and "mnist" in followers  # least_error by default
    graphs = reduced_graphs(followers)["precision_int8"]
    expected = downstream_of_graphs(followers, ["int8"]) | {
        "precision_int8": graphs,
        "calibrate_table": graphs,
    }
    assert dry_run(tree, {"calibration": {"algorithm": "minmax"}}) == expected
    onnx_digits = tiny_rows(["mnist", "mnist_tf"])  # the SSD has its own calibration images
    mnist_only = downstream_of_graphs(onnx_digits, ["int8"]) | {
        "calibrate_batches": 2,
        "calibrate_table": 2,
        "precision_int8": 2,
    }
    assert dry_run(tree, {"calibration": {"images": {"mnist": {"batches": 3}}}}) == mnist_only
    ssd_only = downstream_of_graphs(SSD, ["int8"]) | {
        "calibrate_batches_ppm": 1,
        "calibrate_table": 1,
        "precision_int8": 1,
    }
    assert dry_run(tree, {"calibration": {"images": {"detect": {"batches": 1}}}}) == ssd_only


def test_dropping_a_precision_reruns_only_the_comparison(tree):
    dropped = {"score_precisions": COMPARED, "summary": 1, "all": 1}
    assert dry_run(tree, {"precisions": ["fp32", "int8"]}) == dropped


def test_bad_config_stops_with_the_key_named(tree):
    out = snakemake(tree, "-n", "--configfile", TINY, "--config", "trian=1", check=False)
    message = "unknown key 'trian' in the top level; did you mean 'train'?"
    assert out.returncode != 0 and message in out.stdout + out.stderr
    out = snakemake(
        tree,
        "-n",
        "--configfile",
        TINY,
        "--config",
        "train={'classifier': {'epochs': 'x'}}",
        check=False,
    )
    assert out.returncode != 0 and "'x' is not of type 'integer'" in out.stdout + out.stderr


def test_reproducibility_mode_reruns_every_job_that_computes(tree):
    everything = planned_jobs(snakemake(tree, "-n", "--forceall", "--configfile", TINY).stdout)
    assert dry_run(tree, {"reproducible": "native"}) == everything
