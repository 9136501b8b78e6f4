"""The accuracy bars on the default config and on the real MNIST test set.

These run the full default workflow (the detectors train for minutes), so they are not part of
the default test run: ``pytest -m accuracy`` runs them (the default config's test 28 min 11 s
on 2 cores, its calibrator runs after the default run included). CI runs the tiny config's
chains instead; the README records the numbers these tests print."""

import json
import time

import pytest
import yaml

from tests.conftest import copy_workflow, planned_jobs, snakemake
from tests.e2e.conftest import PRECISIONS, check_summary, overlay

pytestmark = [pytest.mark.slow, pytest.mark.accuracy]
ALGORITHMS = ("entropy", "minmax", "percentile")


def _precision_bars(work, base_args, label, samples):
    """Run every calibrator on a built tree; check the INT8 and FP16 bars of each sample."""
    for algorithm in ALGORITHMS:
        settings = overlay(work, {"calibration": {"algorithm": algorithm}})
        snakemake(work, "--cores", "2", *base_args, settings)
        for sample in samples:
            summary = json.loads((work / f"results/score/{sample}/precisions.json").read_text())
            top1 = {p: v["top1"] for p, v in summary["precisions"].items()}
            drops = {p: v["top1_drop_points"] for p, v in summary["precisions"].items()}
            print(f"{label} {sample} {algorithm}: top-1 {top1} drop (points) {drops}")
            assert drops["int8"] <= 1.0, (sample, algorithm, drops)
            assert drops["fp16"] <= 0.1, (sample, algorithm, drops)


def _detector_bars(work, sample="ssd"):
    """A detector's bars on the default generated scenes: FP32 mAP@0.5 >= 0.80, INT8 within 0.5
    points, FP16 within 0.2, and our mAP within 0.005 of pycocotools'."""
    summary = json.loads((work / f"results/score/{sample}/precisions.json").read_text())
    for precision in PRECISIONS:
        score = json.loads((work / f"results/score/{sample}/{precision}/map.json").read_text())
        print(
            f"{sample} {precision}: mAP@0.5 {score['map']:.4f}"
            f" (11-point {score['map_11point']:.4f},"
            f" {score['library']['name']} {score['library']['map']:.4f}) over {score['count']}"
            f" scenes, drop {summary['precisions'][precision]['map_drop_points']:.3f} points"
        )
        assert score["count"] == 300 and score["library"]["difference"] < 0.005, score
    drops = {p: v["map_drop_points"] for p, v in summary["precisions"].items()}
    assert summary["precisions"]["fp32"]["map"] >= 0.80
    assert drops["int8"] <= 0.5 and drops["fp16"] <= 0.2, drops


def _recommender_bars(work):
    """The recommender's bars on the generated interactions: NeuMF beats the popularity
    baseline, INT8 within 0.5 points of FP32 HR@10, FP16 within 0.2; every serving run gives the
    single-process answers."""
    summary = json.loads((work / "results/score/movielens/precisions.json").read_text())
    for precision, row in summary["precisions"].items():
        print(
            f"movielens {precision}: HR@10 {row['hr']:.4f} NDCG@10 {row['ndcg']:.4f}"
            f" drop {row['hr_drop_points']:.2f} points"
        )
        served = json.loads(
            (work / f"results/serve/movielens_mps/{precision}/serving.json").read_text()
        )
        for run in served["runs"]:
            print(f"  serving {run['processes']} processes: {run['queries_per_s']:.0f} queries/s")
            assert run["answers_equal_first_run"]
    fp32 = json.loads((work / "results/score/movielens/fp32/ranking.json").read_text())
    baseline = fp32["baseline"]["popularity"]
    print(f"popularity baseline: HR@10 {baseline['hr']:.4f} NDCG@10 {baseline['ndcg']:.4f}")
    assert fp32["hr"] > baseline["hr"] and fp32["ndcg"] > baseline["ndcg"]
    drops = {p: v["hr_drop_points"] for p, v in summary["precisions"].items()}
    assert drops["int8"] <= 0.5 and drops["fp16"] <= 0.2, drops


def _image_bars(work):
    """The image classifiers' bars on the generated classes: ResNet-50 FP32 top-1 >= 0.90, INT8
    within 0.5 points, FP16 within 0.1; GoogLeNet FP16 within 0.1; both profiled or not as
    their rows say."""
    for sample, precisions in (("resnet50", PRECISIONS), ("googlenet", ("fp32", "fp16"))):
        summary = json.loads((work / f"results/score/{sample}/precisions.json").read_text())
        for precision in precisions:
            row = summary["precisions"][precision]
            print(
                f"{sample} {precision}: top-1 {row['top1']:.4f} top-5 {row['top5']:.4f} over"
                f" {row['count']} images, drop {row['top1_drop_points']:.3f} points"
            )
        drops = {p: v["top1_drop_points"] for p, v in summary["precisions"].items()}
        assert round(drops["fp16"], 9) <= 0.1, (sample, drops)
    resnet = json.loads((work / "results/score/resnet50/precisions.json").read_text())
    assert resnet["precisions"]["fp32"]["top1"] >= 0.90
    assert round(resnet["precisions"]["int8"]["top1_drop_points"], 9) <= 0.5  # 3 of 600
    for precision in ("fp32", "fp16"):
        table = json.loads((work / f"results/profile/googlenet/{precision}.json").read_text())
        slowest = max(table["layers"], key=lambda layer: layer["ms"])
        print(
            f"googlenet {precision} profile: {table['total_ms']:.2f} ms per batch of"
            f" {table['batch_size']}, {len(table['layers'])} layers, slowest {slowest['name']}"
            f" ({slowest['type']}) {slowest['ms']:.3f} ms"
        )


def _charrnn_bars(work):
    """The character model's bars on the held-out help text: FP16 within 0.5 points of FP32
    next-character accuracy; the graph's 200 generated characters are Keras'."""
    summary = json.loads((work / "results/score/charrnn/precisions.json").read_text())
    for precision in ("fp32", "fp16"):
        score = json.loads((work / f"results/score/charrnn/{precision}/text.json").read_text())
        print(
            f"charrnn {precision}: accuracy {score['accuracy']:.4f} perplexity"
            f" {score['perplexity']:.4f} over {score['count']} characters ({score['runner']})"
        )
    parity = json.loads((work / "results/onnx/charrnn/model.parity.json").read_text())
    print(
        f"charrnn graph vs Keras: logits max abs {parity['max_abs_diff']:.3g}, generation"
        f" identical {parity['generation']['identical']}: {parity['generation']['graph']!r}"
    )
    assert summary["precisions"]["fp16"]["accuracy_drop_points"] <= 0.5
    assert parity["generation"]["identical"] and len(parity["generation"]["graph"]) == 200


def _nmt_bars(work):
    """The translator's bars on the held-out numbers: FP32 BLEU >= 90, FP16 within 0.5 BLEU,
    beam search at least as good as greedy; graphs vs TensorFlow greedy-identical."""
    scores = {}
    for precision in ("fp32", "fp16"):
        scores[precision] = json.loads(
            (work / f"results/score/nmt/{precision}/bleu.json").read_text()
        )
        score = scores[precision]
        print(
            f"nmt {precision}: BLEU {score['bleu']:.2f} (beam {score['beam']}), greedy"
            f" {score['greedy']['bleu']:.2f}, exact {score['exact']:.4f} over {score['count']}"
            f" sentences ({score['runner']})"
        )
        assert score["bleu"] >= score["greedy"]["bleu"]
    parity = json.loads((work / "results/onnx/nmt_decoder/model.parity.json").read_text())
    print(f"nmt graphs vs TensorFlow: {parity}")
    assert scores["fp32"]["bleu"] >= 90
    assert scores["fp32"]["bleu"] - scores["fp16"]["bleu"] <= 0.5
    assert parity["greedy_identical"]


def _ocr_bars(work):
    """PP-OCRv4's bars on the rendered text (pretrained weights): FP16 within 0.5 points of FP32
    in text lines found, characters read and lines read exactly; INT8 (least_error calibration)
    within 1 point in lines read exactly."""
    summary = json.loads((work / "results/score/ocr/precisions.json").read_text())
    for precision, row in summary["precisions"].items():
        print(
            f"ocr {precision}: lines found {row['recall']:.4f}, CER {1 - row['char_accuracy']:.4f},"
            f" lines read exactly {row['exact']:.4f} over {row['count']} lines"
        )
    fp16, int8 = summary["precisions"]["fp16"], summary["precisions"]["int8"]
    for metric in ("recall", "char_accuracy", "exact"):
        assert round(fp16[f"{metric}_drop_points"], 9) <= 0.5, (metric, fp16)
    assert round(int8["exact_drop_points"], 9) <= 1.0, int8


def test_default_config_meets_the_accuracy_bars(tmp_path):
    work = copy_workflow(tmp_path / "default")
    out = snakemake(work, "engines/ssd_int8.plan", "--cores", "2", "-n")
    assert planned_jobs(out.stdout + out.stderr) == {  # the example target's own chain
        "data_shapes": 1,
        "train_ssd": 1,
        "onnx_export_ssd": 1,
        "calibrate_batches_ppm": 1,
        "calibrate_table": 1,
        "precision_int8": 1,
        "engine_build": 1,
    }
    start = time.perf_counter()
    snakemake(work, "--cores", "2", timeout=2700)  # the README's first command
    seconds = time.perf_counter() - start
    print(f"default run (snakemake --cores 2): {seconds:.1f} s")
    assert seconds <= 30 * 60
    default = yaml.safe_load((work / "config/config.yaml").read_text())
    summary = check_summary(work, default["samples"], default["precisions"])
    print(
        f"summary: {len(summary['rows'])} rows,"
        f" {len(summary['seed_samples']['covered'])} seed samples covered"
    )
    _detector_bars(work, "ssd")
    _detector_bars(work, "yolov3")
    _detector_bars(work, "faster_rcnn")
    _recommender_bars(work)
    _image_bars(work)
    _charrnn_bars(work)
    _nmt_bars(work)
    _ocr_bars(work)
    for sample in ("mnist", "mnist_api", "mlp"):
        score = json.loads((work / f"results/score/{sample}/fp32/accuracy.json").read_text())
        print(f"digits {sample} fp32 top-1 {score['top1']:.4f}")
        assert score["top1"] >= 0.97, sample
    assert "PASSED" in (work / "results/score/mnist/fp32/hello.txt").read_text()
    frameworks = json.loads((work / "results/onnx/resnet50_keras/model.parity.json").read_text())
    keras_top1 = json.loads((work / "results/score/resnet50_keras/fp32/accuracy.json").read_text())
    print(
        f"resnet50 PyTorch vs Keras ONNX: max abs {frameworks['frameworks']['max_abs_diff']:.3g}"
        f" over {frameworks['frameworks']['count']} images; Keras FP32 top-1"
        f" {keras_top1['top1']:.4f}"
    )
    assert frameworks["frameworks"]["max_abs_diff"] <= 1e-4
    keras = json.loads((work / "results/score/mnist_tf/fp32/accuracy.json").read_text())
    print(f"digits mnist_tf (Keras) fp32 top-1 {keras['top1']:.4f}")
    assert keras["top1"] >= 0.97
    digits = overlay(work, {"samples": ["mnist", "mnist_api", "mlp", "mnist_tf"]})
    base = ["--configfile", "config/config.yaml", digits]
    _precision_bars(work, base, "digits", ["mnist", "mnist_tf"])


def test_real_mnist_first_8000_train_last_2000_test(tmp_path, t10k):
    work = copy_workflow(tmp_path / "t10k")
    source = {
        "source": "idx",
        "idx": {
            "images": str(t10k / "t10k-images-idx3-ubyte.gz"),
            "labels": str(t10k / "t10k-labels-idx1-ubyte.gz"),
        },
    }  # test_count 2000 by default
    settings = {"samples": ["mnist"], "data": {"mnist": source}}  # the default run has the rest
    base = ["--configfile", "config/config.yaml", overlay(work, settings)]
    snakemake(work, "--cores", "2", *base)
    score = json.loads((work / "results/score/mnist/fp32/accuracy.json").read_text())
    print(f"real MNIST t10k split: top-1 {score['top1']:.4f} over {score['count']}")
    assert score["count"] == 2000 and score["top1"] >= 0.97
    _precision_bars(work, base, "t10k", ["mnist"])
