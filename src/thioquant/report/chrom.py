"""Chromatogram panels for the reports: the traces behind every integrated peak, decimated.

The :class:`~thioquant.pipeline.BatchResult` keeps only the small per-injection peak records, so
the traces are read again here (:func:`thioquant.io.read_run`), cut to a zoom region around each
analyte's expected retention window and decimated to a few hundred points (min/max per bucket,
so peak apexes survive). The panels are all the HTML and PDF reports need to draw a chromatogram.
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


def panels_for_run(
    run: Any, entry: Any, measurement: Any, method: Any, *, n_points: int = 320, zoom: float = ZOOM
) -> list[Panel]:
    """The panels (one per analyte) of one injection whose raw file was read into ``run``.

    ``run`` may be None (file unreadable): the panels then carry ``error`` and no trace.
    """
    from thioquant.pipeline import _trace_for

    out = []
    peaks = getattr(measurement, "peaks", {}) or {}
    err = getattr(measurement, "error", "") or ""
    for comp in method.analytes:
        half = zoom * comp.window_min
        lo, hi = comp.rt_min - half, comp.rt_min + half
        base = dict(
            injection=entry.injection, sample_id=entry.sample_id, sample_type=entry.sample_type,
            file=entry.file, analyte=comp.name, rt_expected=comp.rt_min, window_min=comp.window_min,
        )
        empty = np.empty(0)
        tr = _trace_for(run, comp) if run is not None else None
        if tr is None:
            out.append(Panel(trace_name="", time=empty, signal=empty, error=err or "no trace for this channel",
                             **base))
            continue
        t, y = _zoom(tr.time_min, tr.signal, lo, hi, n_points)
        pk = peaks.get(comp.name)
        at, ay = _area_points(tr.time_min, tr.signal, pk)
        is_name, it, iy, ipk = "", None, None, None
        if comp.internal_standard:
            try:
                is_comp = method.compound(comp.internal_standard)
            except KeyError:
                is_comp = None
            itr = _trace_for(run, is_comp) if is_comp is not None else None
            if itr is not None:
                is_name = comp.internal_standard
                it, iy = _zoom(itr.time_min, itr.signal, lo, hi, n_points)
                ipk = peaks.get(comp.internal_standard)
        out.append(Panel(trace_name=tr.name, time=t, signal=y, peak=pk, is_name=is_name, is_time=it,
                         is_signal=iy, is_peak=ipk, area_time=at, area_signal=ay,
                         signal_unit=tr.signal_unit, **base))
    return out


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

    Reads each raw file once; unreadable files give panels with ``error`` set. When a file named
    in the worklist does not exist (a pseudonymised batch renames patient files) it is found by
    its SHA-256 among the batch folder's files.
    """
    root = Path(batch.batch_dir)
    all_entries: Sequence[Any] = batch.worklist.entries
    meas: Sequence[Any] = batch.measurements
    idx = range(len(all_entries)) if entries is None else entries
    out: list[Panel] = []
    by_hash: dict[str, Path] | None = None
    for i in idx:
        e = all_entries[i]
        m = meas[i] if i < len(meas) else None
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


__all__ = ["Panel", "collect_panels", "decimate", "panels_for_run"]
