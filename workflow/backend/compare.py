"""Compare two runs' outputs, output by output. Never sees a runner: only arrays."""

from dataclasses import asdict, dataclass

import numpy as np

from workflow.errors import PipelineError


@dataclass(frozen=True)
class OutputDiff:
    """How one output differs: max and mean absolute error, max relative error, verdict."""

    name: str
    max_abs: float
    mean_abs: float
    max_rel: float
    passed: bool


@dataclass(frozen=True)
class ScoreReport:
    """Every output's difference, and whether all are within tolerance."""

    outputs: list[OutputDiff]
    atol: float
    rtol: float

    @property
    def passed(self) -> bool:
        return all(item.passed for item in self.outputs)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "atol": self.atol,
            "rtol": self.rtol,
            "outputs": [asdict(item) for item in self.outputs],
        }


def compare(
    reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], *, atol: float, rtol: float
) -> ScoreReport:
    """Compare candidate outputs with reference outputs, element by element.

    An output passes when ``|candidate - reference| <= atol + rtol * |reference|`` everywhere
    (numpy's ``allclose`` rule).

    Raises:
        PipelineError: the two runs have different output names or shapes.
    """
    if set(reference) != set(candidate):
        raise PipelineError(
            "compare", f"outputs {sorted(candidate)} vs reference {sorted(reference)}"
        )
    diffs = []
    for name in sorted(reference):
        ref = np.asarray(reference[name], dtype=np.float64)
        got = np.asarray(candidate[name], dtype=np.float64)
        if ref.shape != got.shape:
            raise PipelineError(
                "compare", f"output {name!r} has shape {got.shape}, reference {ref.shape}"
            )
        error = np.abs(got - ref)
        rel = error / np.maximum(np.abs(ref), np.finfo(np.float32).tiny)
        diffs.append(
            OutputDiff(
                name,
                float(error.max(initial=0.0)),
                float(error.mean()) if error.size else 0.0,
                float(rel.max(initial=0.0)),
                bool(np.all(error <= atol + rtol * np.abs(ref))),
            )
        )
    return ScoreReport(diffs, atol, rtol)
