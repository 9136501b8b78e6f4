"""Mixed INT8/FP32 precision: which quantized nodes stay in FP32.

The quantized nodes (``workflow.quant.qdq.QUANTIZED_OPS``) are put in order, most sensitive
first, from a sensitivity report (``workflow.score.sensitivity``):

- ``only``: by the output SNR with only that node in INT8, lowest first (the node that costs
  the most by itself first);
- ``all_but``: by the output SNR with every other node in INT8, highest first (the node whose
  return to FP32 recovers the most first).

A choice is a prefix length ``k``: the first ``k`` nodes of that order stay FP32, the others
run in INT8. :func:`smallest_prefix` finds the smallest ``k`` for which a test holds by
bisection, assuming that a longer prefix (more nodes in FP32) never does worse, so that the
number of graphs evaluated grows with ``log2`` of the number of nodes.
"""

import math
from collections.abc import Callable
from typing import Any

from workflow.errors import PipelineError

RANKINGS = ("only", "all_but")


def _snr(summary: dict[str, Any] | None) -> float:
    """A summary's SNR as a float (``nan`` where there is none)."""
    value = None if summary is None else summary.get("snr_db")
    return math.nan if value is None else float(value)


def sensitive_first(sensitivity: dict[str, Any], ranking: str) -> list[dict[str, Any]]:
    """The sensitivity report's node rows, most sensitive first by ``ranking`` (see the module's
    description); ties and ``nan`` keep the report's order, ``nan`` first.

    Raises:
        PipelineError: an unknown ranking; the report has no nodes.
    """
    if ranking not in RANKINGS:
        raise PipelineError(
            "mixed.ranking", f"{ranking!r} is not a ranking", f"use one of {list(RANKINGS)}"
        )
    rows = list(sensitivity.get("nodes") or [])
    if not rows:
        raise PipelineError(
            "sensitivity report",
            "it lists no quantized node",
            "rebuild int8.sensitivity.json from the FP32 graph and its ranges",
        )

    def key(row: dict[str, Any]) -> float:
        if ranking == "only":
            snr = _snr(row.get("only"))
            return -math.inf if math.isnan(snr) else snr
        snr = _snr(row.get("all_but"))
        return -math.inf if math.isnan(snr) else -snr

    return sorted(rows, key=key)


def smallest_prefix(
    count: int,
    holds: Callable[[int], bool],
    *,
    low: int = 0,
    max_tests: int,
) -> tuple[int, list[tuple[int, bool]]]:
    """The smallest prefix length in ``[low, count]`` for which ``holds`` is true, by
    bisection; ``count`` (every node FP32) is taken to hold without a test.

    Args:
        count: the number of ranked nodes.
        holds: the test of one prefix length.
        low: the shortest prefix to try (tested first).
        max_tests: the most calls of ``holds``; when they are spent, the shortest prefix known
            to hold is returned.

    Returns:
        ``(k, [(k tested, held), ...] in call order)``.
    """
    tests: list[tuple[int, bool]] = []
    if low >= count or max_tests < 1:
        return count, tests
    held = holds(low)
    tests.append((low, held))
    if held:
        return low, tests
    failing, passing = low, count
    while passing - failing > 1 and len(tests) < max_tests:
        middle = (failing + passing) // 2
        held = holds(middle)
        tests.append((middle, held))
        if held:
            passing = middle
        else:
            failing = middle
    return passing, tests
