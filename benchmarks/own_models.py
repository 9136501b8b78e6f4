"""Pretrained models as your own models, by precision: the table of docs/byo.md.

Seven models through the ``byo`` chain from config entries alone
(tests/configs/byo/own_models.yaml), in a scratch copy of the workflow (--work):

- PaddleOCR's PP-OCRv4 text detector and recogniser and its text direction classifier, the
  files of the rapidocr-onnxruntime 1.4.4 wheel as shipped (opset 12, 12 and 11), fed pages
  and lines of rendered text (workflow.data.ocr);
- MTCNN's P-Net, R-Net and O-Net (facenet-pytorch 2.6.0's weights, workflow.models.mtcnn),
  fed generated images;
- the pipeline's LeNet trained for 2 epochs on the real MNIST test set's first 8,000 digits
  (the t10k config's split), exported at opset 11 by torch's TorchScript exporter (the
  older one), scored on the last 2,000.

For each model in FP32, FP16, INT8 and FP8 it asks for the graph, the engine built with
TensorRT-RTX ahead of time on CPU (its layer report), the agreement with FP32 on the
evaluation feeds and the divergence report (FP16 and INT8), keeping going past failures;
then reads back what was made and why the rest was not (workflow.report.own_models), writes
benchmarks/results/own_models.json and regenerates the table of docs/byo.md. No engine is
executed: agreement and divergence come from ONNX Runtime on the graphs the engines are built
from.

    .venv/bin/python benchmarks/own_models.py [--work /tmp/own-models] [--cores 2]
    .venv/bin/python benchmarks/own_models.py --docs-only   # the table from the committed JSON
"""

import argparse
import importlib.resources
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflow.report.agreement import json_ready  # noqa: E402
from workflow.report.own_models import collect_cell, render_table, replace_between  # noqa: E402

CONFIG = ROOT / "tests" / "configs" / "byo" / "own_models.yaml"
OUT = ROOT / "benchmarks" / "results" / "own_models.json"
DOC = ROOT / "docs" / "byo.md"
PRECISIONS = ("fp32", "fp16", "int8", "fp8")
#: Precisions the divergence rule compares.
DIVERGENCE = ("fp16", "int8")
#: rapidocr-onnxruntime 1.4.4's files, taken as shipped.
OCR_FILES = {
    "ppocr_det": "ch_PP-OCRv4_det_infer.onnx",
    "ppocr_rec": "ch_PP-OCRv4_rec_infer.onnx",
    "ppocr_cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}
#: The outputs whose last axis holds classes, where argmax agreement applies: the
#: recogniser's characters, the direction classifier's two classes, R-Net's and O-Net's face
#: probability, LeNet's digits (not the detector's map nor P-Net's, whose last axis is width).
ARGMAX = {
    "ppocr_rec": ["softmax_11.tmp_0"],
    "ppocr_cls": ["save_infer_model/scale_0.tmp_1"],
    "rnet": ["probability"],
    "onet": ["probability"],
    "mnist11": ["prob"],
}
#: Rendered text: pages for the detector, lines for the recogniser and the classifier.
PAGES = 8
LINES = 32
#: MTCNN feed shapes (rows, height, width), as tests/e2e/test_mtcnn.py uses.
MTCNN_FEEDS = {
    "pnet": {"calibration": [(4, 48, 64), (2, 96, 128), (4, 24, 36)], "evaluation": [(2, 64, 80)]},
    "rnet": {"calibration": [(32, 24, 24)] * 3, "evaluation": [(32, 24, 24)] * 2},
    "onet": {"calibration": [(32, 48, 48)] * 3, "evaluation": [(32, 48, 48)] * 2},
}
MNIST_PREP = {
    "samples": ["mnist"],
    "train": {"classifier": {"epochs": 2}},
    "data": {
        "mnist": {
            "source": "idx",
            "idx": {
                "images": str(ROOT.parent / "shared/data/mnist-t10k/t10k-images-idx3-ubyte.gz"),
                "labels": str(ROOT.parent / "shared/data/mnist-t10k/t10k-labels-idx1-ubyte.gz"),
            },
        }
    },
}


def snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    print(f"[{time.strftime('%H:%M:%S')}] snakemake {' '.join(args[:6])} ...", flush=True)
    return subprocess.run([str(exe), *args], cwd=work, capture_output=True, text=True)


def _save_images(folder: Path, images: list[np.ndarray]) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for k, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{k:03d}.png")


def prepare(work: Path, cores: int) -> None:
    """The workflow's copy in ``work`` and every model and feed the config names."""
    from tests.conftest import copy_workflow
    from workflow.data import ocr
    from workflow.models import mtcnn

    if not (work / "Snakefile").is_file():
        copy_workflow(work)
    own = work / "resources" / "own_models"
    own.mkdir(parents=True, exist_ok=True)
    shipped = Path(str(importlib.resources.files(ocr.OCR_PACKAGE))) / "models"
    for name in OCR_FILES.values():
        shutil.copy2(shipped / name, own / name)
    fonts = ocr.font_files()
    for seed, split in ((0, "calibration"), (1, "evaluation")):
        rng = np.random.default_rng(seed)
        pages = [
            ocr.render_page(rng, fonts, size=(256, 128), max_lines=4, font_size=(14, 22))[0]
            for _ in range(PAGES)
        ]
        _save_images(own / "pages" / split, pages)
        lines = [
            ocr.render_line(rng, fonts, max_chars=24, font_size=(18, 30))[0] for _ in range(LINES)
        ]
        _save_images(own / "lines" / split, lines)
    states = mtcnn.state_dicts_from_wheel(mtcnn.fetch_wheel(ROOT / "resources" / "mtcnn"))
    for index, name in enumerate(mtcnn.NETWORKS):
        if not (own / f"{name}.onnx").is_file():
            net = mtcnn.mtcnn_net(name, states[name])
            graph = mtcnn.onnx_from_mtcnn(net, name, opset=18, max_side=128)
            (own / f"{name}.onnx").write_bytes(graph)
        for offset, (split, shapes) in enumerate(MTCNN_FEEDS[name].items()):
            folder = own / name / split
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            feeds = mtcnn.mtcnn_feeds(name, shapes, seed=1000 * index + 500 * offset)
            for k, feed in enumerate(feeds):
                np.savez(folder / f"{k:02d}.npz", **feed)
    prepare_mnist(work, own, cores)


def prepare_mnist(work: Path, own: Path, cores: int) -> None:
    """The LeNet trained by the pipeline's mnist chain on the t10k split, exported at opset 11
    by torch's TorchScript exporter (the older one), and that split's IDX files."""
    import torch

    from workflow.models.checkpoint import load_state_dict
    from workflow.models.lenet import INPUT_NAME, OUTPUT_NAME, lenet, with_softmax

    config = work / "mnist_prep.yaml"
    config.write_text(yaml.safe_dump(MNIST_PREP))
    wanted = ["results/train/mnist/weights.pt", "results/data/mnist/test-labels.idx"]
    done = snakemake(work, *wanted, "--configfile", str(config), "--cores", str(cores))
    if done.returncode:
        raise SystemExit(f"the mnist chain failed:\n{done.stderr[-3000:]}")
    model = with_softmax(load_state_dict(lenet(), work / "results/train/mnist/weights.pt"))
    torch.onnx.export(
        model.eval(),
        (torch.zeros(1, 1, 28, 28),),
        str(own / "mnist_opset11.onnx"),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        opset_version=11,
        dynamo=False,
    )
    (own / "mnist").mkdir(exist_ok=True)
    for name in ("train-images", "train-labels", "test-images", "test-labels"):
        shutil.copy2(work / "results/data/mnist" / f"{name}.idx", own / "mnist" / f"{name}.idx")


def targets(models: list[str]) -> list[str]:
    """Every file the table reads, for each model and precision."""
    wanted = []
    for model in models:
        for precision in PRECISIONS:
            wanted.append(f"engines/{model}_{precision}.plan")
            if precision != "fp32":
                wanted.append(f"results/precision/{model}/{precision}.agreement.json")
            if precision in DIVERGENCE:
                wanted.append(f"results/precision/{model}/{precision}.divergence.json")
    return wanted


def run(work: Path, cores: int) -> float:
    """Ask for every target, keeping going past failures; the wall time in seconds."""
    models = yaml.safe_load(CONFIG.read_text())["samples"]
    start = time.perf_counter()
    done = snakemake(
        work,
        *targets(models),
        "--configfile",
        str(CONFIG),
        "--cores",
        str(cores),
        "--keep-going",
    )
    (work / "own_models.snakemake.log").write_text(done.stdout + done.stderr)
    return time.perf_counter() - start


def collect(work: Path, seconds: float | None) -> dict:
    """The JSON of the table: every cell, and what was run how."""
    import onnx

    settings = yaml.safe_load(CONFIG.read_text())
    models = settings["samples"]
    sources = {}
    for model in models:
        path = work / settings["byo"][model]["model"]
        graph = onnx.load(str(path), load_external_data=False)
        opset = next(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx"))
        sources[model] = {"file": path.name, "opset": opset, "nodes": len(graph.graph.node)}
    return {
        "config": str(CONFIG.relative_to(ROOT)),
        "precisions": list(PRECISIONS),
        "divergence_precisions": list(DIVERGENCE),
        "seconds": seconds,
        "models": sources,
        "argmax_outputs": ARGMAX,
        "cells": [
            collect_cell(work, model, p, argmax=ARGMAX.get(model, ()))
            for model in models
            for p in PRECISIONS
        ],
    }


def render(data: dict) -> None:
    DOC.write_text(replace_between(DOC.read_text(), render_table(data)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/own-models"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--docs-only", action="store_true", help="only the docs table, from the committed JSON"
    )
    parser.add_argument("--collect", action="store_true", help="read --work's files, run nothing")
    args = parser.parse_args()
    if not args.docs_only:
        seconds = None
        if not args.collect:
            prepare(args.work, args.cores)
            seconds = run(args.work, args.cores)
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(json_ready(collect(args.work, seconds)), indent=1) + "\n")
    render(json.loads(OUT.read_text()))


if __name__ == "__main__":
    main()
