"""The entropy threshold search candidate by candidate: the reference for the vectorised one.

This is the loop ``workflow.quant.calibrate.entropy_amax`` ran until it was vectorised (one
numpy pass per candidate threshold, about 0.1 s per tensor of 2,048 bins); the tests check that
both choose the same threshold.
"""

import numpy as np

from workflow.quant.calibrate import FLOOR, MIN_KEPT, QUANT_LEVELS, SMOOTHING


def smooth(dist: np.ndarray, eps: float = SMOOTHING) -> np.ndarray:
    """Move ``eps`` of mass onto every empty bin, taken evenly from the others."""
    zero = dist == 0
    n_zero = int(zero.sum())
    if n_zero == 0 or n_zero == dist.size:
        return dist
    return dist + eps * zero - (eps * n_zero / (dist.size - n_zero)) * ~zero


def entropy_amax_loop(hist: np.ndarray, amax: float) -> float:
    bins = len(hist)
    if amax <= 0 or not hist[1:].any():
        return amax
    counts = hist.astype(np.float64)
    first = int(np.searchsorted(np.cumsum(counts[1:]), MIN_KEPT * counts[1:].sum())) + 2
    counts[0] = counts[1]
    tail = np.concatenate([np.cumsum(counts[::-1])[::-1], [0.0]])  # tail[i] = sum(counts[i:])
    best, best_kl = bins, np.inf
    for i in range(max(QUANT_LEVELS, first), bins + 1):
        kept = counts[:i]
        p = kept.copy()
        p[-1] += tail[i]
        nonzero = kept > 0
        merged = i // QUANT_LEVELS
        starts = np.arange(QUANT_LEVELS) * merged
        lengths = np.diff(np.append(starts, i))
        sums = np.add.reduceat(kept, starts)
        filled = np.add.reduceat(nonzero.astype(np.float64), starts)
        level = np.divide(sums, filled, out=np.zeros_like(sums), where=filled > 0)
        q = np.repeat(level, lengths) * nonzero
        if not q.any():
            continue
        p = smooth(p / p.sum())
        q = smooth(q / q.sum())
        mask = p > 0
        kl = float(np.sum(p[mask] * np.log(p[mask] / np.where(q[mask] > 0, q[mask], FLOOR))))
        if kl < best_kl:
            best, best_kl = i, kl
    return amax * best / bins
