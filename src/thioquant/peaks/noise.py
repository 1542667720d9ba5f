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
from typing import NamedTuple

import numpy as np


def median_inplace(a: np.ndarray) -> float:
    """``np.median`` of a non-empty 1-D array without NaN (np.median imports numpy.ma: 0.1 s of
    a batch's start-up). ``a`` is partitioned in place: every caller passes a temporary array
    of its own (np.partition's copy and wrapper cost more than the partition itself). The one
    median of the peak engine and the QC rules (peaks.core, qc.signal)."""
    n = a.size
    h = n // 2
    a.partition(h)  # one k: numpy's SIMD selection; with two it takes the far slower introselect
    if n % 2:
        return float(a[h])
    return (float(np.maximum.reduce(a[:h])) + float(a[h])) / 2  # the (h-1)-th: the largest below

# third difference y[i-1] - 3 y[i] + 3 y[i+1] - y[i+2]: blind to any quadratic (the curvature of
# a peak top does not pass for noise), variance 20 sigma^2 for white noise
_D3_VAR = 20.0
_CHI2_1_MEDIAN = 0.45493642311957283  # median of a chi-square with one degree of freedom
_MAX_SAMPLES = 1024


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
    """The noise model of a whole trace and its baseline noise SD, from at most ~1024 evenly
    strided samples (bounded cost on any trace length; non-finite samples skipped).

    The SD is the median absolute first difference x 1.4826 / sqrt 2, as
    :func:`~thioquant.peaks.core.robust_sigma`, on the same samples. Both depend on the trace
    only, never on a search window, which is what makes a target's analysis window-independent.
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 4:
        return NoiseModel(0.0, 0.0, 0.0), 0.0
    # the first differences y[2::k] - y[1::k] are those of the model's third differences (the
    # same samples): computed once for both (it runs once per find_target call)
    s = _strided(y, max(1, (n - 3) // _MAX_SAMPLES))
    d21 = s[2] - s[1]
    if s[0].size + 3 < 8:
        sig = _sigma(d21)
        return _fit(s, sig, d21), sig
    # the model's third differences first: when their sum is finite, every one of them is, and
    # so is every first difference (a non-finite sample makes both non-finite), so neither
    # step needs its own finiteness test (the same values, three numpy calls fewer)
    d = s[0] - s[3]
    d += 3.0 * d21  # (y0 - y3) + 3 (y2 - y1), one array
    if not math.isfinite(float(np.add.reduce(d))):
        sig = _sigma(d21)
        return _fit(s, sig, d21), sig
    sig = _sigma(d21, finite=True)
    return _fit(s, sig, d=d), sig


def trace_noise_of(trace: object) -> tuple[NoiseModel, float]:
    """:func:`trace_noise` of a :class:`~thioquant.model.Trace`'s signal, computed once per trace
    object and kept on it. A trace's arrays are read-only (thioquant.model), so the value cannot
    go stale; ``dataclasses.replace`` makes a new trace without it. One injection's screen, its
    searches and its transition groups judge the same traces: each trace's model was fitted 3-4
    times per injection (about 0.5 ms of 10)."""
    y = trace.signal  # type: ignore[attr-defined]
    memo = getattr(trace, "__dict__", None)
    if memo is None:  # an object that cannot keep it
        return trace_noise(y)
    got = memo.get("_trace_noise")
    if got is None or got[0] is not y:  # kept with the very array it was fitted on
        got = (y, trace_noise(y))
        object.__setattr__(trace, "_trace_noise", got)
    return got[1]


def trace_sigma(y: np.ndarray) -> float:
    """The baseline noise SD of :func:`trace_noise` (the same value) without the model's fit."""
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 4:
        return 0.0
    s = _strided(y, max(1, (n - 3) // _MAX_SAMPLES))
    return _sigma(s[2] - s[1])


def _sigma(d21: np.ndarray, finite: bool = False) -> float:
    """The SD from the first differences ``y[2::k] - y[1::k]`` (``finite``: known to be)."""
    d1 = np.abs(d21)
    if not finite and not _ALL(np.isfinite(d1)):
        d1 = d1[np.isfinite(d1)]
    sig = 1.4826 * median_inplace(d1) / math.sqrt(2.0) if d1.size else 0.0
    if not sig > 0 and d1.size:  # quantised / zero baselines: RMS of the smaller differences
        d1 = np.abs(d21)  # afresh, in the original order (the median partitioned it; the mean
        if not finite and not _ALL(np.isfinite(d1)):  # below sums in that order)
            d1 = d1[np.isfinite(d1)]
        cut = float(np.partition(d1, int(0.9 * (d1.size - 1)))[int(0.9 * (d1.size - 1))])
        sel = d1[d1 <= cut]
        sig = math.sqrt(float(np.mean(sel**2)) / 2.0) if sel.size else 0.0
    return sig


_ALL = np.logical_and.reduce  # ndarray.all() of a 1-D boolean array, without the wrapper


def _strided(y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``y[j + k i]`` for j = 0..3 and the m = ceil((n - 3) / k) values of i with j + k i + 3 - j < n."""
    m = (y.size - 3 + k - 1) // k
    return y[0 : k * m : k], y[1 : 1 + k * m : k], y[2 : 2 + k * m : k], y[3 : 3 + k * m : k]


def fit_noise_model(y: np.ndarray, floor_sd: float = 0.0, *, _stride: int | None = None) -> NoiseModel:
    """Fit :class:`NoiseModel` to a signal from its third differences.

    Parameters
    ----------
    y : ndarray
        Signal. At most ``1024`` evenly strided samples of it are used (non-finite ones
        skipped), so the cost is bounded and the fit depends on the whole trace, not on a
        window of it.
    floor_sd : float
        The baseline noise SD (e.g. the trace's robust sigma): the constant term is at least
        its square.

    Returns
    -------
    NoiseModel
        ``a``: the larger of ``floor_sd^2`` and the variance of the lower half of the samples
        (by level); ``c2`` from the variance of the top samples (the highest 1/32, at least 8)
        above ``a``, at their level: the counting and multiplicative noise of the peak tops,
        where splits are judged, as one term; ``b`` is 0. Separating ``b`` with a second
        (middle) level failed: on sparse peaks the flanks' shape leaks into their third
        differences (a simulated 12 % trace gave b = 455 and a baseline SD 11x too large).
        Variances are medians of squared third differences / (20 x 0.455); a handful of numpy
        calls, since it runs once per ``find_target``.
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 8:
        return NoiseModel(max(floor_sd, 0.0) ** 2, 0.0, 0.0)
    k = _stride if _stride is not None else max(1, (n - 3) // _MAX_SAMPLES)
    return _fit(_strided(y, k), floor_sd)


def _fit(samples: tuple[np.ndarray, ...], floor_sd: float, d21: np.ndarray | None = None,
         d: np.ndarray | None = None) -> NoiseModel:
    """:func:`fit_noise_model` on the strided samples ``y[j + k i]``, j = 0..3 (:func:`_strided`),
    with ``y2 - y1`` when already computed, or the third differences ``d`` when computed and
    all finite."""
    y0, y1, y2, y3 = samples
    if y0.size + 3 < 8:  # fewer than 8 points (trace_noise calls this from 4 points on)
        return NoiseModel(max(floor_sd, 0.0) ** 2, 0.0, 0.0)
    lev = y0 + y1
    lev += y2
    lev += y3
    lev *= 0.25  # 0.25 * (((y0 + y1) + y2) + y3), in one array
    if d is None:
        d = (y0 - y3) + 3.0 * (y2 - y1 if d21 is None else d21)
        ok = np.isfinite(d)
        if not _ALL(ok):
            d, lev = d[ok], lev[ok]
    m = d.size
    if m < 16:
        return NoiseModel(max(floor_sd, 0.0) ** 2, 0.0, 0.0)
    d2 = d * d
    scale = 1.0 / (_CHI2_1_MEDIAN * _D3_VAR)
    nt = max(8, m // 32)
    part = lev.argpartition((m // 2, m - nt))
    low, top = part[: m // 2], part[m - nt :]
    a = max(floor_sd * floor_sd, median_inplace(d2[low]) * scale)
    L1 = max(median_inplace(lev[top]), 0.0)
    v1 = median_inplace(d2[top]) * scale - a
    if not (L1 > 0 and v1 > 0):
        return NoiseModel(a, 0.0, 0.0)
    return NoiseModel(a, 0.0, v1 / (L1 * L1))
