"""Signal integrity of one detector channel: dead channels, single-point spikes, saturation.

Pure functions on numpy arrays, applied to every channel a method reads before its peaks are
integrated (see :func:`thioquant.measure.measure_injection` and ``docs/qc.md``, "Signal
integrity"). No single standard governs these checks; they follow laboratory practice
(``domain.md`` section 4): a saturated peak is not quantified (dilute and re-inject; a saturated
calibrator is excluded with that reason), and a channel with no signal at all is an instrument
fault, not "not detected".

Rules
-----
* **Dead channel** (:func:`dead_channel_reason`): no finite point; a constant trace (a detector
  stuck at one value); for a count channel (SRM/MRM, XIC, TIC) a trace whose most negative value
  exceeds its most positive one in size (counts are never negative: an inverted or corrupted
  array); and, where the method expects baseline noise (``expect_baseline_noise``, default
  true), a trace that is all zero or has no variation at all away from its tallest point.
* **Single-point spike** (:func:`find_spikes`): one point whose rise above the larger of its two
  neighbours exceeds ``spike_factor`` (default 10) times the height, above the trace's minimum,
  of everything else in the trace. On 909 real MRM traces (QTRAP BloodProject and yeast Sacc1,
  OpenMS test files) and the bundled batch, that ratio is at most 4.0 for ion statistics (apart
  from one trace holding a single count burst and nothing else); a detector glitch of 10^9 in a
  peak of 4x10^5 gives 2,500. Up to :data:`MAX_SPIKES` spikes are removed, tallest first, each
  replaced by the mean of its two neighbours.
* **Apex spike on a count channel** (:func:`find_apex_spikes`): one point, or two adjacent
  points, standing above a local fit of its neighbours by more than ``apex_spike_k_sd`` (default
  5) times the noise SD at the fitted level *and* by more than ``apex_spike_ratio`` (default 1.45)
  times that level. The fit is a quadratic in log intensity (a Gaussian) through the 3 points on
  each side, the judged point(s) left out, so a true sharp apex (3-6 points per half-height
  width) is predicted by its own flanks and a single-point burst is not; the noise SD is the
  trace's intensity-dependent model (:func:`thioquant.peaks.noise.trace_noise`) plus twice the
  counting variance of a count-quantised trace (measured: docs/noise.md). On a count-quantised
  trace the point's count must also be as improbable under counting at the fitted level as
  ``apex_spike_k_sd`` Gaussian SDs (:func:`count_tail`, negative binomial of twice the Poisson
  variance; cps per count from :func:`count_step`): a few counts are skewed, and a narrow
  count-level apex 2-4x its fit is counting, not a burst. Candidates: a point above
  ``apex_spike_ratio`` x both neighbours (two adjacent points: x the points flanking the pair),
  or, on a steep flank where the higher neighbour is already near a burst's value, a local
  maximum above ``apex_spike_ratio`` x the same Gaussian fit through its 3 + 3 neighbours
  (:func:`_flank_candidates`); a flank candidate is judged against the SD of the point minus the
  fit (the fit's leverage added) and by its ratio to the fit itself (docs/qc.md, "Bursts on a
  steep flank"). The point is replaced by the fit before width and integration. Measured spikes on real QTRAP traces are 1.6-2.9x
  their neighbours (docs/noise.md), i.e. 8-20 SDs at 5-8 % point noise.
* **Saturation at the detector's stated maximum** (:func:`reaches_max`): any point between the
  peak's bounds at or above ``detector_max`` (the flat-top rule itself is the peak engine's
  ``SATURATED``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

DEAD_CHANNEL = "DEAD_CHANNEL"  # messages in thioquant.flags
SPIKE = "SPIKE"
SPIKE_APEX = "SPIKE_APEX"

#: channel kinds whose values are ion counts (never negative)
COUNT_KINDS = frozenset({"srm", "xic", "tic"})
#: at most this many spikes are removed from one trace (more is not a glitch but a broken channel)
MAX_SPIKES = 5


def dead_channel_reason(signal: np.ndarray, kind: str = "", *, expect_baseline_noise: bool = True) -> str:
    """Why a channel is dead, or '' when it carries a signal.

    Parameters
    ----------
    signal : the trace's values.
    kind : the channel kind (``"srm"``, ``"uv"``...): negative values are judged for count
        channels only (a UV baseline may sit below zero).
    expect_baseline_noise : the method expects chemical or electronic noise on this channel; an
        all-zero trace, or one whose values away from its tallest point never vary, is then dead.
    """
    y = np.asarray(signal, dtype=float)
    ok = np.isfinite(y)
    fin = y if ok.all() else y[ok]
    if fin.size == 0:
        return "no finite value in the trace"
    lo, hi = float(fin.min()), float(fin.max())
    if lo == hi:
        if lo == 0.0:
            return "all zero" if expect_baseline_noise else ""
        return f"constant at {lo:g} over the whole trace (a detector stuck at one value)"
    if kind in COUNT_KINDS and lo < 0 and -lo > hi:
        return (f"negative counts (minimum {lo:g}, maximum {hi:g}): an inverted or corrupted "
                "intensity array")
    if expect_baseline_noise and fin.size >= 20:
        # the baseline, away from the tallest point: a real detector's never repeats one value
        i = int(np.argmax(fin))
        q = max(2, fin.size // 10)
        parts = [p for p in (fin[: max(i - q, 0)], fin[i + q:]) if p.size]
        n_away = sum(p.size for p in parts)
        if n_away >= 10:
            v = float(parts[0][0])
            if all(float(p.min()) == v == float(p.max()) for p in parts):
                return (f"no baseline noise: {n_away} points away from the peak all equal {v:g} "
                        "(the method expects baseline noise on this channel)")
    return ""


def find_spikes(signal: np.ndarray, spike_factor: float = 10.0, max_spikes: int = MAX_SPIKES) -> list[int]:
    """Indices of single-point spikes, tallest first (see the module's rule).

    A point is a spike when its rise above the larger of its two neighbours exceeds
    ``spike_factor`` times the height, above the trace's minimum, of every other point (the
    point and its neighbours left out). The first and last points are not judged. Only the
    trace's maximum can be one (any other point has a taller point outside its neighbours, or
    next to it), so each round looks at that point alone.
    """
    y = np.asarray(signal, dtype=float)
    n = y.size
    if n < 5 or not np.isfinite(y).all():
        return []
    base = float(y.min())
    out: list[int] = []
    for _ in range(max_spikes):
        i = int(np.argmax(y))
        if i == 0 or i == n - 1:
            break
        rise = float(y[i]) - max(float(y[i - 1]), float(y[i + 1]))
        other = max(float(y[: i - 1].max()) if i > 1 else base, float(y[i + 2:].max()) if i + 2 < n else base)
        if not (rise > 0 and rise > spike_factor * max(other - base, 0.0)):
            break
        if not out:
            y = y.copy()  # the caller's array is never changed
        out.append(i)
        y[i] = 0.5 * (y[i - 1] + y[i + 1])
    return out


#: apex spikes: points on each side of the judged point(s) that the local fit uses
APEX_HALF = 3
#: apex spikes: the flanks' fitted Gaussian SD must be at least this many points (FWHM 3.5)
APEX_MIN_SIGMA = 1.5


def _flank_fit(y: np.ndarray, i0: int, w: int, half: int, min_sigma: float,
               skip: frozenset[int] = frozenset(), leverage: bool = False
               ) -> tuple[np.ndarray, float, float, float] | None:
    """The local fit at points ``i0 .. i0 + w - 1`` from ``half`` neighbours on each side (a
    quadratic in log intensity above the local baseline), that baseline, the flanks' relative
    scatter about the fit (RMS of the log residuals over the degrees of freedom) and, with
    ``leverage``, the fit's leverage at the judged points (the variance of the fitted log value
    over one point's, for flanks as noisy as the point; else 0); None when the flanks do not show
    a peak top at least ``min_sigma`` points wide. Flank points in ``skip`` (other candidate bursts) are left out, the
    reach widened by as many points."""
    n = y.size
    # a peak on a baseline is a Gaussian above that baseline: the lowest point within twice
    # the fit's reach (flanks at the baseline of a 3-point-wide peak bent the fit otherwise)
    j0, j1 = max(i0 - 2 * half, 0), min(i0 + w + 2 * half, n)
    win = y[j0:j1].tolist()  # Python floats: numpy scalar comparisons were half this block's cost
    base = min(win)
    ls = [j for j in range(i0 - 1, j0 - 1, -1) if j not in skip and win[j - j0] > base][:half]
    rs = [j for j in range(i0 + w, j1) if j not in skip and win[j - j0] > base][:half]
    if len(ls) < 2 or len(rs) < 2:
        return None
    idx = np.array(ls[::-1] + rs, dtype=int)  # ls runs outwards: reversed, it is sorted
    x0 = i0 + 0.5 * (w - 1)
    ly = np.log(y[idx] - base)
    x = idx - x0
    # the design matrix filled column by column (np.stack and ones_like: the same C-ordered array,
    # and 30 % of this function's overhead, run ~13 times per injection)
    a = np.empty((x.size, 3))
    a[:, 0] = x * x
    a[:, 1] = x
    a[:, 2] = 1.0
    ata = a.T @ a
    try:  # the normal equations of 3 parameters (np.polyfit costs 80 us of overhead per call)
        q = np.linalg.solve(ata, a.T @ ly)
    except np.linalg.LinAlgError:
        return None
    # convex flanks (a valley): no top to judge; flanks narrower than ``min_sigma``: too sparsely
    # sampled to tell an apex from a burst
    if not q[0] < 0 or -0.5 / q[0] < min_sigma * min_sigma:
        return None
    res = ly - a @ q
    # the ufuncs' reduce and math.sqrt: np.sum's, np.sqrt's arithmetic without their wrappers
    scatter = math.sqrt(float(np.add.reduce(res * res)) / max(idx.size - 3, 1))
    # np.polyval's Horner steps written out (it starts from 0 * x + q[0], which is q[0] exactly)
    xs = np.arange(i0, i0 + w) - x0
    lev = 0.0
    if leverage:
        g = np.empty((3, w))
        g[0], g[1], g[2] = xs * xs, xs, 1.0
        lev = float(np.maximum.reduce(np.add.reduce(g * np.linalg.solve(ata, g), axis=0)))
    return base + np.exp((q[0] * xs + q[1]) * xs + q[2]), base, scatter, lev


@functools.lru_cache(maxsize=8)
def _flank_weights(half: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and weights of the ``half`` points on each side: the value at offset 0 of the
    least-squares quadratic through them is sum(weight x value) (by symmetry, the intercept)."""
    x = np.r_[np.arange(-half, 0), np.arange(1, half + 1)].astype(float)
    s2, s4 = float(np.sum(x * x)), float(np.sum(x**4))
    wts = (s4 - s2 * x * x) / (x.size * s4 - s2 * s2)
    offs, wts = x.astype(int), wts.copy()
    offs.flags.writeable = wts.flags.writeable = False  # cached: shared by every call
    return offs, wts


def _flank_candidates(y: np.ndarray, idx: np.ndarray, half: int, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Of the points ``idx`` (``half`` points from either end), those standing above ``ratio`` x
    the quadratic in log intensity (a Gaussian) fitted by least squares to the ``half`` points on
    each side, and that fit's value there. With the neighbours at fixed offsets the fit's value is
    a fixed weighted sum of their logs (a linear filter). Points with a neighbour at or below
    zero are not candidates."""
    if not idx.size:
        return idx, np.zeros(0)
    offs, wts = _flank_weights(half)
    # every offset in one gather (6 numpy calls, not 6 per offset: this ran on every trace); the
    # row sums add the offsets in order, as the former loop did
    v = y[idx[:, None] + offs]
    pos = v > 0
    ok = pos.all(axis=1)
    pred = np.exp(np.sum(wts * np.log(np.where(pos, v, 1.0)), axis=1))
    keep = ok & (y[idx] > ratio * pred)
    return idx[keep], pred[keep]


def _partner_rises(t: float, w: int, partners: Sequence[tuple[np.ndarray, np.ndarray]], half: int,
                   limit: float) -> bool:
    """True when a co-eluting channel stands above its own flank fit at time ``t`` by more than
    ``limit`` x: the shape is the peak's (every transition of a compound, and its labelled
    internal standard, share it), not a burst of one channel (bursts are independent)."""
    for tp, yp in partners:
        j = int(np.searchsorted(tp, t))
        if j > 0 and (j == tp.size or abs(tp[j - 1] - t) < abs(tp[j] - t)):
            j -= 1
        if j < 1 or j + w >= tp.size:
            continue
        got = _flank_fit(yp, j, w, half, 0.0)
        if got is None:
            continue
        fit, base = got[0], got[1]
        if np.any((yp[j:j + w] - base) > limit * (fit - base)):
            return True
    return False


def find_apex_spikes(signal: np.ndarray, noise_sd: Callable[[float], float], *, k_sd: float = 5.0,
                     ratio: float = 1.45, max_spikes: int = MAX_SPIKES,
                     half: int = APEX_HALF, min_sigma: float = APEX_MIN_SIGMA,
                     time_min: np.ndarray | None = None,
                     partners: Sequence[tuple[np.ndarray, np.ndarray]] = ()) -> list[tuple[int, int, np.ndarray]]:
    """Single- or two-point bursts standing above a local fit of their neighbours.

    Parameters
    ----------
    signal : the trace's values.
    noise_sd : the noise SD of one point at a signal level (e.g. ``NoiseModel.sd`` plus counting).
    k_sd : a point is a burst when it stands more than this many SDs above the fit ...
    ratio : ... and above ``ratio`` x the fit (both must hold).
    max_spikes : at most this many are returned (tallest excess first).
    half : neighbours on each side used for the fit.
    min_sigma : the Gaussian SD (points) the flanks' fit must show: a narrower peak is left alone.
    time_min, partners : the trace's times and the (times, values) of channels that co-elute
        with it (the compound's other transitions and its labelled internal standard). A point
        whose co-eluting channel also stands above its own flank fit, by at least half the
        relative excess, is the peak's shape (a sharp apex on heavy flanks, as real yeast peaks
        of 1-2 points per half-height width have), not a burst, and is left alone.

    Returns
    -------
    list of (first index, number of points 1 or 2, fitted values of those points). The fit is a
    quadratic in log intensity through the ``half`` positive points on each side (at least 2 on
    each side), so a Gaussian apex sampled with few points is predicted exactly by its flanks.
    """
    y = np.asarray(signal, dtype=float)
    n = y.size
    if n < 2 * half + 2 or not np.isfinite(y).all():
        return []
    # candidates (cheap screen): a point above ``ratio`` x both neighbours, or a pair of points
    # both above ``ratio`` x the points flanking the pair
    lo, mid, hi = y[:-2], y[1:-1], y[2:]
    # both also more than k_sd SDs above the lower neighbour: necessary whenever the fit lies at
    # or above that neighbour (the SD grows with the level), and it drops the count-level
    # flicker of a baseline (1 count between zeros), which made the screen's cost
    # (a point between zeros is a baseline's count flicker or a dropout's edge, not a top)
    nb = np.minimum(lo, hi)
    up = (mid > lo) & (mid > hi) & (nb > 0)  # local maxima between positive neighbours
    # ... or, on a flank, a local maximum above ``ratio`` x the log-quadratic through the ``half``
    # points on each side: on a steep flank the higher neighbour is already near a burst's value
    # (a 2.1x burst on the bundled P020's falling 6-TG flank stood 1.43x above it), and a
    # Gaussian flank is predicted exactly. A point that is no local maximum is left alone: there
    # the flank rises faster than a burst (the foot of a real QTRAP peak, 6 -> 81 -> 369 -> 385
    # x10^3 cps, read as 2.3x a fit through baseline and top points).
    li = np.flatnonzero(up)
    if ratio >= 1.0:
        # a point above ratio x both positive neighbours is a local maximum: the ratio test on
        # those few points only (the same verdicts; full-trace arrays were the screen's cost)
        r1 = (mid[li] > ratio * lo[li]) & (mid[li] > ratio * hi[li])
        i1, i3 = li[r1], li[~r1] + 1
    else:
        s1 = (mid > ratio * lo) & (mid > ratio * hi) & (nb > 0)
        i1, i3 = np.flatnonzero(s1), np.flatnonzero(~s1 & up) + 1
    i3, pred3 = _flank_candidates(y, i3[(i3 >= half) & (i3 < n - half)], half, ratio)
    a0, a1, a2, a3 = y[:-3], y[1:-2], y[2:-1], y[3:]
    rm = ratio * np.maximum(a0, a3)
    i2 = np.flatnonzero((a1 > rm) & (a2 > rm))
    mn = np.minimum(a0[i2], a3[i2])  # the pair's lower outer neighbour, where the ratio holds
    i2, mn = i2[mn > 0], mn[mn > 0]
    if not (i1.size or i2.size or i3.size):
        return []
    screen_sd = getattr(noise_sd, "lower", noise_sd)  # a lower bound of it, when cheaper
    quantum = getattr(noise_sd, "quantum", None)  # cps per count, when the SD knows it
    # at most noise_sd value for value, without the count step (a sort): a candidate whose
    # excess it already fails is rejected before the trace's count step is found (k_sd >= 0:
    # the test is then monotone in the SD)
    floor = getattr(noise_sd, "floor", None) if k_sd >= 0 else None
    tail_p = 0.5 * math.erfc(k_sd / math.sqrt(2.0))  # one-sided Gaussian tail of k_sd SDs
    # the noise SD only where the ratio screen holds (elementwise: the same verdicts, on a few
    # points instead of the whole trace)
    single = i1[mid[i1] - nb[i1] > k_sd * np.asarray(screen_sd(nb[i1]))] + 1
    # a flank candidate's excess over the fit is judged against more than the model's SD at
    # that level (the final test's SD is at least it): the cheap screen of the many noise highs
    on_flank = i3[y[i3] - pred3 > k_sd * np.asarray(screen_sd(pred3))]
    pair = i2[np.minimum(a1[i2], a2[i2]) - mn > k_sd * np.asarray(screen_sd(mn))] + 1
    found: list[tuple[float, int, int, np.ndarray]] = []
    # two bursts a point apart must not lift each other's fit: candidates are no flank points
    cand = frozenset(int(i) for i in single) | frozenset(int(i) + d for i in pair for d in (0, 1))
    # (flank candidates are not taken out of other fits: noise highs on a flank are many at 20 %
    # point noise, and taking them out moved apex candidates' fits onto baseline points)
    for i0, w, fl in ([(int(i), 1, False) for i in single] + [(int(i), 2, False) for i in pair]
                      + [(int(i), 1, True) for i in on_flank]):
        got = _flank_fit(y, i0, w, half, min_sigma, cand - set(range(i0, i0 + w)), leverage=fl)
        if got is None:
            continue
        fit, base, scatter, lev = got
        pts = slice(i0, i0 + w)
        excess = y[pts] - fit
        rel = (y[pts] - base) / (fit - base)
        if fl:
            # a burst multiplies the signal, so a flank candidate's ratio is judged on the
            # values themselves too (above a flank point's local baseline a noise high on a
            # broad peak's upper flank read 1.8x where it was 1.47x)
            rel = np.minimum(rel, y[pts] / fit)
        # the ratio first: the noise SD's counting term needs the trace's count step (a sort),
        # and most fitted candidates fail the ratio (both tests must hold, so the same verdicts)
        if not (rel > ratio).all():
            continue
        spread = scatter * (fit - base)
        if floor is not None and not (excess > k_sd * (np.maximum(np.asarray(floor(fit), dtype=float), spread)
                                                       * (math.sqrt(1.0 + lev) if fl else 1.0))).all():
            continue
        # the flanks' own scatter, when larger than the model's: a trace noisier than the model's
        # capped CV (20 % point noise), or a peak shape the fit does not follow
        sd = np.maximum(np.asarray(noise_sd(fit), dtype=float), spread)
        if fl:
            # a flank candidate lacks the neighbours' test, the independent evidence an apex
            # candidate has: its excess is judged as the difference of two noisy values, the
            # point and the fit (the fit's variance is its leverage, about half a point's for
            # 3 + 3 flank points)
            sd = sd * math.sqrt(1.0 + lev)
        if not (excess > k_sd * sd).all():
            continue
        # a count-quantised trace: the point's count must also be as improbable under counting
        # statistics at the fitted level as k_sd Gaussian SDs (a few counts are skewed: 11 counts
        # where the fit says 2.5 is 3.8 of the Gaussian SDs but p = 6e-3, what a narrow peak's
        # apex drawn as counts shows; at hundreds of counts the two tests agree)
        q = quantum() if quantum is not None else float("nan")
        if np.isfinite(q) and not np.all(count_tail(y[pts] / q, fit / q) < tail_p):
            continue
        if time_min is not None and _partner_rises(float(time_min[i0]), w, partners, half,
                                                   1.0 + 0.5 * (float(rel.min()) - 1.0)):
            continue
        found.append((float(excess.sum()), i0, w, fit))
    found.sort(key=lambda t: -t[0])
    out: list[tuple[int, int, np.ndarray]] = []
    used: set[int] = set()
    for _, i0, w, fit in found:
        span = set(range(i0, i0 + w))
        if span & used:
            continue
        used |= span
        out.append((i0, w, fit))
        if len(out) >= max_spikes:
            break
    return out


#: the multiplicative point CV used by :func:`apex_noise_sd` is at most this: the noisiest real
#: QTRAP file measured 10.8 % (docs/noise.md); the trace model's term is fitted on the top samples'
#: third differences, which on a sparse peak include the peak's own curvature (0.08-0.23 read on
#: simulated 6 % traces with 3-6 points per half-height width) and, with the burst, its excess
APEX_MAX_CV = 0.12


#: counting variance of a QTRAP count over its mean (1 = Poisson): 2.0 measured (docs/noise.md)
COUNT_OVERDISPERSION = 2.0


def count_step(signal: np.ndarray) -> float:
    """cps per count of a count-quantised trace, also when it has few distinct values; NaN else.

    :func:`thioquant.noise_model.count_quantum` needs 5 distinct values; a trace that reaches a
    few counts only (a low peak on a zero baseline: 120, 241, 361, 963 cps) has fewer. Then the
    smallest positive value is one count when every positive value is a whole multiple of it
    (count_quantum's tolerance: 1 % and the file's rounding to whole cps), at least 3 distinct
    values and 5 positive points, and the step exceeds 1 (a continuous signal written with few
    decimals has steps of one unit).
    """
    from thioquant.noise_model import count_quantum

    q = count_quantum(signal)
    if np.isfinite(q):
        return q
    s = np.asarray(signal, dtype=float)
    s = s[np.isfinite(s) & (s > 0)]
    u = np.unique(s)
    if s.size < 5 or not 3 <= u.size < 5 or u[0] <= 1.0:
        return float("nan")
    k = np.round(u / u[0])
    q = float(np.sum(u * k) / np.sum(k * k))  # least squares over the distinct values
    ok = np.abs(u - k * q) <= 0.01 * k * q + 0.51
    return q if ok.all() else float("nan")


def count_tail(count: np.ndarray, mean: np.ndarray, phi: float = COUNT_OVERDISPERSION) -> np.ndarray:
    """P(X >= count) for counts of mean ``mean`` and variance ``phi`` x mean (negative binomial,
    the gamma-Poisson of docs/noise.md; Poisson when ``phi`` is 1). ``count`` is rounded to whole
    counts; 1 where it is at most 0."""
    from scipy.special import betainc, gammainc

    c = np.round(np.asarray(count, dtype=float))
    mu = np.maximum(np.asarray(mean, dtype=float), 1e-12)
    pos = c >= 1
    cc = np.where(pos, c, 1.0)
    # Poisson: P(X >= c) = P(c, mu), the regularised lower incomplete gamma;
    # NB(r = mu / (phi - 1), p = 1 / phi): P(X >= c) = I_{1 - p}(c, r)
    tail = gammainc(cc, mu) if phi <= 1.0 else betainc(cc, mu / (phi - 1.0), 1.0 - 1.0 / phi)
    return np.where(pos, tail, 1.0)


def apex_noise_sd(signal: np.ndarray, max_cv: float = APEX_MAX_CV, *,
                  noise: Callable[[], tuple[Any, float]] | None = None) -> Callable[[float], float]:
    """The noise SD at a level for :func:`find_apex_spikes`: the trace's fitted model
    (:func:`~thioquant.peaks.noise.trace_noise`; its multiplicative term capped at ``max_cv``)
    plus twice the counting variance when the trace is count-quantised (the measured QTRAP
    variance is 2.0x Poisson, docs/noise.md; the fitted model has no counting term, so at a few
    hundred counts it would call counting noise a burst). ``noise``: a callable giving
    ``trace_noise(signal)``, e.g. the trace's kept model (``peaks.noise.trace_noise_of``), which
    the peak search fits anyway. The returned callable's ``quantum()`` is the trace's cps per
    count (:func:`count_step`; NaN when not count-quantised), for the screen's counting test."""
    from thioquant.peaks.noise import trace_noise

    fitted: list[tuple[float, float, float]] = []  # lazily: most traces have no candidate
    counting: list[float] = []

    def lower(level: Any) -> Any:
        """The model without the counting term: a lower bound, for the candidates' screen
        (count_quantum's sort is most of the rule's cost, and few traces reach it)."""
        if not fitted:
            model, _ = noise() if noise is not None else trace_noise(signal)
            fitted.append((model.a, model.b, min(model.c2, max_cv * max_cv)))
        a, b, c2 = fitted[0]
        lv = np.maximum(level, 0.0)
        return np.sqrt(a + b * lv + c2 * lv * lv)

    def quantum() -> float:
        if not counting:
            counting.append(count_step(signal))
        return counting[0]

    def sd(level: Any) -> Any:  # a float, or an array of levels
        q = quantum()
        lv = np.maximum(level, 0.0)
        return np.sqrt(lower(lv) ** 2 + (COUNT_OVERDISPERSION * q if np.isfinite(q) else 0.0) * lv)

    sd.lower = lower  # type: ignore[attr-defined]
    # the fitted candidates' pre-test before the count step's sort: ``lower`` is ``sd`` without
    # its counting term (>= 0 under the root), so at most ``sd`` value for value
    sd.floor = lower  # type: ignore[attr-defined]
    sd.quantum = quantum  # type: ignore[attr-defined]
    return sd


def fix_apex_spikes(signal: np.ndarray, spikes: list[tuple[int, int, np.ndarray]]) -> np.ndarray:
    """A copy of ``signal`` with each apex burst replaced by its local fit."""
    y = np.array(signal, dtype=float)
    for i0, w, fit in spikes:
        y[i0:i0 + w] = fit
    return y


def median(values: np.ndarray) -> float:
    """Median of finite values (the caller filters them); NaN when empty. ``np.median`` imports
    ``numpy.ma``, 0.1 s of a large batch's serial tail (tests/test_peaks_filters.py)."""
    from thioquant.peaks.noise import median_inplace

    a = np.array(values, dtype=float).ravel()
    return median_inplace(a) if a.size else float("nan")


def despike(signal: np.ndarray, indices: list[int]) -> np.ndarray:
    """A copy of ``signal`` with each spike replaced by the mean of its two neighbours (in the
    order found, as :func:`find_spikes` did)."""
    y = np.array(signal, dtype=float)
    for i in indices:
        y[i] = 0.5 * (y[i - 1] + y[i + 1])
    return y


def reaches_max(time_min: np.ndarray, signal: np.ndarray, start_min: float, end_min: float,
                detector_max: float | None) -> bool:
    """True when a point between ``start_min`` and ``end_min`` is at or above ``detector_max``."""
    if detector_max is None:
        return False
    t = np.asarray(time_min, dtype=float)
    a, b = np.searchsorted(t, start_min, "left"), np.searchsorted(t, end_min, "right")
    seg = np.asarray(signal, dtype=float)[a:b]
    return bool(seg.size and np.nanmax(seg) >= detector_max)


__all__ = ["APEX_HALF", "COUNT_KINDS", "COUNT_OVERDISPERSION", "count_step", "count_tail", "DEAD_CHANNEL", "MAX_SPIKES", "SPIKE", "SPIKE_APEX", "apex_noise_sd",
           "find_apex_spikes", "fix_apex_spikes", "dead_channel_reason", "despike",
           "find_spikes", "median", "reaches_max"]
