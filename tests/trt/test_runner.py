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


def test_execution_goes_through_polygraphys_runner(engine, monkeypatch):
    """What runs on a GPU host, with the GPU parts replaced: the plan's metadata is checked, the
    engine is handed to Polygraphy's TrtRunner, data-dependent outputs (rows only known after
    execution) come back as they are, as copies, and a feed outside the profile is refused."""
    from workflow.errors import RunnerError
    from workflow.trt import runner as module
    from workflow.trt.gpu import GpuInfo

    calls = []

    class FakeEngine:
        def get_tensor_profile_shape(self, name, index):
            return (1, 1, 4, 4), (4, 1, 4, 4), (8, 1, 4, 4)

    class FakePolygraphyRunner:
        def __init__(self, engine, name):
            calls.append(("made", type(engine).__name__, name))
            self.buffer = np.zeros((0, 7), np.float32)

        def activate(self):
            calls.append(("activate",))

        def infer(self, feed):
            rows = len(feed["input"]) * 2  # how many detections is known only now
            self.buffer = np.arange(rows * 7, dtype=np.float32).reshape(rows, 7)
            return {"detections": self.buffer}

        def deactivate(self):
            calls.append(("deactivate",))

    class FakeBackend:
        TrtRunner = FakePolygraphyRunner

    monkeypatch.setattr(module, "gpu_info", lambda: (GpuInfo("pretend", "8.9"), ""))
    monkeypatch.setattr(module, "check_engine_meta", lambda meta, **kw: calls.append(("check",)))
    monkeypatch.setattr(module, "engine_from_bytes", lambda plan, module: FakeEngine())
    monkeypatch.setattr(module, "polygraphy_backend", lambda trt: FakeBackend)
    with TrtRunner(engine[1], engine[2], module="auto") as runner:
        first = runner.infer({"input": np.zeros((3, 1, 4, 4), np.float32)})["detections"]
        second = runner.infer({"input": np.zeros((1, 1, 4, 4), np.float32)})["detections"]
        assert first.shape == (6, 7) and second.shape == (2, 7)
        assert first[-1, -1] == 41  # not overwritten by the second call
        with pytest.raises(RunnerError, match=r"shape \(9, 1, 4, 4\) outside the profile"):
            runner.infer({"input": np.zeros((9, 1, 4, 4), np.float32)})
    assert calls == [
        ("check",),
        ("made", "FakeEngine", f"trt:{engine[1]}"),
        ("activate",),
        ("deactivate",),
    ]
