import numpy as np
import pytest

from workflow.errors import GpuUnavailable
from workflow.trt.gpu import gpu_info
from workflow.trt.runner import TrtRunner, io_specs


@pytest.fixture(scope="module")
def engine(tiny_engine):
    return tiny_engine.onnx, tiny_engine.plan, tiny_engine.meta_path


def test_io_specs_from_metadata(engine):
    runner = TrtRunner(engine[1], engine[2], module="auto")
    (spec,) = io_specs(runner.meta)
    assert spec.name == "input" and spec.dtype == np.float32 and spec.shape == (None, 1, 4, 4)


@pytest.mark.skipif(gpu_info()[0] is not None, reason="this machine has a GPU")
def test_without_gpu_activation_says_where_to_run(engine):
    runner = TrtRunner(engine[1], engine[2], module="auto")
    with pytest.raises(GpuUnavailable, match="needs a CUDA GPU .*score.runtime: ort"):
        runner.activate()
    assert not runner.is_active


@pytest.mark.gpu
@pytest.mark.skipif(gpu_info()[0] is None, reason="needs a CUDA GPU")
def test_engine_matches_onnx_runtime_on_gpu(engine):
    from workflow.ort.runner import OrtRunner

    feed = {"input": np.random.default_rng(0).normal(size=(5, 1, 4, 4)).astype(np.float32)}
    with OrtRunner(engine[0]) as ort, TrtRunner(engine[1], engine[2], module="auto") as trt:
        np.testing.assert_allclose(
            trt.infer(dict(feed))["prob"], ort.infer(feed)["prob"], atol=1e-5
        )
