import numpy as np
import pytest

from tests.conftest import tiny_build
from workflow.errors import GpuUnavailable, PipelineError
from workflow.netdef.layers import mlp_layers
from workflow.trt import refit
from workflow.trt.gpu import GpuInfo

RNG = np.random.default_rng(0)
BLOBS = {
    "fc1.weight": RNG.normal(size=(4, 784)).astype(np.float32),
    "fc1.bias": RNG.normal(size=(4,)).astype(np.float32),
    "fc2.weight": RNG.normal(size=(10, 4)).astype(np.float32),
    "fc2.bias": RNG.normal(size=(10,)).astype(np.float32),
}
LAYERS = mlp_layers(BLOBS, [784, 4, 10])
BUILD = {
    "source": {"path": "w.wts", "sha256": "0"},
    "build": tiny_build(batch=(1, 1, 2), workspace_mib=64, optimization_level=0),
}


def test_dummy_and_trained_weights_and_their_names():
    dummy, trained = refit.refit_inputs(LAYERS, "fc1")
    assert sorted(trained) == ["fc1.bias", "fc1.weight"]  # what the refitter will ask for
    np.testing.assert_array_equal(
        trained["fc1.weight"], BLOBS["fc1.weight"].T
    )  # as the network holds it
    np.testing.assert_array_equal(trained["fc1.bias"], BLOBS["fc1.bias"].reshape(1, -1))
    fc1 = next(layer for layer in dummy if layer.name == "fc1")
    assert all(not value.any() for value in fc1.weights.values())
    fc2 = next(layer for layer in dummy if layer.name == "fc2")
    np.testing.assert_array_equal(fc2.weights["weight"], BLOBS["fc2.weight"])  # untouched
    with pytest.raises(PipelineError, match="no such layer"):
        refit.refit_inputs(LAYERS, "relu1")


def test_without_gpu_the_refit_stops_after_the_cpu_checks(monkeypatch):
    monkeypatch.setattr(refit, "gpu_info", lambda: (None, "no CUDA driver"))
    with pytest.raises(
        GpuUnavailable,
        match="need a CUDA GPU .* weights to refit were checked: fc1.bias, fc1.weight",
    ):
        refit.refit_plan(LAYERS, layer_name="fc1", **BUILD)


def test_refittable_build_is_refused_by_tensorrt_rtx_on_cpu(monkeypatch):
    """Measured: TensorRT-RTX 1.7 builds no refittable engine without a GPU; the error says so."""
    monkeypatch.setattr(refit, "gpu_info", lambda: (GpuInfo("pretend", "8.9"), ""))
    with pytest.raises(PipelineError, match="refittable builds need full TensorRT on a GPU host"):
        refit.refit_plan(LAYERS, layer_name="fc1", **BUILD)
