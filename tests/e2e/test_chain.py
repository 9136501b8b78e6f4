"""What the tiny run built: every CPU sample's chain, read from the shared tree."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import snakemake
from tests.detect.test_draw import boxes_found
from tests.e2e.conftest import API_SAMPLES, ONNX_SAMPLES, PRECISIONS, TINY, check_summary
from tests.report.rendered import chromium, menu_labels, rendered_dom
from workflow.formats.pnm import read_pnm
from workflow.io import sha256_file
from workflow.samples import load_registry

pytestmark = pytest.mark.slow


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


@pytest.mark.parametrize("sample", ["mnist", "mnist_tf", "ssd", "movielens"])
def test_layer_reports_show_the_intended_precision(tree, sample):
    """Every Conv and Gemm of the graph runs in Int8 in the INT8 plan, in Half in the FP16
    plan and in Float in the FP32 plan (the builder's own DETAILED layer log)."""
    for precision in PRECISIONS:
        report = json.loads((tree / f"engines/{sample}_{precision}.layers.json").read_text())
        assert report["intended"] == precision and report["compute_count"] >= 2
        found = {item["precision"] for item in report["compute"]}
        assert found == {precision}, (sample, precision, report["compute"])
        assert report["in_intended"] == report["compute_count"]
        ops = {item["op"] for item in report["compute"]}
        expected = {
            "mnist": {"Conv", "Gemm"},
            "mnist_tf": {"Conv", "MatMul"},
            "ssd": {"Conv"},
            "movielens": {"MatMul"},  # the dynamo exporter writes nn.Linear on 3-D as MatMul
        }
        assert ops == expected[sample]  # tf2onnx writes the dense layers as MatMul + Add
        fused = [layer for layer in report["layers"] if len(layer["onnx_nodes"]) > 1]
        assert fused  # the report names the ONNX nodes fused into an engine layer


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
        assert layers[-1] == {"type": "SOFTMAX", "shape": [-1, 10]}
        report = json.loads((tree / f"engines/{sample}_fp32.layers.json").read_text())
        assert {layer["precision"] for layer in report["layers"]} <= {"fp32", None}
    lenet = json.loads((tree / "results/score/mnist/fp32/accuracy.json").read_text())
    api = json.loads((tree / "results/score/mnist_api/fp32/accuracy.json").read_text())
    assert api["top1"] == lenet["top1"]  # same weights, same network
    tf_score = json.loads((tree / "results/score/mnist_tf/fp32/accuracy.json").read_text())
    assert tf_score["top1"] > 0.9
    assert (tree / "results/weights/mnist_tf/weights.wts").read_text().startswith("8\n")


def test_every_registered_cpu_sample_has_its_targets(tree):
    """The tiny run built every target the registry lists for its samples."""
    registry = load_registry(tree / "config/samples.yaml")
    for sample in ("mnist", "mnist_api", "mlp", "mnist_tf", "ssd", "movielens", "movielens_mps"):
        for target in registry.targets(sample, list(PRECISIONS)):
            assert (tree / target).exists(), target


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


def test_recommender_engine_answers_with_its_top_k_and_is_scored(tree):
    """The engine's outputs are the TopK added with the network API; the scores are HR@10 and
    NDCG@10 of the 150 tiny users, with the popularity baseline and the printed lists."""
    for precision in PRECISIONS:
        meta = json.loads((tree / f"engines/movielens_{precision}.plan.json").read_text())
        assert meta["outputs"] == [
            {"name": "top_movies", "dtype": "int64", "shape": [-1, 10]},
            {"name": "top_scores", "dtype": "float", "shape": [-1, 10]},
        ]
        assert [i["name"] for i in meta["inputs"]] == ["user", "movies"]
        score = json.loads((tree / f"results/score/movielens/{precision}/ranking.json").read_text())
        assert score["count"] == 150 and score["k"] == 10 and 0 < score["ndcg"] <= score["hr"] <= 1
        assert 0 < score["baseline"]["popularity"]["hr"] <= 1
        shown = (tree / f"results/score/movielens/{precision}/recommendations.txt").read_text()
        assert shown.count("user ") == 5 and shown.count(" p=") == 50
    summary = json.loads((tree / "results/score/movielens/precisions.json").read_text())
    assert summary["metrics"] == ["hr", "ndcg"] and set(summary["precisions"]) == set(PRECISIONS)
    parity = json.loads((tree / "results/onnx/movielens/model.parity.json").read_text())
    assert parity["count"] == 150 and parity["max_abs_diff"] <= parity["tolerance"]
    table = (tree / "results/calibrate/movielens/calibration.table").read_text().splitlines()
    assert len(table) == 3  # the header, then the inputs of the two MatMul layers
    batches = sorted((tree / "results/calibrate/movielens/batches").glob("batch*"))
    assert [b.name for b in batches] == ["batch0.npz", "batch1.npz"]


def test_serving_from_two_processes_gives_the_single_process_answers(tree):
    for precision in PRECISIONS:
        served = tree / f"results/serve/movielens_mps/{precision}"
        report = json.loads((served / "serving.json").read_text())
        assert [run["processes"] for run in report["runs"]] == [1, 2]
        assert all(r["answers_equal_first_run"] and r["queries"] == 400 for r in report["runs"])
        assert all(run["queries_per_s"] > 0 for run in report["runs"])
        answers = np.load(served / "answers.npz")["answers"]
        assert answers.shape == (400, 10)
        score = json.loads(
            (tree / f"results/score/movielens_mps/{precision}/ranking.json").read_text()
        )
        assert (
            score["count"] == 400 and 0 <= score["hr"] <= 1 and score["serving"] == report["runs"]
        )
    summary = json.loads((tree / "results/score/movielens_mps/precisions.json").read_text())
    assert summary["metrics"] == ["hr", "ndcg"] and set(summary["precisions"]) == set(PRECISIONS)


def test_onnx_samples_compare_their_precisions(tree):
    for sample in ONNX_SAMPLES:
        summary = json.loads((tree / f"results/score/{sample}/precisions.json").read_text())
        assert set(summary["precisions"]) == set(PRECISIONS)
        assert (tree / f"results/score/{sample}/precisions.png").stat().st_size > 1000


def test_summary_has_every_sample_and_precision_with_their_own_numbers(tree):
    """results/summary.json (part of the default run): a row per chosen sample and precision;
    its metric equals the sample's own score file, its sizes the engines' own metadata."""
    chosen = ["mnist", "mnist_api", "mlp", "mnist_tf", "ssd", "movielens", "movielens_mps"]
    summary = check_summary(tree, chosen, PRECISIONS)
    assert "sampleINT8" in summary["seed_samples"]["covered"]
    assert (tree / "results/summary.png").stat().st_size > 10_000


def test_report_renders_with_its_sections(tree, tmp_path):
    chromium()  # skips (fails in CI) without it
    snakemake(tree, "--configfile", TINY, "--report", str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text()
    assert "precisions.png" in html and "Precisions" in html  # the plots are embedded
    labels = menu_labels(rendered_dom(tmp_path / "report.html", tmp_path / "profile"))
    # drawn by the report's JavaScript: its sections, then a category per sample and the
    # summary, matched as whole labels (mnist is not found inside mnist_tf)
    for label in ("Workflow", "Statistics", "About", "Summary"):
        assert label in labels, (label, labels)
    registry = load_registry(tree / "config/samples.yaml")
    for sample in ("mnist", "mnist_api", "mlp", "mnist_tf", "ssd", "movielens", "movielens_mps"):
        assert sample in labels, (sample, labels)
    assert registry.samples["ssd"]["caption"] in html  # captions from the registry
