"""Region analyser: peaks of one region of a trace, their boundaries, baselines and areas.

Built on the array primitives of :mod:`thioquant.peaks.core`; :mod:`thioquant.peaks.api` is
the Trace-level layer on top.

Algorithm (one region of a trace)
---------------------------------
1. A Savitzky-Golay smoothed copy ``s`` (window ~ half the half-height width) is used to find
   apexes and boundaries; areas always use the raw signal.
2. A rough baseline is the morphological opening of ``s`` (window ``baseline_window`` half-height
   widths), which follows linear drift exactly and removes anything narrower than the window.
3. Candidate apexes are local maxima of ``s`` whose prominence exceeds a noise-scaled threshold
   and whose width is a sizeable fraction of the typical peak width.
4. A *cluster* is a run of points where ``s`` stays more than one (smoothed) noise SD above the
   rough baseline; it is extended by ``extend`` half-height widths on each side so the tail is
   not cut, without entering a neighbouring cluster. Apexes in one cluster are fused peaks,
   split at the lowest point between them, unless that valley is back at baseline.
5. The baseline under a cluster is a straight (drop) line between two anchors: the mean of a
   short stretch of signal just outside each boundary (``anchor="mean"``) or the signal at the
   boundary (``anchor="point"``, vendor-like).
6. Areas are trapezoids of (signal - baseline) on the time axis, so they are in signal x minutes
   and do not depend on the sampling rate.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from thioquant.peaks.core import (
    _MIN,
    _mean,
    _median,
    _sg,
    _sg_gain,
    _sg_kernel,
    _spans,
    estimate_w50_points,
    lower_hull,
    opening,
    robust_sigma,
    smooth,
    trapz,
)
from thioquant.peaks.filters import correlate_kernel
from thioquant.peaks.noise import median_inplace as _median_own
from thioquant.peaks.settings import PeakSettings

NAN = math.nan


# --------------------------------------------------------------------------------------------
# region analysis
# --------------------------------------------------------------------------------------------


@dataclass
class RawPeak:
    """A peak as found in a region, before conversion to a :class:`~thioquant.model.Peak`."""

    apex: int
    start: int
    end: int
    area: float
    integration: str
    t_b0: float  # baseline line at start / end (absolute signal units)
    b0: float
    t_b1: float
    b1: float
    cluster: int
    fused: bool = False
    edge: bool = False
    fit_r2: float = NAN
    shoulder: bool = False
    flags: list[str] = field(default_factory=list)
    baseline: np.ndarray | None = None  # baseline under the peak, start..end (absolute)
    height_est: float = NAN


@dataclass
class Region:
    """Result of :func:`analyse`: the peaks plus what is needed to measure them."""

    t: np.ndarray
    y: np.ndarray
    s: np.ndarray
    peaks: list[RawPeak]
    in_peak: np.ndarray
    sigma: float
    w50_pts: float
    dt: float
    gbl: np.ndarray | None = None


_SMALL = 64  # below this many elements, plain Python scalars beat numpy calls


def _merge_weak_small(s: np.ndarray, cand: np.ndarray, prom: float) -> np.ndarray:
    """The merging loop of :func:`prominent_maxima` on Python scalars (same result, short input).

    The valley between two surviving neighbours is the minimum of the valleys merged between
    them, which is exactly the minimum of ``s`` over their span.
    """
    cl = cand.tolist()
    hs = s[cand].tolist()
    vs = np.minimum.reduceat(s, cand)[:-1].tolist()
    inf = math.inf
    for _ in range(30):
        m = len(cl)
        if m <= 1:
            break
        nc: list[int] = []
        nh: list[float] = []
        nv: list[float] = []
        cur = inf  # valley since the last survivor
        any_weak = False
        v_l = h_l = -inf  # left valley / neighbour (none for the first maximum)
        last = m - 1
        for i in range(m):
            hi_ = hs[i]
            d = hi_ - v_l if h_l > hi_ else inf
            if i < last:
                v_r = vs[i]
                if hs[i + 1] >= hi_:
                    x = hi_ - v_r
                    if x < d:
                        d = x
            if d < prom:
                any_weak = True
            else:
                if nc:
                    nv.append(cur)
                nc.append(cl[i])
                nh.append(hi_)
                cur = inf
            if i < last:
                if v_r < cur:
                    cur = v_r
                v_l, h_l = v_r, hi_
        if not any_weak:
            break
        cl, hs, vs = nc, nh, nv
    return np.array(cl, dtype=np.intp)


def prominent_maxima(s: np.ndarray, cand: np.ndarray, prom: float, min_width: float) -> np.ndarray:
    """The local maxima ``cand`` of ``s`` whose prominence is at least ``prom``.

    Vectorised merging: a maximum whose drop to the valley towards a higher neighbouring
    maximum is less than ``prom`` cannot be prominent; it is removed and the valleys are
    recomputed until nothing changes. The survivors then need a width of at least
    ``min_width`` points at half their prominence (narrow noise spikes are dropped).
    """
    cand = np.asarray(cand, dtype=np.intp)
    if cand.size > _SMALL:
        # exact pre-filter: a maximum's prominence base is at least the lowest point on each
        # side of it (the inner side only at the edge), so one below prom above that bound
        # cannot be prominent and need not enter the merging loop
        n = s.size
        lmin = np.minimum.accumulate(s)[cand]
        rmin = np.minimum.accumulate(s[::-1])[::-1][cand]
        floor = np.maximum(lmin, rmin)
        floor[cand == 0] = rmin[cand == 0]
        floor[cand == n - 1] = lmin[cand == n - 1]
        cand = cand[s[cand] - floor >= prom]
    small = 1 < cand.size <= _SMALL
    if small:
        cand = _merge_weak_small(s, cand, prom)
    for _ in range(0 if small else 30):
        if cand.size <= 1:
            break
        h = s[cand]
        valleys = np.minimum.reduceat(s, cand)[:-1]  # min between consecutive maxima
        left_v = np.concatenate(([-np.inf], valleys))
        right_v = np.concatenate((valleys, [-np.inf]))
        left_higher = np.concatenate(([False], h[:-1] > h[1:]))
        right_higher = np.concatenate((h[1:] >= h[:-1], [False]))
        drop = np.full(cand.size, np.inf)
        drop = np.where(left_higher, np.minimum(drop, h - left_v), drop)
        drop = np.where(right_higher, np.minimum(drop, h - right_v), drop)
        weak = drop < prom
        if not weak.any():
            break
        # a weak maximum's true prominence is below prom (its base is at least that valley)
        w_idx = np.flatnonzero(weak)
        keep_mask = np.ones(cand.size, bool)
        keep_mask[w_idx] = False
        cand = cand[keep_mask]
    if cand.size == 0:
        return cand
    out = []
    n = s.size
    for c in cand.tolist():
        # prominence of the survivor against the whole signal (walk to a higher point or the
        # edge): ``left`` runs from c down to the span's start, ``right`` from c up to its end
        left, right = _spans(s, c)
        if c == 0:  # cut by the edge: only the inner side has a base
            base = float(_MIN(right))
        elif c == n - 1:
            base = float(_MIN(left))
        else:
            base = max(float(_MIN(left)), float(_MIN(right)))
        sc = float(s[c])
        p = sc - base
        if p < prom:
            continue
        half = sc - 0.5 * p  # below s[c] (p >= prom > 0): left[0] and right[0] are not under it
        g = left < half
        k = int(g.argmax())
        width_l = k if g[k] else left.size - 1
        g = right < half
        k = int(g.argmax())
        width_r = k if g[k] else right.size - 1
        width = width_l + width_r
        if width >= min_width:
            out.append(c)
    return np.array(out, dtype=np.intp)


def _d2_window(window: int) -> int:
    w = int(min(max(5, window), 201))
    return w - 1 if w % 2 == 0 else w


def second_derivative(y: np.ndarray, window: int) -> np.ndarray:
    """Second derivative (per point squared) of a quadratic Savitzky-Golay fit."""
    w = _d2_window(window)
    if y.size < w:
        return np.zeros_like(y)
    return correlate_kernel(y, _sg_kernel(w, 2))


@lru_cache(maxsize=64)
def _d2_gain(window: int) -> float:
    """Noise gain of :func:`second_derivative` (root sum of squared weights)."""
    return float(np.sqrt(np.sum(_sg(_d2_window(window), 2) ** 2)))


def _shoulders(cand: np.ndarray, nd2: np.ndarray, e: np.ndarray, above: np.ndarray,
               prom: float, w50_pts: float) -> np.ndarray:
    """Maxima of the negative second derivative that are not near an apex (unresolved peaks).

    A shoulder must curve down clearly above the noise of the second derivative, reach at least
    a tenth of the curvature of the nearest apex, and stand above the rough baseline.
    """
    n = nd2.size
    mx = ((nd2[1:-1] > nd2[:-2]) & (nd2[1:-1] >= nd2[2:]) & above[1:-1]).nonzero()[0] + 1
    if mx.size == 0:
        return mx
    a = np.abs(nd2[:: max(1, n // 1024)])
    a.partition(a.size // 2)  # in place: a is ours
    sd = 1.4826 * float(a[a.size // 2])  # curvature ~0 on baseline
    mx = mx[(nd2[mx] > 8.0 * sd) & (e[mx] > prom)]
    if mx.size == 0:
        return mx
    cl = cand.tolist()
    last = len(cl) - 1
    lim = 0.6 * w50_pts
    kept = []
    for i in mx.tolist():
        pos = bisect_left(cl, i)  # np.searchsorted, side="left"
        left = cl[min(max(pos - 1, 0), last)]
        right = cl[min(pos, last)]
        dist_l, dist_r = abs(i - left), abs(right - i)
        near = left if dist_l <= dist_r else right
        if min(dist_l, dist_r) > lim and nd2[i] > 0.03 * nd2[near] and 0 < i < n - 1:
            kept.append(i)
    out = np.array(kept, dtype=np.intp)
    if out.size > 1:  # shoulders closer than 0.6 half-height widths: keep the most curved
        acc: list[int] = []
        for i in out[np.argsort(nd2[out])[::-1]]:
            if all(abs(int(i) - j) > 0.6 * w50_pts for j in acc):
                acc.append(int(i))
        out = np.array(sorted(acc), dtype=np.intp)
    return out


def _merge_noise_splits(apexes: list[int], y: np.ndarray, s: np.ndarray, lo: int, hi: int,
                        smooth_gain: float, w50_pts: float, shoulders: set[int],
                        nd2: np.ndarray | None = None, d2_gain: float = 0.0,
                        model=None, gbl: np.ndarray | None = None) -> list[int]:
    """Drop apexes of one cluster that are split from a neighbour only by local noise.

    The noise on top of a peak can be far larger than on the baseline (counting statistics in
    MRM), so the valley between two maxima must be deeper than 3 local noise SDs of the smoothed
    signal (local SD: median absolute residual of the raw signal about the smoothed one), and
    two apexes closer than half a half-height width are one peak. A shoulder (``nd2``: the
    negative second derivative, ``d2_gain`` its noise gain) has no valley; by the same rule its
    curvature must exceed 3 local noise SDs of the second derivative (it was found against the
    baseline's noise, which on an MRM peak top can be ten times smaller).

    ``model`` (a :class:`~thioquant.peaks.noise.NoiseModel` of the trace) sets a second floor
    for a valley's local SD: the point noise at the levels of the lower apex and the valley,
    ``sqrt(a + b x + (c x)^2)``.
    The residual about a smoothed signal misses the part of the noise the smoother lets
    through, and on a short, sparse top it rests on a handful of points; the model rests on
    the whole trace. ``gbl``: the global baseline under ``s`` (the model is in absolute signal).
    """
    out = list(apexes)
    half = max(2, int(0.5 * w50_pts))

    def level(i: int) -> float:
        return float(s[i]) + (float(gbl[i]) if gbl is not None else 0.0)

    if nd2 is not None:
        for a in [x for x in out if x in shoulders]:
            i0, i1 = max(lo, a - half), min(hi, a + half) + 1
            sd_loc = 1.4826 * _median_own(np.abs(y[i0:i1] - s[i0:i1]))
            if model is not None:
                # the model's SD at the shoulder's level as a floor (0.75, as for a valley): the
                # residual about a 5-point smooth misses the noise the smoother follows, and a
                # 1.3-SD dip on the rise of a 12 % noise MRM peak was a "shoulder" that cut the
                # quantifier to 24 % of its area (bench_noise 12 %, seeds 3 and 5: CAL2 6-TG);
                # true Rs 0.8 shoulders on 3 % noise kept: 96 of 100, as without the floor
                sd_loc = max(sd_loc, 0.75 * model.sd(level(a)))
            if len(out) > 1 and not nd2[a] > 3.0 * sd_loc * d2_gain:  # a cluster keeps one apex
                out.remove(a)
    changed = True
    while changed and len(out) > 1:
        changed = False
        for j in range(len(out) - 1):
            a, b = out[j], out[j + 1]
            if a in shoulders or b in shoulders:
                continue
            v = float(s[a : b + 1].min())
            i0, i1 = max(lo, a - half), min(hi, b + half) + 1
            sd_loc = 1.4826 * _median_own(np.abs(y[i0:i1] - s[i0:i1]))
            if model is not None:
                # the valley against the lower apex: both carry the noise at their level
                lower = a if s[a] <= s[b] else b
                vi = a + int(s[a : b + 1].argmin())
                # 0.75: the model reads a sparse top's shape as some noise; at full weight 93
                # instead of 96 of 100 true Rs 0.8 pairs on 3 % noise MRM peaks were kept
                sd_loc = max(sd_loc, 0.75 * math.hypot(model.sd(level(lower)), model.sd(level(vi)))
                             / math.sqrt(2.0))
            if (min(s[a], s[b]) - v < 3.0 * sd_loc * smooth_gain) or (b - a < 0.5 * w50_pts):
                out.pop(j + 1 if s[a] >= s[b] else j)
                changed = True
                break
    return out


_SPIKE_SD = 3.0  # an anchor point this many noise SDs from its stretch's median is a spike


def anchor_level(y: np.ndarray, sd: float) -> float:
    """The level of a drop line's anchor stretch: its mean without spikes.

    Points further than ``_SPIKE_SD`` noise SDs (``sd``) from the stretch's median are left out
    (a Hampel rule): on a count-quantised MRM baseline a burst of a few counts in a 3-point
    stretch lifted the drop line's end by a third of its height (QTRAP nadph: -61 % against
    Analyst with the transition group's bounds, -18 % without the burst). On Gaussian noise
    almost nothing is left out, so the anchor stays the mean. Used for the transition group's
    drop line (:func:`~thioquant.peaks.group.integrate_between`); :func:`analyse` keeps the plain
    mean: with this rule there too, a Shimadzu standard's S/N-3 peak (STD_100 B-Ch1, 8.24 min)
    fell under ``sn_min`` on a UV baseline whose slow wander exceeds 3 SDs of its point noise.
    """
    if y.size < 3:
        return _mean(y)
    med = _median(y)
    keep = y[np.abs(y - med) <= _SPIKE_SD * sd]
    return _mean(keep) if keep.size else med


def _subclusters(apexes: list[int], s: np.ndarray, e: np.ndarray, thr: float, d2: np.ndarray,
                 no_valley: set[int] | None = None):
    """Split sorted apexes at valleys; a valley back at baseline (e <= thr) ends a subcluster.

    Between a peak and a shoulder there is no minimum; the split is the most convex point,
    added to ``no_valley`` when given.
    """
    groups: list[list[int]] = [[apexes[0]]]
    splits: list[tuple[int, bool]] = []
    for a, b in zip(apexes[:-1], apexes[1:], strict=True):
        v = a + int(np.argmin(s[a : b + 1]))
        if v in (a, b) and b - a > 2:
            v = a + 1 + int(np.argmax(d2[a + 1 : b]))
            if no_valley is not None:
                no_valley.add(v)
        if e[v] <= thr:
            groups.append([b])
            splits.append((v, True))
        else:
            groups[-1].append(b)
            splits.append((v, False))
    return groups, splits


def analyse(
    t: np.ndarray,
    y: np.ndarray,
    cfg: PeakSettings,
    *,
    w50_pts: float | None = None,
    gbl: np.ndarray | None = None,
    edge_lo: bool = True,
    edge_hi: bool = True,
    open_pts: float | None = None,
    apex_window: tuple[int, int] | None = None,
    noise_model=None,
) -> Region:
    """Find and integrate every positive peak of a region.

    Parameters
    ----------
    t, y : ndarray
        Prepared time (minutes, strictly increasing) and signal.
    cfg : PeakSettings
        Validated settings.
    w50_pts : float, optional
        Typical half-height width in points (estimated from the tallest peak if omitted).
    gbl : ndarray, optional
        A global baseline (same length); when given, it replaces the drop lines.
    edge_lo, edge_hi : bool
        Whether the first / last point of the region is the edge of the whole trace.
    open_pts : float, optional
        Half-height width (points) of the broadest peak, for the rough baseline's window
        (default ``w50_pts``).
    apex_window : (int, int), optional
        Only integrate clusters with an apex between these indices (and the cluster before,
        for the resolution); the noise mask still covers every cluster.
    noise_model : NoiseModel, optional
        The trace's intensity-dependent point noise (:mod:`~thioquant.peaks.noise`); fitted on
        this region when omitted and needed. A valley or shoulder splits a cluster only when it
        is significant under it.
    """
    n = t.size
    dt = float((t[-1] - t[0]) / (n - 1))
    yw = y - gbl if gbl is not None else y
    sigma = robust_sigma(yw)
    if w50_pts is None:
        w50_pts = estimate_w50_points(smooth(yw, 5 if n >= 15 else 1), 0, n)
    w = cfg.smooth if cfg.smooth is not None else int(0.5 * w50_pts) | 1
    w = int(min(max(w, 1), 101, n if n % 2 else n - 1))
    s = smooth(yw, w)
    sig_s = sigma * _sg_gain(w)

    if gbl is None and cfg.baseline == "local":
        bl0 = opening(s, int(cfg.baseline_window * max(w50_pts, open_pts or 0.0)))
        e = s - bl0
        sub = e[:: max(1, n // 512)]
        sub = sub.copy()  # (a view of e when n <= 1023)
        sub.partition(sub.size // 2)
        e -= float(sub[sub.size // 2])
    else:
        e = s
    thr = sig_s
    above = e > thr
    if w < 3 and n >= 3:
        # under 4 points per half-height width the detection smoothing is off (window 1), so one
        # point's noise decided where a peak ends: a one-point dip on a sparse MRM tail ended
        # QTRAP pep's and fdp's integration there (-17, -12 % against Analyst). The runs are
        # judged as from 4 points on: the 3-point mean (what smooth(., 3) gives) against its own
        # noise; apexes, valleys and shoulders keep the raw points
        eb = e.copy()
        eb[1:-1] += e[:-2]
        eb[1:-1] += e[2:]
        eb[1:-1] /= 3.0
        runs_mask = eb > sigma * _sg_gain(3)
    else:
        runs_mask = above
    # candidate apexes: local maxima of s above the rough baseline, then prominence and width
    mx = (s[1:-1] > s[:-2]) & (s[1:-1] >= s[2:]) & above[1:-1]
    cand = mx.nonzero()[0] + 1
    # a peak cut by the edge of the trace has its maximum on the first / last point
    if edge_lo and n > 1 and s[0] > s[1] and above[0]:
        cand = np.concatenate(([0], cand))
    if edge_hi and n > 1 and s[-1] > s[-2] and above[-1]:
        cand = np.concatenate((cand, [n - 1]))
    if cand.size == 0:
        return Region(t, y, s, [], np.zeros(n, bool), sigma, w50_pts, dt, gbl)
    prom = max(3.0 * sig_s, 1.5 * cfg.sn_min * sigma)
    cand = prominent_maxima(s, cand, prom, max(1.0, 0.3 * w50_pts))
    if cand.size == 0:
        return Region(t, y, s, [], np.zeros(n, bool), sigma, w50_pts, dt, gbl)
    w2 = int(0.7 * w50_pts) | 1
    d2 = second_derivative(yw, w2)
    nd2 = -d2
    shoulders = _shoulders(cand, nd2, e, above, prom, w50_pts)
    if shoulders.size:
        cand = np.sort(np.concatenate((cand, shoulders)))
    is_shoulder = set(shoulders.tolist())
    # runs of `above`: where it changes, with False beyond both ends (starts and ends + 1
    # alternate)
    if runs_mask is not above:
        runs_mask[cand] = True  # every candidate apex stays inside a run
    edges = np.empty(n + 1, bool)
    edges[0], edges[n] = runs_mask[0], runs_mask[n - 1]
    np.not_equal(runs_mask[1:], runs_mask[:-1], out=edges[1:n])
    flips = edges.nonzero()[0]
    rstarts = flips[0::2].tolist()
    rends = (flips[1::2] - 1).tolist()
    # the cluster bookkeeping below is on a handful of runs: plain Python ints
    cand_l = cand.tolist()
    rid = [bisect_right(rstarts, c) - 1 for c in cand_l]  # np.searchsorted(side="right")
    runs: list[int] = []
    for r in rid:  # rid is sorted: np.unique
        if not runs or runs[-1] != r:
            runs.append(r)
    ext = int(round(cfg.extend * w50_pts))
    na = max(1, int(round(cfg.anchor_width * w50_pts)))

    # cluster extents, without overlapping neighbours
    rs = [rstarts[r] for r in runs]
    re_ = [rends[r] for r in runs]
    cs = [a - ext for a in rs]
    ce = [b + ext for b in re_]
    for j in range(len(runs) - 1):
        mid = (re_[j] + rs[j + 1]) // 2
        ce[j] = min(ce[j], mid)
        cs[j + 1] = max(cs[j + 1], mid + 1)
    cs = [max(c, 0) for c in cs]
    ce = [min(c, n - 1) for c in ce]
    lim_lo = [0] + [c + 1 for c in ce[:-1]]
    lim_hi = [c - 1 for c in cs[1:]] + [n - 1]
    in_peak = np.zeros(n, bool)  # every cluster's extent, for the noise windows
    for c0, c1 in zip(cs, ce, strict=True):
        in_peak[c0 : c1 + 1] = True
    wanted = [True] * len(runs)
    if apex_window is not None:  # only clusters with an apex in the window, and the one before
        hit = [False] * len(runs)
        for c, r in zip(cand_l, rid, strict=True):
            if apex_window[0] <= c <= apex_window[1]:
                hit[runs.index(r)] = True
        wanted = [h or h1 for h, h1 in zip(hit, hit[1:] + [False], strict=True)]

    peaks: list[RawPeak] = []
    for k, r in enumerate(runs):
        if not wanted[k]:
            continue
        apexes = sorted(c for c, rr in zip(cand_l, rid, strict=True) if rr == r)
        if len(apexes) > 1:
            if noise_model is None:
                from thioquant.peaks.noise import fit_noise_model

                noise_model = fit_noise_model(y, sigma)
            apexes = _merge_noise_splits(apexes, y if gbl is None else yw, s, int(cs[k]),
                                         int(ce[k]), sig_s / max(sigma, 1e-300), w50_pts,
                                         is_shoulder, nd2, _d2_gain(w2), noise_model,
                                         None if gbl is None else gbl)
        c_s, c_e = int(cs[k]), int(ce[k])
        edge_left = edge_lo and rs[k] == 0
        edge_right = edge_hi and re_[k] == n - 1
        no_valley: set[int] = set()
        groups, splits = _subclusters(apexes, s, e, 2.0 * thr, d2, no_valley)
        # anchors of each subcluster: (t, value) at its left and right ends
        bounds = [c_s] + [v for v, _ in splits] + [c_e]
        g_start = [c_s] + [v for v, brk in splits if brk]
        g_end = [v for v, brk in splits if brk] + [c_e]
        for gi, grp in enumerate(groups):
            a_s, a_e = g_start[gi], g_end[gi]
            if gbl is not None or cfg.baseline == "none":
                ta, ya, tb, yb = t[a_s], 0.0, t[a_e], 0.0
            else:
                if gi == 0 and cfg.anchor == "mean":
                    lo = max(int(lim_lo[k]), a_s - na + 1)
                    ta, ya = _mean(t[lo : a_s + 1]), _mean(y[lo : a_s + 1])
                elif gi == 0:
                    ta, ya = float(t[a_s]), float(y[a_s])
                else:
                    ta, ya = float(t[a_s]), float(s[a_s])
                if gi == len(groups) - 1 and cfg.anchor == "mean":
                    hi = min(int(lim_hi[k]), a_e + na - 1)
                    tb, yb = _mean(t[a_e : hi + 1]), _mean(y[a_e : hi + 1])
                elif gi == len(groups) - 1:
                    tb, yb = float(t[a_e]), float(y[a_e])
                else:
                    tb, yb = float(t[a_e]), float(s[a_e])
            if gi == 0 and edge_left and gbl is None and cfg.baseline == "local":
                ya = yb  # truncated at the start: the baseline there is unknown, keep it level
            if gi == len(groups) - 1 and edge_right and gbl is None and cfg.baseline == "local":
                yb = ya
            tt = t[a_s : a_e + 1]
            slope = (yb - ya) / (tb - ta) if tb != ta else 0.0
            base = ya + slope * (tt - ta)
            yc = yw[a_s : a_e + 1] - base
            # peak boundaries inside the subcluster
            pb = [a_s] + [b for b in bounds if a_s < b < a_e] + [a_e]
            m = len(grp)
            areas = []
            for j in range(m):
                i0, i1 = pb[j] - a_s, pb[j + 1] - a_s
                areas.append(trapz(yc[i0 : i1 + 1], tt[i0 : i1 + 1]))
            heights = [float(yc[a - a_s]) for a in grp]
            bases: list[np.ndarray] = [base[pb[j] - a_s : pb[j + 1] - a_s + 1].copy() for j in range(m)]
            methods = ["drop" if m > 1 else "baseline"] * m
            fit_r2 = [NAN] * m
            extra_flags: list[list[str]] = [[] for _ in range(m)]
            if m > 1:
                sc = s[a_s : a_e + 1] - base
                _split_fused(cfg, t, yw, s, a_s, tt, yc, sc, base, pb, grp, areas, heights,
                             bases, methods, fit_r2, extra_flags, w50_pts, no_valley)
            for j, a in enumerate(grp):
                st, en = pb[j], pb[j + 1]
                bl = bases[j]
                if gbl is not None:
                    bl = bl + gbl[st : en + 1]
                rp = RawPeak(
                    apex=a, start=st, end=en, area=areas[j], integration=methods[j],
                    t_b0=float(t[st]), b0=float(bl[0]), t_b1=float(t[en]), b1=float(bl[-1]),
                    cluster=k, fused=m > 1, fit_r2=fit_r2[j], flags=extra_flags[j],
                    baseline=bl, height_est=heights[j], shoulder=a in is_shoulder,
                )
                rp.edge = (edge_left and st == c_s) or (edge_right and en == c_e)
                peaks.append(rp)
    return Region(t, y, s, peaks, in_peak, sigma, w50_pts, dt, gbl)


def _split_fused(cfg, t, yw, s, a_s, tt, yc, sc, base, pb, grp, areas, heights, bases, methods,
                 fit_r2, extra_flags, w50_pts, no_valley=frozenset()) -> None:
    """Apply the fused-peak rule to one subcluster (modifies the per-peak lists in place).

    ``no_valley``: split points with no minimum (a shoulder); the valley rule drops a
    perpendicular there, since a line to a point on the flank would cut into both peaks.
    """
    m = len(grp)
    rule = cfg.fused
    if rule == "valley":
        for j in range(m):
            i0, i1 = pb[j] - a_s, pb[j + 1] - a_s
            v0 = j > 0 and pb[j] not in no_valley
            v1 = j < m - 1 and pb[j + 1] not in no_valley
            y0 = sc[i0] if v0 else 0.0
            y1 = sc[i1] if v1 else 0.0
            seg_t = tt[i0 : i1 + 1]
            line = y0 + (y1 - y0) * (seg_t - seg_t[0]) / (seg_t[-1] - seg_t[0])
            seg_s = sc[i0 : i1 + 1]
            if (v0 or v1) and bool((line > seg_s).any()):
                # the line would cut through the signal (a rider on a convex tail: negative
                # area); like a vendor's redrawn baseline it follows the signal's lower hull
                ends = seg_s.copy()
                ends[0], ends[-1] = y0, y1
                line = lower_hull(seg_t, ends)
            areas[j] = trapz(yc[i0 : i1 + 1] - line, seg_t)
            bases[j] = bases[j] + line
            methods[j] = "valley" if v0 or v1 else "drop"
        return
    if rule == "deconvolve":
        _deconvolve(tt, yc, pb, a_s, grp, areas, methods, fit_r2, extra_flags, cfg)
        return
    if rule in ("auto", "skim", "exp_skim"):
        for j in range(1, m):
            i0, i1 = pb[j] - a_s, pb[j + 1] - a_s
            rider = heights[j] - max(float(yc[i0]), 0.0)
            if not (rider < cfg.skim_ratio * heights[j - 1] and heights[j] < heights[j - 1]):
                continue
            seg_t = tt[i0 : i1 + 1]
            y_end = sc[i1] if j < m - 1 else 0.0
            under = None
            if rule in ("auto", "exp_skim"):
                under = _exp_tail(tt, yc, grp[j - 1] - a_s, i0, seg_t, w50_pts)
            kind = "exp_skim"
            if under is None:
                # tangent skim: from the valley, the line that touches the tail beyond the rider
                # (the lower hull; a straight line to the segment's end ran above a convex tail
                # and left a shoulder rider with no area)
                pts = sc[i0 : i1 + 1].copy()
                pts[-1] = y_end
                under = lower_hull(seg_t, pts)
                kind = "skim"
            under = np.minimum(under, np.maximum(yc[i0 : i1 + 1], 0.0))
            under[0] = min(sc[i0], yc[i0]) if kind == "skim" else under[0]
            skimmed = trapz(under, seg_t)
            areas[j] -= skimmed
            areas[j - 1] += skimmed
            bases[j] = bases[j] + under
            methods[j] = kind
            methods[j - 1] = "drop"


def _exp_tail(tt, yc, apex_i, v_i, seg_t, w50_pts) -> np.ndarray | None:
    """Exponential fitted to the parent's tail just before a rider, extended under the rider."""
    L = max(3, int(round(0.5 * w50_pts)))
    lo = max(apex_i + 1, v_i - L)
    tail_t, tail_y = tt[lo : v_i + 1], yc[lo : v_i + 1]
    if tail_t.size < 3 or np.any(tail_y <= 0):
        return None
    x = tail_t - tt[v_i]
    ly = np.log(tail_y)
    xm = x - x.mean()
    den = float(np.dot(xm, xm))
    if den <= 0:
        return None
    k = float(np.dot(xm, ly - ly.mean())) / den
    if not k < 0:
        return None
    c = float(ly.mean() - k * x.mean())
    return np.exp(c + k * (seg_t - tt[v_i]))


def _deconvolve(tt, yc, pb, a_s, grp, areas, methods, fit_r2, extra_flags, cfg) -> None:
    from thioquant.peaks.emg import fit_emg

    guesses = []
    for j, a in enumerate(grp):
        i = a - a_s
        h = max(float(yc[i]), 1e-12)
        lo = pb[j] - a_s
        left = np.flatnonzero(yc[lo:i] < 0.5 * h)
        hw = (tt[i] - tt[lo + left[-1]]) if left.size else (tt[i] - tt[lo]) / 2.0
        sig = max(float(hw) / 1.1774, 1e-9)
        tau = 0.5 * sig
        guesses.append([max(areas[j], h * sig * 2.5), tt[i] - 0.3 * tau, sig, tau])
    fit = fit_emg(tt, yc, np.array(guesses))
    if not fit.success:
        for j in range(len(grp)):
            extra_flags[j].append("FIT_POOR")
            fit_r2[j] = fit.r2
        return
    for j in range(len(grp)):
        areas[j] = float(fit.params[j, 0])
        methods[j] = "emg"
        fit_r2[j] = fit.r2
        extra_flags[j].append("DECONVOLVED")
        if not fit.r2 >= cfg.fit_r2_min:
            extra_flags[j].append("FIT_POOR")
