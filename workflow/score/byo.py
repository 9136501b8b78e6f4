"""Scoring your own model (config ``byo``) over its evaluation batches.

A classifier (labels given) gets top-1, and top-5 where it has more than five classes (with
five or fewer, every label is in the top five: top-5 says nothing and is left out, as None). A
model without labels has no task metric: its score file says so and describes each output over
the evaluation rows (shape, dtype, how many values are finite); how its FP16 and INT8 graphs
agree with FP32 is the precision agreement report's
(``results/precision/{model}/{precision}.agreement.json``). Padding rows of a static batch are
dropped from every result.
"""

from collections.abc import Iterable
from typing import Any

import numpy as np

from workflow.backend.base import BaseRunner
from workflow.errors import PipelineError
from workflow.score.classify import accuracy

#: Top-5 is reported only for more classes than this.
TOP5_MIN_CLASSES = 6
#: What the score file of a model without labels says.
NO_TASK = (
    "no task metric: the model has no labels; compare precisions with the agreement report "
    "(results/precision/{model}/{precision}.agreement.json)"
)


def run_batches(
    runner: BaseRunner, batches: Iterable[dict[str, np.ndarray]], real: list[int]
) -> dict[str, list[np.ndarray]]:
    """Run an active runner over feeds, keeping each output's real rows.

    Args:
        runner: an active runner.
        batches: feeds, in order.
        real: how many rows of each batch are real (the rest pads a static batch); an output
            whose first axis is not the batch's (a per-batch value) is kept whole.

    Returns:
        Each output's parts, one per batch (their sizes beyond the first axis may differ
        where the model's dimensions are dynamic).

    Raises:
        PipelineError: fewer or more batches than ``real`` counts.
    """
    parts: dict[str, list[np.ndarray]] = {}
    count = 0
    for index, feed in enumerate(batches):
        if index >= len(real):
            raise PipelineError(runner.name, f"more than the {len(real)} batches expected")
        rows = {len(v) for v in feed.values() if np.ndim(v)}
        for name, value in runner.infer(feed).items():
            value = np.asarray(value)
            if value.ndim and len(value) in rows:
                value = value[: real[index]]
            elif not value.ndim:
                value = value[None]
            parts.setdefault(name, []).append(value)
        count = index + 1
    if count != len(real):
        raise PipelineError(runner.name, f"{count} batches run, {len(real)} expected")
    return parts


def describe_outputs(outputs: dict[str, list[np.ndarray]]) -> dict[str, dict[str, Any]]:
    """Per output its shape over all batches (rows summed; ``?`` for a size that differs
    between batches), dtype and share of finite values (1.0 for integers)."""
    described = {}
    for name, values in outputs.items():
        sizes = {v.shape[1:] for v in values}
        tail = list(next(iter(sizes))) if len(sizes) == 1 else None
        if tail is None:
            ranks = {len(t) for t in sizes}
            tail = ["?"] * ranks.pop() if len(ranks) == 1 else ["?"]
            for axis in range(len(tail)):
                if len({t[axis] for t in sizes}) == 1:
                    tail[axis] = next(iter(sizes))[axis]
        total = sum(v.size for v in values)
        floats = values[0].dtype.kind in "fc"
        finite = sum(int(np.isfinite(v).sum()) for v in values) / total if floats and total else 1.0
        described[name] = {
            "shape": [sum(len(v) for v in values), *tail],
            "dtype": values[0].dtype.name,
            "finite": float(finite),
        }
    return described


def score_own(
    outputs: dict[str, list[np.ndarray]], report: dict[str, Any], labels: np.ndarray
) -> dict[str, Any]:
    """The score of one precision from its joined outputs.

    Args:
        outputs: :func:`run_batches`'s.
        report: the import report (``task``, ``output``, ``evaluation.rows``).
        labels: the evaluation labels (classifier), else empty.

    Returns:
        For a classifier ``workflow.score.classify.accuracy``'s fields (``top5`` None for five
        classes or fewer, with ``top5_note``); without a task ``count``, ``top1`` and ``top5``
        None and ``metric`` saying why; both with ``task`` and ``outputs``
        (:func:`describe_outputs`).

    Raises:
        PipelineError: a classifier output whose rows differ from the labels.
    """
    described = describe_outputs(outputs)
    if report["task"] != "classify":
        return {
            "task": "none",
            "count": int(report["evaluation"]["rows"]),
            "top1": None,
            "top5": None,
            "metric": NO_TASK,
            "outputs": described,
        }
    scores = np.concatenate(outputs[report["output"]]).astype(np.float32)
    if len(scores) != len(labels):
        raise PipelineError(
            report["output"],
            f"{len(scores)} rows of scores for {len(labels)} labels",
            "rerun byo_import (its evaluation batches and labels disagree)",
        )
    score = accuracy(scores, labels) | {"task": "classify", "outputs": described}
    if scores.shape[1] < TOP5_MIN_CLASSES:
        score["top5"] = None
        score["top5_note"] = f"{scores.shape[1]} classes: top-5 needs more than five"
    return score
