"""Retention-time tracking across a sequence of injections (:func:`track_targets`).

A fixed retention window fails when a peak moves further than the window over a sequence: a
column that ages or warms, or a peak whose apex moves with the amount injected (column
overload, where a tailing peak's apex comes earlier as the concentration rises). Chromatography
data systems handle this by updating the expected retention time from the previous injection
(Chromeleon's "Use Recently Detected Retention Times"); this module
does the same on top of :func:`~thioquant.peaks.find_target`, and keeps two targets from
claiming the same peak.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from thioquant.errors import MethodError
from thioquant.model import Peak, Trace
from thioquant.peaks.api import _finite, find_target

UPDATES = ("previous", "none")


@dataclass(frozen=True)
class Tracked:
    """Result of :func:`track_targets`.

    Attributes
    ----------
    peaks : dict
        Target name -> one ``Peak`` (or None) per injection, in injection order.
    expected : dict
        Target name -> the expected retention time (minutes) used for each injection.
    """

    peaks: dict[str, list[Peak | None]]
    expected: dict[str, list[float]]


def _half_gap(name: str, rt: float, expected: Mapping[str, float]) -> float:
    """Distance from ``rt`` to the midpoint towards the nearest other target (inf if none)."""
    d = math.inf
    for other, ort in expected.items():
        if other != name and abs(ort - rt) > 1e-9:
            d = min(d, abs(ort - rt) / 2.0)
    return d


def _nearer_other(name: str, rt: float, apex: float, expected: Mapping[str, float]) -> bool:
    """Whether ``apex`` is nearer another target's expected retention time than ``rt``."""
    own = abs(apex - rt)
    return any(o != name and abs(ort - rt) > 1e-9 and abs(apex - ort) < own
               for o, ort in expected.items())


def track_targets(
    traces: Sequence[Trace | None],
    targets: Mapping[str, float],
    window_min: float | Mapping[str, float],
    *,
    update: str = "previous",
    per_target: Mapping[str, Mapping[str, Any]] | None = None,
    **settings: Any,
) -> Tracked:
    """Find several targets in each injection of a sequence, following their retention times.

    Parameters
    ----------
    traces : sequence of Trace or None
        One trace per injection, **in injection order** (the order matters: the expected
        retention time of an injection is taken from the injection before it). None for an
        injection without the trace: its peaks are None and the expected times carry over.
    targets : mapping
        Target name -> expected retention time of the method (minutes), the starting point.
    window_min : float or mapping
        Half-width of the search window (minutes), one for all targets or per target name.
    update : {"previous", "none"}
        ``"previous"`` (default): after an injection in which a target was found, its expected
        retention time becomes the apex found there; an injection without the peak keeps the
        last value. ``"none"``: always the method's retention time.
    per_target : mapping, optional
        Target name -> settings for that target only, over ``settings`` (a processing method's
        component-specific parameters: an exponential skim for the analyte with a rider on its
        tail, valley-to-valley for the others, say).
    **settings
        Passed to :func:`~thioquant.peaks.find_target` (``select``, ``sn_min``, ``fused``, ...).

    Returns
    -------
    Tracked
        Peaks and the expected retention times used, per target and injection.

    Notes
    -----
    Each target's window is searched as by :func:`find_target`. If the peak returned lies
    beyond the midpoint between this target's expected retention time and a neighbouring
    target's (so it is nearer that neighbour), the search is repeated with the half-width cut
    to that midpoint, and None is returned when nothing qualifies there: a peak is never taken
    by a target it is further from than another target is.

    Raises
    ------
    MethodError
        For an unknown ``update``, a bad retention time or window, ``rrt``/``reference_rt``
        (relative retention is not tracked), or a bad peak setting.
    """
    if update not in UPDATES:
        raise MethodError(f"'update' must be one of {', '.join(UPDATES)}; got {update!r}",
                          key="update")
    if not targets:
        raise MethodError("track_targets needs at least one target", key="targets")
    per_target = {str(k): dict(v) for k, v in (per_target or {}).items()}
    unknown = sorted(set(per_target) - {str(n) for n in targets})
    if unknown:
        raise MethodError(f"per_target names unknown target(s) {', '.join(unknown)}", key="per_target")
    for key in ("rrt", "reference_rt"):
        if key in settings or any(key in v for v in per_target.values()):
            raise MethodError(f"track_targets follows absolute retention times; '{key}' "
                              "(relative retention) is for find_target", key=key)
    method_rt: dict[str, float] = {}
    for n, rt in targets.items():
        try:
            method_rt[str(n)] = _finite("rt_min", rt)
        except MethodError as exc:
            raise MethodError(f"target {n!r}: {exc}", key="targets") from None
    if isinstance(window_min, Mapping):
        missing = sorted(set(method_rt) - {str(k) for k in window_min})
        if missing:
            raise MethodError(f"no window_min for target(s) {', '.join(missing)}",
                              key="window_min")
        win = {str(n): _finite("window_min", w, positive=True) for n, w in window_min.items()}
    else:
        w = _finite("window_min", window_min, positive=True)
        win = dict.fromkeys(method_rt, w)
    expected = dict(method_rt)
    opts = {n: {**settings, **per_target.get(n, {})} for n in method_rt}
    peaks: dict[str, list[Peak | None]] = {n: [] for n in method_rt}
    used: dict[str, list[float]] = {n: [] for n in method_rt}
    for trace in traces:
        found: dict[str, float] = {}
        for name, rt in expected.items():
            used[name].append(rt)
            if trace is None:
                peaks[name].append(None)
                continue
            pk = find_target(trace, rt, win[name], **opts[name])
            if pk is not None and _nearer_other(name, rt, pk.rt_min, expected):
                pk = find_target(trace, rt, min(win[name], _half_gap(name, rt, expected)),
                                 **opts[name])
                if pk is not None and _nearer_other(name, rt, pk.rt_min, expected):
                    pk = None
            peaks[name].append(pk)
            if pk is not None:
                found[name] = pk.rt_min
        if update == "previous":
            expected.update(found)
    return Tracked(peaks, used)
