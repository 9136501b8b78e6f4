"""Runs that must stop, or go another way, on a copy of the built tiny tree: missing GPU,
offline downloads, bad user files, interrupted jobs."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import snakemake
from tests.e2e.conftest import INT8_ONLY, TINY, build, clone, dry_run, overlay

pytestmark = pytest.mark.slow


def test_refit_target_stops_clearly_without_gpu(tree, tmp_path):
    work = clone(tree, tmp_path)
    out = build(work, "engines/mnist_refit.plan", {}, check=False)
    log = (work / "logs/engine/mnist_refit.refit.log").read_text()
    assert out.returncode != 0
    assert "weights to refit were checked: conv1.bias, conv1.weight" in log
    assert not (work / "engines/mnist_refit.plan").exists()
    # its reference graph (for verify_engines.py) was made before the GPU was needed
    assert (work / "results/onnx/mnist_refit/model.onnx").exists()


def test_trt_runtime_stops_clearly_without_gpu(tree, tmp_path):
    work = clone(tree, tmp_path)
    settings = {"score": {"runtime": "trt"}}
    out = build(work, "results/score/mnist/fp32/accuracy.json", settings, check=False)
    log = (work / "logs/score/mnist.fp32.accuracy.log").read_text()
    assert out.returncode != 0
    assert "engine execution needs a CUDA GPU" in log and "score.runtime: ort" in log
    assert not (work / "results/score/mnist/fp32/accuracy.json").exists()


@pytest.mark.extended
def test_nms_in_the_graph_finds_what_host_nms_finds(tree, tmp_path):
    work = clone(tree, tmp_path)
    host = np.load(work / "results/score/ssd/fp32/detections.npz")
    host_map = json.loads((work / "results/score/ssd/fp32/map.json").read_text())
    settings = {"nms": {"place": "graph"}}
    build(work, "results/score/ssd/fp32/map.json", settings)
    graph = np.load(work / "results/score/ssd/fp32/detections.npz")
    np.testing.assert_array_equal(graph["detections"], host["detections"])
    np.testing.assert_array_equal(graph["keep_count"], host["keep_count"])
    graph_map = json.loads((work / "results/score/ssd/fp32/map.json").read_text())
    assert graph_map["nms"] == "graph" and graph_map["map"] == host_map["map"]
    out = build(work, "engines/ssd_fp32.plan", settings, check=False)
    log = (work / "logs/engine/ssd.fp32.log").read_text()
    assert out.returncode != 0
    assert "no kernel for NonMaxSuppression" in log and "nms.place: host" in log


def test_voc2007_without_network_says_where_to_put_the_archives(tree, tmp_path):
    work = clone(tree, tmp_path)
    voc = {"source": "voc2007", "voc2007": {"base_url": "http://127.0.0.1:9/", "dir": "voc"}}
    plan = dry_run(work, {"data": {"detect": voc}})
    assert plan["data_download_voc2007"] == 2 and plan["data_voc2007"] == 1
    assert plan["train_ssd"] == 1
    out = build(work, "voc/VOCtest_06-Nov-2007.tar", {"data": {"detect": voc}}, check=False)
    log = (work / "logs/data/download_VOCtest_06-Nov-2007.tar.log").read_text()
    assert out.returncode != 0
    assert "place it at voc/VOCtest_06-Nov-2007.tar (md5 b6e924de25625d8de591ea690078ad9f)" in log


def test_a_bad_test_annotation_stops_scoring_with_the_file_named(tree, tmp_path):
    work = clone(tree, tmp_path)
    xml = work / "results/data/shapes/test/000003.xml"
    xml.write_text(re.sub(r"<name>\w+</name>", "<name>hexagon</name>", xml.read_text(), count=1))
    target = "results/score/ssd/fp32/map.json"
    args = [target, "--forcerun", "score_detect", "--cores", "1", "--configfile", TINY]
    out = snakemake(work, *args, check=False)
    log = (work / "logs/score/ssd.fp32.map.log").read_text()
    assert out.returncode != 0
    assert "000003.xml" in log and "unknown class 'hexagon'" in log


def test_int8_from_a_user_range_file_skips_calibration(tree, tmp_path):
    work = clone(tree, tmp_path)
    ranges = tmp_path / "ranges.txt"
    ranges.write_text((work / "results/calibrate/mnist/dynamic_ranges.txt").read_text())
    settings = {"calibration": {"source": "ranges", "ranges": str(ranges)}}
    assert dry_run(work, settings) == INT8_ONLY
    build(work, "engines/mnist_int8.plan", settings)
    assert json.loads((work / "engines/mnist_int8.plan.json").read_text())["plan"]["bytes"] > 0
    ranges.write_text(ranges.read_text() + "no_such_tensor:1.0\n")
    out = build(work, "results/precision/mnist/int8.onnx", settings, check=False)
    log = (work / "logs/precision/mnist.int8.log").read_text()
    assert out.returncode != 0 and "names tensors the graph lacks: no_such_tensor" in log
    assert not (work / "results/precision/mnist/int8.onnx").exists()


def test_table_of_another_algorithm_is_refused(tree, tmp_path):
    work = clone(tree, tmp_path)
    table = tmp_path / "calibration.table"
    table.write_text((work / "results/calibrate/mnist/calibration.table").read_text())
    settings = {"calibration": {"source": "table", "table": str(table), "algorithm": "minmax"}}
    out = build(work, "results/precision/mnist/int8.onnx", settings, check=False)
    log = (work / "logs/precision/mnist.int8.log").read_text()
    assert out.returncode != 0
    assert "written by EntropyCalibration2, the config asks for MinMaxCalibration" in log


@pytest.mark.extended
def test_training_killed_midway_leaves_nothing_and_reruns(tree, tmp_path):
    work = clone(tree, tmp_path)
    target = "results/train/mnist/weights.pt"
    (work / target).unlink()
    long = overlay(work, {"train": {"classifier": {"epochs": 12}}})
    args = [target, "--cores", "2", "--configfile", TINY, long]
    exe = Path(sys.executable).with_name("snakemake")
    job = subprocess.Popen(
        [str(exe), *args],
        cwd=work,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
    )
    log = work / "logs/train/mnist.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "epoch 2/12" not in (
        log.read_text() if log.exists() else ""
    ):
        time.sleep(0.2)
    assert "epoch 2/12" in log.read_text(), "training never started"
    os.killpg(job.pid, signal.SIGKILL)  # the whole job, as a lost node or an OOM kill would
    job.wait(timeout=30)
    assert not (work / target).exists()
    snakemake(work, "--unlock")  # a hard kill leaves Snakemake's lock behind
    snakemake(work, *args)
    assert (work / target).stat().st_size > 1_000_000
    assert "epoch 12/12" in log.read_text()
    assert not list((work / "results/train").rglob(".tmp-*"))
