"""Chromatogram panels for the reports: the traces behind every integrated peak, decimated.

Each analyte's trace is cut to a zoom region around its expected retention window and decimated to
a few hundred points (min/max per bucket, so peak apexes survive). When the pipeline ran with
``keep_views=True`` the workers did this while the traces were in memory (:func:`thioquant.views.trace_views`);
otherwise the raw files are read again here. The panels are all the HTML and PDF reports need.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.model import Peak
from thioquant.views import ZOOM, trace_views


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


def panels_from_views(views: Any, entry: Any, measurement: Any, method: Any) -> list[Panel]:
    """The panels (one per analyte) of one injection from its :class:`thioquant.views.View` records."""
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


__all__ = ["Panel", "collect_panels", "panels_for_run", "panels_from_views"]
