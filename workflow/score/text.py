"""Scoring the character model: next-character accuracy and per-character perplexity over
held-out text, and greedy generation from a seed string, through anything that runs one call
of the network (ONNX Runtime, a TensorRT engine, the numpy run of the description).

A step function takes ``tokens`` int32 (N, T), ``h0`` and ``c0`` float32 (layers, N, H) and
returns at least ``logits`` (N, T, V), ``next`` (N, 1), ``hn`` and ``cn``.
"""

from collections.abc import Callable

import numpy as np

from workflow.errors import DataError

Step = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def score_stream(
    step: Step, ids: np.ndarray, *, streams: int, window: int, layers: int, hidden: int
) -> dict[str, float | int]:
    """Cut ``ids`` into ``streams`` contiguous parts run side by side, ``window`` characters per
    call, the state carried from call to call; score each prediction of the next character.

    Returns:
        ``{"count", "accuracy", "perplexity", "cross_entropy_bits"}`` (perplexity = exp of the
        mean negative log-likelihood per character).

    Raises:
        DataError: too little text for the streams.
    """
    length = (len(ids) - 1) // streams
    if length < 1:
        raise DataError("held-out text", f"{len(ids)} characters for {streams} streams")
    inputs = ids[: streams * length].reshape(streams, length).astype(np.int32)
    targets = ids[1 : streams * length + 1].reshape(streams, length)
    h = np.zeros((layers, streams, hidden), np.float32)
    c = np.zeros_like(h)
    correct, nll = 0, 0.0
    for start in range(0, length, window):
        out = step(inputs[:, start : start + window], h, c)
        h, c = out["hn"], out["cn"]
        logits = np.asarray(out["logits"])
        truth = targets[:, start : start + window]
        correct += int((logits.argmax(-1) == truth).sum())
        picked = np.take_along_axis(_log_softmax(logits), truth[..., None], axis=-1)
        nll -= float(picked.sum())
    count = streams * length
    return {
        "count": count,
        "accuracy": correct / count,
        "perplexity": float(np.exp(nll / count)),
        "cross_entropy_bits": nll / count / np.log(2),
    }


def generate(
    step: Step, seed_ids: np.ndarray, count: int, *, layers: int, hidden: int
) -> np.ndarray:
    """The seed's demonstration: run the seed string from a zero state, then feed back the
    network's most likely next character (its TopK output) ``count`` times, carrying the
    state; return the generated ids."""
    h = np.zeros((layers, 1, hidden), np.float32)
    c = np.zeros_like(h)
    tokens = np.asarray(seed_ids, np.int32)[None]
    generated = []
    for _ in range(count):
        out = step(tokens, h, c)
        h, c = out["hn"], out["cn"]
        tokens = np.asarray(out["next"], np.int32).reshape(1, 1)
        generated.append(int(tokens[0, 0]))
    return np.asarray(generated, np.int32)
