"""Target survey and width estimation: the half-height width of the target peak (or of a
trace's typical peaks) that scales smoothing, baseline, boundaries and noise window, and the
analysed region around a target that :func:`~thioquant.peaks.api.find_target` measures."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from thioquant.errors import InputError
from thioquant.model import Trace
from thioquant.peaks import core
from thioquant.peaks.analyse import Region, analyse, prominent_maxima
from thioquant.peaks.baseline import _global_baseline
from thioquant.peaks.filters import _padded, minimum_nearest
from thioquant.peaks.noise import trace_noise
from thioquant.peaks.settings import PeakSettings

NAN = math.nan

_MAX_W50_POINTS = 60.0  # above this, the signal is block-averaged for detection (speed)


def _bin(t: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Block means of ``k`` consecutive points (the trapezoid area is preserved to O(dt^2))."""
    m = (t.size // k) * k
    tb = t[:m].reshape(-1, k).mean(axis=1)
    yb = y[:m].reshape(-1, k).mean(axis=1)
    if m < t.size:  # keep the tail as a last, shorter block
        tb = np.append(tb, t[m:].mean())
        yb = np.append(yb, y[m:].mean())
    return tb, yb


_REACH = 200  # points each side of a candidate maximum that its floor and width may use
_FEW_MAXIMA = 3  # up to this many local maxima, their floors are taken one slice each,
_MANY_MAXIMA = 64  # up to this many from a strided view, and beyond by a running minimum
_MIN = np.minimum.reduce
_SUM = np.add.reduce
_ALL = np.logical_and.reduce
_BASE_TO_W50 = 0.25  # half-height width of a Gaussian / its width at 3 noise SDs
_MAX_OPEN = 3.0  # the opening's scale at most this many half-height widths
_PAD_BASE = 2.0  # the analysed region reaches this many base widths each side of the maximum
_GAIN5 = math.sqrt(595.0) / 35.0  # noise gain of the 5-point quadratic Savitzky-Golay smoother


class _Survey(NamedTuple):
    """The target survey: width (points), the time of the maximum measured (None: none was
    prominent), the trace's noise model and baseline noise SD, and the mean sampling interval
    within reach of the maximum (0 when none was prominent)."""

    w50_pts: float
    t_w: float | None
    model: Any
    sigma: float
    dt: float = 0.0
    base_pts: float = 0.0


def _target_region(trace: Trace, rt: float, win: float, cfg: PeakSettings, select: str = "nearest",
                   width_at: float | None = None, expected_w50: float | None = None,
                   centred: bool = True, tnoise: tuple | None = None, surveys: dict | None = None
                   ) -> tuple[Region | None, float | None]:
    """The analysed region around a target, and the time of the feature whose width set the
    smoothing, baseline and boundary scales (None for ``width_min`` or no such feature).

    The width is the half-height width of one peak, :func:`_target_w50_points`: the prominent
    maximum nearest ``rt`` (``select="nearest"``) or the tallest one in the window
    (``"largest"``), or the maximum nearest ``width_at`` when given. With ``centred`` (and a
    prominent maximum) the region is centred on that maximum and sized by the width alone, so
    the analysis does not depend on the window at all; otherwise it spans the window.
    ``tnoise``: the trace's :func:`~thioquant.peaks.noise.trace_noise`; ``surveys``: what this
    ``find_target`` call already computed, filled here: the surveys by ``width_at`` (a survey
    does not depend on ``centred``) and the analysed regions by slice and scales.
    """
    t_all, y_all = trace.time_min, trace.signal
    n_all = t_all.size
    if n_all == 0:
        raise InputError(f"trace '{trace.name}' is empty")
    if n_all < 3:
        raise InputError(f"trace '{trace.name}' has {n_all} point(s); at least 3 are needed")
    lo_t, hi_t = rt - win, rt + win
    if hi_t < t_all[0] or lo_t > t_all[-1]:  # the window lies outside the recorded trace
        return None, None
    # 1. width of the target peak, from the window's maxima and a fixed reach around each
    a, b = int(t_all.searchsorted(lo_t)), int(t_all.searchsorted(hi_t))
    a, b = max(0, a - _REACH - 3), min(n_all, b + _REACH + 3)
    if b - a < 3:
        if hi_t < t_all[0] or lo_t > t_all[-1]:
            return None, None
        a, b = max(0, a - 3), min(n_all, b + 3)
    # a trace that is finite and strictly increasing throughout (the usual case) needs no
    # cleaning of its slices: four reductions here instead of six numpy calls per slice
    clean = (t_all.dtype == np.float64 and y_all.dtype == np.float64 and t_all.ndim == 1
             and t_all.shape == y_all.shape and math.isfinite(float(_SUM(t_all)))
             and math.isfinite(float(_SUM(y_all))) and bool(_ALL(t_all[1:] > t_all[:-1])))
    if clean and b - a >= 3:
        t0, y0 = t_all[a:b], y_all[a:b]
    else:
        t0, y0 = core.prepare(t_all[a:b], y_all[a:b], trace.name)
    dt = float((t0[-1] - t0[0]) / (t0.size - 1))
    model, sig_tr = tnoise if tnoise is not None else trace_noise(y_all)
    t_w = None
    base = 0.0  # the target's base width (minutes), tails included; 0 = unknown
    if cfg.width_min is not None:
        w50 = cfg.width_min
    else:
        sv = surveys.get(width_at) if surveys is not None else None
        if sv is None:
            sv = _target_w50_points(t0, y0, rt, lo_t, hi_t, cfg, select, width_at, model, sig_tr)
            if surveys is not None:
                surveys[width_at] = sv
        w50_pts, t_w = sv.w50_pts, sv.t_w
        # the sampling interval around the maximum measured, not over the window's slice
        # (MRM cycles jitter: the slice's mean interval would vary with the window)
        w50 = w50_pts * (sv.dt if sv.dt > 0 else dt)
        if t_w is None:  # no prominent maximum: the tallest feature, bounded by the window
            w50 = min(w50, 2.0 * win + 2.0 * dt)
        if expected_w50 is not None and not 0.5 * expected_w50 <= w50 <= 2.0 * expected_w50:
            # the run's own knowledge (the internal standard's width in this injection) beats a
            # width measured on one noisy peak that is off by more than a factor of 2
            w50 = expected_w50
        elif t_w is not None:
            base = sv.base_pts * (sv.dt if sv.dt > 0 else dt)
    # 2. the region: room for the rough baseline and the noise window around the target's
    # maximum (window-independent), or around the whole window
    # and at least _PAD_BASE base widths (tails included) each side: the rough baseline's level
    # is the region's median above its lower envelope, which must be baseline. For a tailing
    # peak, whose half-height width is set by its steep front, 16 half-height widths were about
    # two base widths in all: QTRAP imp's tail was 40 % of its region, the median sat a noise SD
    # above the baseline, and the tail ended early (real_mrm.py: median |area difference| over
    # all Analyst components 3.03 -> 2.19 %, gtp -24 -> -2 %, Pool_2pg_3pg -28 -> 0 %)
    pad = max((max(cfg.noise_window / 2.0, cfg.baseline_window) + 6.0) * w50, _PAD_BASE * base)
    if centred and t_w is not None:
        r0, r1 = t_w - pad, t_w + pad
    else:
        r0, r1 = lo_t - max(win, pad), hi_t + max(win, pad)
    a, b = t_all.searchsorted(r0), t_all.searchsorted(r1)
    a, b = max(0, int(a) - 1), min(n_all, int(b) + 1)
    if clean and b - a >= 3:
        t, y = t_all[a:b], y_all[a:b]
    else:
        t, y = core.prepare(t_all[a:b], y_all[a:b], trace.name)
    # rounded: the sampling interval of a slice carries rounding errors that would otherwise
    # tip int()/round() of the derived windows one way or the other with the slice's extent
    dt_r = float((t[-1] - t[0]) / (t.size - 1))
    w50_pts = max(2.0, round(w50 / dt_r, 6))
    # the rough baseline's opening must be wider than the whole peak: for a tailing peak, whose
    # half-height width is set by its steep front, a window of baseline_window half-height
    # widths ended inside the tail and the tail was taken for baseline (QTRAP dttp, imp: -19,
    # -22 % against Analyst). A quarter of the base width is a Gaussian's half-height width
    # (base at 3 noise SDs, S/N ~100-1000), so a Gaussian peak keeps its window
    open_pts = min(max(w50_pts, round(_BASE_TO_W50 * base / dt_r, 6)), _MAX_OPEN * w50_pts)
    if w50_pts > _MAX_W50_POINTS and cfg.smooth is None:
        k = int(w50_pts // (_MAX_W50_POINTS / 2))
        t, y = _bin(t, y, k)
        w50_pts /= k
        open_pts /= k
        model = None  # the point noise of block means is not the trace's
    gbl = None
    if cfg.baseline != "local":
        gbl = _global_baseline(t, y, cfg, w50_pts)
    # the same slice at the same scales is the same analysis (a re-search whose region comes
    # out as the first one's, e.g. both the whole of a short trace)
    rkey = ("region", a, b, w50_pts, open_pts)
    if surveys is not None and rkey in surveys:
        return surveys[rkey], t_w
    i0, i1 = t.searchsorted(lo_t), t.searchsorted(hi_t)
    reg = analyse(t, y, cfg, w50_pts=w50_pts, gbl=gbl, edge_lo=a == 0, edge_hi=b == n_all,
                       apex_window=(max(0, int(i0) - 2), int(i1) + 2), noise_model=model,
                       open_pts=open_pts)
    if surveys is not None:
        surveys[rkey] = reg
    return reg, t_w


def _target_w50_points(t: np.ndarray, y: np.ndarray, rt: float, lo_t: float, hi_t: float,
                       cfg: PeakSettings, select: str, width_at: float | None,
                       model: Any, sig: float) -> _Survey:
    """Half-height width (points) of the target peak, and the time of the maximum measured.

    The maximum: among the local maxima of the lightly smoothed (5-point) signal with apex in
    ``[lo_t, hi_t]`` that are prominent, the one nearest ``rt`` (``select="nearest"``) or the
    tallest (``"largest"``); with ``width_at``, the one nearest that time. Prominent means
    standing above its floor (the higher of the minima between it and the nearest higher point
    on either side, within ``_REACH`` points) by ``1.5 * sn_min`` baseline noise SDs (as in
    detection) **and** by 3 SDs of the smoothed noise at its own intensity and its floor's
    (``model``, :mod:`~thioquant.peaks.noise`): on a noisy MRM top every wiggle clears the
    baseline's noise, and measured on a wiggle the width was a sliver's. The width is twice the
    narrower half at half height above the floor (robust to tailing and to a fused neighbour),
    measured again on the signal smoothed over half that width (a second scale: the 5-point
    crossing can fall in a noise dip). Every quantity comes from the candidate's own
    neighbourhood and the trace's noise, never from the window's extent. Without a prominent
    maximum, the tallest feature in the window, as before.
    """
    s = core.smooth(_median3(y), 5 if y.size >= 15 else 1)
    n = s.size
    i_lo, i_hi = int(t.searchsorted(lo_t)), int(t.searchsorted(hi_t))
    j0, j1 = max(1, i_lo), min(n - 1, i_hi + 1)
    prom = max(3.0, 1.5 * cfg.sn_min) * sig
    ref = rt if width_at is None else width_at
    rows: list[np.ndarray] = []  # the strided view below, made once
    low = float(_MIN(s))

    def candidates(k0: int, k1: int) -> list[int]:
        """Local maxima in [k0, k1) that may be prominent, in the order of preference."""
        mid = s[k0:k1]
        up = mid > s[k0 - 1 : k1 - 1]
        up &= mid >= s[k0 + 1 : k1 + 1]
        # nor can one less than prom above the survey's lowest point (below every floor): most
        # baseline wiggles go here, by one comparison
        up &= mid >= low + prom
        mx = (up.nonzero()[0] + k0).tolist()
        # a maximum less than prom above the lowest point within reach cannot be prominent: the
        # minimum over +/-_REACH of each maximum, one slice each for a few (the running minimum
        # of the whole survey, the same values, cost more than the rest of a clean peak's survey)
        if len(mx) > _MANY_MAXIMA:
            lo_env = minimum_nearest(s[max(0, mx[0] - _REACH) : mx[-1] + _REACH + 1], 2 * _REACH + 1)
            off = max(0, mx[0] - _REACH)
            keep = s[mx] >= lo_env[np.asarray(mx) - off] + prom
        elif len(mx) > _FEW_MAXIMA:  # the +/-_REACH rows of the edge-padded signal, one reduction
            if not rows:
                rows.append(np.ndarray((n, 2 * _REACH + 1), dtype=float, buffer=_padded(s, _REACH, _REACH),
                                       strides=(8, 8)))
            keep = s[mx] >= _MIN(rows[0][mx], axis=1) + prom
        else:
            keep = [s[i] >= _MIN(s[max(0, i - _REACH) : i + _REACH + 1]) + prom for i in mx]
        mx = [i for i, v in zip(mx, keep, strict=True) if v]
        if width_at is not None or select == "nearest":
            mx.sort(key=lambda i: (abs(float(t[i]) - ref), i))
        else:
            mx.sort(key=lambda i: (-float(s[i]), i))
        return mx

    def measure(c: int) -> _Survey | None:
        sc = float(s[c])
        c0, c1 = max(0, c - _REACH), min(n, c + _REACH + 1)
        sub = s[c0:c1]
        left, right, floor = core.base_spans(sub, c - c0)
        need = prom
        if model is not None:
            need = max(need, 3.0 * _GAIN5 * math.hypot(model.sd(sc), model.sd(floor)))
        if sc - floor < need:
            return None
        w = core.span_width(left, right, 0.5 * (sc + floor), sub.size)
        # the top of the peak this maximum belongs to: the highest point within its width (two
        # significant maxima of one noisy top would otherwise give a width that depends on
        # which of them lies nearer the window's centre)
        k0, k1 = max(0, c - c0 - int(w)), min(sub.size, c - c0 + int(w) + 1)
        top = k0 + int(sub[k0:k1].argmax())
        if top != c - c0:
            c = c0 + top
            c0, c1 = max(0, c - _REACH), min(n, c + _REACH + 1)
            sub = s[c0:c1]
            sc = float(s[c])
            left, right, floor = core.base_spans(sub, c - c0)
            w = core.span_width(left, right, 0.5 * (sc + floor), sub.size)
        # the whole peak, tails included: where it falls back to 3 smoothed noise SDs above its
        # floor on each side (for the rough baseline's window, which must span it); ``left``
        # runs from the maximum outward (core.base_spans)
        lvl = floor + 3.0 * _GAIN5 * (model.sd(floor) if model is not None else sig)
        g = left < lvl
        kl = int(g.argmax())
        g2 = right < lvl
        kr = int(g2.argmax())
        base = (kl if g[kl] else left.size) + (kr if g2[kr] else right.size)
        if w >= 10.0:
            w = _rescaled_width(y[c0:c1], c - c0, w)
        else:
            # narrow-looking: checked at the first coarse scales (a noisy top whose 5-point
            # maximum is a burst: yeast glu-L's qualifier 0.066 min instead of 0.16)
            w = _coarser_width(y[c0:c1], c - c0, w, (9, 17))
        return _Survey(w, float(t[c]), model, sig, float((t[c1 - 1] - t[c0]) / max(1, c1 - 1 - c0)),
                       float(base))

    for c in (candidates(j0, j1) if j1 > j0 else [])[:200]:  # the first prominent one (bounded time)
        sv = measure(c)
        if sv is not None:
            return sv
    # none in the window: the nearest prominent one within a window's width outside it (the
    # maximum of a noisy top can lie a few samples from the apex that the analysis finds, and
    # a window holding that apex but not the maximum must still measure the same peak)
    span = j1 - j0
    k0, k1 = max(1, j0 - span), min(n - 1, j1 + span)
    outside = [c for c in candidates(k0, k1) if not j0 <= c < j1] if k1 > k0 else []
    if width_at is None and select == "nearest":
        for c in outside[:200]:
            sv = measure(c)
            if sv is not None:
                return sv
    w = core.estimate_w50_points(s, i_lo, i_hi + 1)
    if w < 10.0 and i_hi > i_lo:
        # no prominent maximum at the 5-point scale: a weak, count-quantised peak is often a
        # clear hump at a coarser one (yeast ala-L: 0-800 counts; 2 points -> a sliver)
        c = i_lo + int(s[i_lo : i_hi + 1].argmax())
        c0, c1 = max(0, c - _REACH), min(n, c + _REACH + 1)
        w = _coarser_width(y[c0:c1], c - c0, w)
    return _Survey(w, None, model, sig)


def _median3(y: np.ndarray) -> np.ndarray:
    """Running median of 3 points (ends kept): for the width survey only, so that one spiky
    point (a spray burst, a dwell-time glitch) cannot be the maximum whose width is measured;
    a peak with at least 3 points across its top keeps its shape."""
    if y.size < 3:
        return y
    a, b, c = y[:-2], y[1:-1], y[2:]
    out = y.copy()
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    np.minimum(hi, c, out=hi)
    np.maximum(lo, hi, out=out[1:-1])  # max(min(a, b), min(max(a, b), c)), fewer arrays
    return out


def _width_at_scale(y: np.ndarray, c: int, k: int, search: int) -> float:
    """Half-height width (points) of the highest maximum within ``search`` points of ``c`` on
    ``y`` smoothed over ``k`` points (floor: its prominence base); NaN if it has none."""
    s = core.smooth(y, k)
    a = max(0, c - search)
    i = a + int(s[a : c + search + 1].argmax())
    left, right, floor = core.base_spans(s, i)
    if not s[i] > floor:
        return NAN
    return core.span_width(left, right, 0.5 * (float(s[i]) + floor), s.size)


def _coarser_width(y: np.ndarray, c: int, w: float, scales: tuple[int, ...] = (9, 17, 33, 65)) -> float:
    """The width of a narrow-looking maximum, checked at coarser scales.

    Used for a maximum narrower than 10 points (scales 9 and 17) and, with every scale, when
    no maximum is prominent at the 5-point scale (a weak, count-quantised trace, whose tallest
    "feature" is one count burst). A real peak keeps its width when it is
    smoothed over a window up to about its width; a burst spreads over the window instead. So
    the signal is smoothed over 9, 17, 33 and 65 points, and the first scale at which the peak
    is at least as wide as the window gives the width; a peak that is narrow at every scale
    keeps ``w``.
    """
    for k in scales:
        if 4 * k > y.size:
            break
        # a neighbourhood of 6 windows each side is enough to tell a peak as wide as the
        # window from a spike (and keeps the cost of the coarse scales small)
        a0, a1 = max(0, c - 6 * k), min(y.size, c + 6 * k + 1)
        wk = _width_at_scale(y[a0:a1], c - a0, k, k // 2)
        if wk >= k:
            return wk
    return w


def _rescaled_width(y: np.ndarray, c: int, w: float) -> float:
    """Half-height width (points) of the peak at ``c`` on ``y`` smoothed over about half ``w``
    (quadratic Savitzky-Golay keeps a peak's width at that scale); ``w`` if it cannot be measured."""
    win = int(0.5 * w) | 1
    if y.size < win or win < 5:
        return w
    s = core.smooth(y, win)
    h = max(1, int(0.25 * w))
    i = max(0, c - h) + int(s[max(0, c - h) : c + h + 1].argmax())
    left, right, floor = core.base_spans(s, i)
    if not s[i] > floor:
        return w
    w2 = core.span_width(left, right, 0.5 * (float(s[i]) + floor), s.size)
    return w2 if 0.5 * w <= w2 <= 2.0 * w else w


def _typical_w50_points(y: np.ndarray) -> tuple[float, float]:
    """Half-height widths (points) of the ten most prominent peaks: (lower quartile, largest).

    Widths vary along a chromatogram, so smoothing follows the narrow peaks (lower quartile)
    and the rough baseline's window follows the broadest.
    """
    s0 = core.smooth(y, 5 if y.size >= 15 else 1)
    sig = core.robust_sigma(y)
    prom = 20.0 * sig
    # a maximum less than prom above the lowest point cannot be prominent: dropping those first
    # changes nothing in the result and leaves prominent_maxima a handful instead of every
    # noise wiggle
    mx = np.flatnonzero((s0[1:-1] > s0[:-2]) & (s0[1:-1] >= s0[2:])
                        & (s0[1:-1] >= float(s0.min()) + prom)) + 1
    if mx.size > 200:  # keep the tallest maxima only (speed); the widths come from the top 10
        mx = np.sort(mx[np.argpartition(s0[mx], mx.size - 200)[-200:]])
    top = prominent_maxima(s0, mx, prom, 2.0)
    top = top[np.argsort(s0[top])[::-1][:10]]
    reach = int(min(2000, max(50, s0.size // 20)))
    # a maximum that is prominent only against the whole trace (the crest of a curved baseline)
    # has no peak-like width within reach: it is left out, or its noise wiggle would set the
    # smoothing and split a clean peak into false shoulders
    ws = sorted(w for w in (core.estimate_w50_points(s0, int(c), int(c) + 1, reach, prom) for c in top)
                if not math.isnan(w))
    if not ws:  # no prominent peak (a blank), or only broad swells
        w = core.estimate_w50_points(s0, 0, s0.size)
        return w, w
    return max(2.0, _lower_quartile(ws)), max(2.0, ws[-1])


def _lower_quartile(v: list[float]) -> float:
    """``np.percentile(v, 25)`` of a short sorted list (numpy's linear rule and its lerp, the
    same value) without numpy's quantile machinery, which costs more than the rest of the
    width survey."""
    x = 0.25 * (len(v) - 1)
    i = int(x)
    t = x - i
    if t == 0.0:
        return float(v[i])
    a, b = v[i], v[i + 1]
    d = b - a
    return float(b - d * (1.0 - t)) if t >= 0.5 else float(a + d * t)
