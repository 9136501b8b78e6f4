"""Real ``snakemake`` runs of the workflow on small configs in temporary directories."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.conftest import ROOT, SHARED_DATA, copy_workflow, planned_jobs, snakemake
from tests.detect.test_draw import boxes_found
from workflow.formats.pnm import read_pnm
from workflow.io import sha256_file

pytestmark = pytest.mark.slow
TINY = str(ROOT / "tests" / "configs" / "tiny.yaml")
#: The tiny config's samples: two built through ONNX (PyTorch, Keras) in three precisions, two
#: through the network API (LeNet from the PyTorch weights, the MLP) in FP32.
DOWNSTREAM_OF_TRAINING = {
    "train_torch": 2,
    "train_keras": 1,
    "weights_torch": 2,
    "weights_tf": 1,
    "onnx_export": 1,
    "onnx_export_tf": 1,
    "onnx_layers": 2,
    "calibrate_table": 2,
    "precision_fp16": 2,
    "precision_int8": 2,
    "engine_build": 6,
    "engine_build_api": 2,
    "score_hello": 8,
    "score_accuracy": 8,
    "score_precisions": 2,
    "all": 1,
}
INT8_ONLY = {
    "precision_int8": 3,
    "engine_build": 3,
    "score_hello": 2,
    "score_accuracy": 2,
    "score_detect": 1,
    "score_draw": 1,
    "score_precisions": 3,
    "all": 1,
}
#: Everything of the SSD sample after its data.
SSD_FROM_TRAINING = {
    "train_ssd": 1,
    "onnx_export_ssd": 1,
    "calibrate_table": 1,
    "precision_fp16": 1,
    "precision_int8": 1,
    "engine_build": 3,
    "score_detect": 3,
    "score_draw": 3,
    "score_precisions": 1,
    "all": 1,
}
SSD_SCORES = {"score_detect": 3, "score_draw": 3, "score_precisions": 1, "all": 1}
#: The real MNIST test set as an "idx" source: first 8,000 images train, last 2,000 test.
T10K_SOURCE = {
    "source": "idx",
    "idx": {
        "images": str(SHARED_DATA / "mnist-t10k" / "t10k-images-idx3-ubyte.gz"),
        "labels": str(SHARED_DATA / "mnist-t10k" / "t10k-labels-idx1-ubyte.gz"),
    },
}
ALGORITHMS = ("entropy", "minmax", "percentile")
PRECISIONS = ("fp32", "fp16", "int8")
#: Artifacts that may differ between two runs from the same inputs, and why (measured).
MAY_DIFFER = {
    **{
        f"engines/{sample}_int8.plan": "TensorRT-RTX 1.7.1 INT8 builds differ in 36 bytes at 12 "
        "places in the first 41 KB of the plan from build to build (same size); FP32 and FP16 "
        "plans do not"
        for sample in ("mnist", "mnist_tf")
    },
    **{
        f"engines/{s}_int8.plan.json": "records the sha256 of that plan"
        for s in ("mnist", "mnist_tf")
    },
    **{
        f"engines/ssd_{p}.plan": "TensorRT-RTX 1.7.1 builds of the SSD graph differ from build to "
        "build in every precision (measured: 3 distinct FP32 plans in 6 builds of one ONNX file, "
        "2 FP16 plans in 6; same size, 6,538 bytes apart in the first 717 KB); the MNIST FP32 "
        "and FP16 plans do not"
        for p in PRECISIONS
    },
    **{f"engines/ssd_{p}.plan.json": "records the sha256 of that plan" for p in PRECISIONS},
    "results/train/mnist_tf/model.keras": "Keras writes the save date and zip timestamps into the "
    "archive (the weights inside, the .wts dumped from them and the ONNX are identical)",
}
ONNX_SAMPLES = ("mnist", "mnist_tf")
API_SAMPLES = ("mnist_api", "mlp")
ARTIFACTS = [
    "results/data/mnist/train-images.idx",
    "results/data/mnist/train-labels.idx",
    "results/data/mnist/test-images.idx",
    "results/data/mnist/test-labels.idx",
    *(f"results/data/mnist/pgm/{d}.pgm" for d in range(10)),
    "results/train/mnist/weights.pt",
    "results/train/mlp/weights.pt",
    "results/train/mnist_tf/model.keras",
    *(
        f"results/weights/{s}/weights.{x}"
        for s in ("mnist", "mlp", "mnist_tf")
        for x in ("wts", "wts2")
    ),
    *(
        f"results/onnx/{s}/model.{x}"
        for s in ONNX_SAMPLES + API_SAMPLES
        for x in ("onnx", "parity.json")
    ),
    *(f"results/onnx/{s}/network.json" for s in API_SAMPLES),
    *(f"results/calibrate/{s}/batches/batch{i}" for s in ONNX_SAMPLES for i in range(4)),
    *(
        f"results/calibrate/{s}/{f}"
        for s in ONNX_SAMPLES
        for f in ("calibration.table", "dynamic_ranges.txt")
    ),
    *(f"results/precision/{s}/{p}.onnx" for s in ONNX_SAMPLES for p in ("fp16", "int8")),
    *(f"engines/{s}_{p}.plan{x}" for s in ONNX_SAMPLES for p in PRECISIONS for x in ("", ".json")),
    *(f"engines/{s}_fp32.plan{x}" for s in API_SAMPLES for x in ("", ".json")),
    *(
        f"results/score/{s}/{p}/{f}"
        for s in ONNX_SAMPLES
        for p in PRECISIONS
        for f in ("hello.txt", "accuracy.json")
    ),
    *(f"results/score/{s}/fp32/{f}" for s in API_SAMPLES for f in ("hello.txt", "accuracy.json")),
    *(f"results/score/{s}/precisions.{x}" for s in ONNX_SAMPLES for x in ("json", "png")),
    *(
        f"results/data/shapes/{split}/{i:06d}.{x}"
        for split in ("train", "test")
        for i in (0, 15)
        for x in ("ppm", "xml")
    ),
    "results/data/shapes/classes.txt",
    "results/train/ssd/weights.pt",
    *(f"results/onnx/ssd/model.{x}" for x in ("onnx", "parity.json")),
    *(f"results/calibrate/ssd/batches/batch{i}" for i in range(2)),
    *(f"results/calibrate/ssd/{f}" for f in ("calibration.table", "dynamic_ranges.txt")),
    *(f"results/precision/ssd/{p}.onnx" for p in ("fp16", "int8")),
    *(f"engines/ssd_{p}.plan{x}" for p in PRECISIONS for x in ("", ".json")),
    *(
        f"results/score/ssd/{p}/{f}"
        for p in PRECISIONS
        for f in (
            "map.json",
            "detections.npz",
            "drawn/000000.png",
            "drawn/000000.ppm",
            "drawn/drawn.json",
        )
    ),
    *(f"results/score/ssd/precisions.{x}" for x in ("json", "png")),
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


def _clone(tree, tmp_path):
    """A copy of a built tree (timestamps kept, so it is up to date) for tests that break it."""
    return Path(shutil.copytree(tree, tmp_path / "clone", symlinks=True))


def _build(tree, target, settings, *, check=True):
    """Build one target of the tiny config with ``settings`` on top."""
    args = [target, "--cores", "1", "--configfile", TINY, _overlay(tree, settings)]
    return snakemake(tree, *args, check=check)  # target first: --configfile takes a list


def _run_tiny(folder):
    work = copy_workflow(folder)
    snakemake(work, "--cores", "2", "--configfile", TINY)
    return work


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _run_tiny(tmp_path_factory.mktemp("run") / "a")


def test_builds_the_engines_with_tensorrt_rtx(tree):
    graphs = {
        "fp32": "results/onnx/mnist/model.onnx",
        "fp16": "results/precision/mnist/fp16.onnx",
        "int8": "results/precision/mnist/int8.onnx",
    }
    for precision, graph in graphs.items():
        meta = json.loads((tree / f"engines/mnist_{precision}.plan.json").read_text())
        assert meta["tensorrt"]["module"] == "tensorrt_rtx"
        assert meta["target"]["kind"] == "ahead-of-time"
        assert meta["source"] == {"path": graph, "sha256": sha256_file(tree / graph)}
        assert meta["plan"]["sha256"] == sha256_file(tree / f"engines/mnist_{precision}.plan")
        assert meta["build"]["profile"]["input"]["max"] == [64, 1, 28, 28]
    score = json.loads((tree / "results/score/mnist/fp32/accuracy.json").read_text())
    assert score["count"] == 359 and score["runtime"] == "ort" and score["top1"] > 0.9
    hello = (tree / "results/score/mnist/fp32/hello.txt").read_text()
    assert "Output probabilities:" in hello and "Prediction:" in hello
    assert "@" in hello  # the digit is drawn
    parity = json.loads((tree / "results/onnx/mnist/model.parity.json").read_text())
    assert parity["max_abs_diff"] <= parity["tolerance"]
    assert not list(tree.rglob(".tmp-*"))


def test_network_api_and_tensorflow_samples(tree):
    for sample in API_SAMPLES:
        meta = json.loads((tree / f"engines/{sample}_fp32.plan.json").read_text())
        wts = (
            "results/weights/mnist/weights.wts"
            if sample == "mnist_api"
            else "results/weights/mlp/weights.wts"
        )
        assert meta["source"] == {"path": wts, "sha256": sha256_file(tree / wts)}
        assert meta["reference_onnx"] == f"results/onnx/{sample}/model.onnx"
        parity = json.loads((tree / f"results/onnx/{sample}/model.parity.json").read_text())
        assert parity["max_abs_diff"] <= 1e-5  # the layer description computes the trained model
        layers = json.loads((tree / f"results/onnx/{sample}/network.json").read_text())
        assert layers[-1] == {"type": "SOFTMAX"}
    lenet = json.loads((tree / "results/score/mnist/fp32/accuracy.json").read_text())
    api = json.loads((tree / "results/score/mnist_api/fp32/accuracy.json").read_text())
    assert api["top1"] == lenet["top1"]  # same weights, same network
    tf_score = json.loads((tree / "results/score/mnist_tf/fp32/accuracy.json").read_text())
    assert tf_score["top1"] > 0.9
    assert (tree / "results/weights/mnist_tf/weights.wts").read_text().startswith("8\n")


def test_refit_target_stops_clearly_without_gpu(tree, tmp_path):
    tree = _clone(tree, tmp_path)
    out = _build(tree, "engines/mnist_refit.plan", {}, check=False)
    log = (tree / "logs/engine/mnist_refit.refit.log").read_text()
    assert out.returncode != 0
    assert "weights to refit were checked: conv1.bias, conv1.weight" in log
    assert not (tree / "engines/mnist_refit.plan").exists()


def test_library_change_reruns_exactly_the_jobs_that_use_it(tree, tmp_path):
    tree = _clone(tree, tmp_path)
    shutil.copytree(ROOT / "workflow", tree / "workflow")  # a private copy of the library
    env = {"PYTHONPATH": str(tree)}

    def dry_run():
        out = snakemake(tree, "-n", "--configfile", TINY, env=env)
        return planned_jobs(out.stdout)

    assert dry_run() == {}
    calibrate = tree / "workflow/quant/calibrate.py"
    calibrate.write_text(calibrate.read_text() + "\n# a comment changes no code\n")
    assert dry_run() == {}
    calibrate.write_text(calibrate.read_text().replace("ZERO_RANGE = 1e-8", "ZERO_RANGE = 1e-9"))
    assert dry_run() == INT8_ONLY | {"calibrate_table": 3}
    precisions = tree / "workflow/score/precisions.py"
    precisions.write_text(
        precisions.read_text().replace('ylabel("score (%)")', 'ylabel("percent")')
    )
    calibrate.write_text(calibrate.read_text().replace("ZERO_RANGE = 1e-9", "ZERO_RANGE = 1e-8"))
    assert dry_run() == {"score_precisions": 3, "all": 1}


def test_dataset_choice_reruns_everything_from_the_data(tree):
    source = T10K_SOURCE
    expected = DOWNSTREAM_OF_TRAINING | {"data_mnist": 1, "data_pgm": 1, "calibrate_batches": 2}
    assert _dry_run(tree, {"mnist": source}) == expected


def test_tensorrt_choice_rebuilds_the_engines_only(tree):
    expected = {"engine_build": 9, "engine_build_api": 2, "all": 1}
    assert _dry_run(tree, {"tensorrt": {"module": "tensorrt_rtx"}}) == expected


def test_training_killed_midway_leaves_nothing_and_reruns(tree, tmp_path):
    tree = _clone(tree, tmp_path)
    target = "results/train/mnist/weights.pt"
    (tree / target).unlink()
    long = _overlay(tree, {"train": {"epochs": 60}})
    args = [target, "--cores", "2", "--configfile", TINY, long]
    exe = Path(sys.executable).with_name("snakemake")
    job = subprocess.Popen(
        [str(exe), *args],
        cwd=tree,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = tree / "logs/train/mnist.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "epoch 2/60" not in (
        log.read_text() if log.exists() else ""
    ):
        time.sleep(0.2)
    assert "epoch 2/60" in log.read_text(), "training never started"
    os.killpg(job.pid, signal.SIGKILL)  # the whole job, as a lost node or an OOM kill would
    job.wait(timeout=30)
    assert not (tree / target).exists()
    snakemake(tree, "--unlock")  # a hard kill leaves Snakemake's lock behind
    snakemake(tree, *args)
    assert (tree / target).stat().st_size > 1_000_000
    assert "epoch 60/60" in log.read_text()
    assert not list((tree / "results/train").rglob(".tmp-*"))


def test_unchanged_tree_reruns_nothing(tree):
    out = snakemake(tree, "-n", "--configfile", TINY)
    assert planned_jobs(out.stdout) == {}


def test_training_param_reruns_exactly_its_dependents(tree):
    assert _dry_run(tree, {"train": {"epochs": 4}}) == DOWNSTREAM_OF_TRAINING
    assert _dry_run(tree, {"ssd": {"train": {"epochs": 2}}}) == SSD_FROM_TRAINING
    data = {"data_shapes": 1, "calibrate_batches_ppm": 1}
    assert _dry_run(tree, {"ssd": {"shapes": {"test": 17}}}) == SSD_FROM_TRAINING | data


def test_detection_thresholds_rerun_only_what_reads_them(tree):
    host_nms = {"ssd": {"nms": {"confidence": 0.05}}}
    assert _dry_run(tree, host_nms) == SSD_SCORES
    assert _dry_run(tree, {"ssd": {"score": {"visualize": 0.3}}}) == {"score_draw": 3, "all": 1}
    graph = {"ssd": {"nms": {"place": "graph"}}}
    after_training = {k: v for k, v in SSD_FROM_TRAINING.items() if k != "train_ssd"}
    assert _dry_run(tree, graph) == after_training


def test_ssd_sample_scores_and_draws_its_detections(tree):
    for precision in PRECISIONS:
        meta = json.loads((tree / f"engines/ssd_{precision}.plan.json").read_text())
        assert [o["name"] for o in meta["outputs"]] == ["boxes", "scores"]
        assert meta["build"]["profile"]["image"]["opt"] == [8, 3, 300, 300]
        score = json.loads((tree / f"results/score/ssd/{precision}/map.json").read_text())
        assert score["count"] == 16 and score["nms"] == "host" and 0 <= score["map"] <= 1
        assert set(score["per_class"]) == {"circle", "square", "triangle", "diamond", "cross"}
        assert score["library"]["difference"] < 0.005
        found = np.load(tree / f"results/score/ssd/{precision}/detections.npz")
        assert found["detections"].shape == (16, 100, 7) and found["keep_count"].shape == (16,)
        drawn_dir = tree / f"results/score/ssd/{precision}/drawn"
        drawn = json.loads((drawn_dir / "drawn.json").read_text())
        assert drawn.pop("threshold") == 0.5 and sorted(drawn) == ["000000", "000001", "000002"]
        for index, (name, boxes) in enumerate(sorted(drawn.items())):
            rows = found["detections"][index, : found["keep_count"][index]]
            wanted = rows[rows[:, 2] >= 0.5]
            assert [b["confidence"] for b in boxes] == pytest.approx(wanted[:, 2].tolist())
            assert [b["label"] for b in boxes] == wanted[:, 1].astype(int).tolist()
            png = np.asarray(Image.open(drawn_dir / f"{name}.png"))
            assert np.array_equal(png, read_pnm(drawn_dir / f"{name}.ppm"))
            boxes_found(png, boxes)
    parity = json.loads((tree / "results/onnx/ssd/model.parity.json").read_text())
    assert parity["graph_nms"] is False
    assert all(parity[o]["max_abs_diff"] <= parity[o]["tolerance"] for o in ("boxes", "scores"))
    summary = json.loads((tree / "results/score/ssd/precisions.json").read_text())
    assert summary["metrics"] == ["map"] and set(summary["precisions"]) == set(PRECISIONS)


def test_nms_in_the_graph_finds_what_host_nms_finds(tree, tmp_path):
    tree = _clone(tree, tmp_path)
    host = np.load(tree / "results/score/ssd/fp32/detections.npz")
    host_map = json.loads((tree / "results/score/ssd/fp32/map.json").read_text())
    settings = {"ssd": {"nms": {"place": "graph"}}}
    _build(tree, "results/score/ssd/fp32/map.json", settings)
    graph = np.load(tree / "results/score/ssd/fp32/detections.npz")
    np.testing.assert_array_equal(graph["detections"], host["detections"])
    np.testing.assert_array_equal(graph["keep_count"], host["keep_count"])
    graph_map = json.loads((tree / "results/score/ssd/fp32/map.json").read_text())
    assert graph_map["nms"] == "graph" and graph_map["map"] == host_map["map"]
    out = _build(tree, "engines/ssd_fp32.plan", settings, check=False)
    log = (tree / "logs/engine/ssd.fp32.log").read_text()
    assert out.returncode != 0
    assert "no kernel for NonMaxSuppression" in log and "ssd.nms.place: host" in log


def test_voc2007_without_network_says_where_to_put_the_archives(tree, tmp_path):
    tree = _clone(tree, tmp_path)
    voc = {"source": "voc2007", "voc2007": {"base_url": "http://127.0.0.1:9/", "dir": "voc"}}
    plan = _dry_run(tree, {"ssd": voc})
    assert plan["data_download_voc2007"] == 2 and plan["data_voc2007"] == 1
    assert plan["train_ssd"] == 1
    out = _build(tree, "voc/VOCtest_06-Nov-2007.tar", {"ssd": voc}, check=False)
    log = (tree / "logs/data/download_VOCtest_06-Nov-2007.tar.log").read_text()
    assert out.returncode != 0
    assert "place it at voc/VOCtest_06-Nov-2007.tar (md5 b6e924de25625d8de591ea690078ad9f)" in log


def test_a_bad_test_annotation_stops_scoring_with_the_file_named(tree, tmp_path):
    tree = _clone(tree, tmp_path)
    xml = tree / "results/data/shapes/test/000003.xml"
    xml.write_text(re.sub(r"<name>\w+</name>", "<name>hexagon</name>", xml.read_text(), count=1))
    target = "results/score/ssd/fp32/map.json"
    args = [target, "--forcerun", "score_detect", "--cores", "1", "--configfile", TINY]
    out = snakemake(tree, *args, check=False)
    log = (tree / "logs/score/ssd.fp32.map.log").read_text()
    assert out.returncode != 0
    assert "000003.xml" in log and "unknown class 'hexagon'" in log


def test_digit_seed_reruns_only_the_hello_world(tree):
    assert _dry_run(tree, {"score": {"digit_seed": 7}}) == {"score_hello": 8, "all": 1}


def test_engine_param_reruns_engines_only(tree):
    expected = {"engine_build": 9, "engine_build_api": 2, "all": 1}
    assert _dry_run(tree, {"engine": {"workspace_mib": 512}}) == expected


def test_calibration_param_recalibrates_and_rebuilds_int8_only(tree):
    expected = INT8_ONLY | {"calibrate_table": 3}
    assert _dry_run(tree, {"calibration": {"algorithm": "minmax"}}) == expected
    mnist_only = {  # the SSD has its own calibration images
        "calibrate_batches": 2,
        "calibrate_table": 2,
        "precision_int8": 2,
        "engine_build": 2,
        "score_hello": 2,
        "score_accuracy": 2,
        "score_precisions": 2,
        "all": 1,
    }
    assert _dry_run(tree, {"calibration": {"batches": 3}}) == mnist_only
    ssd_only = {
        "calibrate_batches_ppm": 1,
        "calibrate_table": 1,
        "precision_int8": 1,
        "engine_build": 1,
        "score_detect": 1,
        "score_draw": 1,
        "score_precisions": 1,
        "all": 1,
    }
    assert _dry_run(tree, {"ssd": {"calibration": {"batches": 1}}}) == ssd_only


def test_dropping_a_precision_reruns_only_the_comparison(tree):
    assert _dry_run(tree, {"precisions": ["fp32", "int8"]}) == {"score_precisions": 3, "all": 1}


def test_int8_from_a_user_range_file_skips_calibration(tree, tmp_path):
    tree = _clone(tree, tmp_path)
    ranges = tmp_path / "ranges.txt"
    ranges.write_text((tree / "results/calibrate/mnist/dynamic_ranges.txt").read_text())
    settings = {"calibration": {"source": "ranges", "ranges": str(ranges)}}
    assert _dry_run(tree, settings) == INT8_ONLY
    _build(tree, "engines/mnist_int8.plan", settings)
    assert json.loads((tree / "engines/mnist_int8.plan.json").read_text())["plan"]["bytes"] > 0
    ranges.write_text(ranges.read_text() + "no_such_tensor:1.0\n")
    out = _build(tree, "results/precision/mnist/int8.onnx", settings, check=False)
    log = (tree / "logs/precision/mnist.int8.log").read_text()
    assert out.returncode != 0 and "names tensors the graph lacks: no_such_tensor" in log
    assert not (tree / "results/precision/mnist/int8.onnx").exists()


def test_table_of_another_algorithm_is_refused(tree, tmp_path):
    tree = _clone(tree, tmp_path)
    table = tmp_path / "calibration.table"
    table.write_text((tree / "results/calibrate/mnist/calibration.table").read_text())
    settings = {"calibration": {"source": "table", "table": str(table), "algorithm": "minmax"}}
    out = _build(tree, "results/precision/mnist/int8.onnx", settings, check=False)
    log = (tree / "logs/precision/mnist.int8.log").read_text()
    assert out.returncode != 0
    assert "written by EntropyCalibration2, the config asks for MinMaxCalibration" in log


def test_two_fresh_runs_give_identical_bytes(tree, tmp_path):
    other = _run_tiny(tmp_path / "b")
    differ = [a for a in ARTIFACTS if sha256_file(tree / a) != sha256_file(other / a)]
    assert set(differ) <= set(MAY_DIFFER), differ
    for name in differ:
        assert (tree / name).stat().st_size == (other / name).stat().st_size


def test_second_checkout_takes_data_and_models_from_the_cache(tmp_path):
    env = {"SNAKEMAKE_OUTPUT_CACHE": str(tmp_path / "cache")}
    (tmp_path / "cache").mkdir()
    times, outputs = [], []
    for name in ("first", "second"):
        work = copy_workflow(tmp_path / name)
        start = time.perf_counter()
        out = snakemake(work, "--cache", "--cores", "2", "--configfile", TINY, env=env)
        times.append(time.perf_counter() - start)
        outputs.append(out.stdout + out.stderr)
    print(f"tiny run without cache {times[0]:.1f} s, second checkout with cache {times[1]:.1f} s")
    for artifact in (
        "results/train/mnist/weights.pt",
        "results/train/mlp/weights.pt",
        "results/train/mnist_tf/model.keras",
        "results/data/mnist/train-images.idx",
    ):
        assert f"Symlinking output file {artifact} from cache" in outputs[1]
        assert f"Moving output file {artifact} to cache" in outputs[0]
    second = tmp_path / "second"
    # nothing was trained there: Snakemake touches the log, the training never writes to it
    assert (second / "logs/train/mnist.log").read_text() == ""
    assert sha256_file(second / "results/train/mnist/weights.pt") == sha256_file(
        tmp_path / "first/results/train/mnist/weights.pt"
    )
    assert (second / "engines/mnist_fp32.plan").exists()


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]


def test_report_renders_with_its_sections(tree, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed here")
    snakemake(tree, "--configfile", TINY, "--report", str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text()
    assert "precisions.png" in html and "Precisions" in html  # the plots are embedded
    dom = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            (tmp_path / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    rendered = re.sub(r"<script.*?</script>", "", dom, flags=re.S)
    for section in ("Workflow", "Statistics", "Results"):  # drawn by the report's JavaScript
        assert section in rendered, section


def test_bad_config_stops_with_the_key_named(tree):
    out = snakemake(tree, "-n", "--configfile", TINY, "--config", "trian=1", check=False)
    assert out.returncode != 0 and "'trian' was unexpected" in out.stdout + out.stderr
    out = snakemake(
        tree, "-n", "--configfile", TINY, "--config", "train={'epochs': 'x'}", check=False
    )
    assert out.returncode != 0 and "'x' is not of type 'integer'" in out.stdout + out.stderr


def test_trt_runtime_stops_clearly_without_gpu(tree, tmp_path):
    tree = _clone(tree, tmp_path)
    settings = {"score": {"runtime": "trt"}}
    out = _build(tree, "results/score/mnist/fp32/accuracy.json", settings, check=False)
    log = (tree / "logs/score/mnist.fp32.accuracy.log").read_text()
    assert out.returncode != 0
    assert "engine execution needs a CUDA GPU" in log and "score.runtime: ort" in log
    assert not (tree / "results/score/mnist/fp32/accuracy.json").exists()


def _precision_bars(work, base_args, label, samples):
    """Run every calibrator on a built tree; check the INT8 and FP16 bars of each sample."""
    for algorithm in ALGORITHMS:
        overlay = _overlay(work, {"calibration": {"algorithm": algorithm}})
        snakemake(work, "--cores", "2", *base_args, overlay)
        for sample in samples:
            summary = json.loads((work / f"results/score/{sample}/precisions.json").read_text())
            top1 = {p: v["top1"] for p, v in summary["precisions"].items()}
            drops = {p: v["top1_drop_points"] for p, v in summary["precisions"].items()}
            print(f"{label} {sample} {algorithm}: top-1 {top1} drop (points) {drops}")
            assert drops["int8"] <= 1.0, (sample, algorithm, drops)
            assert drops["fp16"] <= 0.1, (sample, algorithm, drops)


def _ssd_bars(work):
    """The SSD's bars on the default generated scenes: FP32 mAP@0.5 >= 0.80, INT8 within 1
    point, FP16 within 0.2, and our mAP within 0.005 of pycocotools'."""
    summary = json.loads((work / "results/score/ssd/precisions.json").read_text())
    for precision in PRECISIONS:
        score = json.loads((work / f"results/score/ssd/{precision}/map.json").read_text())
        print(
            f"ssd {precision}: mAP@0.5 {score['map']:.4f} (11-point {score['map_11point']:.4f},"
            f" {score['library']['name']} {score['library']['map']:.4f}) over {score['count']}"
            f" scenes, drop {summary['precisions'][precision]['map_drop_points']:.3f} points"
        )
        assert score["count"] == 300 and score["library"]["difference"] < 0.005, score
    drops = {p: v["map_drop_points"] for p, v in summary["precisions"].items()}
    assert summary["precisions"]["fp32"]["map"] >= 0.80
    assert drops["int8"] <= 1.0 and drops["fp16"] <= 0.2, drops


def test_default_config_meets_the_accuracy_bars(tmp_path):
    work = copy_workflow(tmp_path / "default")
    start = time.perf_counter()
    out = snakemake(work, "engines/ssd_int8.plan", "--cores", "2")
    print(f"snakemake engines/ssd_int8.plan --cores 2: {time.perf_counter() - start:.1f} s")
    assert planned_jobs(out.stdout + out.stderr) == {
        "data_shapes": 1,
        "train_ssd": 1,
        "onnx_export_ssd": 1,
        "calibrate_batches_ppm": 1,
        "calibrate_table": 1,
        "precision_int8": 1,
        "engine_build": 1,
    }
    start = time.perf_counter()
    snakemake(work, "--cores", "2")
    elapsed = time.perf_counter() - start
    print(f"default run after it: {elapsed:.1f} s")
    _ssd_bars(work)
    for sample in ("mnist", "mnist_api", "mlp"):
        score = json.loads((work / f"results/score/{sample}/fp32/accuracy.json").read_text())
        print(f"digits {sample} fp32 top-1 {score['top1']:.4f}")
        assert score["top1"] >= 0.97, sample
    assert "PASSED" in (work / "results/score/mnist/fp32/hello.txt").read_text()
    with_tf = _overlay(work, {"samples": ["mnist", "mnist_api", "mlp", "mnist_tf"]})
    base = ["--configfile", "config/config.yaml", with_tf]
    snakemake(work, "--cores", "2", *base)
    keras = json.loads((work / "results/score/mnist_tf/fp32/accuracy.json").read_text())
    print(f"digits mnist_tf (Keras) fp32 top-1 {keras['top1']:.4f}")
    assert keras["top1"] >= 0.97
    _precision_bars(work, base, "digits", ["mnist", "mnist_tf"])


def test_real_mnist_first_8000_train_last_2000_test(tmp_path):
    work = copy_workflow(tmp_path / "t10k")
    source = T10K_SOURCE  # test_count 2000 by default
    base = ["--configfile", "config/config.yaml", _overlay(work, {"mnist": source})]
    snakemake(work, "--cores", "2", *base)
    score = json.loads((work / "results/score/mnist/fp32/accuracy.json").read_text())
    print(f"real MNIST t10k split: top-1 {score['top1']:.4f} over {score['count']}")
    assert score["count"] == 2000 and score["top1"] >= 0.97
    _precision_bars(work, base, "t10k", ["mnist"])
