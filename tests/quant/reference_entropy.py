"""Entropy calibration written candidate by candidate from its published descriptions.

The reference for ``workflow.quant.calibrate.entropy_amax``. As NVIDIA describes TensorRT's
entropy calibration (Migacz, "8-bit Inference with TensorRT", GTC 2017, the calibration
pseudo-code) and as pytorch-quantization's ``_compute_amax_entropy`` prepares it: a histogram of
|x|, its zero bin levelled to the next bin's count, and for every candidate ``i`` from 128 to the
number of bins

* P: bins ``0 .. i-1``, the outliers (bins ``i ..``) added to bin ``i-1``;
* Q: bins ``0 .. i-1`` merged into 128 levels, each level's count spread evenly over its
  non-empty bins (an empty bin stays empty);
* the range of the candidate with the smallest KL(P || Q) (the first, on a tie) is the upper
  edge of bin ``i-1``.

The levels and the smoothing are MXNet's ``_get_optimal_threshold`` and
``_smooth_distribution`` (ONNX Runtime's ``HistogramCollector.get_entropy_threshold`` does the
same): levels of ``i // 128`` bins, the last one also taking the remainder; every empty bin of P
and Q gets a count of ``1e-4``, taken evenly from the non-empty ones, before both are
normalised. (pytorch-quantization's levels are ``i / 128`` bins wide, cut with ``np.digitize``,
and it does not smooth.)

One numpy pass per candidate (about 0.3 s per histogram of 2,048 bins), meant to be read.
"""

import numpy as np

LEVELS = 128
EPS = 1e-4


def _levelled(hist: np.ndarray) -> np.ndarray:
    counts = hist.astype(np.float64)
    counts[0] = counts[1]
    return counts


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(P || Q) of two arrays of non-negative weights, each normalised to sum 1 first."""
    if q.sum() == 0:
        return np.inf
    p, q = p / p.sum(), q / q.sum()
    mass = p > 0
    if np.any(q[mass] == 0):
        return np.inf
    return float(np.sum(p[mass] * np.log(p[mass] / q[mass])))


def _smooth(counts: np.ndarray, eps: float = EPS) -> np.ndarray | None:
    """MXNet's ``_smooth_distribution``: ``eps`` onto every empty bin, ``eps * empty / nonempty``
    off every other one; ``None`` for an all-empty distribution."""
    empty = counts == 0
    if empty.all():
        return None
    taken = eps * empty.sum() / (~empty).sum()
    return np.where(empty, eps, counts - taken)


def _expand(kept: np.ndarray, level_of: np.ndarray) -> np.ndarray:
    """Q: each level's count spread over its non-empty bins of ``kept``."""
    nonempty = kept > 0
    sums = np.bincount(level_of, weights=kept, minlength=LEVELS)
    filled = np.bincount(level_of, weights=nonempty, minlength=LEVELS)
    return np.where(nonempty, sums[level_of] / np.maximum(filled[level_of], 1), 0.0)


def _reference(counts: np.ndarray, i: int) -> np.ndarray:
    p = counts[:i].copy()
    p[-1] += counts[i:].sum()
    return p


def entropy_amax_counts(hist: np.ndarray, amax: float, start: int = LEVELS) -> float:
    """Merging and smoothing of MXNet (see the module docstring); candidates from ``start``."""
    bins = len(hist)
    if amax <= 0 or not np.any(hist[1:]):
        return amax
    counts = _levelled(hist)
    best, best_kl = bins, np.inf
    for i in range(max(LEVELS, start), bins + 1):
        level_of = np.minimum(np.arange(i) // (i // LEVELS), LEVELS - 1)
        p = _smooth(_reference(counts, i))
        q = _smooth(_expand(counts[:i], level_of))
        if p is None or q is None:
            continue
        kl = _kl(p, q)
        if kl < best_kl:
            best, best_kl = i, kl
    return amax * best / bins


def first_holding(hist: np.ndarray, share: float) -> int:
    """The smallest candidate ``i`` whose bins ``1 .. i-1`` hold ``share`` of the values in bins
    ``1 ..`` (the non-zero values of a ReLU output)."""
    need = share * hist[1:].sum()
    i, held = 1, 0
    while held < need:
        held += hist[i]
        i += 1
    return i
