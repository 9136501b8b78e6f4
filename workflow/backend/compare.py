"""Compare two runs' outputs, output by output. Never sees a runner: only arrays.

The element check is Polygraphy's ``CompareFunc.simple`` (what ``polygraphy run --trt --onnxrt``
applies): an element fails when it differs by more than ``atol`` absolutely *and* by more than
``rtol`` relatively; NaN fails. For reduced-precision engines whose outputs are class scores,
top-1 agreement (the share of rows whose largest entry is the same) is the better verdict.
"""

from dataclasses import asdict, dataclass

import numpy as np

from workflow.errors import PipelineError


@dataclass(frozen=True)
class OutputDiff:
    """How one output differs: max and mean absolute error, max relative error, verdict, and
    (for outputs of class scores) the top-1 agreement."""

    name: str
    max_abs: float
    mean_abs: float
    max_rel: float
    passed: bool
    top1_agreement: float | None = None


@dataclass(frozen=True)
class ScoreReport:
    """Every output's difference, and whether all pass.

    With ``min_top1`` set, an output of class scores passes on its top-1 agreement; every other
    output on the element check.
    """

    outputs: list[OutputDiff]
    atol: float
    rtol: float
    min_top1: float | None = None

    @property
    def passed(self) -> bool:
        return all(item.passed for item in self.outputs)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "atol": self.atol,
            "rtol": self.rtol,
            "min_top1": self.min_top1,
            "outputs": [asdict(item) for item in self.outputs],
        }


def holds_distributions(array: np.ndarray) -> bool:
    """Whether every row (last axis) is a probability distribution: class scores after a
    softmax (non-negative, summing to 1 within 1e-3)."""
    if array.ndim < 2 or array.shape[-1] < 2 or array.size == 0:
        return False
    return bool((array >= 0).all() and np.allclose(array.sum(axis=-1), 1.0, atol=1e-3))


def top1_agreement(reference: np.ndarray, candidate: np.ndarray) -> float | None:
    """Share of rows (all axes but the last) whose largest entry sits at the same index; ``None``
    for outputs with fewer than two entries along the last axis or fewer than two dimensions."""
    if reference.ndim < 2 or reference.shape[-1] < 2 or reference.size == 0:
        return None
    same = np.argmax(reference, axis=-1) == np.argmax(candidate, axis=-1)
    return float(same.mean())


def compare(
    reference: dict[str, np.ndarray],
    candidate: dict[str, np.ndarray],
    *,
    atol: float,
    rtol: float,
    min_top1: float | None = None,
    top1_outputs: tuple[str, ...] | None = None,
) -> ScoreReport:
    """Compare candidate outputs with reference outputs.

    Args:
        reference: outputs of the reference run, by name.
        candidate: outputs of the run under test, by name.
        atol: absolute tolerance of the element check.
        rtol: relative tolerance of the element check.
        min_top1: when set, outputs of class scores pass on a top-1 agreement of at least
            this share instead of the element check (the others still take the element check).
        top1_outputs: the outputs that hold class scores (default: those whose reference rows
            are probability distributions, see :func:`holds_distributions`).

    Raises:
        PipelineError: the two runs have different output names or shapes.
    """
    from polygraphy.comparator import CompareFunc
    from polygraphy.comparator.struct import IterationResult
    from polygraphy.logger import G_LOGGER

    if set(reference) != set(candidate):
        raise PipelineError(
            "compare", f"outputs {sorted(candidate)} vs reference {sorted(reference)}"
        )
    for name in reference:
        if np.shape(reference[name]) != np.shape(candidate[name]):
            raise PipelineError(
                "compare",
                f"output {name!r} has shape {np.shape(candidate[name])}, "
                f"reference {np.shape(reference[name])}",
            )
    check = CompareFunc.simple(atol=atol, rtol=rtol, check_shapes=True, check_error_stat="elemwise")
    as_float = {name: np.asarray(v, dtype=np.float64) for name, v in reference.items()}
    with G_LOGGER.verbosity(G_LOGGER.CRITICAL):  # the verdicts are returned, not printed
        results = check(
            IterationResult(as_float, runner_name="reference"),
            IterationResult(
                {name: np.asarray(v, dtype=np.float64) for name, v in candidate.items()},
                runner_name="candidate",
            ),
        )
    diffs = []
    for name in sorted(reference):
        result = results[name]
        agreement = None
        scores = (
            holds_distributions(as_float[name]) if top1_outputs is None else name in top1_outputs
        )
        if scores:
            agreement = top1_agreement(as_float[name], np.asarray(candidate[name]))
        passed = bool(result)
        if min_top1 is not None and agreement is not None:
            passed = agreement >= min_top1
        diffs.append(
            OutputDiff(
                name,
                float(result.max_absdiff),
                float(result.mean_absdiff),
                float(result.max_reldiff),
                passed,
                agreement,
            )
        )
    return ScoreReport(diffs, atol, rtol, min_top1)
