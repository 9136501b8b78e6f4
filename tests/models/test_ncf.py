import numpy as np
import pytest

from workflow.data.movielens import generate, leave_one_out
from workflow.errors import PipelineError
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.export import onnx_from_torch, parity_report
from workflow.models.ncf import OUTPUT_NAME, neumf, predict_scores, sample_negatives, train_ncf

SETTINGS = dict(factors=4, layers=[8, 4], negatives=2, epochs=1, batch_size=64, threads=1)


@pytest.fixture(scope="module")
def data():
    users, movies = generate(
        users=40, movies=150, factors=4, interactions=(5, 15), popularity=1.0, seed=0
    )
    return leave_one_out(users, movies, num_movies=150, negatives=99, seed=0)


@pytest.mark.slow
def test_training_is_seeded_and_exports_with_parity(data):
    first = train_ncf(data, seed=0, learning_rate=0.01, **SETTINGS)
    again = train_ncf(data, seed=0, learning_rate=0.01, **SETTINGS)
    assert state_dict_bytes(first) == state_dict_bytes(again)
    other = train_ncf(data, seed=1, learning_rate=0.01, **SETTINGS)
    assert state_dict_bytes(first) != state_dict_bytes(other)
    users, movies = data.candidates()
    scores = predict_scores(first, users, movies, batch_size=16)
    assert scores.shape == (40, 100) and ((scores > 0) & (scores < 1)).all()
    feeds = {"user": users, "movies": movies}
    graph = onnx_from_torch(first, feeds, output_name=OUTPUT_NAME, opset=18)
    report = parity_report(
        scores,
        graph,
        feeds,
        output_name=OUTPUT_NAME,
        batch_size=16,
        tolerance=1e-5,
        framework="PyTorch",
    )
    assert report["count"] == 40 and report["max_abs_diff"] <= 1e-5


def test_negatives_are_never_seen_movies():
    seen = np.zeros((3, 10), dtype=bool)
    seen[0, :9] = True  # user 0 has only movie 9 left
    drawn = sample_negatives(np.array([0, 1, 0]), seen, 4, np.random.default_rng(0))
    assert drawn.shape == (3, 4) and (drawn[[0, 2]] == 9).all()


def test_bad_layers_are_refused():
    with pytest.raises(PipelineError, match="even first width"):
        neumf(3, 4, factors=2, layers=[7, 4])
