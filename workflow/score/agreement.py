"""How far a reduced-precision graph (FP16, INT8) is from its FP32 graph, with no task metric:
both graphs run in ONNX Runtime on the same evaluation inputs and every output is compared.

Per output, over the whole evaluation set (every element of every batch; running sums in
float64, one batch in memory at a time):

- ``max_abs`` and ``mean_abs``: the largest and the mean of ``|ref - x|``;
- ``cosine``: ``sum(ref * x) / (sqrt(sum(ref^2)) * sqrt(sum(x^2)))`` over all elements
  (1.0 when both are all zero, 0.0 when only one is);
- ``snr_db``: ``10 * log10(sum(ref^2) / sum((ref - x)^2))``; ``inf`` when the outputs are equal;
- ``argmax_agreement``, for score-like outputs: the share of positions (every index but the last
  axis) whose argmax along the last axis is the same in both. An output is score-like when it
  is a float output of rank >= 2 whose last axis has more than one entry, or when it is named
  in ``argmax_outputs``.

Each output's entry also names its ``dtype``, the ``shape`` of one batch's output (the last
batch's) and the ``elements`` compared. Integer and boolean outputs (indices, counts, masks)
are compared by ``equal_share``, the share of equal elements. ``nonfinite`` counts elements
where the FP32 output is finite and the other is not (an FP16 overflow).

A user metric adds what only you know how to measure; see :func:`load_metric` for its contract.
"""

import importlib
import importlib.util
import itertools
import logging
import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workflow.errors import PipelineError
from workflow.logs import timed
from workflow.ort.runner import OrtRunner
from workflow.quant.batches import iter_folder

log = logging.getLogger(__name__)

#: The reference precision every other one is compared with.
REFERENCE = "fp32"
#: The config setting a user metric comes from (named in its errors).
METRIC_SETTING = "agreement.metric"

#: A user metric: per batch, the feed and the outputs by precision in, numbers by name out.
Metric = Callable[[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]], dict[str, float]]


def is_score_like(array: np.ndarray) -> bool:
    """Whether an output reads as scores over classes: float, rank >= 2, last axis > 1."""
    return bool(np.issubdtype(array.dtype, np.floating) and array.ndim >= 2 and array.shape[-1] > 1)


@dataclass
class OutputAgreement:
    """Running sums of one output's comparison over the evaluation set.

    Args:
        name: the output's name.
        argmax: compare argmax along the last axis even where the output is not score-like
            by shape (:func:`is_score_like` decides otherwise).
    """

    name: str
    argmax: bool = False
    dtype: str = ""
    shape: tuple[int, ...] = ()
    elements: int = 0
    max_abs: float = 0.0
    sum_abs: float = 0.0
    dot: float = 0.0
    ref_sq: float = 0.0
    cand_sq: float = 0.0
    noise_sq: float = 0.0
    nonfinite: int = 0
    equal: int = 0
    positions: int = 0
    agreeing: int = 0
    uses_argmax: bool = field(default=False, init=False)

    def update(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        """Add one batch's outputs of both graphs.

        Raises:
            PipelineError: the two outputs differ in shape.
        """
        reference, candidate = np.asarray(reference), np.asarray(candidate)
        if reference.shape != candidate.shape:
            raise PipelineError(
                f"output {self.name!r}",
                f"shape {candidate.shape} differs from the FP32 graph's {reference.shape}",
                "both graphs must come from the same model (rebuild the precision graph)",
            )
        self.dtype = self.dtype or str(reference.dtype)
        self.shape = reference.shape
        self.elements += reference.size
        self.equal += int(np.count_nonzero(reference == candidate))
        if not np.issubdtype(reference.dtype, np.floating):
            return
        ref = reference.astype(np.float64).ravel()
        cand = candidate.astype(np.float64).ravel()
        self.nonfinite += int(np.count_nonzero(np.isfinite(ref) & ~np.isfinite(cand)))
        diff = ref - cand
        if diff.size:
            self.max_abs = max(self.max_abs, float(np.max(np.abs(diff))))
        self.sum_abs += float(np.sum(np.abs(diff)))
        self.dot += float(np.dot(ref, cand))
        self.ref_sq += float(np.dot(ref, ref))
        self.cand_sq += float(np.dot(cand, cand))
        self.noise_sq += float(np.dot(diff, diff))
        if (self.argmax and reference.ndim >= 1) or is_score_like(reference):
            self.uses_argmax = True
            agree = np.argmax(reference, axis=-1) == np.argmax(candidate, axis=-1)
            self.positions += agree.size
            self.agreeing += int(np.count_nonzero(agree))

    def result(self) -> dict[str, Any]:
        """The output's numbers (floats; ``inf`` for the SNR of equal outputs)."""
        row: dict[str, Any] = {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "elements": self.elements,
            "equal_share": self.equal / self.elements if self.elements else None,
        }
        if not self.dtype or not np.issubdtype(np.dtype(self.dtype), np.floating):
            return row
        if self.ref_sq > 0 and self.cand_sq > 0:
            cosine = self.dot / (math.sqrt(self.ref_sq) * math.sqrt(self.cand_sq))
        else:
            cosine = 1.0 if self.ref_sq == self.cand_sq == 0 else 0.0
        if self.noise_sq == 0:
            snr = math.inf
        elif math.isnan(self.noise_sq):
            snr = math.nan
        elif self.ref_sq == 0 or math.isinf(self.noise_sq):
            snr = -math.inf
        else:
            snr = 10 * math.log10(self.ref_sq / self.noise_sq)
        row |= {
            "max_abs": self.max_abs,
            "mean_abs": self.sum_abs / self.elements if self.elements else None,
            "cosine": cosine,
            "snr_db": snr,
            "nonfinite": self.nonfinite,
            "argmax_agreement": self.agreeing / self.positions if self.uses_argmax else None,
            "argmax_positions": self.positions if self.uses_argmax else None,
        }
        return row


def load_metric(spec: str) -> Metric:
    """Import a user metric named ``module:function`` (a module on the import path, or a
    Python file: ``metrics/mine.py:function``).

    The contract: the function is called once per evaluation batch as
    ``function(inputs, outputs)``, where ``inputs`` is the batch's feed (arrays by graph input
    name) and ``outputs`` holds both graphs' outputs by precision, then by output name
    (``outputs["fp32"]["prob"]``, ``outputs["int8"]["prob"]``). It returns numbers by name,
    the same names for every batch. Each number is averaged over the batches, weighted by the
    batch's size (the first input's leading dimension), so return per-batch means (a share, a
    mean error) rather than sums. Example::

        # my_metrics.py, used with agreement: {metric: "my_metrics.py:top1_agreement"}
        import numpy as np

        def top1_agreement(inputs, outputs):
            fp32, other = (outputs[p]["prob"] for p in outputs)
            return {"top1_agreement": float(np.mean(fp32.argmax(-1) == other.argmax(-1)))}

    Raises:
        PipelineError: naming ``agreement.metric``: no ``:`` in the spec, a module or file
            that does not import, or no callable of that name in it.
    """
    module_name, sep, function_name = spec.rpartition(":")
    if not sep or not module_name or not function_name:
        raise PipelineError(
            METRIC_SETTING,
            f"{spec!r} is not module:function",
            "write it as my_module:my_function or path/to/file.py:my_function",
        )
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            loader = importlib.util.spec_from_file_location(f"agreement_metric_{path.stem}", path)
            if loader is None or not path.is_file():
                raise FileNotFoundError(f"no file {path.resolve()}")
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - any import failure is the setting's
        raise PipelineError(
            METRIC_SETTING,
            f"{module_name!r} does not import ({type(error).__name__}: {error})",
            "give a module on the Python path or a .py file relative to the working directory",
        ) from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise PipelineError(
            METRIC_SETTING,
            f"{module_name!r} has no function {function_name!r}",
            f"define {function_name}(inputs, outputs) there or name one it has",
        )
    return function


def _batch_size(inputs: dict[str, np.ndarray]) -> int:
    first = np.asarray(next(iter(inputs.values()))) if inputs else np.zeros(())
    return int(first.shape[0]) if first.ndim else 1


class Agreement:
    """Collects the comparison of two graphs' outputs batch by batch.

    Args:
        precision: the compared graph's precision (``fp16``, ``int8``), its key in the
            ``outputs`` a metric receives.
        argmax_outputs: outputs compared by argmax whatever their shape.
        metric: a user metric (:func:`load_metric`), or ``None``.
    """

    def __init__(
        self, precision: str, *, argmax_outputs: Iterable[str] = (), metric: Metric | None = None
    ) -> None:
        self.precision = precision
        self.argmax_outputs = set(argmax_outputs)
        self.metric = metric
        self.outputs: dict[str, OutputAgreement] = {}
        self.batches = 0
        self.samples = 0
        self.metric_sums: dict[str, float] = {}

    def update(
        self,
        inputs: dict[str, np.ndarray],
        reference: dict[str, np.ndarray],
        candidate: dict[str, np.ndarray],
    ) -> None:
        """Add one batch: its feed and both graphs' outputs by name.

        Raises:
            PipelineError: the graphs' outputs differ in names or shapes; the metric returns
                no dict of numbers, or other names than for the first batch.
        """
        if set(reference) != set(candidate):
            raise PipelineError(
                f"{self.precision} graph",
                f"outputs {sorted(candidate)} differ from the FP32 graph's {sorted(reference)}",
                "both graphs must come from the same model (rebuild the precision graph)",
            )
        for name in reference:
            if name not in self.outputs:
                self.outputs[name] = OutputAgreement(name, argmax=name in self.argmax_outputs)
            self.outputs[name].update(reference[name], candidate[name])
        size = _batch_size(inputs)
        if self.metric is not None:
            values = self.metric(inputs, {REFERENCE: reference, self.precision: candidate})
            self._add_metric(values, size)
        self.batches += 1
        self.samples += size

    def _add_metric(self, values: Any, size: int) -> None:
        if not isinstance(values, dict) or not all(
            isinstance(v, numbers.Real) or (isinstance(v, np.ndarray) and v.size == 1)
            for v in values.values()
        ):
            raise PipelineError(
                METRIC_SETTING,
                f"the function returned {values!r}, not a dict of numbers by name",
                "return e.g. {'top1_agreement': 0.98}",
            )
        if self.batches and set(values) != set(self.metric_sums):
            raise PipelineError(
                METRIC_SETTING,
                f"names {sorted(values)} in batch {self.batches}, "
                f"{sorted(self.metric_sums)} in the first",
                "return the same names for every batch",
            )
        for name, value in values.items():
            self.metric_sums[name] = self.metric_sums.get(name, 0.0) + size * float(
                np.asarray(value).item()
            )

    def result(self) -> dict[str, Any]:
        """``{"precision", "reference", "batches", "samples", "outputs": [per output, in the
        graph's order], "metric": {name: weighted mean} or None}``."""
        return {
            "precision": self.precision,
            "reference": REFERENCE,
            "batches": self.batches,
            "samples": self.samples,
            "outputs": [output.result() for output in self.outputs.values()],
            "metric": (
                None
                if self.metric is None
                else {k: v / self.samples for k, v in sorted(self.metric_sums.items())}
            ),
        }


def agreement_of_graphs(
    reference: str | Path | bytes,
    candidate: str | Path | bytes,
    feeds: Iterable[dict[str, np.ndarray] | np.ndarray],
    *,
    precision: str,
    max_batches: int,
    argmax_outputs: Iterable[str] = (),
    metric: str = "",
    threads: int = 1,
) -> dict[str, Any]:
    """Run the FP32 graph and a reduced-precision graph on the same feeds and compare every
    output (see the module's description).

    Args:
        reference: the FP32 graph (path or bytes).
        candidate: the graph in ``precision`` (path or bytes).
        feeds: the evaluation batches, streamed: dicts of arrays by input name, or single
            arrays for a graph of one input.
        precision: the candidate's precision.
        max_batches: compare at most this many batches (the first ones).
        argmax_outputs: outputs compared by argmax whatever their shape.
        metric: a user metric ``module:function`` (:func:`load_metric`); ``""`` for none.
        threads: ONNX Runtime threads per session.

    Raises:
        PipelineError: no batches, a batch of several arrays for a graph of one input, the
            graphs' outputs differ, or a bad metric.
    """
    collected = Agreement(
        precision, argmax_outputs=argmax_outputs, metric=load_metric(metric) if metric else None
    )
    with (
        timed(log, f"agreement | {precision} vs {REFERENCE}, up to {max_batches} batches"),
        OrtRunner(reference, threads=threads) as fp32,
        OrtRunner(candidate, threads=threads) as other,
    ):
        names = list(fp32.input_metadata())
        for batch in itertools.islice(feeds, max_batches):
            if not isinstance(batch, dict):
                if len(names) != 1:
                    raise PipelineError(
                        fp32.name,
                        f"the graph has inputs {names}; one array per batch feeds only one",
                        "give feed files (batch0.npz, ...) holding an array per input",
                    )
                batch = {names[0]: batch}
            collected.update(batch, fp32.infer(batch), other.infer(batch))
    if not collected.batches:
        raise PipelineError("agreement", "no evaluation batches", "give at least one batch")
    return collected.result()


def with_sources(
    result: dict[str, Any],
    reference: str | Path,
    candidate: str | Path,
    folder: str | Path,
    *,
    precision: str,
    source: str,
) -> dict[str, Any]:
    """A comparison's result with the two graphs and the feeds folder (and what it holds:
    ``evaluation`` or ``calibration``) named in it."""
    return {
        **result,
        "graphs": {REFERENCE: str(reference), precision: str(candidate)},
        "feeds": {"source": source, "folder": str(folder)},
    }


def agreement_from_folder(
    reference: str | Path,
    candidate: str | Path,
    folder: str | Path,
    *,
    source: str,
    precision: str,
    max_batches: int,
    argmax_outputs: Iterable[str] = (),
    metric: str = "",
    threads: int = 1,
) -> dict[str, Any]:
    """:func:`agreement_of_graphs` on the batches of a folder (BatchStream files or feed
    files, ``workflow.quant.batches``), with the graphs and the feeds named in the result.

    Args:
        source: what the folder holds, written in the result: ``evaluation`` or
            ``calibration``.
        The others as for :func:`agreement_of_graphs`.
    """
    batches = iter_folder(folder)
    result = agreement_of_graphs(
        reference,
        candidate,
        batches,
        precision=precision,
        max_batches=max_batches,
        argmax_outputs=argmax_outputs,
        metric=metric,
        threads=threads,
    )
    return with_sources(result, reference, candidate, folder, precision=precision, source=source)
