"""Your own model through the whole chain: a small third-party-style CNN (not LeNet, not from
workflow/models) with its own preprocessing (BGR, per-channel mean and std), exported to ONNX
with a static batch, handed to the pipeline as a config entry; engines and scores in all three
precisions, as for the pipeline's own samples."""

import json

import numpy as np
import pytest

from tests.conftest import copy_workflow, planned_jobs, snakemake
from tests.e2e.conftest import PRECISIONS, TINY, overlay

MEAN = [0.4, 0.45, 0.5]  # BGR, after scaling to [0, 1]
STD = [0.25, 0.25, 0.3]


def _write_folder(root, rng, counts):
    """Three classes of 24x24 colour images: red squares, green bars, blue crosses."""
    from PIL import Image

    for split, count in counts.items():
        for label, name in enumerate(("bar", "cross", "square")):
            (root / split / name).mkdir(parents=True)
            for k in range(count):
                image = rng.integers(0, 60, (24, 24, 3)).astype(np.uint8)
                x, y = (int(v) for v in rng.integers(2, 12, 2))
                colour = [(40, 200, 40), (40, 40, 220), (220, 40, 40)][label]
                if name == "bar":
                    image[y : y + 4, 2:22] = colour
                elif name == "cross":
                    image[y : y + 10, x + 4 : x + 6] = colour
                    image[y + 4 : y + 6, x : x + 10] = colour
                else:
                    image[y : y + 10, x : x + 10] = colour
                Image.fromarray(image).save(root / split / name / f"{k:03d}.png")


def _third_party_model(root, rng, path):
    """Train a small CNN on the folder's training images with its own preprocessing; export it
    with a static batch of 4."""
    import torch
    from torch import nn

    from workflow.data.byo import preprocess, read_labelled

    train, _, _ = read_labelled({"folder": str(root)})
    x = torch.from_numpy(
        preprocess(
            train,
            size=(24, 24),
            channels=3,
            layout="NCHW",
            scale=1 / 255,
            mean=MEAN,
            std=STD,
            order="BGR",
        )
    )
    y = torch.from_numpy(train.labels)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 3),
    )
    optimizer = torch.optim.Adam(net.parameters(), 0.01)
    for _ in range(60):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
    net.eval()
    torch.onnx.export(
        net, (x[:4],), str(path), input_names=["pixels"], output_names=["logits"], dynamo=True
    )


@pytest.mark.slow
def test_your_own_model_gets_engines_and_scores_in_three_precisions(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "shots"
    _write_folder(data, rng, {"train": 40, "test": 20})
    _third_party_model(data, rng, tmp_path / "theirs.onnx")
    work = copy_workflow(tmp_path / "byo")
    entry = {
        "model": str(tmp_path / "theirs.onnx"),
        "preprocess": {"scale": 1 / 255, "mean": MEAN, "std": STD, "order": "BGR"},
        "data": {"folder": str(data)},
        "calibration_images": 60,
    }
    config = [
        "--configfile",
        TINY,
        overlay(work, {"samples": ["theirs"], "byo": {"theirs": entry}}),
    ]
    plan = planned_jobs(snakemake(work, "-n", *config).stdout)
    assert plan["byo_import"] == 1 and plan["engine_build"] == 3 and plan["score_accuracy_byo"] == 3
    snakemake(work, "--cores", "2", *config)
    report = json.loads((work / "results/onnx/theirs/import.json").read_text())
    assert report["input"] == "pixels" and report["size"] == [24, 24] and report["classes"] == 3
    assert report["classes_named"] == ["bar", "cross", "square"]
    assert report["batch"].startswith(("made dynamic (was 4)", "static 4"))
    top1 = {}
    for precision in PRECISIONS:
        assert (work / f"engines/theirs_{precision}.plan").stat().st_size > 1000
        score = json.loads((work / f"results/score/theirs/{precision}/accuracy.json").read_text())
        assert score["count"] == 60
        top1[precision] = score["top1"]
    assert top1["fp32"] >= 0.9, top1
    assert abs(top1["int8"] - top1["fp32"]) <= 0.01 and abs(top1["fp16"] - top1["fp32"]) <= 0.01
    summary = json.loads((work / "results/score/theirs/precisions.json").read_text())
    assert set(summary["precisions"]) == set(PRECISIONS)
    layers = json.loads((work / "engines/theirs_int8.layers.json").read_text())
    assert layers["in_intended"] == layers["compute_count"] > 0


PROFILE = {"x": {2: [16, 32, 64], 3: [16, 32, 64]}}


def _any_model_entry(root):
    """A two-input, two-output model with an unnamed dynamic height and width (the model of
    tests/models/test_byo.py), its calibration and evaluation feeds as .npz files of several
    image sizes, and its config entry."""
    from tests.models.test_byo import two_input_model

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    (root / "det.onnx").write_bytes(two_input_model())
    sizes = {"cal": [(2, 16, 24), (3, 32, 32), (1, 24, 40), (2, 32, 16)], "eval": [(2, 24, 24)]}
    sizes["eval"] += [(1, 40, 32), (3, 16, 16)]
    for folder, shapes in sizes.items():
        (root / folder).mkdir()
        for k, (n, h, w) in enumerate(shapes):
            x = rng.uniform(0, 1, (n, 3, h, w)).astype(np.float32)
            np.savez(root / folder / f"{k:02d}.npz", x=x, s=np.array(1.5 + k, np.float32))
    return {
        "model": str(root / "det.onnx"),
        "data": {"calibration": str(root / "cal"), "evaluation": str(root / "eval")},
        "profile": PROFILE,
    }


def _any_model_config(tmp_path):
    work = copy_workflow(tmp_path / "work")
    entry = _any_model_entry(tmp_path / "mine")
    settings = {"samples": ["det"], "byo": {"det": entry}}
    return work, ["--configfile", TINY, overlay(work, settings)]


@pytest.mark.slow
def test_any_model_is_planned_from_a_config_entry(tmp_path):
    work, config = _any_model_config(tmp_path)
    plan = planned_jobs(snakemake(work, "-n", *config).stdout)
    assert plan["byo_import"] == 1 and plan["engine_build"] == 3
    assert plan["score_accuracy_byo"] == 3 and plan["precision_int8"] == 1


@pytest.mark.slow
def test_any_model_gets_graphs_engines_and_scores_without_a_task(tmp_path):
    work, config = _any_model_config(tmp_path)
    snakemake(work, "--cores", "2", *config)
    report = json.loads((work / "results/onnx/det/import.json").read_text())
    assert report["task"] == "none" and report["batched"] == ["x"]
    assert report["calibration"] == {"source": ".npz feeds", "rows": 8, "real": [2, 3, 1, 2]}
    for precision in PRECISIONS:
        assert (work / f"results/precision/det/{precision}.onnx").is_file() or precision == "fp32"
        meta = json.loads((work / f"engines/det_{precision}.plan.json").read_text())
        low, opt, high = (meta["build"]["profile"]["x"][k] for k in ("min", "opt", "max"))
        assert (low[2:], opt[2:], high[2:]) == ([16, 16], [32, 32], [64, 64])
        assert meta["build"]["profile"]["s"] == {"min": [], "opt": [], "max": []}
        score = json.loads((work / f"results/score/det/{precision}/accuracy.json").read_text())
        assert score["task"] == "none" and score["top1"] is None
        assert score["metric"].startswith("no task metric") and score["count"] == 6
        assert score["outputs"]["feat"]["shape"] == [6, 4]
        assert score["outputs"]["mask"]["finite"] == 1.0
    summary = json.loads((work / "results/score/det/precisions.json").read_text())
    assert summary["metrics"] == [] and summary["not_reported"] == ["top1", "top5"]
    assert (work / "results/summary.json").is_file()
