"""The sample registry: checked rows, derived targets, and a new sample as one row."""

import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, copy_workflow, planned_jobs, snakemake
from workflow.errors import PipelineError
from workflow.samples import REGISTRY, load_registry


def _registry_copy(tmp_path, edit):
    """A copy of the registry and its schema with ``edit`` applied to the rows."""
    rows = yaml.safe_load(REGISTRY.read_text())
    edit(rows)
    (tmp_path / "samples.yaml").write_text(yaml.safe_dump(rows))
    (tmp_path / "samples.schema.yaml").write_text(
        REGISTRY.with_name("samples.schema.yaml").read_text()
    )
    return tmp_path / "samples.yaml"


def test_registry_rows_and_targets():
    registry = load_registry()
    assert set(registry.samples) >= {"mnist", "mnist_api", "mlp", "mnist_tf", "mnist_refit", "ssd"}
    assert registry.with_("builder", "api") == ["mnist_api", "mlp", "mnist_plugin_api", "charrnn"]
    assert registry.targets("mnist_api", ["fp32", "fp16", "int8"]) == [
        "engines/mnist_api_fp32.plan",
        "results/score/mnist_api/fp32/accuracy.json",
        "results/score/mnist_api/fp32/hello.txt",
    ]
    ssd = registry.targets("ssd", ["int8"])
    assert ssd == [
        "engines/ssd_int8.plan",
        "results/score/ssd/int8/map.json",
        "results/score/ssd/int8/drawn",
        "results/score/ssd/precisions.json",
    ]
    assert registry.engine("mnist_refit", "fp32") == "engines/mnist_refit.plan"
    assert "results/weights/mnist_tf/weights.wts" in registry.targets("mnist_tf", ["fp32"])


def test_pattern_matches_the_rows_with_those_fields():
    registry = load_registry()
    assert registry.pattern(train="torch") == "|".join(registry.with_("train", "torch"))
    assert registry.pattern(builder="api", unless={"network": "charrnn"}) == (
        "mnist_api|mlp|mnist_plugin_api"
    )
    assert registry.pattern(builder="onnx_plugin", train="none") == "mnist_plugin"
    assert registry.pattern(train=("keras", "keras_charrnn")) == "mnist_tf|clip|charrnn"
    # graphs: every graph of each sample; part: that graph of a split sample, else the sample
    assert registry.pattern(task="ocr", graphs=True) == "ocr_det|ocr_rec"
    assert registry.pattern(data="detect", part="rpn") == "ssd|yolov3|yolov3_coco|faster_rcnn_rpn"
    assert registry.pattern(profile=True) == "googlenet"
    assert registry.pattern(parts=None, data="images") == "resnet50|resnet50_keras|googlenet"


def test_a_pattern_that_fits_no_sample_matches_no_name():
    registry = load_registry()
    for empty in (registry.pattern(data="byo"), registry.pattern(train="torch", when=False)):
        assert empty == "(?!)"
        assert not any(re.fullmatch(empty, name) for name in ["", "mnist", "(?!)"])


def test_an_opt_in_precision_is_compared_only_where_chosen():
    """mlp lists fp32 and int4w: nothing to compare until int4w is chosen."""
    registry = load_registry()
    compared = "results/score/mlp/precisions.json"
    assert compared not in registry.targets("mlp", ["fp32", "fp16", "int8"])
    with_int4w = registry.targets("mlp", ["fp32", "int4w"])
    assert compared in with_int4w and "engines/mlp_int4w.plan" in with_int4w


def test_a_split_sample_has_a_graph_and_an_engine_per_part():
    registry = load_registry()
    assert registry.graphs("faster_rcnn") == ["faster_rcnn_rpn", "faster_rcnn_head"]
    assert registry.graphs("ssd") == ["ssd"]
    assert registry.engines("faster_rcnn", "fp16") == [
        "engines/faster_rcnn_rpn_fp16.plan",
        "engines/faster_rcnn_head_fp16.plan",
    ]
    assert registry.targets("faster_rcnn", ["int8"]) == [
        "engines/faster_rcnn_rpn_int8.plan",
        "engines/faster_rcnn_head_int8.plan",
        "results/score/faster_rcnn/int8/map.json",
        "results/score/faster_rcnn/int8/drawn",
        "results/score/faster_rcnn/precisions.json",
    ]
    assert registry.sample_of("faster_rcnn_head") == "faster_rcnn"
    assert registry.sample_of("faster_rcnn") == "faster_rcnn"
    assert registry.sample_of("ssd") == "ssd"
    assert {"faster_rcnn_rpn", "faster_rcnn_head", "ssd"} <= set(registry.all_graphs)
    assert "faster_rcnn" not in registry.all_graphs
    with pytest.raises(PipelineError, match="graph 'ssd_head' | belongs to no sample"):
        registry.sample_of("ssd_head")


def test_a_part_named_like_a_sample_is_refused(tmp_path):
    def edit(rows):
        rows["ssd"]["parts"] = ["rpn", "head"]
        rows["ssd_head"] = dict(rows["mlp"])

    with pytest.raises(PipelineError, match="ssd: its graph 'ssd_head' is also a sample's name"):
        load_registry(_registry_copy(tmp_path, edit))
    path = _registry_copy(tmp_path, lambda rows: rows["ssd"].update(parts=["rpn"]))
    with pytest.raises(PipelineError, match="ssd/parts"):
        load_registry(path)


def test_a_bad_row_is_named(tmp_path):
    path = _registry_copy(tmp_path, lambda rows: rows["mlp"].update(task="segment"))
    with pytest.raises(PipelineError, match=r"mlp/task: 'segment' is not one of"):
        load_registry(path)
    path = _registry_copy(tmp_path, lambda rows: rows["mlp"].pop("caption"))
    with pytest.raises(PipelineError, match=r"mlp: 'caption' is a required property"):
        load_registry(path)
    path = _registry_copy(tmp_path, lambda rows: rows["mlp"].update(weights="mnist_api"))
    with pytest.raises(PipelineError, match=r"mlp: weights 'mnist_api' is no sample that trains"):
        load_registry(path)


def test_unknown_chosen_sample_names_the_registry():
    with pytest.raises(PipelineError) as err:
        load_registry().check_chosen(["mnist", "resnet9"])
    assert "unknown sample(s) resnet9" in str(err.value)
    assert "choose among mnist, mnist_api" in str(err.value)


def test_list_samples_cli():
    tool = [sys.executable, str(ROOT / "scripts/cli/list_samples.py")]
    out = subprocess.run(
        [*tool, "--seed", "sampleMLP", "--targets"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.splitlines()[0].startswith("mlp: ")
    assert "  snakemake engines/mlp_fp32.plan" in out.stdout
    bad = subprocess.run([*tool, "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown sample(s) nope" in bad.stderr


@pytest.mark.slow
def test_a_new_sample_is_one_registry_row(tmp_path):
    """A second LeNet trained in PyTorch, with no rule edited: the DAG plans its whole chain."""
    work = copy_workflow(tmp_path / "wf")
    rows = yaml.safe_load((work / "config/samples.yaml").read_text())
    rows["lenet_b"] = dict(rows["mnist"], weights="lenet_b", caption="A second LeNet.")
    (work / "config/samples.yaml").write_text(yaml.safe_dump(rows))
    out = snakemake(work, "-n", "--config", "samples=[lenet_b]")
    jobs = planned_jobs(out.stdout)
    assert jobs["train_torch"] == 1 and jobs["onnx_export"] == 1 and jobs["engine_build"] == 3
    assert "results/train/lenet_b/weights.pt" in out.stdout
    bad = snakemake(work, "-n", "--config", "samples=[lenet_c]", check=False)
    assert bad.returncode != 0 and "unknown sample(s) lenet_c" in bad.stdout + bad.stderr


def test_own_models_named_like_a_sample_or_one_of_its_graphs_are_refused():
    registry = load_registry()
    entry = {"model": "m.onnx", "data": {}}
    assert registry.with_own({"mine": entry}).samples["mine"]["data"] == "byo"
    with pytest.raises(PipelineError, match="byo.mnist .*registered sample"):
        registry.with_own({"mnist": entry})
    # ocr's recogniser graph: byo_import and ocr_onnx would both write its model.onnx
    with pytest.raises(PipelineError, match="byo.ocr_rec .*graph of the registered sample ocr"):
        registry.with_own({"ocr_rec": entry})
    with pytest.raises(PipelineError, match="faster_rcnn"):
        registry.with_own({"faster_rcnn_rpn": entry})
