import numpy as np
import pytest

from workflow.backend.base import BaseRunner, TensorSpec
from workflow.errors import PipelineError
from workflow.score.recommend import (
    popularity_baseline,
    ranking,
    recommend,
    recommendations_text,
    top_k,
)


def test_top_k_orders_best_first_and_keeps_the_earlier_of_ties():
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [0.3, 0.2, 0.1, 0.0]], np.float32)
    movies = np.array([[10, 11, 12, 13], [20, 21, 22, 23]])
    ids, values = top_k(scores, movies, 3)
    assert ids.tolist() == [[11, 13, 12], [20, 21, 22]]
    assert np.allclose(values, [[0.9, 0.9, 0.5], [0.3, 0.2, 0.1]])
    with pytest.raises(PipelineError, match="5 with 4 candidates"):
        top_k(scores, movies, 5)


def test_hit_ratio_and_ndcg_by_hand():
    best = np.array([[5, 7, 9], [1, 2, 3], [4, 6, 8]])
    report = ranking(best, np.array([5, 3, 0]), k=3)
    assert report["count"] == 3 and report["k"] == 3
    assert report["hr"] == pytest.approx(2 / 3)
    assert report["ndcg"] == pytest.approx((1.0 + 1 / np.log2(4)) / 3)
    assert ranking(best, np.array([5, 3, 0]), k=1)["hr"] == pytest.approx(1 / 3)


def test_popularity_baseline_ranks_by_training_counts():
    popularity = np.array([0, 5, 9, 1])
    movies = np.array([[0, 1, 2, 3], [3, 0, 1, 2]])
    report = popularity_baseline(popularity, movies, held_out=np.array([2, 3]), k=1)
    assert report["hr"] == pytest.approx(0.5)  # movie 2 is the most popular; 3 is not


def test_printed_recommendations_mark_the_held_out_movie():
    text = recommendations_text(
        np.array([4]),
        np.array([[1, 0]]),
        np.array([[0.75, 0.5]], np.float32),
        titles=["Heat (1995)", "Up (2009)"],
        movie_ids=np.array([10, 20]),
        held_out=np.array([0]),
    )
    assert text.splitlines() == [
        "user 4: held-out movie 10",
        "   1. movie    20  p=0.7500  Up (2009)",
        "   2. movie    10  p=0.5000  Heat (1995)  <- held out",
    ]


class _Fake(BaseRunner):
    """Answers like an engine (top lists) or like the ONNX graph (every candidate's score)."""

    def __init__(self, engine: bool) -> None:
        super().__init__("fake")
        self.engine = engine

    def _activate(self) -> None:
        pass

    def _deactivate(self) -> None:
        pass

    def _input_metadata(self):
        return [
            TensorSpec("user", np.dtype(np.int64), (None,)),
            TensorSpec("movies", np.dtype(np.int64), (None, 4)),
        ]

    def _infer(self, feed):
        scores = (feed["movies"] % 7).astype(np.float32) / 7
        if not self.engine:
            return {"scores": scores}
        ids, values = top_k(scores, feed["movies"], 2)
        return {"top_movies": ids, "top_scores": values}


def test_engine_and_graph_answers_are_scored_alike():
    users = np.arange(5, dtype=np.int64)
    movies = np.arange(20, dtype=np.int64).reshape(5, 4)
    answers = []
    for engine in (True, False):
        with _Fake(engine) as runner:
            answers.append(recommend(runner, users, movies, k=2, batch_size=2))
    assert np.array_equal(answers[0][0], answers[1][0])
    assert np.array_equal(answers[0][1], answers[1][1])


def _pessimistic_reference(scores: np.ndarray, k: int) -> tuple[float, float]:
    """HR@k and NDCG@k as NCF evaluation code computes them from every candidate's score, the
    held-out movie's score in the last column: its rank is the number of negatives scoring
    ``>=`` it; a hit when that is below k, gain log(2) / log(rank + 2)."""
    hits, gains = [], []
    for row in scores:
        rank = int(np.sum(row[:-1] >= row[-1]))
        hits.append(rank < k)
        gains.append(np.log(2) / np.log(rank + 2) if rank < k else 0.0)
    return float(np.mean(hits)), float(np.mean(gains))


def _queries(users: int = 300, negatives: int = 100, seed: int = 0):
    """Candidate rows laid out as the MovieLens split makes them: negatives, then the held-out
    movie."""
    rng = np.random.default_rng(seed)
    movies = np.stack([rng.permutation(1000)[: negatives + 1] for _ in range(users)])
    return movies, movies[:, -1]


def test_constant_scores_hit_nothing_instead_of_everything():
    movies, held_out = _queries()
    scores = np.full(movies.shape, 0.5, np.float32)
    best, _ = top_k(scores, movies, 10)
    report = ranking(best, held_out, 10)
    assert report["hr"] == 0.0 and report["ndcg"] == 0.0
    assert popularity_baseline(np.zeros(1000), movies, held_out, 10)["hr"] == 0.0


def test_ties_are_ranked_against_the_held_out_movie_like_ncf_evaluation():
    movies, held_out = _queries()
    # few distinct values: most held-out movies tie with some negatives
    scores = np.random.default_rng(1).integers(0, 12, size=movies.shape).astype(np.float32)
    hr, ndcg = _pessimistic_reference(scores, 10)
    assert 0.05 < hr < 0.95  # the case is not degenerate
    best, _ = top_k(scores, movies, 10)
    report = ranking(best, held_out, 10)
    assert report["hr"] == pytest.approx(hr) and report["ndcg"] == pytest.approx(ndcg)
    # the same scores with the held-out movie first among the candidates would be counted
    # ahead of its ties: the layout is what makes the rule hold
    first = top_k(scores[:, ::-1], movies[:, ::-1], 10)[0]
    assert ranking(first, held_out, 10)["hr"] > hr
