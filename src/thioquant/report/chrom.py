"""Chromatogram panels for the reports: the traces behind every integrated peak, decimated.

Each analyte's trace is cut to a zoom region around its expected retention window and decimated to
a few hundred points (min/max per bucket, so peak apexes survive). When the pipeline ran with
``keep_views=True`` the workers did this while the traces were in memory (:func:`trace_views`);
otherwise the raw files are read again here. The panels are all the HTML and PDF reports need.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.model import Peak

#: Half-width of the zoom region, in multiples of the analyte's retention window half-width.
ZOOM = 3.0


@dataclass(frozen=True, eq=False)
class Panel:
    """One analyte in one injection, ready to draw.

    ``time``/``signal`` are the decimated analyte trace in the zoom region; ``is_time``/``is_signal``
    the internal standard's (empty when the method has none). ``area_time``/``area_signal`` hold the
    trace between the integration limits (for the shaded area). ``error`` says why there is no
    trace (unreadable file, missing channel).
    """

    injection: int
    sample_id: str
    sample_type: str
    file: str
    analyte: str
    trace_name: str
    time: np.ndarray
    signal: np.ndarray
    rt_expected: float
    window_min: float
    peak: Peak | None = None
    is_name: str = ""
    is_time: np.ndarray | None = None
    is_signal: np.ndarray | None = None
    is_peak: Peak | None = None
    area_time: np.ndarray | None = None
    area_signal: np.ndarray | None = None
    signal_unit: str = ""
    error: str = ""

    @property
    def key(self) -> str:
        """A stable HTML id for this panel."""
        return _slug(f"c-{self.injection}-{self.sample_id}-{self.analyte}")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


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


def panels_from_views(views: Any, entry: Any, measurement: Any, method: Any) -> list[Panel]:
    """The panels (one per analyte) of one injection from its :class:`View` records."""
    from thioquant.measurement import searched_rt
    out = []
    peaks = getattr(measurement, "peaks", {}) or {}
    err = getattr(measurement, "error", "") or ""
    empty = np.empty(0)
    for comp in method.analytes:
        base = dict(
            injection=entry.injection, sample_id=entry.sample_id, sample_type=entry.sample_type,
            file=entry.file, analyte=comp.name, rt_expected=searched_rt(comp, peaks), window_min=comp.window_min,
        )
        v = views.get(comp.name) if views else None
        if v is None:
            out.append(Panel(trace_name="", time=empty, signal=empty, error=err or "no trace for this channel",
                             **base))
            continue
        out.append(Panel(trace_name=v.trace_name, time=v.time, signal=v.signal, peak=peaks.get(comp.name),
                         is_name=v.is_name, is_time=v.is_time, is_signal=v.is_signal,
                         is_peak=peaks.get(v.is_name) if v.is_name else None, area_time=v.area_time,
                         area_signal=v.area_signal, signal_unit=v.signal_unit, **base))
    return out


def panels_for_run(
    run: Any, entry: Any, measurement: Any, method: Any, *, n_points: int = 320, zoom: float = ZOOM
) -> list[Panel]:
    """The panels (one per analyte) of one injection whose raw file was read into ``run``.

    ``run`` may be None (file unreadable): the panels then carry ``error`` and no trace.
    """
    views = trace_views(run, getattr(measurement, "peaks", {}), method, n_points=n_points, zoom=zoom)
    return panels_from_views(views, entry, measurement, method)


def _read(path: str) -> Any:
    from thioquant.errors import ThioquantError
    from thioquant.io import read_run

    try:
        return read_run(path)
    except (ThioquantError, OSError):
        return None


def collect_panels(
    batch: Any, *, n_points: int = 320, entries: Iterable[int] | None = None
) -> list[Panel]:
    """Panels for every injection (or the worklist indices in ``entries``) of ``batch``.

    Reads each raw file once; unreadable files give panels with ``error`` set. Unusable rows that
    name a file an earlier row names (``DUPLICATE_FILE``) get no panels of their own. When a file named
    in the worklist does not exist (a pseudonymised batch renames patient files) it is found by
    its SHA-256 among the batch folder's files.
    """
    root = Path(batch.batch_dir)
    all_entries: Sequence[Any] = batch.worklist.entries
    meas: Sequence[Any] = batch.measurements
    idx = range(len(all_entries)) if entries is None else entries
    out: list[Panel] = []
    by_hash: dict[str, Path] | None = None
    drawn: set[str] = set()
    for i in idx:
        e = all_entries[i]
        m = meas[i] if i < len(meas) else None
        if e.file and not e.usable and e.file in drawn:
            # a row whose file an earlier row also names (DUPLICATE_FILE): the same injection,
            # drawn once (10,000 such rows read the file and drew its panels 10,000 times)
            continue
        drawn.add(e.file)
        views = getattr(m, "views", None)
        if views:  # measured with the traces in memory: no need to read the file again
            out.extend(panels_from_views(views, e, m, batch.method))
            continue
        run = None
        if m is None or not m.error:
            path = root / e.file
            if not path.is_file() and m is not None and m.sha256:
                if by_hash is None:
                    by_hash = _hash_index(root, {root / x.file for x in all_entries})
                path = by_hash.get(m.sha256, path)
            run = _read(str(path))
        out.extend(panels_for_run(run, e, m, batch.method, n_points=n_points))
    return out


def _hash_index(root: Path, known: set[Path]) -> dict[str, Path]:
    """sha256 -> path of the files, in the folders the worklist's files live in, that no row names."""
    from thioquant.report.content import sha256_file

    index: dict[str, Path] = {}
    for folder in sorted({p.parent for p in known}):
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if p.is_file() and p not in known and not p.name.startswith("."):
                index[sha256_file(p)] = p
    return index


__all__ = ["Panel", "View", "collect_panels", "decimate", "panels_for_run", "panels_from_views", "trace_views"]
