"""Intensity-dependent noise of a trace: ``sd(level) = sqrt(a + b * level + (c * level)^2)``.

Real MRM traces are not white noise on a smooth peak: ion counting adds a variance proportional
to the signal (``b``) and spray / dwell fluctuation one proportional to its square (``c``), so
the point-to-point scatter on a peak top is often 5-15 % of the signal, ten to a hundred times
the baseline's (``a``). A valley, a shoulder or a local maximum on such a top is only evidence of
a second peak when it is large against the noise *at that intensity*; judged against the
baseline's noise, every wiggle of a noisy top was a "peak" (the yeast Sacc1 glu-L trace was cut
into nine slivers). The model is fitted once per trace (or region) from the data themselves.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import NamedTuple

import numpy as np


def _median(a: np.ndarray) -> float:
    """``np.median`` of a non-empty 1-D array without NaN (np.median imports numpy.ma: 0.1 s of
    a batch's start-up)."""
    n = a.size
    h = n // 2
    if n % 2:
        return float(np.partition(a, h)[h])
    p = np.partition(a, (h - 1, h))
    return (float(p[h - 1]) + float(p[h])) / 2

# third difference y[i-1] - 3 y[i] + 3 y[i+1] - y[i+2]: blind to any quadratic (the curvature of
# a peak top does not pass for noise), variance 20 sigma^2 for white noise
_D3_VAR = 20.0
_CHI2_1_MEDIAN = 0.45493642311957283  # median of a chi-square with one degree of freedom
_MAX_SAMPLES = 4096


class NoiseModel(NamedTuple):
    """Point noise variance ``a + b * level + c2 * level^2`` (signal units; ``level`` >= 0)."""

    a: float
    b: float
    c2: float

    def sd(self, level: float) -> float:
        """Noise SD of one point at this signal level (negative levels count as 0)."""
        lv = level if level > 0.0 else 0.0
        return math.sqrt(self.a + self.b * lv + self.c2 * lv * lv)


def trace_noise(y: np.ndarray) -> tuple[NoiseModel, float]:
    """The noise model of a whole trace and its baseline noise SD, from at most ~4096 evenly
    strided samples (bounded cost on any trace length; non-finite samples skipped).

    The SD is the median absolute first difference x 1.4826 / sqrt 2, as
    :func:`~thioquant.peaks.core.robust_sigma`, on the same samples. Both depend on the trace
    only, never on a search window, which is what makes a target's analysis window-independent.
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 4:
        return NoiseModel(0.0, 0.0, 0.0), 0.0
    k = max(1, (n - 3) // _MAX_SAMPLES)
    i = np.arange(1, n - 2, k)
    d1 = np.abs(y[i + 1] - y[i])
    d1 = d1[np.isfinite(d1)]
    sig = 1.4826 * _median(d1) / math.sqrt(2.0) if d1.size else 0.0
    if not sig > 0 and d1.size:  # quantised / zero baselines: RMS of the smaller differences
        cut = float(np.partition(d1, int(0.9 * (d1.size - 1)))[int(0.9 * (d1.size - 1))])
        sel = d1[d1 <= cut]
        sig = math.sqrt(float(np.mean(sel**2)) / 2.0) if sel.size else 0.0
    return fit_noise_model(y, sig, _idx=i), sig


def fit_noise_model(y: np.ndarray, floor_sd: float = 0.0, *, _idx: np.ndarray | None = None) -> NoiseModel:
    """Fit :class:`NoiseModel` to a signal from its third differences.

    Parameters
    ----------
    y : ndarray
        Signal (finite). At most ``4096`` evenly strided samples of it are used, so the cost is
        bounded and the fit depends on the whole trace, not on a window of it.
    floor_sd : float
        Lower bound for the constant term's SD (e.g. the trace's robust sigma), so the model never
        claims less noise than the baseline shows.

    Returns
    -------
    NoiseModel
        Non-negative coefficients (least squares on the median variance of intensity bins,
        relative weights, every non-negative subset of the three terms tried).
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 8:
        return NoiseModel(max(floor_sd, 0.0) ** 2, 0.0, 0.0)
    if _idx is None:
        k = max(1, (n - 3) // _MAX_SAMPLES)
        i = np.arange(1, n - 2, k)
    else:
        i = _idx
    d = (y[i - 1] - 3.0 * y[i] + 3.0 * y[i + 1] - y[i + 2])
    lev = 0.25 * (y[i - 1] + y[i] + y[i + 1] + y[i + 2])
    ok = np.isfinite(d)
    if not ok.all():
        d, lev = d[ok], lev[ok]
    if d.size < 8:
        return NoiseModel(max(floor_sd, 0.0) ** 2, 0.0, 0.0)
    order = np.argsort(lev, kind="stable")
    m = order.size
    nb = max(8, m // 16)
    levels, var = [], []
    for j in range(0, m - nb // 2, nb):
        sel = order[j : j + nb] if j + 2 * nb <= m else order[j:]
        levels.append(max(_median(lev[sel]), 0.0))
        var.append(_median(d[sel] ** 2) / (_CHI2_1_MEDIAN * _D3_VAR))
        if j + 2 * nb > m:
            break
    L = np.array(levels)
    V = np.maximum(np.array(var), 1e-300)
    cols = np.stack([np.ones_like(L), L, L * L], axis=1) / V[:, None]  # relative residuals
    rhs = np.ones_like(V)
    best, best_cost = (float(np.min(V)), 0.0, 0.0), math.inf
    for r in (1, 2, 3):
        for sub in combinations(range(3), r):
            A = cols[:, sub]
            coef, *_ = np.linalg.lstsq(A, rhs, rcond=None)
            if np.any(coef < 0):
                continue
            cost = float(np.sum((A @ coef - rhs) ** 2))
            if cost < best_cost - 1e-12:
                full = [0.0, 0.0, 0.0]
                for s, c in zip(sub, coef, strict=True):
                    full[s] = float(c)
                best, best_cost = tuple(full), cost
    a, b, c2 = best
    return NoiseModel(max(a, floor_sd * floor_sd), b, c2)
