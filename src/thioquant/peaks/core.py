"""Array-level peak primitives: input checks, robust statistics, smoothing and derivatives,
opening, widths and spans, lower hull, trapezoid areas, peak shape and noise.

Everything here works on plain numpy arrays (time in minutes, signal in detector units) and
knows nothing about :class:`~thioquant.model.Trace`. The region analyser built on these
(detection, boundaries, fused peaks, deconvolution) is :mod:`thioquant.peaks.analyse`;
:mod:`thioquant.peaks.api` is the thin Trace-level layer on top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from thioquant.errors import InputError
from thioquant.peaks.filters import correlate_kernel, kernel, maximum_nearest, minimum_nearest
from thioquant.peaks.noise import median_inplace as _median_own

NAN = math.nan


# --------------------------------------------------------------------------------------------
# input checks and small numerical helpers
# --------------------------------------------------------------------------------------------


_ALL = np.logical_and.reduce  # ndarray.all() of a 1-D boolean array, without the wrapper


def prepare(t: np.ndarray, y: np.ndarray, name: str = "trace") -> tuple[np.ndarray, np.ndarray]:
    """Finite, strictly increasing (time, signal) arrays, or a clear :class:`InputError`.

    Non-finite points are dropped (the trapezoid bridges the gap on the time axis).
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if t.ndim != 1 or t.shape != y.shape:
        raise InputError(f"trace '{name}': time and signal must be 1-D arrays of the same length")
    if not (_ALL(np.isfinite(t)) and _ALL(np.isfinite(y))):
        ok = np.isfinite(t) & np.isfinite(y)
        t, y = t[ok], y[ok]
    if t.size == 0:
        raise InputError(f"trace '{name}' has no finite signal values (empty or all NaN)")
    if t.size < 3:
        raise InputError(f"trace '{name}' has {t.size} usable point(s); at least 3 are needed")
    if not _ALL(t[1:] > t[:-1]):  # same as diff > 0 for finite values
        raise InputError(f"trace '{name}': the time axis is not strictly increasing")
    return t, y


_MIN = np.minimum.reduce  # ndarray.min()/max() without the wrapper (same ufunc reduction)
_MAX = np.maximum.reduce


def _mean(x: np.ndarray) -> float:
    """``x.mean()`` of a non-empty 1-D float array, without the wrapper overhead (same value)."""
    return float(np.add.reduce(x)) / x.size


def _median(a: np.ndarray) -> float:
    """``np.median`` of a 1-D float array without NaN (same value, less overhead)."""
    n = a.size
    if n == 0:
        return float(np.median(a))
    return _median_own(a.copy())


def _quantile_90(a: np.ndarray) -> float:
    """``np.quantile(a, 0.9)`` (linear rule, numpy's lerp) by one partition: np.quantile's
    machinery cost 100 us per call, on every quantised MRM region."""
    x = 0.9 * (a.size - 1)
    i = int(x)
    t = x - i
    if i + 1 >= a.size:
        return float(np.partition(a, i)[i])
    p = np.partition(a, i + 1)  # one k (SIMD selection): the i-th is the largest below it
    lo, hi = float(_MAX(p[: i + 1])), float(p[i + 1])
    d = hi - lo
    return float(hi - d * (1.0 - t)) if t >= 0.5 else float(lo + d * t)


def robust_sigma(y: np.ndarray) -> float:
    """Noise standard deviation from the median absolute first difference (peaks are outliers).

    Falls back to an RMS of the smaller differences when more than half of them are zero
    (quantised or near-zero MRM baselines) and to a tiny positive number for a constant signal.
    """
    if y.size < 3:
        return 0.0
    a = np.abs(y[1:] - y[:-1])  # np.diff
    # drift adds a near-constant first difference, negligible against noise: skip centring
    a.partition(a.size // 2)  # in place (a is ours); the fallback below takes it afresh
    sig = 1.4826 * float(a[a.size // 2]) / math.sqrt(2.0)
    if not sig > 0:
        a = np.abs(y[1:] - y[:-1])  # in the original order: the means below sum in it
        cut = _quantile_90(a)
        sel = a[a <= cut]
        sig = math.sqrt(float(np.mean(sel**2)) / 2.0) if sel.size else 0.0
        if not sig > 0:
            sig = math.sqrt(float(np.mean(a**2)) / 2.0)
    # floor: a millionth of the signal's range (noise-free or quantised data)
    rng = float(_MAX(y) - _MIN(y))
    floor = 1e-7 * rng if rng > 0 else 1e-12 * max(1.0, float(abs(y[0])))
    return max(sig, floor)


@lru_cache(maxsize=64)
def _sg(window: int, deriv: int) -> np.ndarray:
    """Savitzky-Golay weights (quadratic; linear below 5 points) for ``correlate_nearest``."""
    order = 2 if window >= 5 else 1
    m = window // 2
    x = np.arange(-m, m + 1, dtype=float)
    a = np.vander(x, order + 1, increasing=True)
    w = np.linalg.pinv(a)[deriv] * math.factorial(deriv)
    return np.ascontiguousarray(w)


@lru_cache(maxsize=64)
def _sg_gain(window: int) -> float:
    """Noise gain of :func:`smooth` (root sum of squared weights)."""
    c0 = _sg(window, 0) if window >= 3 else np.ones(1)
    return float(np.sqrt(np.sum(c0**2)))


@lru_cache(maxsize=64)
def _sg_kernel(window: int, deriv: int):
    """:func:`_sg` prepared for :func:`~thioquant.peaks.filters.correlate_kernel`."""
    return kernel(_sg(window, deriv))


def smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Quadratic Savitzky-Golay smoothing (edges: nearest); ``window < 3`` returns a copy."""
    if window < 3 or y.size < window:
        return y.astype(float, copy=True)
    return correlate_kernel(y, _sg_kernel(window, 0))


def derivative(y: np.ndarray, window: int, dt: float) -> np.ndarray:
    """First derivative (per minute) of a Savitzky-Golay fit."""
    w = max(3, window)
    if y.size < w:
        return np.gradient(y, dt) if y.size > 1 else np.zeros_like(y)
    return correlate_kernel(y, _sg_kernel(w, 1)) / dt


def opening(s: np.ndarray, size: int) -> np.ndarray:
    """Grey opening (minimum then maximum filter): a rough baseline below peaks narrower than size."""
    size = int(max(3, min(size, s.size)))
    return maximum_nearest(minimum_nearest(s, size), size)


def estimate_w50_points(s: np.ndarray, lo: int, hi: int, reach: int | None = None,
                        min_height: float = 0.0) -> float:
    """Half-height width (points) of the tallest feature of ``s`` with apex in ``[lo, hi)``.

    The floor is the higher of the minima within ``reach`` points (default ``hi - lo``) on
    either side of the apex. NaN when the apex stands less than ``min_height`` above that
    floor (> 0 only): the crest of a swell much broader than ``reach``, whose "half height" is
    a noise level and whose width would be a noise wiggle's.
    """
    n = s.size
    lo, hi = max(0, lo), min(n, hi)
    if hi <= lo or n < 3:
        return 5.0
    i = lo + int(s[lo:hi].argmax())
    m = max(reach if reach is not None else hi - lo, 10)
    left = s[max(0, i - m) : i + 1]
    right = s[i : min(n, i + m + 1)]
    floor = max(float(_MIN(left)), float(_MIN(right)))
    if min_height > 0.0 and s[i] - floor < min_height:
        return NAN
    level = 0.5 * (s[i] + floor)
    if not s[i] > floor:
        return 5.0
    return half_height_width(left, right, level, n)


def half_height_width(left: np.ndarray, right: np.ndarray, level: float, n: int) -> float:
    """Width (points) at ``level`` of a peak whose apex ends ``left`` and starts ``right``.

    Twice the narrower half: robust to tailing and to a fused neighbour on one side; a half
    that never drops below ``level`` does not count. Clipped to [2, max(2, n / 2)].
    """
    lb = (left < level).nonzero()[0]
    rb = (right < level).nonzero()[0]
    li = (left.size - 1 - lb[-1]) if lb.size else left.size
    ri = rb[0] if rb.size else right.size
    halves = [h for h, ok in ((li, lb.size > 0), (ri, rb.size > 0)) if ok]
    w = 2 * min(halves) - 1 if halves else li + ri - 1
    return float(min(max(w, 2.0), max(2.0, n / 2)))


def base_spans(s: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The prominence base of the maximum ``s[c]`` and the spans it is taken over.

    Returns ``(left, right, floor)``: ``left`` runs from ``c`` outward (reversed) and
    ``right`` from ``c`` onward, each up to (not including) the nearest point higher than
    ``s[c]`` or to the end of the array; ``floor`` is the higher of their minima. The same
    values as :func:`higher_neighbours` and two minima, with fewer numpy calls (the target
    survey takes it several times per ``find_target``).
    """
    left, right = _spans(s, c)
    return left, right, max(float(_MIN(left)), float(_MIN(right)))


def _spans(s: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """The spans of :func:`base_spans` (``left`` reversed, both starting at ``c``)."""
    sc = s[c]
    left = s[c::-1]  # left[0] is s[c] itself, never higher than s[c]
    g = left > sc
    k = int(g.argmax())
    if g[k]:
        left = left[:k]
    right = s[c:]
    g = right > sc
    k = int(g.argmax())
    if g[k]:
        right = right[:k]
    return left, right


def span_width(left: np.ndarray, right: np.ndarray, level: float, n: int) -> float:
    """:func:`half_height_width` of the spans of :func:`base_spans` (``left`` reversed)."""
    g = left < level
    li = int(g.argmax())
    lok = bool(g[li])
    if not lok:
        li = left.size
    g = right < level
    ri = int(g.argmax())
    rok = bool(g[ri])
    if not rok:
        ri = right.size
    if lok and rok:
        w = 2 * min(li, ri) - 1
    elif lok or rok:
        w = 2 * (li if lok else ri) - 1
    else:
        w = li + ri - 1
    return float(min(max(w, 2.0), max(2.0, n / 2)))


def higher_neighbours(s: np.ndarray, c: int) -> tuple[int, int]:
    """``(lo, hi)``: the span around ``c`` up to (not including) the nearest point higher than
    ``s[c]`` on each side, or the ends of the array."""
    n = s.size
    sc = s[c]
    lo = 0
    if c > 0:
        g = s[c - 1 :: -1] > sc  # argmax of a boolean stops at the first True
        k = int(g.argmax())
        if g[k]:
            lo = c - k
    hi = n - 1
    if c < n - 1:
        g = s[c + 1 :] > sc
        k = int(g.argmax())
        if g[k]:
            hi = c + k
    return lo, hi


def lower_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The lower convex hull of the points (x, y), x increasing, evaluated at x.

    A baseline that never rises above the signal: it passes through both end points and
    touches the signal only at the hull's vertices (Andrew's monotone chain).
    """
    xs, ys = x.tolist(), y.tolist()
    hull: list[int] = []
    for i in range(len(xs)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b when it lies on or above the chord from a to i
            if (xs[b] - xs[a]) * (ys[i] - ys[a]) - (ys[b] - ys[a]) * (xs[i] - xs[a]) <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return np.interp(x, x[hull], y[hull])


def trapz(y: np.ndarray, t: np.ndarray) -> float:
    """Trapezoid area of ``y`` on the time axis ``t``."""
    if y.size < 2:
        return 0.0
    return float(np.add.reduce((y[1:] + y[:-1]) * (t[1:] - t[:-1])) * 0.5)


# --------------------------------------------------------------------------------------------
# shape metrics
# --------------------------------------------------------------------------------------------


@dataclass
class Shape:
    """Apex and widths of a baseline-corrected peak (times in minutes)."""

    rt: float
    height: float
    apex_index: int
    w50: float = NAN
    w10: float = NAN
    w05: float = NAN
    front05: float = NAN
    front10: float = NAN
    back10: float = NAN
    w_tangent: float = NAN


def _crossings(tt: np.ndarray, yy: np.ndarray, i: int, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolated times where ``yy`` first falls below each level, left and right of ``i``."""
    nl = levels.size
    tl = np.full(nl, NAN)
    tr = np.full(nl, NAN)
    if i > 0:
        left = yy[i - 1 :: -1]  # going outward from the apex
        below = left[None, :] < levels[:, None]
        hit = below.any(axis=1)
        k = below.argmax(axis=1)
        for q in np.flatnonzero(hit):
            j = i - 1 - int(k[q])  # below; j + 1 above
            dy = yy[j + 1] - yy[j]
            tl[q] = tt[j] + (levels[q] - yy[j]) * (tt[j + 1] - tt[j]) / dy if dy != 0 else tt[j]
    if i < yy.size - 1:
        right = yy[i + 1 :]
        below = right[None, :] < levels[:, None]
        hit = below.any(axis=1)
        k = below.argmax(axis=1)
        for q in np.flatnonzero(hit):
            j = i + 1 + int(k[q])
            dy = yy[j] - yy[j - 1]
            tr[q] = tt[j - 1] + (levels[q] - yy[j - 1]) * (tt[j] - tt[j - 1]) / dy if dy != 0 else tt[j]
    return tl, tr


_LEVELS = np.array([0.5, 0.1, 0.05])


def _crossings_search(tt: np.ndarray, yy: np.ndarray, i: int, lev: list) -> tuple[list, list]:
    """:func:`_crossings_walk` with a boolean argmax per level (same points, same arithmetic)."""
    tl = [NAN, NAN, NAN]
    tr = [NAN, NAN, NAN]
    if i > 0:
        side = yy[i - 1 :: -1]
        start = 0
        for q in range(3):
            g = side[start:] < lev[q]
            k = int(g.argmax())
            if not g[k]:
                break  # never below this level, so never below the lower ones
            k += start
            j = i - 1 - k
            v, v1 = float(yy[j]), float(yy[j + 1])
            t0, t1 = float(tt[j]), float(tt[j + 1])
            dy = v1 - v
            tl[q] = t0 + (lev[q] - v) * (t1 - t0) / dy if dy != 0 else t0
            start = k
    if i < yy.size - 1:
        side = yy[i + 1 :]
        start = 0
        for q in range(3):
            g = side[start:] < lev[q]
            k = int(g.argmax())
            if not g[k]:
                break
            k += start
            j = i + 1 + k
            v, v0 = float(yy[j]), float(yy[j - 1])
            t0, t1 = float(tt[j - 1]), float(tt[j])
            dy = v - v0
            tr[q] = t0 + (lev[q] - v0) * (t1 - t0) / dy if dy != 0 else t1
            start = k
    return tl, tr


def _crossings_walk(tt: np.ndarray, yy: np.ndarray, i: int, h: float) -> tuple[list, list]:
    """:func:`_crossings` at ``_LEVELS * h`` (h > 0), one scalar walk outward on each side.

    The levels decrease, so the first point below a lower level is never before the first
    point below a higher one; the arithmetic is the same as in :func:`_crossings`.
    """
    lev = [0.5 * h, 0.1 * h, 0.05 * h]
    if yy.size > 48:  # long peak: numpy searches beat the scalar walk
        return _crossings_search(tt, yy, i, lev)
    y = yy.tolist()
    t = tt.tolist()
    tl = [NAN, NAN, NAN]
    tr = [NAN, NAN, NAN]
    q = 0
    j = i - 1
    while j >= 0 and q < 3:
        v = y[j]
        while q < 3 and v < lev[q]:
            dy = y[j + 1] - v
            tl[q] = t[j] + (lev[q] - v) * (t[j + 1] - t[j]) / dy if dy != 0 else t[j]
            q += 1
        j -= 1
    q = 0
    j = i + 1
    n = len(y)
    while j < n and q < 3:
        v = y[j]
        while q < 3 and v < lev[q]:
            dy = v - y[j - 1]
            tr[q] = t[j - 1] + (lev[q] - y[j - 1]) * (t[j] - t[j - 1]) / dy if dy != 0 else t[j]
            q += 1
        j += 1
    return tl, tr


def shape(tt: np.ndarray, yy: np.ndarray, ys: np.ndarray | None = None,
          apex: int | None = None, *, tangent: bool = True) -> Shape:
    """Apex (3-point parabola), widths at 50/10/5 % and tangent width of one peak.

    Parameters
    ----------
    tt, yy : ndarray
        Time and baseline-corrected raw signal from the peak's start to its end.
    ys : ndarray, optional
        Smoothed baseline-corrected signal (for the inflection tangents); ``yy`` if omitted.
    apex : int, optional
        Index of the apex when it is not the maximum (a shoulder).
    tangent : bool
        Also the tangent width (``w_tangent``; NaN without it, for a caller that drops it).
    """
    i = int(yy.argmax()) if apex is None else int(apex)
    h0 = float(yy[i])
    rt, h = float(tt[i]), h0
    if apex is None and 0 < i < yy.size - 1:
        y0, y1, y2 = float(yy[i - 1]), h0, float(yy[i + 1])
        den = y0 - 2.0 * y1 + y2
        if den < 0:
            off = 0.5 * (y0 - y2) / den
            if -1.0 <= off <= 1.0:
                dt_ = tt[i + 1] - tt[i] if off > 0 else tt[i] - tt[i - 1]
                rt = float(tt[i] + off * dt_)
                h = float(y1 - 0.25 * (y0 - y2) * off)
    out = Shape(rt=rt, height=h, apex_index=i)
    if not h > 0 or yy.size < 3:
        return out
    # numpy scalars as before (the width arithmetic downstream keeps numpy's inf/nan semantics)
    tl, tr = _crossings_walk(tt, yy, i, h)
    (l50, l10, l05), (r50, r10, r05) = np.array(tl), np.array(tr)
    out.w50, out.w10, out.w05 = r50 - l50, r10 - l10, r05 - l05
    out.front05, out.front10, out.back10 = rt - l05, rt - l10, r10 - rt
    src = yy if ys is None else ys
    if tangent and src.size >= 3 and 0 < i < src.size - 1:
        d = (src[1:] - src[:-1]) / (tt[1:] - tt[:-1])  # slope between samples k and k+1
        kl = int(d[:i].argmax())
        kr = i + int(d[i:].argmin())
        if d[kl] > 0 and d[kr] < 0:
            tm_l = 0.5 * (tt[kl] + tt[kl + 1])
            tm_r = 0.5 * (tt[kr] + tt[kr + 1])
            t_l = tm_l - 0.5 * (src[kl] + src[kl + 1]) / d[kl]
            t_r = tm_r - 0.5 * (src[kr] + src[kr + 1]) / d[kr]
            out.w_tangent = float(t_r - t_l)
    return out


# --------------------------------------------------------------------------------------------
# noise
# --------------------------------------------------------------------------------------------


def window_noise(
    t: np.ndarray,
    y: np.ndarray,
    centre: float,
    width: float,
    *,
    method: str = "p2p",
    exclude: np.ndarray | None = None,
    min_points: int = 10,
    widen: bool = True,
) -> float:
    """Noise of ``y`` in a window of ``width`` minutes centred on ``centre``.

    The window is widened (up to 8x; not with ``widen=False``) until it holds ``min_points``
    points outside ``exclude`` (a boolean mask of peak points). A straight line is removed first (drift), then the noise is
    the peak-to-peak range (``"p2p"``, USP h) or the RMS (``"rms"``). NaN if too few points.
    """
    half = 0.5 * width
    for _ in range(4 if widen else 1):
        a, b = t.searchsorted(centre - half), t.searchsorted(centre + half)
        tt, yy = t[a:b], y[a:b]
        if exclude is not None:
            keep = ~exclude[a:b]
            tt, yy = tt[keep], yy[keep]
        if tt.size >= min_points:
            break
        half *= 2.0
    if tt.size < 3:
        return NAN
    tm = tt - _mean(tt)
    den = float(np.dot(tm, tm))
    ym = yy - _mean(yy)
    slope = float(np.dot(tm, ym)) / den if den > 0 else 0.0
    res = ym - slope * tm
    if method == "rms":
        return float(np.sqrt(np.mean(res**2)))
    return float(_MAX(res) - _MIN(res))


def signal_to_noise(height: float, noise: float, method: str = "p2p") -> float:
    """USP S/N = 2H/h (``"p2p"``) or H/RMS (``"rms"``); inf for zero noise, NaN if unknown."""
    if not np.isfinite(noise) or not np.isfinite(height):
        return NAN
    if noise <= 0:
        return math.inf if height > 0 else NAN
    return (2.0 * height / noise) if method == "p2p" else height / noise
