"""Serving from several processes: the same answers whatever the worker count."""

import numpy as np
import onnxruntime
import pytest

from tests.conftest import tiny_recommender_bytes
from workflow.data.movielens import generate, leave_one_out
from workflow.errors import GpuUnavailable, PipelineError
from workflow.score import serve as serving
from workflow.score.recommend import top_k
from workflow.score.serve import (
    check_backend,
    check_mps,
    mps_daemon,
    query_stream,
    serve,
    serving_report,
    use_mps,
)
from workflow.trt.gpu import GpuInfo


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "recommender.onnx"
    path.write_bytes(tiny_recommender_bytes())
    return str(path)


def _stream():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 6, size=9)
    movies = rng.integers(0, 9, size=(9, 4))
    return query_stream(users, movies, count=50, seed=1)


@pytest.mark.slow
def test_three_workers_answer_as_one(graph):
    users, movies = _stream()
    one = serve("ort", {"onnx": graph}, users, movies, processes=1, k=2)
    three = serve("ort", {"onnx": graph}, users, movies, processes=3, k=2)
    assert np.array_equal(one.answers, three.answers) and np.allclose(one.scores, three.scores)
    assert one.answers.shape == (50, 2) and len(three.latencies_ms) == 50
    summary = three.summary()
    assert summary["processes"] == 3 and summary["queries"] == 50 and summary["seconds"] > 0
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
    # the answers are the graph's top 2 of each query's candidates
    session = onnxruntime.InferenceSession(graph)
    scores = session.run(["scores"], {"user": users, "movies": movies})[0]
    assert np.array_equal(one.answers, top_k(scores, movies, 2)[0])


def test_a_failing_worker_is_reported_not_waited_for(tmp_path):
    users, movies = _stream()
    with pytest.raises(PipelineError, match="serving worker [01]"):
        serve("ort", {"onnx": str(tmp_path / "missing.onnx")}, users, movies, processes=2, k=2)


def test_bad_settings():
    users, movies = _stream()
    with pytest.raises(PipelineError, match="choose among"):
        serve("tensorflow", {}, users, movies, processes=1, k=2)
    with pytest.raises(PipelineError, match="need 1 to 50"):
        serve("ort", {}, users, movies, processes=0, k=2)
    with pytest.raises(PipelineError, match="need 1 to 50"):
        serve("ort", {}, users, movies, processes=51, k=2)


def test_mps_needs_its_control_program(monkeypatch):
    monkeypatch.setattr(serving, "MPS_CONTROL", "no-such-mps-control")
    with pytest.raises(PipelineError, match="not found on the PATH"), mps_daemon():
        pass


NETWORK = {"users": 6, "movies": 9, "factors": 3, "layers": [8, 4]}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A small NeuMF with seeded random weights, saved as the pipeline saves trained ones."""
    import torch

    from workflow.models.checkpoint import state_dict_bytes
    from workflow.models.ncf import neumf

    torch.manual_seed(0)
    net = neumf(6, 9, factors=NETWORK["factors"], layers=NETWORK["layers"])
    for parameter in net.parameters():  # spread the scores so that no two candidates tie
        torch.nn.init.normal_(parameter, std=1.0)
    path = tmp_path_factory.mktemp("serve") / "weights.pt"
    path.write_bytes(state_dict_bytes(net))
    return str(path), net


@pytest.mark.slow
def test_torch_workers_answer_with_the_models_top_k(weights):
    """The torch backend from two processes gives each query's k best candidates by the
    model's own probabilities, ordered as numpy's stable sort orders them."""
    import torch

    path, net = weights
    users, movies = _stream()
    two = serve("torch", {"weights": path}, users, movies, processes=2, k=3, model=NETWORK)
    with torch.no_grad():
        probs = net(torch.from_numpy(users), torch.from_numpy(movies)).numpy()
    order = np.argsort(-probs, axis=1, kind="stable")[:, :3]
    assert np.array_equal(two.answers, np.take_along_axis(movies, order, axis=1))
    np.testing.assert_allclose(two.scores, np.take_along_axis(probs, order, axis=1), rtol=1e-6)
    assert two.device == "cpu"  # no GPU on this machine: the model runs where torch can


@pytest.mark.slow
def test_torch_fp16_casts_the_weights(weights):
    import torch

    path, net = weights
    users, movies = _stream()
    half = serve(
        "torch",
        {"weights": path},
        users,
        movies,
        processes=1,
        k=3,
        model=NETWORK | {"precision": "fp16"},
    )
    with torch.no_grad():
        probs = net.half()(torch.from_numpy(users), torch.from_numpy(movies)).float().numpy()
    net.float()
    best = np.sort(probs, axis=1)[:, ::-1][:, :3]
    assert half.scores.dtype == np.float32
    np.testing.assert_array_equal(half.scores, best)
    # FP16 values, widened exactly (ties in FP16 may order ids either way, values cannot)
    assert np.array_equal(half.scores, half.scores.astype(np.float16).astype(np.float32))


def test_torch_has_no_int8_model():
    check_backend("torch", "fp16")
    check_backend("ort", "int8")
    check_backend("trt", "int8")
    with pytest.raises(PipelineError, match="serve.backend=torch with precision int8") as err:
        check_backend("torch", "int8")
    assert "set serve.backend to ort" in str(err.value)
    with pytest.raises(PipelineError, match="unknown backend"):
        check_backend("onnx", "fp32")


def test_mps_settings_that_cannot_hold_are_refused():
    check_mps("torch", True)
    check_mps("ort", "auto")
    check_mps("ort", False)
    with pytest.raises(PipelineError, match="serve.mps: true with serve.backend: ort") as err:
        check_mps("ort", True)
    assert "set serve.backend to one of ('trt', 'torch')" in str(err.value)
    with pytest.raises(PipelineError, match="choose auto, true or false"):
        check_mps("torch", "yes")


def _host(monkeypatch, *, control: bool, gpu: bool):
    """Pretend this host has (or lacks) the MPS control program and a GPU."""
    found = "/usr/bin/nvidia-cuda-mps-control" if control else None
    monkeypatch.setattr(serving.shutil, "which", lambda name: found)
    info = (GpuInfo("NVIDIA H200", "9.0"), "") if gpu else (None, "no CUDA-capable device")
    monkeypatch.setattr(serving, "gpu_info", lambda: info)


def test_auto_uses_mps_only_for_gpu_backends_where_the_host_has_it(monkeypatch):
    _host(monkeypatch, control=True, gpu=True)
    assert use_mps("torch", "auto") and use_mps("trt", "auto")
    assert not use_mps("ort", "auto") and not use_mps("torch", False)
    _host(monkeypatch, control=False, gpu=True)
    assert not use_mps("torch", "auto")
    _host(monkeypatch, control=True, gpu=False)
    assert not use_mps("trt", "auto")
    assert use_mps("torch", True)  # asked for: mps_daemon decides, and refuses


def test_mps_asked_for_without_a_gpu_is_refused(monkeypatch):
    _host(monkeypatch, control=True, gpu=False)
    with pytest.raises(GpuUnavailable, match="MPS needs a CUDA GPU") as err, mps_daemon():
        pass
    assert "no CUDA-capable device" in str(err.value) and "serve.mps: auto or false" in str(
        err.value
    )


def test_serving_asked_to_use_mps_without_its_daemon_stops_before_serving(monkeypatch, weights):
    _host(monkeypatch, control=False, gpu=True)
    pairs = generate(users=6, movies=9, factors=2, interactions=(3, 5), popularity=0.5, seed=0)
    data = leave_one_out(*pairs, num_movies=9, negatives=3, seed=0)
    spawned = []
    monkeypatch.setattr(serving, "serve", lambda *a, **kw: spawned.append(a))
    with pytest.raises(PipelineError, match=r"nvidia-cuda-mps-control \| not found"):
        serving_report(
            "torch",
            {"weights": weights[0]},
            data,
            processes=[1],
            queries=10,
            seed=0,
            k=2,
            threads=1,
            model={"factors": 3, "layers": [8, 4]},
            mps=True,
        )
    assert not spawned
