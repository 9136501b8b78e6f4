"""Scoring a character model: streams with carried state, perplexity, greedy generation."""

import numpy as np
import pytest

from workflow.errors import DataError
from workflow.score.text import generate, score_stream


def counting_step(vocab: int):
    """A fake network: predicts (token + 1) mod vocab, and counts its calls in the state."""

    def step(tokens, h0, c0):
        logits = np.full((*tokens.shape, vocab), -10.0, np.float32)
        np.put_along_axis(logits, ((tokens + 1) % vocab)[..., None], 10.0, axis=-1)
        return {
            "logits": logits,
            "next": ((tokens[:, -1:] + 1) % vocab).astype(np.int32),
            "hn": h0 + tokens.shape[1],
            "cn": c0 + 1,
        }

    return step


def test_a_perfect_predictor_scores_one_and_carries_its_state():
    ids = np.arange(101, dtype=np.int32) % 7
    score = score_stream(counting_step(7), ids, streams=4, window=10, layers=1, hidden=2)
    assert score["count"] == 100 and score["accuracy"] == 1.0
    assert score["perplexity"] == pytest.approx(1.0, abs=1e-6)


def test_perplexity_of_a_uniform_guess_is_the_vocabulary_size():
    def uniform(tokens, h0, c0):
        return {"logits": np.zeros((*tokens.shape, 5), np.float32), "hn": h0, "cn": c0}

    ids = np.random.default_rng(0).integers(0, 5, 400).astype(np.int32)
    score = score_stream(uniform, ids, streams=3, window=16, layers=2, hidden=3)
    assert score["perplexity"] == pytest.approx(5.0) and score[
        "cross_entropy_bits"
    ] == pytest.approx(np.log2(5))
    with pytest.raises(DataError, match="for 500 streams"):
        score_stream(uniform, ids, streams=500, window=16, layers=2, hidden=3)


def test_generation_feeds_back_the_top_character():
    assert generate(counting_step(7), np.array([3, 4]), 5, layers=1, hidden=2).tolist() == [
        5,
        6,
        0,
        1,
        2,
    ]
