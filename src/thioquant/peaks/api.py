"""Trace-level peak functions: :func:`find_target`, :func:`find_peaks`, :func:`integrate`."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from thioquant import flags as _flags
from thioquant.errors import InputError, MethodError
from thioquant.model import Peak, Trace
from thioquant.peaks import core, events
from thioquant.peaks.analyse import RawPeak, Region, analyse
from thioquant.peaks.baseline import _global_baseline
from thioquant.peaks.noise import trace_noise_of
from thioquant.peaks.settings import SELECT, PeakSettings, make_settings
from thioquant.peaks.survey import _MAX_W50_POINTS, _bin, _target_region, _typical_w50_points

NAN = math.nan

_flags.register("SHOULDER", "unresolved shoulder: found from the curvature, split without a valley")

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


def _noise_for(reg: Region, rt: float, w50: float, cfg: PeakSettings,
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


def _measure(reg: Region, rp: RawPeak) -> core.Shape:
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


def _points_across(t: np.ndarray, rp: RawPeak, shp: core.Shape) -> int:
    """Samples inside the width at 5 % height (start to end when that width is unknown)."""
    if math.isfinite(shp.w05):
        t0 = shp.rt - shp.front05
        a, b = t.searchsorted(t0), t.searchsorted(t0 + shp.w05)
        return int(b - a)
    return rp.end - rp.start + 1


def _to_peak(
    reg: Region,
    rp: RawPeak,
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


def _select_target(reg: Region, rt: float, win: float, cfg: PeakSettings, select: str,
                   noise: float | None) -> tuple[RawPeak, core.Shape, float] | None:
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
        reg = analyse(t, ys, acfg, w50_pts=w50_pts, gbl=g, open_pts=open_pts)
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
