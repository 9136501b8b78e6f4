import copy
import hashlib
import re

import numpy as np
import pytest

from tests.conftest import tiny_build, tiny_classifier_bytes
from workflow.errors import EngineMismatch, FormatError, PipelineError, TensorRTUnavailable
from workflow.trt.gpu import GpuInfo
from workflow.trt.loader import RTX_DEFAULT_CC, check_engine_meta, engine_bytes_from_onnx


@pytest.fixture(scope="module")
def built(tiny_engine):
    return tiny_engine.onnx, tiny_engine.plan.read_bytes(), tiny_engine.meta


def test_rtx_builds_ahead_of_time_with_metadata(built):
    path, plan, meta = built
    assert len(plan) > 1000
    assert meta["tensorrt"]["module"] == "tensorrt_rtx"
    assert meta["target"] == {
        "kind": "ahead-of-time",
        "gpu": None,
        "compute_capabilities": RTX_DEFAULT_CC,
    }
    assert meta["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta["plan"] == {"bytes": len(plan), "sha256": hashlib.sha256(plan).hexdigest()}
    assert meta["build"]["profile"]["input"] == {
        "min": [1, 1, 4, 4],
        "opt": [4, 1, 4, 4],
        "max": [8, 1, 4, 4],
    }
    assert meta["inputs"] == [{"name": "input", "dtype": "float", "shape": [-1, 1, 4, 4]}]
    assert meta["outputs"] == [{"name": "prob", "dtype": "float", "shape": [-1, 3]}]
    # nothing that changes from one build to the next (no timestamp, no build duration)
    assert set(meta) == {
        "format",
        "tensorrt",
        "target",
        "source",
        "build",
        "inputs",
        "outputs",
        "plan",
        "reproducibility",
    }
    assert meta["build"]["tf32"] is True  # TensorRT-RTX keeps its default (Polygraphy's
    # CreateConfig clears TF32 for full TensorRT: FP32 layers then compute in full FP32)


def test_chosen_compute_capability_is_recorded(built):
    path, _, _ = built
    built = engine_bytes_from_onnx(path, tiny_build(compute_capabilities=("8.6",)))
    assert built.meta["target"]["compute_capabilities"] == ["8.6"]
    with pytest.raises(PipelineError, match="7.0 .*not supported.*choose among .*8.6"):
        engine_bytes_from_onnx(path, tiny_build(compute_capabilities=("7.0",)))


@pytest.mark.parametrize("batch", [(0, 1, 2), (4, 2, 8), (1, 9, 8)])
def test_bad_profile(batch):
    with pytest.raises(PipelineError, match="min <= opt <= max"):
        tiny_build(batch=batch)


def test_garbage_onnx_names_the_file(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a protobuf")
    with pytest.raises(FormatError, match=re.escape("broken.onnx | ONNX parser failed")):
        engine_bytes_from_onnx(path, tiny_build())


def test_a_workspace_too_small_for_the_largest_batch_says_which_setting_to_raise(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).normal(size=(32, 3, 3, 3)).astype(np.float32)
    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 256, 256])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 32, 256, 256])
    conv = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [conv], "conv", [image], [out], [numpy_helper.from_array(weight, "w")]
    )
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(PipelineError, match=r"workspace \(1 MiB\) is too small .* batch \(8\)"):
        engine_bytes_from_onnx(path, tiny_build(workspace_mib=1))


def test_dynamic_dimension_beyond_batch(tmp_path):
    path = tmp_path / "hw.onnx"
    path.write_bytes(tiny_classifier_bytes(dynamic_hw=True))
    with pytest.raises(PipelineError, match=r"input 'input' axis 2 \(h\) is dynamic .*no range"):
        engine_bytes_from_onnx(path, tiny_build())


def test_full_tensorrt_refuses_compute_capabilities_before_building(monkeypatch, built):
    from workflow.trt import loader

    class FakeTrt:
        __name__ = "tensorrt"
        __version__ = "10.9"

    monkeypatch.setattr(loader, "polygraphy_backend", lambda trt: None)
    with pytest.raises(PipelineError, match="only TensorRT-RTX"):
        loader._config_loader(FakeTrt, tiny_build(compute_capabilities=("8.6",)), {})
    monkeypatch.setattr(loader, "gpu_info", lambda: (None, "no CUDA driver"))
    with pytest.raises(TensorRTUnavailable, match="no GPU .*GPU host"):
        loader._config_loader(FakeTrt, tiny_build(), {})


def _check(meta, plan, **overrides):
    args = {
        "plan_path": "engines/tiny_fp32.plan",
        "plan": plan,
        "module": "tensorrt_rtx",
        "version": meta["tensorrt"]["version"],
        "gpu": GpuInfo("NVIDIA RTX 4090", "8.9"),
    } | overrides
    check_engine_meta(meta, **args)


def test_meta_check_accepts_a_fitting_machine(built):
    _, plan, meta = built
    _check(meta, plan)


def test_meta_check_names_each_mismatch_and_the_rebuild(built):
    _, plan, meta = built
    rebuild = "snakemake engines/tiny_fp32.plan --forcerun engine_build"
    with pytest.raises(EngineMismatch, match=f"this machine has tensorrt 10.8.*{rebuild}"):
        _check(meta, plan, module="tensorrt", version="10.8")
    with pytest.raises(EngineMismatch, match=r"this GPU \(NVIDIA H100\) is 9.0"):
        _check(meta, plan, gpu=GpuInfo("NVIDIA H100", "9.0"))
    with pytest.raises(EngineMismatch, match="plan bytes differ"):
        _check(meta, plan[:-1] + b"\x00")
    old = copy.deepcopy(meta) | {"format": 0}
    with pytest.raises(EngineMismatch, match="metadata format 0"):
        _check(old, plan)


class _Tensor:
    def __init__(self, name, shape):
        self.name, self.shape = name, shape


class _Network:
    def __init__(self, *inputs):
        self.inputs = inputs
        self.num_inputs = len(inputs)

    def get_input(self, index):
        return self.inputs[index]


def test_profile_takes_named_dimension_ranges_beyond_the_batch():
    from workflow.trt.loader import _profile_shapes

    build = tiny_build()
    network = _Network(_Tensor("source", (-1, -1)), _Tensor("keys", (-1, -1, 16)))
    names = {"source": ["batch", "source"], "keys": ["rows", "source", ""]}
    dims = {"source": [1, 16, 64], "rows": [1, 40, 320]}
    shapes = _profile_shapes(network, build, "g.onnx", names=names, dims=dims)
    low, opt, high = build.batch
    assert shapes["source"] == {"min": [low, 1], "opt": [opt, 16], "max": [high, 64]}
    assert shapes["keys"] == {"min": [1, 1, 16], "opt": [40, 16, 16], "max": [320, 64, 16]}
    with pytest.raises(PipelineError, match=r"give its range: profile \{source: \{1: "):
        _profile_shapes(network, build, "g.onnx", names=names, dims={})


def test_profile_ranges_by_input_and_axis_position_cover_unnamed_dimensions():
    """PaddleOCR's exports leave height and width unnamed (``?``): a range by axis position."""
    from workflow.trt.loader import _profile_shapes

    build = tiny_build()
    network = _Network(_Tensor("x", (-1, 3, -1, -1)), _Tensor("scale", (-1, 1)))
    names = {"x": ["", "", "", ""], "scale": ["n", ""]}
    dims = {"x": {2: [32, 64, 128], "3": [16, 64, 256]}, "scale": {0: [2, 2, 2]}}
    shapes = _profile_shapes(network, build, "g.onnx", names=names, dims=dims)
    low, opt, high = build.batch
    assert shapes["x"] == {
        "min": [low, 3, 32, 16],
        "opt": [opt, 3, 64, 64],
        "max": [high, 3, 128, 256],
    }
    assert shapes["scale"] == {"min": [2, 1], "opt": [2, 1], "max": [2, 1]}  # batch replaced
    named = {"x": ["batch", "", "height", "width"], "scale": ["n", ""]}
    by_name = {"x": {"height": [32, 64, 128], "width": [16, 64, 256]}}
    assert _profile_shapes(network, build, "g.onnx", names=named, dims=by_name)["x"] == shapes["x"]
    with pytest.raises(PipelineError, match=r"input 'x' axis 3 is dynamic .*\{x: \{3: "):
        _profile_shapes(network, build, "g.onnx", names=names, dims={"x": {2: [1, 2, 3]}})


@pytest.mark.parametrize(
    ("dims", "match"),
    [
        ({"x": {2: [64, 32, 128]}}, r"axis 2: range \[64, 32, 128\] is not \[min, opt, max\]"),
        ({"x": {2: [0, 1, 2]}}, "0 < min <= opt <= max"),
        ({"x": {2: [1, 2]}}, r"range \[1, 2\] is not"),
        ({"x": {1: [1, 1, 1]}}, r"axis 1 is fixed at 3, its range \[1, 1, 1\] leaves it out"),
    ],
)
def test_bad_profile_ranges_are_named(dims, match):
    from workflow.trt.loader import _profile_shapes

    network = _Network(_Tensor("x", (-1, 3, -1)))
    with pytest.raises(PipelineError, match=match):
        _profile_shapes(network, tiny_build(), "g.onnx", names={}, dims=dims)


def test_an_unnamed_dynamic_image_size_builds_with_ranges_by_position(tmp_path):
    import onnx

    model = onnx.load_from_string(tiny_classifier_bytes(dynamic_hw=True))
    model.graph.input[0].type.tensor_type.shape.dim[2].ClearField("dim_param")  # "?"
    model.graph.node[0].CopyFrom(onnx.helper.make_node("ReduceMean", ["input", "axes"], ["r"]))
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array([2], np.int64), "axes"))
    model.graph.node[1].input[0] = "flat"
    model.graph.node.insert(1, onnx.helper.make_node("Flatten", ["r"], ["flat"], axis=1))
    model.graph.initializer[0].CopyFrom(
        onnx.numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    )
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / "unnamed.onnx"
    path.write_bytes(model.SerializeToString())
    built = engine_bytes_from_onnx(path, tiny_build(), dims={"input": {2: [2, 4, 8]}})
    assert built.meta["build"]["profile"]["input"] == {
        "min": [1, 1, 2, 4],
        "opt": [4, 1, 4, 4],
        "max": [8, 1, 8, 4],
    }
