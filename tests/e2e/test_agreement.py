"""The precision agreement rule: planned on request (never by rule all) from the graphs and
calibration batches of the tiny config, and run by ``snakemake`` on a tiny graph pair placed
where the pipeline puts its graphs (only that rule allowed, so the graphs stand as they are)
with your own evaluation feeds (``agreement.feeds``) and metric file (``agreement.metric``)."""

import json

import numpy as np
import pytest

from tests.conftest import copy_workflow, planned_jobs, snakemake, tiny_classifier_bytes
from tests.e2e.conftest import TINY
from workflow.quant.batches import batch_bytes, write_batch_folder
from workflow.samples import load_registry


@pytest.mark.slow
def test_agreement_is_planned_on_request_only(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    targets = [f"results/precision/mnist/{p}.agreement.json" for p in ("fp16", "int8")]
    jobs = planned_jobs(snakemake(work, "-n", *targets, "--configfile", TINY).stdout)
    assert jobs["precision_agreement"] == 2
    assert jobs["precision_fp16"] == 1 and jobs["precision_int8"] == 1
    assert jobs["calibrate_batches"] == 1  # the feeds: the calibration batches
    registry = load_registry(work / "config/samples.yaml")
    made = [t for name in registry.samples for t in registry.targets(name, ["fp16", "int8"])]
    assert made and not [t for t in made if "agreement" in t]  # rule all never asks for it


@pytest.mark.slow  # about 30 s on two shared cores: snakemake's start and the job's imports
def test_rule_writes_the_report_of_a_graph_pair(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    (work / "results/onnx/mnist").mkdir(parents=True)
    (work / "results/precision/mnist").mkdir(parents=True)
    fp32, int8 = tiny_classifier_bytes(seed=0), tiny_classifier_bytes(seed=1)
    (work / "results/onnx/mnist/model.onnx").write_bytes(fp32)
    (work / "results/precision/mnist/int8.onnx").write_bytes(int8)
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(4, 1, 4, 4)).astype(np.float32) for _ in range(3)]
    write_batch_folder(work / "own/mnist", [batch_bytes(b) for b in images])  # your feeds
    target = "results/precision/mnist/int8.agreement.json"
    overlay = tmp_path / "agreement.yaml"
    (work / "own/metric.py").write_text(
        "import numpy as np\n\n\n"
        "def gap(inputs, outputs):\n"
        "    fp32, int8 = outputs['fp32']['prob'], outputs['int8']['prob']\n"
        "    return {'gap': float(np.max(np.abs(fp32 - int8)))}\n"
    )
    overlay.write_text(
        "agreement: {max_batches: 2, feeds: 'own/{model}', metric: 'own/metric.py:gap'}\n"
    )
    args = ["--cores", "1", "--allowed-rules", "precision_agreement"]
    snakemake(work, target, *args, "--configfile", TINY, str(overlay))
    report = json.loads((work / target).read_text())
    assert report["feeds"] == {"source": "evaluation", "folder": "own/mnist"}
    assert report["batches"] == 2
    assert report["samples"] == 8 and report["precision"] == "int8"
    (prob,) = report["outputs"]
    import onnxruntime as ort

    runs = [ort.InferenceSession(g, providers=["CPUExecutionProvider"]) for g in (fp32, int8)]
    ref, cand = (
        np.concatenate([s.run(None, {"input": b})[0] for b in images[:2]]).astype(np.float64)
        for s in runs
    )
    snr = 10 * np.log10(np.sum(ref**2) / np.sum((ref - cand) ** 2))
    assert prob["name"] == "prob" and abs(prob["snr_db"] - snr) < 1e-6
    assert prob["argmax_agreement"] == np.mean(ref.argmax(1) == cand.argmax(1))
    gaps = [np.max(np.abs(r - c)) for r, c in zip(np.split(ref, 2), np.split(cand, 2), strict=True)]
    assert abs(report["metric"]["gap"] - np.mean(gaps)) < 1e-6  # batches of 4 and 4
    assert (work / "results/precision/mnist/int8.agreement.png").read_bytes()[:4] == b"\x89PNG"
