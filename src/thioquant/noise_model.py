"""Detector noise measured on real chromatograms, and the same noise for the simulator.

Two halves, pure functions on numpy arrays (scipy only inside the variance fit):

* **Measuring** (:func:`measure_trace`, :func:`summarise`, :func:`fit_variance`): the
  point-to-point fluctuation of a trace against its local level (residual of a 7-point cubic
  Savitzky-Golay fit, scaled to the sd of one point), the count quantum (smallest step between
  values), single-point spikes and runs of exact zeros. docs/noise.md gives the figures measured on
  the real QTRAP MRM and UV/DAD files of ``../shared/data``; ``benchmarks/noise_measure.py``
  reproduces them.
* **Simulating** (:class:`MrmNoise`, :class:`UvNoise`, :func:`apply_mrm_noise`,
  :func:`apply_uv_noise`): the measured model with the measured values as defaults, used by
  :mod:`thioquant.simulate`.

The variance model is the usual one for a counting detector with a multiplicative source term,
``var = a + b*S + (c*S)^2`` (Rocke & Lorenzato 1995, Technometrics 37:176, with a counting term): ``a`` the background, ``b*S``
counting (Poisson: ``b`` = 1 in counts), ``c`` the relative point-to-point fluctuation that
dominates at high signal (spray and ion-transmission flicker in ESI-MS/MS).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

# 7-point cubic Savitzky-Golay smoothing weights (Savitzky & Golay 1964, table I; the same numbers as
# scipy.signal.savgol_coeffs(7, 3), tested, without importing scipy.signal): exact for any cubic, so
# a peak sampled with >= ~4 points per sigma leaves almost no curvature in the residual.
_SG7 = np.array([-2.0, 3.0, 6.0, 7.0, 6.0, 3.0, -2.0]) / 21.0
# residual of white noise of sd s through that fit has sd s*sqrt(1 - 7/21)
_SG7_RESID_SCALE = math.sqrt(1.0 - 7.0 / 21.0)
_MAD_TO_SD = 1.4826


# --- measuring ---------------------------------------------------------------------------------


def count_quantum(signal: np.ndarray, *, max_steps: int = 50) -> float:
    """The step between the values of a count-quantised trace (cps per count = 1/dwell time).

    The smallest difference between two of the lowest distinct values is taken as one count when
    every low value (up to ``max_steps`` of them) is a whole multiple of it, within the rounding of
    the file to whole cps; NaN when they are not (a continuous or finely digitised signal).
    """
    # Runs on every MRM trace of every injection (the dropout rule, the apex-spike screen), ~4
    # times per injection. Written for speed with the same arithmetic, value for value, as
    # :func:`_count_quantum_reference` (tests/test_noise_model.py compares them on random and real
    # traces): numpy's function wrappers (np.unique, np.all, np.sum, np.round) cost 5-10 us each
    # here, so the <= 30 lowest values are handled as Python floats (IEEE doubles: the same
    # differences, quotients and round-half-even as numpy) and the sums stay numpy reductions
    # (pairwise summation, whose order a Python sum would not keep). 120 -> ~50 us per trace.
    s = np.asarray(signal, dtype=float)
    s = s[np.isfinite(s) & (s > 0)]
    if s.size < 5:
        return math.nan
    v = np.sort(s)  # np.unique's values: the sorted array where each value first occurs
    u = v[np.concatenate(([True], v[1:] != v[:-1]))][:30]
    if u.size < 5:
        return math.nan
    ul = u.tolist()
    # np.diff of [0, u...]: u[0] itself, then the steps between distinct sorted values
    q = min(d for d in [ul[0], *(b - a for a, b in zip(ul, ul[1:], strict=False))] if d > 0)
    if q <= 1.0:  # a step of one unit or less: a continuous signal written with few decimals
        return math.nan
    for limit in (10.5, 20.5, 40.5):  # refine on ever more values, while whole multiples stay unambiguous
        n = 0
        bound = limit * q
        while n < len(ul) and ul[n] <= bound:  # u is sorted: u[u <= bound] is a prefix
            n += 1
        if n >= 2:
            ks = [float(round(x / q)) for x in ul[:n]]  # np.round: round half to even
            if min(ks) >= 1:
                first = u[:n]
                k = np.array(ks)
                q = float((first * k).sum() / (k * k).sum())
    low = s[s <= q * max_steps]
    if low.size < 5:
        return math.nan
    k = np.round(low / q)
    if (k < 1).any():
        return math.nan
    ok = np.abs(low - k * q) <= 0.01 * k * q + 0.51
    return q if ok.mean() >= 0.95 else math.nan


def _count_quantum_reference(signal: np.ndarray, *, max_steps: int = 50) -> float:
    """:func:`count_quantum` as first written (plain numpy): the reference its equivalence test
    compares it with."""
    s = np.asarray(signal, dtype=float)
    s = s[np.isfinite(s) & (s > 0)]
    u = np.unique(s)[:30]
    if u.size < 5:
        return math.nan
    d = np.diff(np.concatenate([[0.0], u]))
    q = float(d[d > 0].min())
    if q <= 1.0:
        return math.nan
    for limit in (10.5, 20.5, 40.5):
        first = u[u <= limit * q]
        k = np.round(first / q)
        if first.size >= 2 and np.all(k >= 1):
            q = float(np.sum(first * k) / np.sum(k * k))
    low = s[s <= q * max_steps]
    k = np.round(low / q)
    if low.size < 5 or np.any(k < 1):
        return math.nan
    ok = np.abs(low - k * q) <= 0.01 * k * q + 0.51
    return q if ok.mean() >= 0.95 else math.nan


def value_step(signal: np.ndarray) -> float:
    """Smallest positive difference between two distinct values (the digitisation step of a trace)."""
    u = np.unique(np.asarray(signal, dtype=float)[np.isfinite(signal)])
    d = np.diff(u)
    d = d[d > 0]
    return float(d.min()) if d.size else math.nan


def smooth_residual(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local level (7-point cubic Savitzky-Golay) and the residual scaled to the sd of one point.

    Both arrays are 6 points shorter than the input (3 lost at each end).
    """
    s = np.asarray(signal, dtype=float)
    if s.size < 7:
        return np.empty(0), np.empty(0)
    level = np.convolve(s, _SG7[::-1], mode="valid")
    resid = (s[3:-3] - level) / _SG7_RESID_SCALE
    return level, resid


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return [(int(a), int(b - a)) for a, b in zip(starts, ends, strict=True)]


def dropout_runs(signal: np.ndarray, quantum: float, *, min_counts: float = 10.0) -> list[tuple[int, int, float]]:
    """Runs of exact zeros where the signal around them is at least ``min_counts`` counts.

    Counting statistics give a zero at a level of 10 counts with probability exp(-10) = 5e-5, so
    such a zero is the acquisition dropping the point (real QTRAP traces do this: "3719 0 0 0 0 0 0
    102671"), not noise. Returns (start, length, level in counts) with the level the mean of the
    non-zero points on either side of the run.
    """
    s = np.asarray(signal, dtype=float)
    if not math.isfinite(quantum) or quantum <= 0:
        quantum = 1.0
    if s.size == 0:
        return []
    m = np.concatenate([[False], s == 0, [False]])
    d = np.diff(m.astype(np.int8))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    # the mean of the non-zero neighbours on either side (one side at a trace's end)
    left = np.where(starts > 0, s[np.maximum(starts - 1, 0)], np.nan)
    right = np.where(ends < s.size, s[np.minimum(ends, s.size - 1)], np.nan)
    both = np.vstack([left, right])
    has = np.isfinite(both).any(axis=0)
    level = np.full(starts.size, -np.inf)
    level[has] = np.nanmean(both[:, has], axis=0) / quantum
    keep = level >= min_counts
    return [(int(a), int(b - a), float(lv)) for a, b, lv in zip(starts[keep], ends[keep], level[keep], strict=True)]


def single_spikes(signal: np.ndarray, variance: tuple[float, float, float], quantum: float = 1.0, *,
                  k: float = 6.0, floor: float = 1.0, counted: bool = True) -> list[tuple[int, float, float]]:
    """Single points that stand above both neighbours by more than ``k`` noise sds of their level.

    The level is the mean of the two neighbours; the sd comes from the variance model
    ``(a, b, c)`` in counts (signal / ``quantum``), at least ``floor`` (one count; the digitisation
    step for a continuous signal). Returns (index, point / level, level in counts).
    """
    n = np.asarray(signal, dtype=float) / (quantum if math.isfinite(quantum) and quantum > 0 else 1.0)
    if n.size < 3:
        return []
    a, b, c = variance
    mid, left, right = n[1:-1], n[:-2], n[2:]
    level = 0.5 * (left + right)
    sd = np.maximum(np.sqrt(a + b * np.maximum(level, 0) + (c * level) ** 2), floor)
    hit = mid - np.maximum(left, right) > k * sd
    if counted:  # a point beside a zero is a dropout's edge, not a spike
        hit &= (left > 0) & (right > 0)
    idx = np.flatnonzero(hit)
    return [(int(i + 1), float(mid[i] / level[i]), float(level[i])) for i in idx]


@dataclass
class TraceNoise:
    """What :func:`measure_trace` found on one trace (signal units, ``quantum`` = signal per count)."""

    name: str
    signal: np.ndarray = field(repr=False)
    n_points: int
    sampling_s: float
    quantum: float  # cps per count for a counting detector, NaN for a continuous one
    value_step: float
    max_signal: float
    level: np.ndarray = field(repr=False)  # local level at each interior point
    resid: np.ndarray = field(repr=False)  # residual scaled to a point's sd
    zero_fraction: float = 0.0
    zero_runs: list[int] = field(default_factory=list)  # lengths of all runs of exact zeros
    dropouts: list[tuple[int, int, float]] = field(default_factory=list)  # see dropout_runs
    #: points at >= 10 counts, dropped points included (where a dropout can be seen)
    n_signal_points: int = 0
    #: points whose neighbours average >= 30 counts (where a 2x spike stands out of the noise)
    n_spike_points: int = 0
    #: Gaussian sigma (in points) of the highest peak, from its half-height width; NaN if not found
    peak_sigma_points: float = math.nan
    #: interior points left out of the pooled residuals: the upper part of a peak sampled with fewer
    #: than 4 points per sigma, where the 7-point fit's own curvature error (1.6 % of the apex at 3
    #: points per sigma, 6.6 % at 2) would read as noise
    curved: np.ndarray = field(default=None, repr=False)


def measure_trace(time_min: np.ndarray, signal: np.ndarray, name: str = "") -> TraceNoise:
    """Noise statistics of one trace (see the module docstring).

    The local level and residual skip dropped points (zeros inside signal): a dropout is counted
    apart, and left in it would read as a huge residual on its neighbours.
    """
    t = np.asarray(time_min, dtype=float)
    s = np.asarray(signal, dtype=float)
    q = count_quantum(s)
    drops = dropout_runs(s, q)
    keep = np.ones(s.size, bool)
    for start, n, _ in drops:
        keep[start:start + n] = False
    level, resid = smooth_residual(s[keep])
    zeros = s == 0
    n_signal = n_spike = 0
    if math.isfinite(q):
        dropped = ~keep
        n_signal = int(np.sum((s / q >= 10) | dropped))
        if s.size >= 3:
            n_spike = int(np.sum(0.5 * (s[:-2] + s[2:]) / q >= 30))
    sigma_pts = math.nan
    curved = np.zeros(level.size, bool)
    if level.size >= 9:
        i = int(np.argmax(level))
        h = level[i]
        above = level > h / 2
        lo, hi = i, i
        while lo > 0 and above[lo - 1]:
            lo -= 1
        while hi < level.size - 1 and above[hi + 1]:
            hi += 1
        if lo > 0 and hi < level.size - 1:
            sigma_pts = (hi - lo + 1) / 2.355
            if sigma_pts < 4:
                curved = level > 0.2 * h
    return TraceNoise(
        name=name, signal=s, n_points=int(s.size),
        sampling_s=float(np.median(np.diff(t)) * 60) if t.size > 1 else math.nan,
        quantum=q, value_step=value_step(s), max_signal=float(np.nanmax(s)) if s.size else math.nan,
        level=level, resid=resid, zero_fraction=float(zeros.mean()) if s.size else 0.0,
        zero_runs=[n for _, n in _runs(zeros)], dropouts=drops, peak_sigma_points=sigma_pts, curved=curved,
        n_signal_points=n_signal, n_spike_points=n_spike,
    )


def binned_sd(level: np.ndarray, resid: np.ndarray, edges: Sequence[float], *, min_n: int = 30) -> list[dict]:
    """Robust sd (MAD x 1.4826, so single spikes do not inflate it) of the residuals in each level bin."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (level >= lo) & (level < hi)
        if sel.sum() < min_n:
            continue
        r = resid[sel]
        sd = _MAD_TO_SD * float(np.median(np.abs(r - np.median(r))))
        out.append({"lo": float(lo), "hi": float(hi), "level": float(np.median(level[sel])), "sd": sd,
                    "n": int(sel.sum())})
    return out


def fit_variance(level: np.ndarray, sd: np.ndarray) -> tuple[float, float, float]:
    """Fit ``sd^2 = a + b*S + (c*S)^2`` (a, b, c >= 0) to binned sds, least squares on log variance.

    On the log scale a bin 2x above the model weighs as much as one 2x below, and the background
    bins (which fix ``a``) count as much as the high ones (which fix ``c``).
    """
    from scipy.optimize import least_squares

    S = np.asarray(level, dtype=float)
    v = np.asarray(sd, dtype=float) ** 2
    ok = np.isfinite(S) & np.isfinite(v) & (v > 0) & (S > 0)
    S, v = S[ok], v[ok]
    if S.size < 3:
        return math.nan, math.nan, math.nan
    # a coarse grid first (the log objective has flat valleys where a local solver stalls), then refine
    ga = np.concatenate([[0.0], np.geomspace(v.min() * 1e-3, v.min() * 2, 24)])
    gb = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 61) * float(np.median(v / S))])
    gc = np.concatenate([[0.0], np.geomspace(1e-4, 1.0, 81)])
    best = (math.inf, 0.0, 0.0, 0.0)
    for a0 in ga:
        m = a0 + gb[:, None, None] * S + (gc[None, :, None] * S) ** 2
        obj = np.sum(np.log(np.maximum(m, 1e-300) / v) ** 2, axis=-1)
        i, j = np.unravel_index(int(np.argmin(obj)), obj.shape)
        if obj[i, j] < best[0]:
            best = (float(obj[i, j]), float(a0), float(gb[i]), float(gc[j]))
    _, a0, b0, c0 = best

    def resid(p: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(p[0] + p[1] * S + (p[2] * S) ** 2, 1e-300)) - np.log(v)

    scale = [max(a0, v.min() * 1e-3), max(b0, 1e-3), max(c0, 1e-4)]
    r = least_squares(resid, [a0, b0, c0], bounds=(0, np.inf), x_scale=scale)
    pa, pb, pc = r.x if 2 * r.cost <= best[0] else (a0, b0, c0)
    return float(pa), float(pb), float(pc)


def _robust_sd(x: np.ndarray) -> float:
    return _MAD_TO_SD * float(np.median(np.abs(x - np.median(x)))) if x.size else math.nan


@dataclass
class NoiseSummary:
    """Aggregated noise statistics of a set of traces of one instrument type.

    With ``in_counts`` levels, residuals and ``a``, ``b`` are in counts (signal / quantum, traces
    without a quantum left out of the fit); otherwise in signal units.
    """

    label: str
    n_traces: int
    n_points: int
    n_fitted_traces: int
    sampling_s: float
    peak_sigma_points_median: float
    quantum_median: float
    quantum_range: tuple[float, float]
    value_step_median: float
    #: counted: share of traces whose lowest non-zero value is one count (quantisation reaches one ion)
    min_nonzero_one_count: float
    a: float  # background variance
    b: float  # counting term (1 = Poisson, in counts)
    c: float  # multiplicative point-to-point CV
    bins: list[dict]
    baseline_sd: float  # median over traces of the residual sd on the lower half of each trace
    rel_sd_high: float  # relative sd of points whose level >= ``high_signal`` (signal units, every trace)
    n_high: int
    high_signal: float
    spike_rate: float  # single-point spikes per point
    spike_size_median: float  # spike / level of its neighbours (counted: spikes at >= 30 counts)
    spike_rate_30: float  # counted: spikes at >= 30 counts per point at >= 30 counts (the simulator's spike_rate)
    zero_fraction: float
    dropout_trace_fraction: float  # traces with a dropout among those with >= 20 points at >= 10 counts
    dropout_rate_signal: float  # in those traces, dropout runs per point at >= 10 counts
    dropout_rate: float  # dropout runs (zeros inside >= 10 counts of signal) per 1000 points
    dropout_point_fraction: float
    dropout_single_fraction: float  # share of dropout runs that are one point long
    dropout_run_median: float
    dropout_run_max: int
    dropout_level_median: float  # counts around a dropout
    in_counts: bool = True

    def as_dict(self) -> dict:
        d = asdict(self)
        d["quantum_range"] = list(self.quantum_range)
        return d


def summarise(stats: Iterable[TraceNoise], label: str, *, in_counts: bool = True, high_signal: float,
              min_fit_level: float | None = None, n_bins: int = 14) -> NoiseSummary:
    """Pool traces, bin residuals by local level on a log scale, fit the variance model on the bins
    at or above ``min_fit_level`` (default 3 counts, or the 20th percentile of positive levels for a
    continuous signal, where the MAD of a few discrete values is biased), then count spikes and
    dropouts against it."""
    stats = [s for s in stats if s.n_points >= 7]
    fit = [s for s in stats if math.isfinite(s.quantum)] if in_counts else stats

    def above(s: TraceNoise) -> np.ndarray:
        # counts: the level itself; a continuous detector (UV) sits on an arbitrary offset, so its
        # level is taken above the trace's own baseline (10th percentile of the level)
        if in_counts:
            return s.level / s.quantum
        return s.level - np.percentile(s.level, 10)

    level = np.concatenate([above(s)[~s.curved] for s in fit] or [np.empty(0)])
    resid = np.concatenate([s.resid[~s.curved] / (s.quantum if in_counts else 1.0) for s in fit] or [np.empty(0)])
    pos = level[level > 0]
    if min_fit_level is None:
        min_fit_level = 3.0 if in_counts else float(np.percentile(pos, 20))
    edges = np.geomspace(max(float(np.percentile(pos, 1)), 1e-9), float(level.max()) * 1.0001, n_bins + 1)
    bins = binned_sd(level, resid, edges)
    use = [x for x in bins if x["level"] >= min_fit_level]
    a, b, c = fit_variance(np.array([x["level"] for x in use]), np.array([x["sd"] for x in use]))
    base = []
    for s in stats:
        if s.level.size >= 20:
            low = s.level <= np.median(s.level)
            base.append(_robust_sd(s.resid[low]) / (s.quantum if in_counts and math.isfinite(s.quantum) else 1.0))
    hi_l = np.concatenate([s.level[~s.curved] for s in stats])
    hi_r = np.concatenate([s.resid[~s.curved] for s in stats])
    sel = hi_l >= high_signal
    base_sd = {id(s): _robust_sd(s.resid[s.level <= np.median(s.level)]) for s in fit if s.level.size >= 20}
    spikes = [sp for s in fit for sp in (
        single_spikes(s.signal, (a, b, c), s.quantum) if in_counts else
        single_spikes(s.signal - np.percentile(s.level, 10) if s.level.size else s.signal, (0.0, b, c), 1.0,
                      floor=max(base_sd.get(id(s), 0.0), s.value_step), counted=False))]
    n_fit_pts = sum(s.n_points for s in fit)
    n_pts = sum(s.n_points for s in stats)
    drops = [d for s in stats for d in s.dropouts] if in_counts else []
    eligible = [s for s in stats if s.n_signal_points >= 20] if in_counts else []
    qs = [s.quantum for s in stats if math.isfinite(s.quantum)]
    return NoiseSummary(
        label=label, n_traces=len(stats), n_points=n_pts, n_fitted_traces=len(fit),
        sampling_s=float(np.nanmedian([s.sampling_s for s in stats])),
        peak_sigma_points_median=float(np.nanmedian([s.peak_sigma_points for s in stats])),
        quantum_median=float(np.median(qs)) if qs else math.nan,
        quantum_range=(float(min(qs)), float(max(qs))) if qs else (math.nan, math.nan),
        value_step_median=float(np.nanmedian([s.value_step for s in stats])),
        min_nonzero_one_count=(float(np.mean([abs(s.signal[s.signal > 0].min() / s.quantum - 1) < 0.02 for s in fit]))
                               if in_counts and fit else math.nan),
        a=a, b=b, c=c, bins=bins, baseline_sd=float(np.median(base)) if base else math.nan,
        rel_sd_high=_robust_sd(hi_r[sel] / hi_l[sel]) if sel.any() else math.nan, n_high=int(sel.sum()),
        high_signal=high_signal,
        spike_rate=len(spikes) / max(n_fit_pts, 1),
        spike_size_median=float(np.median([x for _, x, lv in spikes if lv >= (30 if in_counts else -math.inf)]
                                          or [math.nan])),
        spike_rate_30=(sum(1 for *_, lv in spikes if lv >= 30) / max(sum(s.n_spike_points for s in fit), 1)
                       if in_counts else math.nan),
        dropout_trace_fraction=(sum(1 for s in eligible if s.dropouts) / len(eligible)) if eligible else math.nan,
        dropout_rate_signal=(sum(len(s.dropouts) for s in eligible if s.dropouts)
                             / max(sum(s.n_signal_points for s in eligible if s.dropouts), 1)) if eligible else math.nan,
        zero_fraction=sum(s.zero_fraction * s.n_points for s in stats) / max(n_pts, 1),
        dropout_rate=1000.0 * len(drops) / max(n_pts, 1),
        dropout_point_fraction=sum(n for _, n, _ in drops) / max(n_pts, 1),
        dropout_single_fraction=sum(1 for _, n, _ in drops if n == 1) / len(drops) if drops else math.nan,
        dropout_run_median=float(np.median([n for _, n, _ in drops])) if drops else math.nan,
        dropout_run_max=max((n for _, n, _ in drops), default=0),
        dropout_level_median=float(np.median([lv for _, _, lv in drops])) if drops else math.nan,
        in_counts=in_counts,
    )


# --- dropouts over peaks -------------------------------------------------------------------------


@dataclass
class PeakDropouts:
    """Dropout runs over one chromatographic peak, found by :func:`peak_dropouts`.

    The peak is a Gaussian plus a constant fitted to the points that were *not* dropped, so a peak
    whose top was lost is still described by its flanks; "top" is every point where that Gaussian
    is at or above half its height (the points across the FWHM).
    """

    height_counts: float  # fitted height above the fitted baseline, in counts
    fwhm_points: float  # fitted full width at half height, in points
    n_top_points: int  # points of the trace where the fitted peak is >= half its height
    top_dropped: int  # of those, how many are in a dropout run
    apex_dropped: bool  # the point nearest the fitted apex is in a dropout run
    area_lost_fraction: float  # share of the fitted peak's area on dropped points
    n_flank_points: int = 0  # points within the bounds below half height, at >= 10 counts (bridged)
    flank_dropped: int = 0  # of those, how many are in a dropout run
    runs: list[tuple[int, int]] = field(default_factory=list)  # (start, length) of runs over the peak

    @property
    def top_hit(self) -> bool:
        """A dropout run removed at least one point of the peak's upper half."""
        return self.top_dropped > 0

    @property
    def whole_top_lost(self) -> bool:
        """Every point of the peak's upper half was dropped (its height is not in the trace)."""
        return self.n_top_points > 0 and self.top_dropped == self.n_top_points


def _counts_step(signal: np.ndarray, quantum: float, default: float) -> float:
    """The count step given, else the one :func:`count_quantum` finds, else ``default``.

    A trace whose lowest values are thousands of cps, or one of a few counts, shows no step; the
    instrument's typical step (one count = 1/dwell) is then the best estimate, where taking 1 cps
    would call "115 0 229" (one or two counts) a dropout.
    """
    for q in (quantum, count_quantum(signal), default):
        if math.isfinite(q) and q > 0:
            return float(q)
    return 1.0


def peak_dropouts(time_min: np.ndarray, signal: np.ndarray, apex_min: float, start_min: float,
                  end_min: float, *, quantum: float = math.nan, default_quantum: float = 82.6,
                  runs: Sequence[tuple[int, int, float]] | None = None) -> PeakDropouts | None:
    """How dropout runs (:func:`dropout_runs`) hit the peak a reference places at ``apex_min``
    between ``start_min`` and ``end_min``.

    The same estimate is used on the real files (references: Analyst's or SmartPeak's apex and
    bounds) and on simulated traces (reference: the noiseless peak), so the two are compared like
    for like. The Gaussian is fitted only when a run falls in the window (bounds +/- a quarter of
    their width); otherwise nothing was lost and a 3-point mean gives the height and the top.
    None when the bounds hold fewer than 5 points or fewer than 4 were not dropped.
    """
    from scipy.optimize import least_squares

    t = np.asarray(time_min, dtype=float)
    s = np.asarray(signal, dtype=float)
    q = _counts_step(s, quantum, default_quantum)
    if runs is None:
        runs = dropout_runs(s, q)
    dropped = np.zeros(s.size, bool)
    for a, n, _ in runs:
        dropped[a:a + n] = True
    inb = (t >= start_min) & (t <= end_min)
    if inb.sum() < 5:
        return None
    width = end_min - start_min
    win = (t >= start_min - 0.25 * width) & (t <= end_min + 0.25 * width)
    use = win & ~dropped
    if use.sum() < 4:
        return None
    x, y = t[use], s[use] / q
    dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    if not (win & dropped).any():  # nothing lost: the 3-point mean gives height and top, no fit needed
        sm = np.convolve(s / q, np.ones(3) / 3.0, mode="same")
        base = float(np.percentile(sm[win], 10))
        h = float(sm[inb].max()) - base
        top = inb & (sm - base >= 0.5 * h)
        flank = inb & ~top & (s / q >= 10.0)
        return PeakDropouts(height_counts=h, fwhm_points=float(top.sum()), n_top_points=int(top.sum()),
                            top_dropped=0, apex_dropped=False, area_lost_fraction=0.0,
                            n_flank_points=int(flank.sum()), flank_dropped=0, runs=[])

    def model(p: np.ndarray, tt: np.ndarray) -> np.ndarray:
        return p[3] + p[2] * np.exp(-0.5 * ((tt - p[0]) / p[1]) ** 2)

    lo_sd, hi_sd = 0.5 * dt, max(width / 2.0, dt)
    x0 = np.array([min(max(apex_min, start_min), end_min), min(max(width / 6.0, lo_sd * 1.01), hi_sd * 0.99),
                   max(float(y.max() - np.percentile(y, 10)), 1e-9), float(np.percentile(y, 10))])
    fit = least_squares(lambda p: model(p, x) - y, x0,
                        bounds=([start_min, lo_sd, 0.0, 0.0], [end_min, hi_sd, np.inf, max(float(y.max()), 1e-9)]))
    mu, sd, h, base = fit.x
    curve = model(fit.x, t) - base
    top = win & (curve >= 0.5 * h) if h > 0 else np.zeros(s.size, bool)
    apex_i = int(np.argmin(np.abs(t - mu)))
    total = float(curve[win].sum())
    over = [(int(a), int(n)) for a, n, _ in runs if t[a] <= end_min and t[a + n - 1] >= start_min]
    level = s / q
    if dropped.any():
        level = level.copy()
        level[dropped] = np.interp(t[dropped], t[~dropped], level[~dropped])
    flank = inb & ~top & (level >= 10.0)
    return PeakDropouts(
        height_counts=float(h), fwhm_points=2.3548 * sd / dt, n_top_points=int(top.sum()),
        top_dropped=int((top & dropped).sum()), apex_dropped=bool(dropped[apex_i]),
        area_lost_fraction=float(curve[win & dropped].sum() / total) if total > 0 else math.nan,
        n_flank_points=int(flank.sum()), flank_dropped=int((flank & dropped).sum()), runs=over)


def co_dropouts(traces: Sequence[tuple[np.ndarray, np.ndarray]], groups: Sequence[object] | None = None,
                *, min_counts: float = 10.0, default_quantum: float = 82.6) -> dict[str, float]:
    """Are dropout runs shared between the traces of one injection (the same scan cycles)?

    ``traces`` are (time_min, signal) of one injection; ``groups`` (optional) names each trace's
    compound. For each dropout run of a trace, every other trace that covers the run's time span
    and would show a dropout there (its own level, dropouts bridged, >= ``min_counts`` counts on
    the run's points) is asked whether it is dropped at the nearest scans too. Returns the share
    of such (run, other trace) pairs where it is (``shared``, ``shared_same_group`` for traces of
    the same compound) and the same share for random points of signal (``base``): independent
    dropouts give ``shared`` = ``base``; a dropout of the whole cycle gives ``shared`` = 1.
    """
    info = []
    for tm, sg in traces:
        tm, sg = np.asarray(tm, float), np.asarray(sg, float)
        q = _counts_step(sg, math.nan, default_quantum)
        runs = dropout_runs(sg, q, min_counts=min_counts)
        dropped = np.zeros(sg.size, bool)
        for a, n, _ in runs:
            dropped[a:a + n] = True
        bridged = sg / q
        if dropped.any() and (~dropped).sum() >= 2:
            bridged = bridged.copy()
            bridged[dropped] = np.interp(tm[dropped], tm[~dropped], bridged[~dropped])
        info.append((tm, runs, dropped, bridged))
    pairs = hit = pairs_g = hit_g = 0
    base_n = base_hit = 0
    for i, (ti, runs_i, _, _) in enumerate(info):
        for a, n, _ in runs_i:
            t0, t1 = ti[a], ti[a + n - 1]
            for j, (tj, _, dj, bj) in enumerate(info):
                if j == i or tj.size < 3 or tj[0] > t0 or tj[-1] < t1:
                    continue
                k = np.unique(np.clip(np.searchsorted(tj, ti[a:a + n]), 0, tj.size - 1))
                k = k[bj[k] >= min_counts]
                if k.size == 0:
                    continue
                shared = bool(dj[k].mean() >= 0.5)
                pairs += 1
                hit += shared
                if groups is not None and groups[i] is not None and groups[i] == groups[j]:
                    pairs_g += 1
                    hit_g += shared
    for _, _, d, b in info:
        sig = b >= min_counts
        base_n += int(sig.sum())
        base_hit += int((d & sig).sum())
    return {"pairs": pairs, "shared": hit / pairs if pairs else math.nan,
            "pairs_same_group": pairs_g, "shared_same_group": hit_g / pairs_g if pairs_g else math.nan,
            "base": base_hit / base_n if base_n else math.nan}


# --- simulating --------------------------------------------------------------------------------

# Run lengths of the 1,231 interior dropout runs in the two QTRAP files: how many were 1..10
# points long (benchmarks/results_noise_model.md); 14 % were longer (p90 17 points).
_DROPOUT_LENGTHS = (445, 214, 116, 79, 68, 51, 31, 23, 17, 16)


@dataclass(frozen=True)
class MrmNoise:
    """Point noise of a triple-quadrupole MRM trace, as measured on the QTRAP 5500 files (docs/noise.md).

    Each point's expected count ``mu = S / cps_per_count`` is multiplied by a lognormal factor of
    mean 1 and CV ``point_cv`` (spray and transmission flicker), then drawn as counts with variance
    ``counting_factor * mu`` (negative binomial; Poisson when it is 1), so that
    ``var = counting_factor*mu + (point_cv*mu)^2`` in counts, the measured
    ``a + b*S + (c*S)^2`` with ``a`` = 0. The trace is written as whole cps (counts x cps_per_count,
    rounded), which gives the count quantisation at low level. Rare single-point spikes multiply a
    point by about ``spike_size``; in a fraction ``dropout_trace_fraction`` of the traces, runs of
    exact zeros start at ``dropout_rate`` per point of signal (>= 10 counts), with lengths drawn
    from the measured histogram, ``dropout_top_factor`` times as often inside a peak's upper half,
    and a run from a flank stops at the upper half: real QTRAP dropouts spare peak tops
    (docs/noise.md, "Dropouts over peaks").

    Parameters
    ----------
    cps_per_count : cps of one count (1 / dwell time in s); measured median 82.6 (dwell 12 ms),
        range 24-136.
    counting_factor : counting variance over the count (``b``); 2.0 pooled (1.73 and 1.79 per file).
    point_cv : multiplicative point-to-point CV (``c``); 0.058 pooled (0.046 BloodProject, 0.108
        yeast); the relative sd of points above 2x10^4 cps was 0.071 / 0.112.
    spike_rate : single-point spikes per point. Measured: 2.8x10^-3 spikes per point where the
        neighbours are at >= 30 counts and the point stands 6 sd above both (pooled); spikes of
        ``spike_size`` are seen there about half the time, so 6x10^-3 reproduces the measured rate
        (tests/test_noise_model.py measures the simulator with the same code).
    spike_size : ratio of a spike to the level of its neighbours (times a lognormal of sd 0.25);
        the spikes seen had a median ratio of 1.94 (p10 1.59, p90 2.92).
    dropout_trace_fraction : share of traces given zero runs. Measured: 0.16 of the traces with >= 20
        points at >= 10 counts have some; 0.21 reproduces that (a trace with little signal may draw none).
    dropout_rate : zero runs starting per point at >= 10 counts (noiseless) of such a trace, outside
        the peaks' upper halves. Measured over peaks (benchmarks/dropout_peaks.py, docs/noise.md):
        0.80 % of the real peaks' flank points (inside the reference bounds, below half height) are
        dropped; 0.011 gives 0.7 %. (The earlier 0.024 matched the rate per point of signal over whole
        real traces, 0.030, but most of those dropouts sit on background of 10-300 counts, which the
        simulated traces do not have: on the simulated peaks it dropped 2.2 % of the points.)
    dropout_top_factor : the start rate inside a peak's upper half (the points across its FWHM)
        relative to ``dropout_rate``; a run that starts on a flank stops where the upper half
        begins. Measured: 0.07 % of the real peaks' top points are dropped (2 of 2,878), 11x fewer
        than of their flank points, and 2 of 293 real peaks lost any top point, none its apex; 0.25
        gives 6.0 per 1,000 peaks (real 6.8), apex 1.1 (real 0), the whole top 0.4 (real 0).
    dropout_stop_at_top : whether a run from a flank stops at a peak's upper half. The model
        before 2026-12-05 is ``dropout_rate=0.024, dropout_top_factor=1.0,
        dropout_stop_at_top=False`` (:data:`MRM_DROPOUTS_BEFORE`): runs anywhere on the signal.
    dropout_tail_fraction : share of runs longer than 10 points (drawn uniformly 11-``dropout_tail_max``); 0.14.
    """

    cps_per_count: float = 82.6
    counting_factor: float = 2.0
    point_cv: float = 0.058
    spike_rate: float = 6.0e-3
    spike_size: float = 1.94
    dropout_trace_fraction: float = 0.21
    dropout_rate: float = 0.011
    dropout_tail_fraction: float = 0.14
    dropout_tail_max: int = 40
    dropout_top_factor: float = 0.25
    dropout_stop_at_top: bool = True


#: the dropout model of the bundled data of 2026-12-05 (branch regen2): runs placed anywhere on
#: the signal; it dropped a top point on 61 of 1,000 peaks (real 6.8) and the apex on 24 (real 0 of
#: 293): docs/noise.md, "Dropouts over peaks". Kept to reproduce the cases found on those batches.
MRM_DROPOUTS_BEFORE = {"dropout_rate": 0.024, "dropout_top_factor": 1.0, "dropout_stop_at_top": False}


@dataclass(frozen=True)
class UvNoise:
    """Point noise of a UV/DAD trace, as measured on the Agilent DAD files (docs/noise.md).

    White noise of sd ``sqrt(baseline_sd^2 + (point_cv * height)^2)`` (height above the trace's
    lowest noiseless value), a random-walk wander of ``wander_sd`` per point (detrended; not measured
    here, kept from the earlier simulator), and digitisation to ``step`` mAU.

    Parameters
    ----------
    baseline_sd_mau : point-to-point sd on the baseline; Agilent DAD 0.0014 mAU at 0.4 s per point
        (Shimadzu 0.00035, Chromeleon 0.00027, Waters 0.00175 at 0.025 s).
    point_cv : relative sd at high absorbance; Agilent 4.2x10^-4 (Shimadzu 3.3x10^-4, Chromeleon 8.5x10^-4).
    step_mau : digitisation step; Agilent .ch 1000/2^21 = 4.77x10^-4 mAU (Shimadzu 1 uV, Waters 1e-4 mAU).
    wander_sd_mau : random-walk step per point (low-frequency baseline wander).
    """

    baseline_sd_mau: float = 0.0014
    point_cv: float = 4.2e-4
    step_mau: float = 1000.0 / 2**21
    wander_sd_mau: float = 0.0004


def _dropout_lengths(rng: np.random.Generator, n: int, p: MrmNoise) -> np.ndarray:
    w = np.asarray(_DROPOUT_LENGTHS, dtype=float)
    w = w / w.sum() * (1.0 - p.dropout_tail_fraction)
    lengths = rng.choice(np.arange(1, 11), size=n, p=w / w.sum())
    tail = rng.random(n) < p.dropout_tail_fraction
    if tail.any():
        lengths[tail] = rng.integers(11, max(p.dropout_tail_max, 11) + 1, size=int(tail.sum()))
    return lengths


def peak_tops(signal: np.ndarray, min_height: float) -> np.ndarray:
    """Points across the FWHM of each peak of a noiseless trace (height >= ``min_height``).

    Height is measured above the trace's lowest value (the simulator's traces sit on a flat
    background), as :func:`peak_dropouts` measures the top above a fitted baseline; a peak is a
    local maximum, its top the contiguous points at or above half its height.
    """
    s = np.asarray(signal, dtype=float)
    top = np.zeros(s.size, bool)
    if s.size < 3:
        return top
    base = float(s.min())
    inner = np.flatnonzero((s[1:-1] >= s[:-2]) & (s[1:-1] > s[2:])) + 1
    for i in inner[s[inner] - base >= min_height]:
        if top[i]:
            continue
        half = base + 0.5 * (s[i] - base)
        lo, hi = i, i
        while lo > 0 and s[lo - 1] >= half:
            lo -= 1
        while hi < s.size - 1 and s[hi + 1] >= half:
            hi += 1
        top[lo:hi + 1] = True
    return top


def apply_mrm_noise(signal_cps: np.ndarray, rng: np.random.Generator, p: MrmNoise | None = None) -> np.ndarray:
    """Noisy, count-quantised cps for a noiseless MRM trace (see :class:`MrmNoise`)."""
    return mrm_noise_events(signal_cps, rng, p)[0]


def mrm_noise_events(signal_cps: np.ndarray, rng: np.random.Generator,
                     p: MrmNoise | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`apply_mrm_noise`'s noisy cps and a mask of the points it spiked or dropped.

    The same draws in the same order, so a benchmark that knows the simulator's seed learns where
    its bursts and dropouts are (``benchmarks/bench_noise_oracle.py``, ``apex_spikes_known.py``).
    """
    p = p or MrmNoise()
    s = np.maximum(np.asarray(signal_cps, dtype=float), 0.0)
    mu = mu_clean = s / p.cps_per_count
    if p.point_cv > 0:
        sl = math.sqrt(math.log1p(p.point_cv**2))
        mu = mu * np.exp(rng.normal(-0.5 * sl * sl, sl, s.size))
    if p.counting_factor > 1.0:
        r = np.maximum(mu / (p.counting_factor - 1.0), 1e-12)
        counts = rng.negative_binomial(r, 1.0 / p.counting_factor).astype(float)
    else:
        counts = rng.poisson(mu).astype(float)
    spikes = rng.random(s.size) < p.spike_rate
    events = spikes.copy()
    if spikes.any():
        counts[spikes] = np.round(np.maximum(counts[spikes], 1.0) * p.spike_size
                                  * np.exp(rng.normal(0.0, 0.25, int(spikes.sum()))))
    if rng.random() < p.dropout_trace_fraction:
        top = peak_tops(s, 10.0 * p.cps_per_count)
        rate = np.where(top, p.dropout_rate * p.dropout_top_factor, p.dropout_rate)
        starts = np.flatnonzero((rng.random(s.size) < rate) & (mu_clean >= 10.0))
        for i, n in zip(starts, _dropout_lengths(rng, starts.size, p), strict=True):
            end = i + n
            if p.dropout_stop_at_top and not top[i]:  # a run from a flank stops where the upper half begins
                into = np.flatnonzero(top[i:end])
                if into.size:
                    end = i + int(into[0])
            counts[i:end] = 0.0
            events[i:end] = True
    return np.round(counts * p.cps_per_count), events


def apply_uv_noise(signal_mau: np.ndarray, rng: np.random.Generator, p: UvNoise | None = None) -> np.ndarray:
    """Noisy, digitised mAU for a noiseless UV trace (see :class:`UvNoise`)."""
    p = p or UvNoise()
    s = np.asarray(signal_mau, dtype=float)
    wander = np.cumsum(rng.normal(0.0, p.wander_sd_mau, s.size))
    height = s - s.min()
    sd = np.sqrt(p.baseline_sd_mau**2 + (p.point_cv * height) ** 2)
    out = s + wander - np.linspace(0.0, wander[-1], s.size) + rng.normal(0.0, 1.0, s.size) * sd
    return np.round(out / p.step_mau) * p.step_mau if p.step_mau > 0 else out
