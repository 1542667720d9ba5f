"""Trace-level peak functions: :func:`find_target`, :func:`find_peaks`, :func:`integrate`."""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np

from thioquant import flags as _flags
from thioquant.errors import InputError, MethodError
from thioquant.model import Peak, Trace
from thioquant.peaks import core, events
from thioquant.peaks.filters import _padded, minimum_nearest
from thioquant.peaks.noise import trace_noise, trace_noise_of
from thioquant.peaks.settings import SELECT, PeakSettings, make_settings

NAN = math.nan

_flags.register("SHOULDER", "unresolved shoulder: found from the curvature, split without a valley")

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

_FALLBACK_P2P = 6.0  # peak-to-peak noise ~ 6 SD when no noise window is usable


def _check_trace(trace: Any) -> Trace:
    if not isinstance(trace, Trace):
        raise InputError(f"expected a thioquant Trace, got {type(trace).__name__}")
    return trace


def _finite(name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise MethodError(f"'{name}' must be a number, got {value!r}", key=name)
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0):
        raise MethodError(f"'{name}' must be a finite{' positive' if positive else ''} number, "
                          f"got {value!r}", key=name)
    return v


def _global_baseline(t: np.ndarray, y: np.ndarray, cfg: PeakSettings, w50_pts: float) -> np.ndarray:
    """Global baseline of (t, y) with pybaselines (``arpls``, ``asls``, ``snip``) or zeros."""
    if cfg.baseline == "none":
        return np.zeros_like(y)
    return global_baseline(t, y, method=cfg.baseline, lam=cfg.baseline_lam, width_points=w50_pts)


def global_baseline(
    t: np.ndarray,
    y: np.ndarray,
    *,
    method: str = "arpls",
    lam: float | None = None,
    width_points: float = 20.0,
) -> np.ndarray:
    """Global baseline of a signal with pybaselines.

    Parameters
    ----------
    t, y : ndarray
        Time (minutes) and signal.
    method : {"arpls", "asls", "snip"}
        pybaselines algorithm.
    lam : float, optional
        Whittaker smoothness for arPLS / asLS. Default ``(2 * width_points) ** 4`` scaled so the
        baseline is stiff on the scale of a few peak widths whatever the sampling rate.
    width_points : float
        Typical half-height width of a peak, in points (sets the default ``lam`` and SNIP's
        half-window, ``3 * width_points``).

    Returns
    -------
    ndarray
        The baseline, same length as ``y``.
    """
    from pybaselines import Baseline

    y = np.asarray(y, dtype=float)
    fitter = Baseline(x_data=np.asarray(t, dtype=float))
    w = max(2.0, float(width_points))

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # pybaselines convergence notes are not errors here
            if method == "arpls":
                bl, _ = fitter.arpls(y, lam=lam if lam is not None else (2.0 * w) ** 4 * 10.0)
            elif method == "asls":
                bl, _ = fitter.asls(y, lam=lam if lam is not None else (2.0 * w) ** 4 * 10.0,
                                    p=0.01)
            elif method == "snip":
                hw = int(max(2, min(3.0 * w, (y.size - 1) // 2)))
                bl, _ = fitter.snip(y, max_half_window=hw, decreasing=True,
                                    smooth_half_window=int(max(1, w // 2)))
                # no baseline lies below the lowest data within its window; pybaselines' SNIP
                # can (it pads the edges with a line fitted to the first/last half-window, which
                # on a neighbour's flank runs far below the data): in a find_target sweep areas
                # came out up to 8x too large
                bl = np.maximum(bl, minimum_nearest(y, 2 * hw + 1))
            else:
                raise MethodError(f"unknown global baseline '{method}'; use arpls, asls or snip",
                                  key="baseline")
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise InputError(f"global baseline '{method}' failed on this trace: {exc}") from exc
    bl = np.asarray(bl, dtype=float)
    # lower-envelope methods sit under the noise: lift them by the median residual of the
    # points that are baseline (residual within 3 noise SD)
    r = y - bl
    sig = core.robust_sigma(y)
    base_pts = r[np.abs(r) < 3.0 * sig]
    if base_pts.size > 10:
        bl = bl + float(np.median(base_pts))
    return bl


# --------------------------------------------------------------------------------------------
# RawPeak -> Peak
# --------------------------------------------------------------------------------------------


class _Blank(NamedTuple):
    """A blank injection's trace (prepared arrays) whose noise replaces the sample's."""

    t: np.ndarray
    y: np.ndarray


def _blank_of(blank: Any, noise: float | None) -> _Blank | None:
    if blank is None:
        return None
    if noise is not None:
        raise MethodError("give either 'noise' or 'blank', not both", key="blank")
    b = _check_trace(blank)
    return _Blank(*core.prepare(b.time_min, b.signal, b.name))


def _noise_for(reg: core.Region, rt: float, w50: float, cfg: PeakSettings,
               noise: float | _Blank | None) -> float:
    width = cfg.noise_window * (w50 if w50 > 0 and math.isfinite(w50) else reg.w50_pts * reg.dt)
    if isinstance(noise, _Blank):
        # USP <621>: the noise of a blank injection over the same window around the peak; not
        # widened, since a blank that does not cover the peak says nothing about its noise
        h = core.window_noise(noise.t, noise.y, rt, width, method=cfg.noise_method, min_points=3, widen=False)
        if math.isfinite(h):
            return h
    elif noise is not None:
        return float(noise)
    yw = reg.y - reg.gbl if reg.gbl is not None else reg.y
    h = core.window_noise(reg.t, yw, rt, width, method=cfg.noise_method, exclude=reg.in_peak)
    if not math.isfinite(h):
        h = reg.sigma * (_FALLBACK_P2P if cfg.noise_method == "p2p" else 1.0)
    return h


def _measure(reg: core.Region, rp: core.RawPeak) -> core.Shape:
    st, en = rp.start, rp.end
    tt = reg.t[st : en + 1]
    yc = reg.y[st : en + 1] - rp.baseline
    s_abs = reg.s + reg.gbl if reg.gbl is not None else reg.s
    ys = s_abs[st : en + 1] - rp.baseline
    return core.shape(tt, yc, ys, apex=rp.apex - st if rp.shoulder else None)


#: a flat top is saturation when digitisation explains its run of equal values with less than
#: this probability (docs/peaks.md, "Saturation")
_SATURATION_CHANCE = 1e-4


def _saturated(y: np.ndarray, i: int) -> bool:
    """A flat top: a run of three or more equal values at the apex ``i`` that a saturated
    detector would write and digitisation does not explain.

    A detector at its maximum repeats one value and writes nothing above it, so the run must
    hold the region's highest value. On a coarsely digitised trace (a UV detector's step of
    4.77x10^-4 mAU) neighbouring points near the flat apex of a small, broad peak are often
    equal by chance: two points with independent noise ``sigma`` round to one step ``q`` with
    probability about ``p = q / (2 sqrt(pi) sigma)``, so a run of ``k`` counts only when
    ``p^(k-1)`` < :data:`_SATURATION_CHANCE`. ``sigma`` is the point noise of the peak's other
    upper points (above half its height, from their second differences); ``q`` the region's
    smallest step between values (negligible on a continuous or finely digitised signal, where
    any repeated value is the detector's).
    """
    v = float(y[i])
    if not math.isfinite(v):
        return False
    tol = 1e-12 * abs(v)  # a saturated detector repeats the same value
    lo = i
    while lo > 0 and abs(y[lo - 1] - v) <= tol:
        lo -= 1
    hi = i
    while hi < y.size - 1 and abs(y[hi + 1] - v) <= tol:
        hi += 1
    k = hi - lo + 1
    if k < 3:
        return False
    fin = y[np.isfinite(y)]
    if v < float(fin.max()) - tol:
        return False  # something lies higher: not the detector's maximum
    steps = np.diff(np.unique(fin))
    q = float(steps.min()) if steps.size else 0.0
    upper = np.isfinite(y) & (y >= float(fin.min()) + 0.5 * (v - float(fin.min())))
    upper[lo : hi + 1] = False
    three = upper[:-2] & upper[1:-1] & upper[2:]
    if np.count_nonzero(three) >= 3:
        sigma = 1.4826 * float(np.median(np.abs(np.diff(y, 2)[three]))) / math.sqrt(6.0)
    else:  # too few points beside the run (a steep clipped peak): its flanks' steps
        two = upper[:-1] & upper[1:]
        d = np.abs(np.diff(y))[two]
        sigma = float(np.median(d)) / math.sqrt(2.0) if d.size else math.inf
    if not sigma > 0:
        return q <= tol  # no noise to judge by: only an exactly repeated continuous value
    p = min(1.0, q / (2.0 * math.sqrt(math.pi) * sigma))
    return p ** (k - 1) < _SATURATION_CHANCE


def _points_across(t: np.ndarray, rp: core.RawPeak, shp: core.Shape) -> int:
    """Samples inside the width at 5 % height (start to end when that width is unknown)."""
    if math.isfinite(shp.w05):
        t0 = shp.rt - shp.front05
        a, b = t.searchsorted(t0), t.searchsorted(t0 + shp.w05)
        return int(b - a)
    return rp.end - rp.start + 1


def _to_peak(
    reg: core.Region,
    rp: core.RawPeak,
    name: str,
    cfg: PeakSettings,
    noise: float | None,
    shp: core.Shape | None = None,
    prev: tuple[float, core.Shape] | None = None,
    sign: float = 1.0,
    h: float | None = None,
) -> Peak:
    shp = shp or _measure(reg, rp)
    if h is None:
        h = _noise_for(reg, shp.rt, shp.w50, cfg, noise)
    sn = core.signal_to_noise(shp.height, h, cfg.noise_method)
    fl: list[str] = []
    if rp.fused:
        fl.append("FUSED")
    if rp.shoulder:
        fl.append("SHOULDER")
    fl.extend(rp.flags)
    if rp.edge:
        fl.append("EDGE")
    if _saturated(reg.y if sign == 1.0 else reg.y * sign, rp.start + shp.apex_index):
        fl.append("SATURATED")
    npts = _points_across(reg.t, rp, shp)
    if npts < cfg.min_points:
        fl.append("FEW_POINTS")
    if not (sn >= cfg.sn_min):
        fl.append("LOW_SN")
    if sign < 0:
        fl.append("NEGATIVE")
    rs_usp = rs_tan = NAN
    if prev is not None:
        prt, pshp = prev
        rs_usp = 1.18 * (shp.rt - prt) / (shp.w50 + pshp.w50)
        rs_tan = 2.0 * (shp.rt - prt) / (shp.w_tangent + pshp.w_tangent)
    with np.errstate(all="ignore"):
        plates = 5.54 * (shp.rt / shp.w50) ** 2 if shp.w50 > 0 else NAN
        sym = shp.w05 / (2.0 * shp.front05) if shp.front05 > 0 else NAN
        asym = shp.back10 / shp.front10 if shp.front10 > 0 else NAN
    return Peak(
        trace=name,
        rt_min=float(shp.rt),
        start_min=float(reg.t[rp.start]),
        end_min=float(reg.t[rp.end]),
        height=float(sign * shp.height),
        area=float(sign * rp.area),
        sn=float(sn),
        baseline_start=float(sign * rp.b0),
        baseline_end=float(sign * rp.b1),
        noise=float(h),
        width_50_min=float(shp.w50),
        width_10_min=float(shp.w10),
        width_05_min=float(shp.w05),
        plates_usp=float(plates),
        symmetry_usp=float(sym),
        asymmetry_10=float(asym),
        resolution_usp=float(rs_usp),
        resolution_tangent=float(rs_tan),
        points=int(npts),
        integration=rp.integration,
        fit_r2=float(rp.fit_r2),
        flags=tuple(dict.fromkeys(fl)),
    )


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------


def find_target(
    trace: Trace,
    rt_min: float | None,
    window_min: float,
    *,
    select: str = "nearest",
    sn_min: float = 3.0,
    baseline: str = "local",
    noise: float | None = None,
    min_points: int = 5,
    rrt: float | None = None,
    reference_rt: float | None = None,
    blank: Trace | None = None,
    expected_w50_min: float | None = None,
    **settings: Any,
) -> Peak | None:
    """The analyte peak whose apex lies in ``[rt_min - window_min, rt_min + window_min]``.

    Parameters
    ----------
    trace : Trace
        The chromatogram (time in minutes).
    rt_min : float or None
        Expected retention time (minutes). May be None when ``rrt`` and ``reference_rt`` are
        given, in which case the expected time is ``rrt * reference_rt``.
    window_min : float
        Half-width of the retention window (minutes). Boundaries may extend beyond it.
    select : {"nearest", "largest"}
        Among qualifying peaks, the one nearest ``rt_min`` or the tallest.
    sn_min : float
        Minimum signal-to-noise (USP 2H/h by default); None is returned when nothing reaches it.
    baseline : str
        ``"local"`` (drop line, default), ``"arpls"``, ``"asls"``, ``"snip"`` or ``"none"``.
    noise : float, optional
        Noise measured elsewhere (a blank injection, see :func:`measure_noise`): peak-to-peak
        h for ``noise_method="p2p"``, RMS for ``"rms"``.
    blank : Trace, optional
        A blank injection's trace of the same channel: each peak's noise is measured there, over
        the same ``noise_window`` half-height widths around the peak's retention time (USP <621>),
        instead of in the sample (which remains the fallback where the blank has fewer than 3
        points in that window). Not with ``noise``.
    min_points : int
        Fewer points than this across the peak is flagged FEW_POINTS.
    rrt, reference_rt : float, optional
        Relative retention to a reference (internal standard) peak and that peak's RT.
    expected_w50_min : float, optional
        Expected half-height width (minutes), e.g. the labelled internal standard's in the same
        injection: when the width measured on the target is off by more than a factor of 2 from
        it, this width scales smoothing, boundaries and noise window instead (unlike the
        ``width_min`` setting, which always replaces the measured width).
    **settings
        Any other :class:`~thioquant.peaks.settings.PeakSettings` field.

    Returns
    -------
    Peak or None

    Raises
    ------
    MethodError
        For a bad setting.
    InputError
        For a trace without at least 3 finite points near the window.
    """
    _check_trace(trace)
    cfg = make_settings(sn_min=sn_min, baseline=baseline, min_points=min_points, **settings)
    if select not in SELECT:
        raise MethodError(f"'select' must be 'nearest' or 'largest', got {select!r}", key="select")
    if rrt is not None or reference_rt is not None:
        if rrt is None or reference_rt is None:
            raise MethodError("relative retention needs both 'rrt' and 'reference_rt'", key="rrt")
        rt_min = _finite("rrt", rrt, positive=True) * _finite("reference_rt", reference_rt)
    if rt_min is None:
        raise MethodError("find_target needs 'rt_min' (or 'rrt' with 'reference_rt')", key="rt_min")
    rt = _finite("rt_min", rt_min)
    win = _finite("window_min", window_min, positive=True)
    if noise is not None:
        noise = _finite("noise", noise)
        if noise < 0:
            raise MethodError(f"'noise' must be >= 0, got {noise!r}", key="noise")
    if expected_w50_min is not None:
        expected_w50_min = _finite("expected_w50_min", expected_w50_min, positive=True)
    noise = _blank_of(blank, noise) or noise
    tn = trace_noise_of(trace)  # once per trace: every region below uses the same
    sv: dict = {}  # and the same survey (and region) when only the region (survey) changes
    reg, t_w = _target_region(trace, rt, win, cfg, select, expected_w50=expected_w50_min, tnoise=tn,
                              surveys=sv)
    if reg is None:
        return None
    picked = _select_target(reg, rt, win, cfg, select, noise)
    if picked is None and t_w is not None:
        # nothing qualifies at the survey's maximum (S/N): search the whole window, as before
        first = reg
        reg, t_w = _target_region(trace, rt, win, cfg, select, expected_w50=expected_w50_min,
                                  centred=False, tnoise=tn, surveys=sv)
        # (the same analysis as the first: nothing qualifies there either)
        picked = None if reg is None or reg is first else _select_target(reg, rt, win, cfg, select,
                                                                          noise)
    if picked is None:
        return None
    p, shp, h = picked
    if t_w is not None and abs(reg.t[p.apex] - t_w) > 0.5 * reg.w50_pts * reg.dt:
        # the width came from another feature than the peak selected: estimate it on the
        # selected peak and analyse again (once), so the width is the selected peak's own
        reg2, _ = _target_region(trace, rt, win, cfg, select, width_at=float(reg.t[p.apex]),
                                 expected_w50=expected_w50_min, tnoise=tn, surveys=sv)
        picked2 = None if reg2 is None else _select_target(reg2, rt, win, cfg, select, noise)
        if picked2 is not None:
            reg, (p, shp, h) = reg2, picked2
    prev = None
    idx = reg.peaks.index(p)
    if idx > 0:
        q = reg.peaks[idx - 1]
        qs = _measure(reg, q)
        prev = (qs.rt, qs)
    return _to_peak(reg, p, trace.name, cfg, noise, shp, prev, h=h)


def _select_target(reg: core.Region, rt: float, win: float, cfg: PeakSettings, select: str,
                   noise: float | None) -> tuple[core.RawPeak, core.Shape, float] | None:
    """The qualifying peak (S/N >= sn_min, apex in the window) nearest ``rt`` or tallest."""
    lo_t, hi_t = rt - win, rt + win
    # the reported apex (a parabola through the top points of the raw signal) can lie a few
    # samples from the smoothed maximum on a noisy top: either one in the window qualifies
    slack = 0.5 * reg.w50_pts * reg.dt
    cands = [p for p in reg.peaks if lo_t - slack <= reg.t[p.apex] <= hi_t + slack]
    if not cands:
        return None
    scored = []
    for p in cands:
        shp = _measure(reg, p)
        # the reported apex decides (the index of the smoothed maximum may lie a few samples
        # away on a noisy top; the window is about the apex the user sees)
        if not lo_t <= shp.rt <= hi_t:
            continue
        h = _noise_for(reg, shp.rt, shp.w50, cfg, noise)
        sn = core.signal_to_noise(shp.height, h, cfg.noise_method)
        if sn >= cfg.sn_min:
            scored.append((p, shp, h))
    if not scored:
        return None
    if select == "nearest":
        return min(scored, key=lambda ps: abs(ps[1].rt - rt))
    return max(scored, key=lambda ps: ps[1].height)


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
                   ) -> tuple[core.Region | None, float | None]:
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
    reg = core.analyse(t, y, cfg, w50_pts=w50_pts, gbl=gbl, edge_lo=a == 0, edge_hi=b == n_all,
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
    top = core.prominent_maxima(s0, mx, prom, 2.0)
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


def find_peaks(
    trace: Trace,
    *,
    sn_min: float = 3.0,
    baseline: str = "local",
    noise: float | None = None,
    min_points: int = 5,
    return_baseline: bool = False,
    blank: Trace | None = None,
    **settings: Any,
) -> list[Peak] | tuple[list[Peak], np.ndarray]:
    """Every peak of a trace above ``sn_min`` (untargeted), in retention order.

    Parameters are those of :func:`find_target` (``blank`` included). With ``detect="events"`` (vendor-like mode) a
    peak is kept by ChemStation-style height / area reject and slope sensitivity instead of
    ``sn_min`` (see :mod:`thioquant.peaks.events`). ``area_pct`` is each peak's share of the total
    reported area. With ``return_baseline=True`` the baseline used is also returned as an array
    on the trace's time axis (NaN outside peaks for the local drop-line baseline), for plotting.

    Returns
    -------
    list of Peak, or (list of Peak, ndarray)
    """
    _check_trace(trace)
    cfg = make_settings(sn_min=sn_min, baseline=baseline, min_points=min_points, **settings)
    if noise is not None:
        noise = _finite("noise", noise)
    noise = _blank_of(blank, noise) or noise
    t, y = core.prepare(trace.time_min, trace.signal, trace.name)
    dt = float((t[-1] - t[0]) / (t.size - 1))
    if cfg.width_min is not None:
        w50_pts = open_pts = cfg.width_min / dt
    else:
        k0 = max(1, t.size // 200_000)
        yb = _bin(t, y, k0)[1] if k0 > 1 else y
        w50_pts, open_pts = _typical_w50_points(yb)
        if cfg.negative:
            wn, on = _typical_w50_points(-yb)
            w50_pts, open_pts = min(w50_pts, wn), max(open_pts, on)
        w50_pts, open_pts = w50_pts * k0, open_pts * k0
    w50_pts = max(2.0, w50_pts)
    open_pts = min(max(open_pts, w50_pts), t.size / 2.0)
    if w50_pts > _MAX_W50_POINTS and cfg.smooth is None:
        k = int(w50_pts // (_MAX_W50_POINTS / 2))
        t, y = _bin(t, y, k)
        w50_pts /= k
        open_pts /= k
    gbl = _global_baseline(t, y, cfg, w50_pts) if cfg.baseline != "local" else None
    out: list[Peak] = []
    bl_plot = np.full(t.size, np.nan) if gbl is None else gbl.copy()
    by_events = cfg.detect == "events"  # vendor-like: integration events instead of S/N
    acfg = events.analysis_settings(cfg) if by_events else cfg
    for sign in ((1.0, -1.0) if cfg.negative else (1.0,)):
        ys = y * sign
        g = None if gbl is None else gbl * sign
        reg = core.analyse(t, ys, acfg, w50_pts=w50_pts, gbl=g, open_pts=open_pts)
        ev = events.thresholds(reg, cfg) if by_events else None
        prev = None
        for rp in reg.peaks:
            shp = _measure(reg, rp)
            pk = _to_peak(reg, rp, trace.name, cfg, noise, shp, prev if sign > 0 else None, sign)
            prev = (shp.rt, shp)
            if events.accept(reg, rp, pk, ev, sign, out) if ev is not None else pk.sn >= cfg.sn_min:
                out.append(pk)
                if gbl is None:
                    bl_plot[rp.start : rp.end + 1] = sign * rp.baseline
    out.sort(key=lambda p: p.rt_min)
    total = sum(abs(p.area) for p in out)
    if total > 0:
        from dataclasses import replace

        out = [replace(p, area_pct=100.0 * abs(p.area) / total) for p in out]
    if return_baseline:
        if t.size != trace.time_min.size:  # NaN points dropped or binned: map back onto the trace
            bl_plot = np.interp(trace.time_min, t, bl_plot, left=np.nan, right=np.nan)
        return out, bl_plot
    return out


def integrate(
    trace: Trace,
    start_min: float,
    end_min: float,
    *,
    baseline: str = "drop",
    noise: float | None = None,
    sn_min: float = 3.0,
    **settings: Any,
) -> Peak:
    """Manual integration between fixed boundaries (flagged ``MANUAL``).

    Parameters
    ----------
    trace : Trace
    start_min, end_min : float
        Boundaries in minutes; the signal is interpolated at them, so the area does not depend
        on where the samples fall.
    baseline : {"drop", "none", "arpls", "asls", "snip"}
        ``"drop"``: straight line between the signal at the two boundaries; ``"none"``: zero;
        otherwise a global pybaselines baseline of the surrounding region.
    noise : float, optional
        Noise from a blank (see :func:`find_target`).
    sn_min : float
        Below this S/N the peak is flagged LOW_SN (it is still returned).

    Returns
    -------
    Peak
    """
    _check_trace(trace)
    if baseline not in ("drop", "none", "arpls", "asls", "snip"):
        raise MethodError(f"manual baseline must be drop, none, arpls, asls or snip; got {baseline!r}",
                          key="baseline")
    cfg = make_settings(sn_min=sn_min, **settings)
    t0 = _finite("start_min", start_min)
    t1 = _finite("end_min", end_min)
    if not t1 > t0:
        raise InputError(f"manual integration of '{trace.name}': end ({t1:g}) must be after "
                         f"start ({t0:g})")
    t_all = trace.time_min
    if t_all.size < 2:
        raise InputError(f"trace '{trace.name}' has {t_all.size} point(s); at least 2 are needed")
    span = t1 - t0
    pad = max(span, cfg.noise_window * span / 2.0)
    a, b = np.searchsorted(t_all, [t0 - pad, t1 + pad])
    a, b = max(0, int(a) - 1), min(t_all.size, int(b) + 1)
    t, y = core.prepare(t_all[a:b], trace.signal[a:b], trace.name)
    fl = ["MANUAL"]
    if t0 < t[0] or t1 > t[-1]:
        fl.append("EDGE")
        t0, t1 = max(t0, float(t[0])), min(t1, float(t[-1]))
        if not t1 > t0:
            raise InputError(f"manual integration of '{trace.name}': {start_min:g}-{end_min:g} "
                             f"min lies outside the trace ({t_all[0]:g}-{t_all[-1]:g} min)")
    inner = (t > t0) & (t < t1)
    tt = np.concatenate(([t0], t[inner], [t1]))
    yy = np.concatenate(([np.interp(t0, t, y)], y[inner], [np.interp(t1, t, y)]))
    if baseline == "drop":
        base = yy[0] + (yy[-1] - yy[0]) * (tt - t0) / (t1 - t0)
    elif baseline == "none":
        base = np.zeros_like(tt)
    else:
        cfg2 = make_settings(cfg, baseline=baseline)
        dt = float((t[-1] - t[0]) / (t.size - 1))
        g = _global_baseline(t, y, cfg2, max(2.0, span / dt / 4.0))
        base = np.interp(tt, t, g)
    yc = yy - base
    area = core.trapz(yc, tt)
    sign = -1.0 if area < 0 else 1.0
    shp = core.shape(tt, sign * yc)
    if noise is None:
        width = cfg.noise_window * (shp.w50 if shp.w50 > 0 else span / 4.0)
        excl = (t >= t0) & (t <= t1)
        h = core.window_noise(t, y, shp.rt, width, method=cfg.noise_method, exclude=excl)
        if not math.isfinite(h):
            h = core.robust_sigma(y) * (_FALLBACK_P2P if cfg.noise_method == "p2p" else 1.0)
    else:
        h = _finite("noise", noise)
    sn = core.signal_to_noise(shp.height, h, cfg.noise_method)
    if sign < 0:
        fl.append("NEGATIVE")
    if a == 0 and t0 <= t[0] or b == t_all.size and t1 >= t[-1]:
        fl.append("EDGE")
    npts = int(inner.sum())
    if math.isfinite(shp.w05):
        npts = int(np.count_nonzero((t >= shp.rt - shp.front05) & (t <= shp.rt - shp.front05 + shp.w05)))
    if npts < cfg.min_points:
        fl.append("FEW_POINTS")
    if not (sn >= cfg.sn_min):
        fl.append("LOW_SN")
    with np.errstate(all="ignore"):
        plates = 5.54 * (shp.rt / shp.w50) ** 2 if shp.w50 > 0 else NAN
        sym = shp.w05 / (2.0 * shp.front05) if shp.front05 > 0 else NAN
        asym = shp.back10 / shp.front10 if shp.front10 > 0 else NAN
    return Peak(
        trace=trace.name, rt_min=float(shp.rt), start_min=float(t0), end_min=float(t1),
        height=float(sign * shp.height), area=float(area), sn=float(sn),
        baseline_start=float(base[0]), baseline_end=float(base[-1]), noise=float(h),
        width_50_min=float(shp.w50), width_10_min=float(shp.w10), width_05_min=float(shp.w05),
        plates_usp=float(plates), symmetry_usp=float(sym), asymmetry_10=float(asym),
        points=npts, integration="manual", flags=tuple(dict.fromkeys(fl)),
    )


def measure_noise(
    trace: Trace,
    rt_min: float,
    width_min: float,
    *,
    noise_window: float = 20.0,
    method: str = "p2p",
) -> float:
    """Noise of a blank trace around ``rt_min`` for use as ``noise=`` in :func:`find_target`.

    The window is ``noise_window`` x ``width_min`` (the analyte's half-height width) centred on
    ``rt_min``; a straight line is removed, then the peak-to-peak range (USP h) or RMS is returned.
    """
    _check_trace(trace)
    cfg = make_settings(noise_window=noise_window, noise_method=method)
    rt = _finite("rt_min", rt_min)
    w = _finite("width_min", width_min, positive=True)
    t, y = core.prepare(trace.time_min, trace.signal, trace.name)
    h = core.window_noise(t, y, rt, cfg.noise_window * w, method=cfg.noise_method, min_points=3)
    if not math.isfinite(h):
        raise InputError(f"trace '{trace.name}' has too few points around {rt:g} min to "
                         "measure noise")
    return h
