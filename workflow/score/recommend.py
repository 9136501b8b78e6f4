"""Scoring recommenders: top-k lists, HR@k and NDCG@k, the popularity baseline, and the seed's
human-readable recommendations.

A query is a user and a list of candidate movies; the answer is the top ``k`` movies with their
probabilities. A TensorRT engine of the ``onnx_topk`` builder answers that itself (outputs
``top_movies``, ``top_scores``: a TopK layer added to the parsed network); for the ONNX graph,
which outputs every candidate's probability (``scores``), :func:`top_k` makes the same answer on
the host, so both runtimes are scored by the same code from the same kind of answer.
"""

import numpy as np

from workflow.backend.base import BaseRunner
from workflow.errors import PipelineError

#: The engine's outputs (network API) and the ONNX graph's output.
TOP_MOVIES, TOP_SCORES, SCORES = "top_movies", "top_scores", "scores"


def top_k(scores: np.ndarray, movies: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best candidates of each query, best first (ties: the earlier candidate).

    Args:
        scores: probabilities (N, K).
        movies: the candidate movie ids (N, K).
        k: how many to keep (at most K).

    Returns:
        (movie ids (N, k) int64, their scores (N, k) float32).
    """
    if not 1 <= k <= scores.shape[1]:
        raise PipelineError("score.recommend.k", f"{k} with {scores.shape[1]} candidates")
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (
        np.take_along_axis(movies, order, axis=1).astype(np.int64),
        np.take_along_axis(scores, order, axis=1).astype(np.float32),
    )


def recommend(
    runner: BaseRunner, users: np.ndarray, movies: np.ndarray, *, k: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` movies of every query from an active runner: the engine's own TopK outputs,
    or the graph's scores through :func:`top_k`.

    Raises:
        PipelineError: the runner has neither kind of output.
    """
    best, best_scores = [], []
    for start in range(0, len(users), batch_size):
        part = slice(start, start + batch_size)
        out = runner.infer({"user": users[part], "movies": movies[part]})
        if TOP_MOVIES in out and TOP_SCORES in out:
            ids, values = out[TOP_MOVIES][:, :k], out[TOP_SCORES][:, :k]
        elif SCORES in out:
            ids, values = top_k(np.asarray(out[SCORES]), movies[part], k)
        else:
            raise PipelineError(
                runner.name, f"outputs {sorted(out)}: neither {TOP_MOVIES} nor {SCORES}"
            )
        best.append(np.asarray(ids, dtype=np.int64))
        best_scores.append(np.asarray(values, dtype=np.float32))
    return np.concatenate(best), np.concatenate(best_scores)


def ranking(best: np.ndarray, held_out: np.ndarray, k: int) -> dict[str, float | int]:
    """HR@k (the held-out movie is in the top k) and NDCG@k (1 / log2(rank + 2) when it is).

    Ties count against the held-out movie (the pessimistic rule of NCF evaluation code that
    counts the negatives scoring ``>=`` it): its rank is its position in a list whose ties were
    broken against it, which :func:`top_k` does because it keeps the earlier of ties and the
    held-out movie is the last candidate (:meth:`workflow.data.movielens.Interactions.candidates`).
    So a model that scores every candidate alike gets HR@k = 0, never 1. A runtime whose own top
    k orders ties otherwise (TensorRT's TopK promises no order among equal scores) can only move
    the held-out movie ahead of negatives that score exactly the same as it.

    Args:
        best: each user's top-k movie ids (N, >= k), best first.
        held_out: each user's held-out movie (N,).
        k: the cut-off.
    """
    hits = best[:, :k] == held_out[:, None]
    rank = np.argmax(hits, axis=1)
    found = hits.any(axis=1)
    gains = np.where(found, 1.0 / np.log2(rank + 2.0), 0.0)
    return {
        "count": int(len(held_out)),
        "k": int(k),
        "hr": float(found.mean()),
        "ndcg": float(gains.mean()),
    }


def popularity_baseline(
    popularity: np.ndarray, movies: np.ndarray, held_out: np.ndarray, k: int
) -> dict[str, float | int]:
    """The same metrics when every user gets the most popular candidates (training counts)."""
    best, _ = top_k(popularity[movies].astype(np.float32), movies, k)
    return ranking(best, held_out, k)


def recommendations_text(
    users: np.ndarray,
    best: np.ndarray,
    scores: np.ndarray,
    *,
    titles: list[str],
    movie_ids: np.ndarray,
    held_out: np.ndarray,
) -> str:
    """The seed's printout for some users: each recommended movie (source id, title) and its
    probability, the held-out movie marked."""
    lines = []
    for row, user in enumerate(users):
        lines.append(f"user {int(user)}: held-out movie {int(movie_ids[held_out[row]])}")
        for rank, (movie, score) in enumerate(zip(best[row], scores[row], strict=True), 1):
            mark = "  <- held out" if movie == held_out[row] else ""
            lines.append(
                f"  {rank:2d}. movie {int(movie_ids[movie]):5d}  p={float(score):.4f}"
                f"  {titles[movie]}{mark}"
            )
    return "\n".join(lines) + "\n"
