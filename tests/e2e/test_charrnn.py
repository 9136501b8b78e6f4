"""The charrnn sample's tiny chain (in the session's text tree): CPython's help text -> Keras
training -> dumpTFWts .wts2 -> the network described once: ONNX graph checked against Keras
(logits and greedy generation), FP32 and FP16 engines built with the network API (loops) ->
scores and generated text per precision."""

import json

import pytest

from tests.conftest import copy_workflow, planned_jobs, snakemake
from tests.e2e.conftest import TINY
from workflow.samples import load_registry

pytestmark = pytest.mark.slow


def test_charrnn_chain_from_text_to_loop_engines_and_generated_text(text_tree):
    work = text_tree
    registry = load_registry(work / "config/samples.yaml")
    for target in registry.targets("charrnn", ["fp32", "fp16", "int8"]):
        assert (work / target).exists(), target
    parity = json.loads((work / "results/onnx/charrnn/model.parity.json").read_text())
    assert parity["max_abs_diff"] <= parity["tolerance"] and parity["count"] == 32 * 100
    assert parity["gate_order"] == {"keras": "ifco", "onnx_and_tensorrt": "iofc"}
    assert parity["generation"]["identical"] and len(parity["generation"]["graph"]) == 40
    for precision in ("fp32", "fp16"):
        meta = json.loads((work / f"engines/charrnn_{precision}.plan.json").read_text())
        assert meta["source"]["path"] == "results/weights/charrnn/weights.wts2"
        assert meta["build"]["profile"]["tokens"]["max"] == [64, 512]
        layers = json.loads((work / f"engines/charrnn_{precision}.layers.json").read_text())
        assert layers["network"]["layer_counts"]["RECURRENCE"] == 4  # h and c of two layers
        assert list(layers["gemm_precisions"]) == [precision] and layers["loop_jumps"] > 0
        score = json.loads((work / f"results/score/charrnn/{precision}/text.json").read_text())
        assert score["count"] > 40_000 and 0 < score["accuracy"] < 1 and score["perplexity"] > 1
        generated = (work / f"results/score/charrnn/{precision}/generated.txt").read_text()
        assert generated.startswith("The ") and len(generated) == len("The ") + 40 + 1
    fp32 = (work / "results/score/charrnn/fp32/generated.txt").read_text()
    assert fp32 == "The " + parity["generation"]["keras"] + "\n"  # the graph generates Keras' text
    fp16 = json.loads((work / "results/score/charrnn/fp16/text.json").read_text())
    assert fp16["runner"].startswith("numpy float16")
    summary = json.loads((work / "results/score/charrnn/precisions.json").read_text())
    assert sorted(summary["precisions"]) == ["fp16", "fp32"]


def test_your_text_file_becomes_the_corpus(tmp_path):
    work = copy_workflow(tmp_path / "text")
    mine = tmp_path / "mine.txt"
    mine.write_text("to be or not to be, that is the question. " * 60)
    args = ["--configfile", TINY, "--config", "samples=[charrnn]"]
    snakemake(
        work,
        "results/data/text-file",
        "--cores",
        "1",
        *args,
        f"data={{'text': {{'source': 'file', 'file': '{mine}'}}}}",
    )
    assert json.loads((work / "results/data/text-file/vocab.json").read_text()) == sorted(
        set(mine.read_text())
    )
    out = snakemake(work, "-n", *args, "data={'text': {'source': 'file'}}", check=False)
    assert out.returncode != 0 and "data.text.file" in out.stdout + out.stderr
    plan = planned_jobs(snakemake(work, "-n", "engines/charrnn_fp16.plan", *args).stdout)
    assert plan["engine_build_charrnn"] == 1 and plan["train_charrnn"] == 1
