"""Decimated views of the traces behind each integrated peak, made while the trace is in memory.

The worker that integrates an injection keeps, per analyte, the trace cut to a zoom region around
its retention window and decimated to a few hundred points (min/max per bucket, so apexes survive),
the integrated stretch and the internal standard's trace: a few kB per injection. The reports draw
them (:mod:`thioquant.report.chrom`) without reading the raw files again. This sits beside
:mod:`thioquant.measurement`, below the measuring and the reports, so neither reaches into the
other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from thioquant.model import Peak

#: Half-width of the zoom region, in multiples of the analyte's retention window half-width.
ZOOM = 3.0


def decimate(t: np.ndarray, y: np.ndarray, n_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Min/max decimation: at most ``n_points`` points keeping each bucket's extremes in time order.

    Parameters
    ----------
    t, y : 1-D arrays of equal length.
    n_points : target number of points (even; buckets = ``n_points // 2``).

    Returns
    -------
    (t, y) decimated; the input itself when it is already short enough.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    n = t.size
    if n <= n_points or n_points < 4:
        return t, y
    nb = n_points // 2
    edges = np.linspace(0, n, nb + 1).astype(int)
    size = np.diff(edges)
    # Buckets differ in size by at most one sample: gather them into an (nb, kmax) matrix, padding
    # with the bucket's own first sample, and take the extremes row-wise.
    starts = edges[:-1]
    kmax = int(size.max())
    cols = np.arange(kmax)
    gather = starts[:, None] + np.where(cols[None, :] < size[:, None], cols[None, :], 0)
    block = y[gather]
    idx_min = gather[np.arange(nb), np.argmin(np.where(np.isnan(block), np.inf, block), axis=1)]
    idx_max = gather[np.arange(nb), np.argmax(np.where(np.isnan(block), -np.inf, block), axis=1)]
    idx = np.sort(np.concatenate([idx_min, idx_max]))
    idx = idx[np.concatenate([[True], np.diff(idx) > 0])]
    return t[idx], y[idx]


def _zoom(t: np.ndarray, y: np.ndarray, lo: float, hi: float, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    i0, i1 = np.searchsorted(t, [lo, hi])
    i0 = max(int(i0) - 1, 0)
    i1 = min(int(i1) + 1, t.size)
    return decimate(t[i0:i1], y[i0:i1], n_points)


def _area_points(t: np.ndarray, y: np.ndarray, pk: Peak | None, n_max: int = 120) -> tuple[Any, Any]:
    if pk is None or not (math.isfinite(pk.start_min) and math.isfinite(pk.end_min)):
        return None, None
    i0, i1 = np.searchsorted(t, [pk.start_min, pk.end_min])
    i1 = min(int(i1) + 1, t.size)
    ta, ya = t[int(i0):i1], y[int(i0):i1]
    if ta.size > n_max:
        ta, ya = decimate(ta, ya, n_max)
    return ta, ya


@dataclass(frozen=True, eq=False)
class View:
    """The decimated traces behind one analyte's panel, without the worklist details.

    Computed where the trace is already in memory (the worker that integrates the injection), so
    the report need not read the raw file again.
    """

    trace_name: str
    time: np.ndarray
    signal: np.ndarray
    area_time: np.ndarray | None = None
    area_signal: np.ndarray | None = None
    is_name: str = ""
    is_time: np.ndarray | None = None
    is_signal: np.ndarray | None = None
    signal_unit: str = ""


def trace_views(
    run: Any, peaks: Any, method: Any, *, n_points: int = 320, zoom: float = ZOOM
) -> dict[str, View]:
    """Decimated zoom views (analyte trace, integrated area, internal standard) per analyte."""
    from thioquant.measurement import searched_rt
    from thioquant.measurement import trace_for as _trace_for

    out: dict[str, View] = {}
    peaks = peaks or {}
    for comp in method.analytes:
        half = zoom * comp.window_min
        rt = searched_rt(comp, peaks)
        lo, hi = rt - half, rt + half
        tr = _trace_for(run, comp) if run is not None else None
        if tr is None:
            continue
        t, y = _zoom(tr.time_min, tr.signal, lo, hi, n_points)
        at, ay = _area_points(tr.time_min, tr.signal, peaks.get(comp.name))
        is_name, it, iy = "", None, None
        if comp.internal_standard:
            try:
                is_comp = method.compound(comp.internal_standard)
            except KeyError:
                is_comp = None
            itr = _trace_for(run, is_comp) if is_comp is not None else None
            if itr is not None:
                is_name = comp.internal_standard
                it, iy = _zoom(itr.time_min, itr.signal, lo, hi, n_points)
        out[comp.name] = View(tr.name, *map(_compact, (t, y, at, ay)), is_name, _compact(it), _compact(iy),
                              tr.signal_unit)
    return out


def _compact(a: np.ndarray | None) -> np.ndarray | None:
    """A float32 copy: half the memory of a batch's views (they are only drawn, at a few hundred
    pixels), and never a slice that would keep the whole trace alive."""
    return None if a is None else np.array(a, dtype=np.float32)


__all__ = ["View", "ZOOM", "decimate", "trace_views"]
