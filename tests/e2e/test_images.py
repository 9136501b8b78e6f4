"""The image classifiers' tiny chains in their own tree: ResNet-50 trained in PyTorch, carried
to Keras through its .wts, both exported (dynamo, tf2onnx) and compared, engines from both;
GoogLeNet in FP32 and FP16 with its per-layer profiles; your own image folder as the data."""

import json

import pytest

from tests.conftest import copy_workflow, planned_jobs, snakemake
from tests.e2e.conftest import PRECISIONS, TINY
from workflow.data.objects import write_generated
from workflow.samples import load_registry

pytestmark = pytest.mark.slow
SAMPLES = ("resnet50", "resnet50_keras", "googlenet")


def test_resnet50_from_two_frameworks_and_googlenet_with_its_profiles(tmp_path):
    work = copy_workflow(tmp_path / "images")
    config = ["--configfile", TINY, "--config", f"samples=[{','.join(SAMPLES)}]"]
    snakemake(work, "--cores", "2", *config)
    registry = load_registry(work / "config/samples.yaml")
    for sample in SAMPLES:
        for target in registry.targets(sample, list(PRECISIONS)):
            assert (work / target).exists(), target
    # the frameworks agree: the Keras graph's outputs against the PyTorch graph's
    parity = json.loads((work / "results/onnx/resnet50_keras/model.parity.json").read_text())
    assert parity["frameworks"]["count"] == 40  # 4 test images x 10 classes
    assert parity["frameworks"]["max_abs_diff"] <= 1e-4 and parity["max_abs_diff"] <= 1e-5
    assert parity["frameworks"]["against"] == "results/onnx/resnet50/model.onnx"
    keras = json.loads((work / "engines/resnet50_keras_fp32.plan.json").read_text())
    assert keras["source"]["path"] == "results/onnx/resnet50_keras/model.onnx"
    for sample, precisions in (("resnet50", PRECISIONS), ("googlenet", ("fp32", "fp16"))):
        summary = json.loads((work / f"results/score/{sample}/precisions.json").read_text())
        assert sorted(summary["precisions"]) == sorted(precisions)
        for precision in precisions:
            score = json.loads(
                (work / f"results/score/{sample}/{precision}/accuracy.json").read_text()
            )
            assert score["count"] == 40 and len(score["classes"]) == 10
            assert summary["precisions"][precision]["top1"] == score["top1"]
    for engine in ("resnet50_int8", "googlenet_fp16"):  # the engine layer reports
        report = json.loads((work / f"engines/{engine}.layers.json").read_text())
        assert report["in_intended"] == report["compute_count"] > 50
    hello = (work / "results/score/resnet50/int8/hello.txt").read_text()
    assert hello.count("\n  test image ") == 10 and "circle_striped" in hello
    profiles = {
        p: json.loads((work / f"results/profile/googlenet/{p}.json").read_text())
        for p in ("fp32", "fp16")
    }
    for precision, table in profiles.items():
        assert table["precision"] == precision and table["runtime"] == "ort"
        assert table["runs"] == 3 and table["batch_size"] == 4
        assert len(table["layers"]) > 50  # inception blocks: dozens of convolutions
    assert (work / "results/profile/googlenet/profile.png").read_bytes().startswith(b"\x89PNG")
    assert not (work / "results/profile/resnet50").exists()  # its row does not ask for it


def test_your_image_folder_becomes_the_data(tmp_path):
    work = copy_workflow(tmp_path / "folder")
    write_generated(tmp_path / "mine", train=3, test=2, size=40, seed=5)
    (tmp_path / "mine/classes.txt").unlink()  # classes in sorted order then
    settings = [f"data={{'images': {{'source': 'folder', 'folder': '{tmp_path / 'mine'}'}}}}"]
    args = ["--configfile", TINY, "--config", "samples=[resnet50]", *settings]
    plan = planned_jobs(snakemake(work, "-n", "engines/resnet50_fp32.plan", *args).stdout)
    assert plan["data_images"] == 1 and plan["train_torch_images"] == 1
    snakemake(work, "results/data/images-folder", "--cores", "1", *args)
    classes = (work / "results/data/images-folder/classes.txt").read_text().split()
    assert classes == sorted(classes) and len(classes) == 10
    empty = [
        "--configfile",
        TINY,
        "--config",
        "samples=[resnet50]",
        "data={'images': {'source': 'folder'}}",
    ]
    out = snakemake(work, "-n", "engines/resnet50_fp32.plan", *empty, check=False)
    assert out.returncode != 0 and "data.images.folder" in out.stdout + out.stderr


def test_imagenet_weights_replace_training_and_are_checked(tmp_path):
    work = copy_workflow(tmp_path / "imagenet")
    val = tmp_path / "val"
    write_generated(val, train=1, test=1, size=40, seed=3)  # any folder, the classes are wnids
    settings = {
        "data": {
            "images": {
                "source": "folder",
                "folder": str(val),
                "classes": "imagenet",
                "input_size": 224,
                "preprocess": {"resize": 256},
            }
        },
        "train": {"images": {"weights": "imagenet"}},
        "networks": {"resnet50": {"base_width": 64}},
    }
    overlay = tmp_path / "imagenet.yaml"
    overlay.write_text(json.dumps(settings))  # JSON is YAML
    args = ["--configfile", TINY, str(overlay), "--config", "samples=[resnet50]"]
    plan = planned_jobs(snakemake(work, "-n", "engines/resnet50_int8.plan", *args).stdout)
    assert plan["data_download_imagenet"] == 2  # the class index and the weights
    assert plan["weights_imagenet"] == 1 and "train_torch_images" not in plan
    # a wrong file placed by hand is refused, naming where the right one comes from
    (work / "resources/imagenet").mkdir(parents=True)
    (work / "resources/imagenet/resnet50-0676ba61.pth").write_bytes(b"not the weights")
    index = {str(k): [f"n{k:08d}", f"class {k}"] for k in range(1000)}
    (work / "resources/imagenet/imagenet_class_index.json").write_text(json.dumps(index))
    for target, log, message, url in (
        (
            "results/train/resnet50/weights.pt",
            "train/resnet50.imagenet.log",
            "resnet50-0676ba61.pth | checksum sha256:",
            "https://download.pytorch.org/models/resnet50-0676ba61.pth",
        ),
        (
            "results/data/images-folder",
            "data/images.log",
            "imagenet_class_index.json | md5 ",  # not Keras' file
            "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
        ),
    ):
        out = snakemake(work, target, "--cores", "1", *args, check=False)
        text = (work / "logs" / log).read_text()
        assert out.returncode != 0 and message in text and f"by hand from {url}" in text, text
