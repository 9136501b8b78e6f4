"""Post-training calibration: per-tensor dynamic ranges (amax) of an FP32 graph.

Statistics are collected by running the FP32 graph in ONNX Runtime with the calibrated tensors
made graph outputs, streaming over the calibration batch files: only one or two batches'
activations are in memory at a time (the next batch is computed in a second thread while this
one is measured). Two passes: the first finds each tensor's max |x| (the min-max result); the
second fills a histogram of |x| over [0, max] per tensor, from which the entropy and percentile
ranges are chosen. Which tensors: every float tensor (the seed's CalibrationTable lists them
all), or only the activations the INT8 graph quantizes (``quant.qdq.quantized_activations``),
far fewer (SSD: 13 of 76).

Entropy follows TensorRT's entropy calibration as NVIDIA describes it (Migacz, "8-bit Inference
with TensorRT", GTC 2017) and as MXNet (``_get_optimal_threshold``) and ONNX Runtime
(``HistogramCollector.get_entropy_threshold``) implement it: for every candidate threshold of
``i`` histogram bins (128 <= i <= bins), the reference distribution P is the first ``i`` bins
with the outliers beyond folded into the last one; the candidate Q is those bins merged into 128
levels (of ``i // 128`` bins, the last level also taking the remainder), each level's count
spread back over its non-empty bins. As MXNet's ``_smooth_distribution`` does, every empty bin of
P and Q then gets a count of ``SMOOTHING`` (taken evenly from the non-empty bins), which keeps
the divergence finite and moves a negligible share of the mass; both are normalised, and the
threshold with the smallest KL(P || Q) wins. The range is the upper edge of bin ``i - 1``.
(Smoothing the normalised distributions instead, ``1e-4`` of probability onto each of up to
2,000 empty bins, moves up to a fifth of the mass and drags the minimum to small thresholds:
ranges 13-60% short on 200,000 values of ReLU(N(0, 1)), Laplace and sparse-tailed mixtures.)

The search evaluates all candidates at once, a block of candidates sharing ``i // 128`` (hence
their level boundaries) per numpy call, over the non-empty bins only (the empty bins below
``i - 1`` add a closed-form term); it gives the thresholds of a candidate-by-candidate loop
written from the descriptions above (tests/quant/reference_entropy.py). As in NVIDIA's
pytorch-quantization histogram calibrator, the first bin's count is replaced by the second's, so
that the exact zeros of a ReLU output do not dominate the divergence (measured on LeNet: without
it the entropy range of the fc1 ReLU, whose maximum is 10.2, falls from 8.9 to 1.3).

One guard is ours: a candidate whose range holds less than ``MIN_KEPT`` (half) of the non-zero
values is skipped. Below that P is mostly the clipped tail piled into its last bin, and when the
few values under the candidate sit in that same bin, Q reproduces P exactly and the divergence
is 0: a degenerate minimum, which the published searches take as well. It happened on the SSD's
1x1 feature map (a ReLU output whose 14,600 non-zero calibration values all lie above 0.77, max
6.38): the range was 0.77, saturating 99.9% of the values, and INT8 mAP@0.5 fell 1.3 points.
Measured with this search on a reproduction of that tensor (tests/quant/test_calibrate.py):
0.76 without the guard, 6.4 with it. Ranges of tensors whose minimum keeps most values are
unchanged by it (every LeNet tensor; the 13 quantized tensors of an SSD trained for one epoch).

``least_error`` chooses per tensor among the three: from the same histogram, the range of
minmax, percentile and entropy with the least expected squared INT8 error
(:func:`quantization_error`: the rounding noise step^2 / 12 of every value, step = range / 127,
plus the squared distance beyond the range of every clipped value, each bin's values at its
centre; a ReLU's exact zeros, which INT8 keeps exactly, count as rounded too, which weighs the
step of a wide range somewhat more than the round trip does). No single calibrator suits every
tensor of PP-OCRv4's recogniser: entropy clips activations the next layers need (all INT8: no
test line read exactly), minmax keeps the long tails of others at the cost of their
resolution (0.915 of the lines, FP32 0.960); chosen per tensor, INT8 reads 0.950 of them at
a character error rate of 0.56% (FP32 0.51%; docs/mixed-precision.md).
"""

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from workflow.errors import PipelineError
from workflow.logs import timed
from workflow.ort.loader import session_from_onnx
from workflow.quant.batches import check_batch_folder, is_feed_folder, iter_batches, iter_feeds
from workflow.quant.qdq import QMAX, quantized_activations

log = logging.getLogger(__name__)

QUANT_LEVELS = 128
#: Smallest share of the non-zero values an entropy candidate range must hold (see above).
MIN_KEPT = 0.5
ALGORITHMS = ("entropy", "minmax", "percentile", "least_error")
#: The calibrators ``least_error`` chooses among, per tensor.
CANDIDATES = ("minmax", "percentile", "entropy")
#: Range given to a tensor that is zero on every calibration image (its scale must be > 0).
ZERO_RANGE = 1e-8
#: Count put on every empty bin of P and Q (taken evenly from the others), as MXNet does.
SMOOTHING = 1e-4
#: Values histogrammed per numpy call (its float64 scratch stays in the CPU's cache).
HISTOGRAM_CHUNK = 1 << 16
#: The tensor groups ``calibrate`` measures.
SCOPES = ("all", "quantized")

T = TypeVar("T")
R = TypeVar("R")
#: One calibration batch: an array (a graph of one input) or arrays by input name.
Batch = np.ndarray | dict[str, np.ndarray]


def with_all_outputs(
    model_bytes: bytes, tensors: Sequence[str] | None = None
) -> tuple[bytes, list[str], list[str]]:
    """Make every float tensor computed by a node (or only ``tensors``) a graph output.

    Args:
        model_bytes: the FP32 graph.
        tensors: the tensors to measure (a float graph input may be one); ``None``: every float
            tensor.

    Returns:
        The new model, the names of its inputs, and the measured tensor names in graph order
        (float inputs first, when measured).

    Raises:
        PipelineError: ``tensors`` names a tensor that is not a float tensor of the graph.
    """
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(model_bytes))
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    float_type = onnx.TensorProto.FLOAT
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.output]}
    names = [i.name for i in inputs if i.type.tensor_type.elem_type == float_type]
    for node in graph.node:
        names += [n for n in node.output if n and types.get(n) == float_type and n not in names]
    if tensors is not None:
        missing = sorted(set(tensors) - set(names))
        if missing:
            raise PipelineError(
                "calibration", f"no float tensor named {', '.join(map(repr, missing[:5]))}"
            )
        names = [name for name in names if name in set(tensors)]
    existing = {o.name for o in graph.output}
    input_names = [i.name for i in inputs]
    for name in names:
        if name not in input_names and name not in existing:
            graph.output.append(onnx.helper.make_tensor_value_info(name, float_type, None))
    return model.SerializeToString(), input_names, names


def _ahead(make: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``make(item)`` for each item, in order, computed by ``workers`` threads ahead of the caller.

    ONNX Runtime releases the GIL and one session serves concurrent runs, so on two cores two
    batches run at once while the caller measures a third. At most ``workers + 1`` results are
    held. An exception in a thread is raised here.
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(make, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def activation_stream(
    model_bytes: bytes,
    batches: Callable[[], Iterable[Batch]],
    threads: int,
    tensors: Sequence[str] | None,
    workers: int = 1,
) -> tuple[Callable[[], Iterable[dict[str, np.ndarray]]], list[str]]:
    """A re-iterable stream of {tensor: value} per batch, and the measured tensor names.

    A batch is one array (a graph of one input) or arrays by input name. ``workers`` threads
    run the graph (each run with ``threads`` intra-op threads); each batch's values do not
    depend on which thread ran it.

    Raises:
        PipelineError: nothing to measure (no float tensor, or ``tensors`` empty: a graph
            whose main graph has no Conv, ConvTranspose, Gemm or MatMul); an array batch for a
            graph of several inputs.
    """
    import onnx

    model, input_names, names = with_all_outputs(model_bytes, tensors)
    if not names:
        graph = onnx.load_from_string(model_bytes).graph.name or "(unnamed)"
        asked = "the graph has no float tensor" if tensors is None else "no tensor was named"
        raise PipelineError(
            f"calibration of graph {graph!r}",
            f"nothing to measure: {asked} (the INT8 graph quantizes the inputs of Conv, "
            "ConvTranspose, Gemm and MatMul nodes of the main graph; subgraph nodes stay FP32)",
            "build the FP32 or FP16 graph of this model, or name the tensors to measure",
        )
    session = session_from_onnx(model, threads=threads)
    outputs = [name for name in names if name not in input_names]

    def run(batch: Batch) -> dict[str, np.ndarray]:
        if not isinstance(batch, dict):
            if len(input_names) != 1:
                raise PipelineError(
                    "calibration",
                    f"the graph has inputs {input_names}; one array per batch feeds only one",
                    "calibrate from feed files (batch0.npz, ...) with an array per input",
                )
            batch = {input_names[0]: batch}
        # only graph inputs measured: nothing to run
        values = dict(zip(outputs, session.run(outputs, batch), strict=True)) if outputs else {}
        return {name: batch[name] if name in batch else values[name] for name in names}

    return lambda: _ahead(run, batches(), workers), names


def collect_amax(stream: Iterable[dict[str, np.ndarray]]) -> dict[str, float]:
    """Pass 1: max |x| of every tensor over all batches."""
    amax: dict[str, float] = {}
    for values in stream:
        for name, value in values.items():
            top = max(float(value.max(initial=0.0)), -float(value.min(initial=0.0)))
            amax[name] = max(amax.get(name, 0.0), top)
    return amax


def collect_histograms(
    stream: Iterable[dict[str, np.ndarray]], amax: dict[str, float], *, bins: int
) -> dict[str, np.ndarray]:
    """Pass 2: histogram of |x| over [0, amax] with ``bins`` equal bins, per tensor."""
    hists = {name: np.zeros(bins, dtype=np.int64) for name in amax}
    buffer = np.empty(HISTOGRAM_CHUNK, dtype=np.float64)
    for values in stream:
        for name, value in values.items():
            top = amax[name]
            if top <= 0:
                hists[name][0] += value.size
                continue
            # bin = floor(|x| * bins / top) in float64, a cache-sized chunk at a time (whole
            # tensors of fresh float64 temporaries made this pass 6x slower on the SSD)
            flat, scale = value.reshape(-1), bins / top
            for start in range(0, flat.size, HISTOGRAM_CHUNK):
                part = buffer[: min(HISTOGRAM_CHUNK, flat.size - start)]
                np.absolute(flat[start : start + part.size], out=part)
                part *= scale
                np.minimum(part, bins - 1, out=part)
                hists[name] += np.bincount(part.astype(np.intp), minlength=bins)
    return hists


def _smoothing_shift(n_empty: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The count smoothing takes from every non-empty bin of distributions of ``size`` bins with
    ``n_empty`` empty ones, each of which gets ``SMOOTHING`` (0 where none or all are empty, as
    it leaves those alone)."""
    shift = np.zeros(n_empty.shape)
    some = (n_empty > 0) & (n_empty < size)
    shift[some] = SMOOTHING * n_empty[some] / (size[some] - n_empty[some])
    return shift


def entropy_amax(hist: np.ndarray, amax: float) -> float:
    """Range that minimises KL(P || Q) (see the module docstring).

    Args:
        hist: histogram of |x| over [0, amax]; at least 128 bins.
        amax: the histogram's upper edge.
    """
    bins = len(hist)
    if amax <= 0 or not hist[1:].any():
        return amax
    counts = hist.astype(np.float64)
    # smallest i whose bins 1..i-1 hold MIN_KEPT of the non-zero values (bin 0 holds the zeros)
    first = int(np.searchsorted(np.cumsum(counts[1:]), MIN_KEPT * counts[1:].sum())) + 2
    counts[0] = counts[1]  # the zeros of a ReLU output would otherwise dominate the divergence
    total = counts.sum()  # integers: every sum below is exact
    below = np.concatenate([[0.0], np.cumsum(counts)])  # below[i] = sum(counts[:i])
    filled_below = np.concatenate([[0], np.cumsum(counts > 0)])  # non-empty bins among them
    columns = np.flatnonzero(counts)
    candidates = np.arange(max(QUANT_LEVELS, first), bins + 1)
    kl = np.full(len(candidates), np.inf)
    merged = candidates // QUANT_LEVELS
    for m in np.unique(merged):
        rows = np.flatnonzero(merged == m)
        i = candidates[rows]
        # levels: QUANT_LEVELS runs of m bins, the last one running on to bin i - 1
        starts = np.arange(QUANT_LEVELS) * m
        ends = np.tile(np.append(starts[1:], 0), (len(i), 1))
        ends[:, -1] = i
        sums = below[ends] - below[starts]
        filled = (filled_below[ends] - filled_below[starts]).astype(np.float64)
        level = np.divide(sums, filled, out=np.zeros_like(sums), where=filled > 0)
        # P: the first i bins, the tail folded into bin i - 1 (it sums to total); Q: the same
        # bins without the tail, each level's count spread over its non-empty bins (it sums to
        # q_total). Both are smoothed as counts (SMOOTHING onto every empty bin), then normalised.
        q_total = below[i]
        empty = i - filled_below[i]
        last = counts[i - 1] + (total - q_total)
        shift_p = _smoothing_shift(empty - ((last > 0) & (counts[i - 1] == 0)), i)
        safe_total = np.where(q_total > 0, q_total, 1.0)
        q_level = (level - _smoothing_shift(empty, i)[:, None]) / safe_total[:, None]
        # the non-empty bins below i - 1
        cols = columns[: np.searchsorted(columns, i[-1] - 1)]
        p = (counts[cols] - shift_p[:, None]) / total
        inside = cols < (i - 1)[:, None]
        q = q_level[:, np.minimum(cols // m, QUANT_LEVELS - 1)]
        ratio = np.divide(p, q, out=np.ones_like(p), where=inside)
        np.log(ratio, out=ratio)
        ratio *= p
        divergence = np.sum(ratio, axis=1, where=inside)
        # the empty bins below i - 1: SMOOTHING / total in P, SMOOTHING / q_total in Q
        both_empty = (i - 1) - filled_below[i - 1]
        divergence += both_empty * SMOOTHING / total * np.log(safe_total / total)
        # bin i - 1
        p_last = np.where(last > 0, last - shift_p, SMOOTHING) / total
        q_last = np.where(
            counts[i - 1] > 0,
            q_level[np.arange(len(i)), np.minimum((i - 1) // m, QUANT_LEVELS - 1)],
            SMOOTHING / safe_total,
        )
        divergence += p_last * np.log(p_last / q_last)
        kl[rows] = np.where(q_total > 0, divergence, np.inf)
    if not np.isfinite(kl).any():
        return amax
    return amax * candidates[int(np.argmin(kl))] / bins


def percentile_amax(hist: np.ndarray, amax: float, percentile: float) -> float:
    """Upper edge of the first bin at which ``percentile`` % of |x| values lie below."""
    total = hist.sum()
    if amax <= 0 or total == 0:
        return amax
    index = int(np.searchsorted(np.cumsum(hist), total * percentile / 100.0))
    return amax * min(index + 1, len(hist)) / len(hist)


def quantization_error(hist: np.ndarray, amax: float, threshold: float) -> float:
    """Expected squared error (summed over the values) of symmetric INT8 quantization with
    range ``threshold`` of the values a histogram of |x| over [0, amax] holds, each bin's values
    at its centre: ``step**2 / 12`` per value (rounding, step = threshold / 127) plus
    ``(x - threshold)**2`` per value beyond the range (clipping)."""
    bins = len(hist)
    centres = (np.arange(bins) + 0.5) * (amax / bins)
    counts = hist.astype(np.float64)
    step = threshold / QMAX
    clipped = np.maximum(centres - threshold, 0.0)
    return float(np.sum(counts * (clipped**2 + step**2 / 12)))


def least_error_amax(hist: np.ndarray, amax: float, ranges: dict[str, float]) -> tuple[str, float]:
    """The calibrator (of ``ranges``, first on a tie) whose range has the least
    :func:`quantization_error`, and that range."""
    errors = {name: quantization_error(hist, amax, value) for name, value in ranges.items()}
    best = min(errors, key=errors.__getitem__)
    return best, ranges[best]


def calibrate(
    model_bytes: bytes,
    batches: Callable[[], Iterable[Batch]],
    *,
    algorithm: str,
    bins: int,
    percentile: float,
    threads: int,
    tensors: Sequence[str] | None = None,
    workers: int = 1,
    timings: dict[str, float] | None = None,
) -> dict[str, float]:
    """Dynamic range of every float tensor of an FP32 graph, or of the ``tensors`` named.

    Args:
        model_bytes: the FP32 ONNX graph.
        batches: returns a fresh iterable of input batches each time it is called (the data is
            streamed twice): arrays for a graph of one input, else arrays by input name.
        algorithm: ``entropy``, ``minmax``, ``percentile`` or ``least_error`` (per tensor, the
            one of the three with the least expected INT8 error: see the module docstring).
        bins: histogram bins (entropy, percentile, least_error); at least 128.
        percentile: share of |x| values kept, in percent (percentile, least_error).
        threads: ONNX Runtime threads.
        tensors: the tensors to measure (see ``tensors_to_calibrate``); ``None``: every float
            tensor.
        workers: threads that run the graph on batches side by side and search the entropy
            thresholds (one tensor per thread); the ranges do not depend on it (the passes
            reduce with max and integer sums).
        timings: if given, receives the seconds of each step: ``ranges`` (pass 1),
            ``histograms`` (pass 2) and ``search`` (the entropy thresholds).

    Returns:
        amax per tensor name, float graph inputs first, in graph order. A tensor that is zero on
        every batch gets ``ZERO_RANGE``.

    Raises:
        PipelineError: unknown algorithm, too few bins, fewer than one worker, or a tensor the
            graph lacks.
    """
    if algorithm not in ALGORITHMS:
        raise PipelineError(f"calibration.algorithm={algorithm!r}", f"choose among {ALGORITHMS}")
    if bins < QUANT_LEVELS:
        raise PipelineError(f"calibration.bins={bins}", f"need at least {QUANT_LEVELS}")
    if workers < 1:
        raise PipelineError(f"calibration workers={workers}", "need at least 1")
    stream, names = activation_stream(model_bytes, batches, threads, tensors, workers)
    steps = {} if timings is None else timings
    with timed(log, f"calibrate | {algorithm}, {len(names)} tensors, pass 1 (ranges)") as step:
        amax = collect_amax(stream())
    steps["ranges"] = step.seconds
    if algorithm != "minmax":
        with timed(log, f"calibrate | {algorithm}, pass 2 (histograms of {bins} bins)") as step:
            hists = collect_histograms(stream(), amax, bins=bins)
        steps["histograms"] = step.seconds
        entropy: dict[str, float] = {}
        if algorithm in ("entropy", "least_error"):
            with (
                timed(log, f"calibrate | {algorithm}, threshold search, {workers} threads") as step,
                ThreadPoolExecutor(max_workers=workers) as pool,
            ):
                found = pool.map(entropy_amax, [hists[name] for name in amax], amax.values())
                entropy = dict(zip(amax, found, strict=True))
            steps["search"] = step.seconds
        if algorithm == "entropy":
            amax = entropy
        elif algorithm == "percentile":
            amax = {
                name: percentile_amax(hists[name], top, percentile) for name, top in amax.items()
            }
        else:
            amax = _least_error(amax, hists, entropy, percentile)
    return {name: (top if top > 0 else ZERO_RANGE) for name, top in amax.items()}


def _least_error(
    amax: dict[str, float],
    hists: dict[str, np.ndarray],
    entropy: dict[str, float],
    percentile: float,
) -> dict[str, float]:
    """Per tensor, the least-error range of minmax, percentile and entropy (logged: how many
    tensors each calibrator's range serves)."""
    chosen: dict[str, float] = {}
    counts = dict.fromkeys(CANDIDATES, 0)
    for name, top in amax.items():
        ranges = {
            "minmax": top,
            "percentile": percentile_amax(hists[name], top, percentile),
            "entropy": entropy[name],
        }
        which, chosen[name] = least_error_amax(hists[name], top, ranges)
        counts[which] += 1
        log.debug("calibrate | least_error: %s takes %s's range %g", name, which, chosen[name])
    log.info("calibrate | least_error: tensors per calibrator %s", counts)
    return chosen


def tensors_to_calibrate(model_bytes: bytes, scope: str) -> list[str] | None:
    """The tensors a calibration of ``scope`` measures: ``all`` (every float tensor, as the
    seed's CalibrationTable lists them: ``None``) or ``quantized`` (the activations the INT8
    graph quantizes).

    Raises:
        PipelineError: unknown scope.
    """
    if scope == "all":
        return None
    if scope == "quantized":
        return quantized_activations(model_bytes)
    raise PipelineError(f"calibration scope {scope!r}", f"choose among {SCOPES}")


def batches_from_folder(folder: str | Path) -> Callable[[], Iterable[Batch]]:
    """A re-iterable source of the batches in a folder: BatchStream files (images) or feed files
    (``batch0.npz``, ..., arrays by input name), checked first."""
    if is_feed_folder(folder):
        for _ in iter_feeds(folder):
            pass
        return lambda: iter_feeds(folder)
    check_batch_folder(folder)
    return lambda: iter_batches(folder)
