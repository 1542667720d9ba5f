"""Peak-engine settings: every knob in one frozen record, validated in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from thioquant.errors import MethodError

#: Changes whenever a change to the engine can alter any Peak it reports. The measurement cache
#: keys on it, so a re-run after an upgrade re-measures instead of reusing older peaks.
ENGINE_REVISION = "2026-12-05.10"  # .10: sparse peaks' boundaries on the 3-point mean; region >= 2 base widths

BASELINES = ("local", "arpls", "asls", "snip", "none")
FUSED_RULES = ("auto", "drop", "valley", "skim", "exp_skim", "deconvolve")
NOISE_METHODS = ("p2p", "rms")
ANCHORS = ("mean", "point")
SELECT = ("nearest", "largest")
DETECT = ("sn", "events")


@dataclass(frozen=True)
class PeakSettings:
    """How peaks are found, integrated and measured.

    Attributes
    ----------
    sn_min : float
        Peaks below this signal-to-noise ratio are not reported (default 3).
    baseline : str
        ``"local"`` (drop line between peak boundaries, default), ``"arpls"``, ``"asls"`` or
        ``"snip"`` (a global baseline from pybaselines) or ``"none"`` (zero baseline).
    baseline_lam : float or None
        Smoothness of arPLS/asLS; None = chosen from the peak width in points.
    fused : str
        Rule for peaks that share a cluster: ``"auto"`` (perpendicular drop, exponential skim
        for small riders on a tail), ``"drop"``, ``"valley"``, ``"skim"`` (tangent skim),
        ``"exp_skim"`` or ``"deconvolve"`` (EMG fit).
    skim_ratio : float
        Under ``"auto"``, a peak after a taller one whose height is below this fraction of
        the parent's is skimmed off the parent's tail (default 0.1).
    noise_method : str
        ``"p2p"``: USP S/N = 2H/h with h the peak-to-peak noise; ``"rms"``: S/N = H / RMS noise.
    noise_window : float
        Noise window as a multiple of the half-height width (USP: 5 or 20; default 20).
    width_min : float or None
        Expected half-height width in minutes; None = measured from the data.
    smooth : int or None
        Savitzky-Golay window (points, odd) used for detection and boundaries only (areas
        always use the raw signal); None = about half the half-height width.
    extend : float
        Boundaries are pushed this many half-height widths beyond the point where the signal
        returns to baseline (default 0.5), without entering a neighbour.
    anchor : str
        ``"mean"``: each end of the drop line is the mean of a short stretch of baseline just
        outside the boundary (less noise); ``"point"``: the signal at the boundary (vendor-like).
    anchor_width : float
        Length of the averaged anchor stretch, in half-height widths (default 1).
    baseline_window : float
        Width of the rough baseline's morphological opening, in half-height widths.
    negative : bool
        Also report negative peaks (flagged NEGATIVE). Only with the ``"local"`` or ``"none"``
        baseline: the global ones fit the signal's lower envelope and absorb negative peaks.
    min_points : int
        Fewer points than this between start and end is flagged FEW_POINTS (default 5).
    fit_r2_min : float
        An EMG fit with R^2 below this is flagged FIT_POOR (default 0.98).
    detect : str
        How :func:`~thioquant.peaks.find_peaks` decides that a candidate is a peak: ``"sn"``
        (default: USP signal-to-noise at least ``sn_min``) or ``"events"`` (vendor-like,
        ChemStation-style initial events: ``height_reject``, ``area_reject`` and
        ``slope_sensitivity``; S/N is still measured and flagged LOW_SN, but does not reject).
        ``find_target`` always uses S/N.
    height_reject : float or None
        ``detect="events"``: peaks lower than this (signal units) are not reported. None (default)
        = ``reject_noise`` times the trace's high-frequency noise SD (Autointegrate-like).
    reject_noise : float
        ``detect="events"``: the automatic height reject in noise SDs (default 5).
    area_reject : float
        ``detect="events"``: peaks with a smaller area (signal x minutes) are not reported
        (default 0 = off).
    slope_sensitivity : float
        ``detect="events"``: the smoothed signal must rise faster than this (signal units per
        minute) before the apex and fall faster after it (default 0 = off). Shoulders, found
        from the curvature, are exempt.
    """

    sn_min: float = 3.0
    baseline: str = "local"
    baseline_lam: float | None = None
    fused: str = "auto"
    skim_ratio: float = 0.1
    noise_method: str = "p2p"
    noise_window: float = 20.0
    width_min: float | None = None
    smooth: int | None = None
    extend: float = 0.5
    anchor: str = "mean"
    anchor_width: float = 1.0
    baseline_window: float = 10.0
    negative: bool = False
    min_points: int = 5
    fit_r2_min: float = 0.98
    detect: str = "sn"
    height_reject: float | None = None
    reject_noise: float = 5.0
    area_reject: float = 0.0
    slope_sensitivity: float = 0.0


_FIELDS = {f.name for f in fields(PeakSettings)}


def _num(name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
         strict_lo: bool = False, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MethodError(f"peak setting '{name}' must be a number, got {value!r}", key=name)
    v = float(value)
    if not math.isfinite(v):
        raise MethodError(f"peak setting '{name}' must be finite, got {value!r}", key=name)
    if lo is not None and (v < lo or (strict_lo and v == lo)):
        op = ">" if strict_lo else ">="
        raise MethodError(f"peak setting '{name}' must be {op} {lo:g}, got {value!r}", key=name)
    if hi is not None and v > hi:
        raise MethodError(f"peak setting '{name}' must be <= {hi:g}, got {value!r}", key=name)
    return value


def _choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        raise MethodError(
            f"peak setting '{name}' must be one of {', '.join(options)}; got {value!r}", key=name
        )
    return value


def make_settings(base: PeakSettings | None = None, **kwargs: Any) -> PeakSettings:
    """Validated :class:`PeakSettings` (cached for repeated identical calls); see _make."""
    if base is None:
        try:
            key = tuple(sorted(kwargs.items()))
            hash(key)
        except TypeError:
            return _make(None, **kwargs)
        hit = _CACHE.get(key)
        if hit is None:
            hit = _make(None, **kwargs)
            if len(_CACHE) < 256:
                _CACHE[key] = hit
        return hit
    return _make(base, **kwargs)


_CACHE: dict[tuple, PeakSettings] = {}


def _make(base: PeakSettings | None = None, **kwargs: Any) -> PeakSettings:
    """Validated :class:`PeakSettings` from keyword arguments.

    Raises
    ------
    MethodError
        For an unknown setting or a value of the wrong type or out of range.
    """
    unknown = sorted(set(kwargs) - _FIELDS)
    if unknown:
        raise MethodError(
            f"unknown peak setting(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}",
            key=unknown[0],
        )
    s = replace(base or PeakSettings(), **kwargs)
    _num("sn_min", s.sn_min, lo=0.0)
    _choice("baseline", s.baseline, BASELINES)
    _num("baseline_lam", s.baseline_lam, lo=0.0, strict_lo=True, allow_none=True)
    _choice("fused", s.fused, FUSED_RULES)
    _num("skim_ratio", s.skim_ratio, lo=0.0, hi=1.0)
    _choice("noise_method", s.noise_method, NOISE_METHODS)
    _num("noise_window", s.noise_window, lo=1.0, hi=1000.0)
    _num("width_min", s.width_min, lo=0.0, strict_lo=True, allow_none=True)
    if s.smooth is not None:
        if isinstance(s.smooth, bool) or not isinstance(s.smooth, int) or s.smooth < 1:
            raise MethodError(f"peak setting 'smooth' must be a positive odd integer, got {s.smooth!r}",
                              key="smooth")
        if s.smooth % 2 == 0:
            raise MethodError(f"peak setting 'smooth' must be odd, got {s.smooth}", key="smooth")
    _num("extend", s.extend, lo=0.0, hi=20.0)
    _choice("anchor", s.anchor, ANCHORS)
    _num("anchor_width", s.anchor_width, lo=0.0, hi=20.0)
    _num("baseline_window", s.baseline_window, lo=2.0, hi=1000.0)
    if not isinstance(s.negative, bool):
        raise MethodError(f"peak setting 'negative' must be true or false, got {s.negative!r}",
                          key="negative")
    if s.negative and s.baseline in ("arpls", "asls", "snip"):
        # measured (120 random traces, 60 negative peaks, 2026-12-03): arPLS, asLS and SNIP
        # missed 28, 46 and 38 of them, the local drop line 4
        raise MethodError(
            f"peak setting 'negative' needs baseline 'local' or 'none', not '{s.baseline}': arPLS, "
            "asLS and SNIP fit the lower envelope of the signal and take negative peaks into the "
            "baseline", key="negative")
    if isinstance(s.min_points, bool) or not isinstance(s.min_points, int) or s.min_points < 1:
        raise MethodError(f"peak setting 'min_points' must be a positive integer, got {s.min_points!r}",
                          key="min_points")
    _num("fit_r2_min", s.fit_r2_min, lo=0.0, hi=1.0)
    _choice("detect", s.detect, DETECT)
    _num("height_reject", s.height_reject, lo=0.0, allow_none=True)
    _num("reject_noise", s.reject_noise, lo=0.0, hi=1000.0)
    _num("area_reject", s.area_reject, lo=0.0)
    _num("slope_sensitivity", s.slope_sensitivity, lo=0.0)
    return s
