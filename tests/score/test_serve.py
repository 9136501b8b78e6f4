"""Serving from several processes: the same answers whatever the worker count."""

import numpy as np
import onnxruntime
import pytest

from tests.conftest import tiny_recommender_bytes
from workflow.errors import PipelineError
from workflow.score import serve as serving
from workflow.score.recommend import top_k
from workflow.score.serve import mps_daemon, query_stream, serve


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
    with pytest.raises(PipelineError, match="not found"), mps_daemon():
        pass
