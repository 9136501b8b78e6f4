"""What the plan tells the rules: input paths and config-derived params, from config alone."""

from types import SimpleNamespace

import pytest
import yaml

from tests.conftest import ROOT
from workflow.errors import PipelineError
from workflow.plan import Plan, pick
from workflow.samples import check_config, load_registry


def _plan(**changes) -> Plan:
    """The plan of the default config with ``changes`` (top-level keys, merged one level)."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for key, value in changes.items():
        config[key] = config.get(key, {}) | value if isinstance(value, dict) else value
    config = check_config(config)
    return Plan(config, load_registry().with_own(config["byo"]))


def _wildcards(**values) -> SimpleNamespace:
    return SimpleNamespace(**values)


def test_targets_end_with_the_summary_and_cover_every_chosen_sample():
    plan = _plan(samples=["mnist", "ssd"], precisions=["fp32"])
    targets = plan.final_targets()
    assert targets[-1] == "results/summary.json"
    assert "engines/mnist_fp32.plan" in targets and "engines/ssd_fp32.plan" in targets
    assert set(plan.summary_sources()) == {"mnist", "ssd"}


def test_score_model_follows_the_runtime_and_the_parts():
    wildcards = _wildcards(model="faster_rcnn", precision="int8")
    assert _plan().score_model(wildcards) == {
        "rpn_onnx": "results/precision/faster_rcnn_rpn/int8.onnx",
        "head_onnx": "results/precision/faster_rcnn_head/int8.onnx",
    }
    on_gpu = _plan(score={"runtime": "trt"}).score_model(wildcards)
    assert on_gpu["rpn_plan"] == "engines/faster_rcnn_rpn_int8.plan"
    assert on_gpu["head_meta"] == "engines/faster_rcnn_head_int8.plan.json"


def test_int8_ranges_come_from_the_calibration_source():
    wildcards = _wildcards(model="mnist")
    assert _plan().int8_ranges(wildcards) == "results/calibrate/mnist/calibration.table"
    own = _plan(calibration={"source": "ranges", "ranges": "mine.txt"})
    assert own.int8_ranges(wildcards) == "mine.txt"


def test_a_samples_engine_entry_overrides_the_batch_profile_of_its_graphs_only():
    plan = _plan(
        engine={"per_sample": {"faster_rcnn": {"batch": {"max": 32}, "workspace_mib": 64}}}
    )
    batch = plan.config["engine"]["batch"]
    head = plan.engine_build(_wildcards(model="faster_rcnn_head"))
    assert head["batch"] == [batch["min"], batch["opt"], 32] and head["workspace_mib"] == 64
    ssd = plan.engine_build(_wildcards(model="ssd"))
    assert ssd["batch"] == [batch["min"], batch["opt"], batch["max"]]
    assert ssd["workspace_mib"] == plan.config["engine"]["workspace_mib"]
    assert _plan().engine_build(_wildcards(model="yolov3"))["workspace_mib"] == 2048  # default
    with pytest.raises(PipelineError, match="1 <= min <= opt <= max"):
        _plan(engine={"per_sample": {"ssd": {"batch": {"max": 4}}}}).engine_build(
            _wildcards(model="ssd")
        )


def test_engine_profile_ranges_of_a_translator_and_an_ocr_graph():
    plan = _plan()
    score, batch = plan.config["score"]["translate"], plan.config["engine"]["batch"]
    dims = plan.engine_dims(_wildcards(model="nmt_encoder"))
    assert dims["beam"] == [1, score["beam"], score["beam"]]
    assert dims["rows"] == [
        batch["min"],
        batch["opt"] * score["beam"],
        batch["max"] * score["beam"],
    ]
    rec = plan.config["ocr"]["rec"]
    assert plan.engine_dims(_wildcards(model="ocr_rec"))["width"] == [
        rec["width"],
        rec["width"],
        rec["max_width"],
    ]
    assert plan.engine_dims(_wildcards(model="mnist")) == {}


def test_detector_geometry_and_files():
    plan = _plan()
    frcnn = plan.detector(_wildcards(model="faster_rcnn_head"))
    assert frcnn["network"] == "faster_rcnn" and "anchor_sizes" in frcnn
    assert set(plan.detector_input(_wildcards(model="faster_rcnn_rpn"))) == {
        "network",
        "input_size",
        "pixel_mean",
    }
    assert plan.detector_files(_wildcards(model="yolov3")) == {
        "cfg": "config/darknet/yolov3-shapes.cfg"
    }
    assert plan.detector_files(_wildcards(model="ssd")) == {}


def test_a_yolo_on_your_own_set_without_a_cfg_is_refused_naming_the_key():
    plan = _plan(data={"detect": {"source": "folder", "folder": "mine"}})
    with pytest.raises(PipelineError, match="train.yolo.cfg"):
        plan.detector_files(_wildcards(model="yolov3"))


def test_engine_gpus_follow_the_tensorrt_module():
    assert _plan(tensorrt={"module": "tensorrt"}).engine_gpus() == 1
    assert _plan(tensorrt={"module": "tensorrt_rtx"}).engine_gpus() == 0
    assert _plan(tensorrt={"module": "auto", "auto_engine_gpus": 1}).engine_gpus() == 1


def test_data_inputs_by_name():
    plan = _plan()
    assert plan.mnist("test") == {
        "images": "results/data/mnist/test-images.idx",
        "labels": "results/data/mnist/test-labels.idx",
    }
    assert plan.detect_set("test", "classes") == {
        "test": "results/data/shapes/test",
        "classes": "results/data/shapes/classes.txt",
    }


def test_pick_names_settings_of_one_section():
    assert pick({"opset": 17, "tolerance": 0.01, "other": 1}, "opset tolerance") == {
        "opset": 17,
        "tolerance": 0.01,
    }


def test_report_flags_name_the_sample_the_precision_and_what_is_shown():
    plan = _plan()
    flags = plan.report_flags("results/score/{model}/{precision}/translations.txt")
    assert flags["subcategory"] == "Translations"
    assert flags["labels"] == {
        "sample": "{model}",
        "precision": "{precision}",
        "shows": "translations",
    }
    assert flags["category"](_wildcards(model="ocr_det")) == "ocr"
    drawn = plan.report_flags("results/score/{model}/{precision}/drawn", subcategory="Text found")
    assert drawn["patterns"] == ["{name}.png"] and drawn["labels"]["sample"] == "{model}"
    assert "precision" not in plan.report_flags("results/profile/{model}/profile.png")["labels"]


def test_every_download_has_its_url_checksum_and_timeout_by_path():
    plan = _plan()
    downloads = plan.downloads
    mnist = plan.config["data"]["mnist"]["download"]
    first = next(path for path in downloads if path.startswith(mnist["dir"] + "/"))
    assert downloads[first]["url"] == mnist["base_url"] + first.rsplit("/", 1)[1]
    assert downloads[first]["timeout_s"] == mnist["timeout_s"]
    assert f"{plan.darknet_dir}/yolov3.weights" in downloads
    assert all(
        len(entry["md5"]) >= 32 or entry["md5"].startswith("sha256:")
        for entry in downloads.values()
    )
    output = SimpleNamespace(raw=first)
    assert plan.download("md5")(_wildcards(file="x"), output) == downloads[first]["md5"]
