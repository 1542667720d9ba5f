"""Fast inline SVG chromatograms (numpy + string formatting, no matplotlib).

One :func:`chromatogram_svg` call per panel costs well under a millisecond, so a report can show
every injection. The SVG uses a fixed ``viewBox``; CSS decides the displayed size, so the same
markup serves as thumbnail and as the enlarged view.

:func:`panel_geometry` computes what to draw in unit coordinates (u: 0 left to 1 right, v: 0
bottom to 1 top); the PDF report draws the same geometry.

Why not matplotlib's SVG backend (measured 2026-12-04 with benchmarks/bench_deps.py,
docs/dependencies.md): the same panels drawn with matplotlib Figures took 1.96 s against 0.016 s
for the bundled batch's 84, and about 52 s against 0.35 s for the 1,920 of a 960-injection report,
plus 1.2 s to import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from typing import Any

import numpy as np

W, H = 320.0, 160.0
#: Plot area inside the viewBox: left, top, right, bottom.
BOX = (36.0, 17.0, 314.0, 140.0)

COLORS = {
    "trace": "#1f4e8c",
    "is": "#d0731d",
    "area": "#9cc8ec",
    "baseline": "#c62828",
    "window": "#fff3c4",
    "apex": "#2e7d32",
}


@dataclass
class Geometry:
    """A panel's drawing in unit coordinates (u right, v up, both 0..1 inside the plot area)."""

    trace: tuple[np.ndarray, np.ndarray] | None = None
    internal_standard: tuple[np.ndarray, np.ndarray] | None = None
    area: tuple[np.ndarray, np.ndarray] | None = None  # closed polygon
    baseline: tuple[float, float, float, float] | None = None  # u0, v0, u1, v1
    window: tuple[float, float] | None = None  # u0, u1
    expected: float | None = None  # u of the expected RT
    apex: float | None = None  # u of the apex
    labels: dict[str, str] = field(default_factory=dict)


def _num(v: float) -> str:
    """Compact axis label: 3 significant digits with k/M/G suffixes."""
    if not math.isfinite(v):
        return ""
    a = abs(v)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.3g}{suffix}"
    if a != 0 and a < 1e-2:
        return f"{v:.1e}"
    return f"{v:.3g}"


#: panels whose geometry is kept: the report writer draws each panel in report.html and report.pdf
#: one right after the other (:func:`thioquant.report.pdf.iter_report`), so a few rows' worth is
#: enough; a cache of every panel held 7 kB a panel until the reports were written
GEOMETRY_CACHE = 64


@lru_cache(maxsize=GEOMETRY_CACHE)
def panel_geometry(panel: Any) -> Geometry:
    """What to draw for one :class:`~thioquant.report.chrom.Panel`, in unit coordinates.

    The y range covers the trace and the baseline ends; the internal standard is scaled to
    three quarters of that height. Results are cached per panel object for the last
    :data:`GEOMETRY_CACHE` panels (treat them as read-only).
    Labels: ``title``, ``info`` (RT, area, flags), ``tmin``,
    ``tmax``, ``ylo``, ``yhi``, ``is`` and ``error``.
    """
    g = Geometry()
    g.labels["title"] = f"{panel.analyte} \u2013 {panel.sample_id}"
    t, y = panel.time, panel.signal
    if t is None or t.size < 2:
        g.labels["error"] = panel.error or "no trace"
        return g
    tmin, tmax = float(t[0]), float(t[-1])
    if tmax <= tmin:
        tmax = tmin + 1.0
    finite = y[np.isfinite(y)]
    ylo = float(finite.min()) if finite.size else 0.0
    yhi = float(finite.max()) if finite.size else 1.0
    pk = panel.peak
    if pk is not None:
        for b in (pk.baseline_start, pk.baseline_end):
            if math.isfinite(b):
                ylo, yhi = min(ylo, b), max(yhi, b)
    span = (yhi - ylo) or 1.0
    ylo -= 0.04 * span
    yhi += 0.06 * span

    def u(v: Any) -> Any:
        return (np.asarray(v, dtype=float) - tmin) / (tmax - tmin)

    def v_(s: Any) -> Any:
        return (np.clip(np.asarray(s, dtype=float), ylo, yhi) - ylo) / (yhi - ylo)

    wa = max(panel.rt_expected - panel.window_min, tmin)
    wb = min(panel.rt_expected + panel.window_min, tmax)
    if wb > wa:
        g.window = (float(u(wa)), float(u(wb)))
        if tmin <= panel.rt_expected <= tmax:
            g.expected = float(u(panel.rt_expected))
    if pk is not None and panel.area_time is not None and panel.area_time.size >= 2:
        at, ay = panel.area_time, panel.area_signal
        bs = pk.baseline_start if math.isfinite(pk.baseline_start) else float(ay[0])
        be = pk.baseline_end if math.isfinite(pk.baseline_end) else float(ay[-1])
        ts, te = pk.start_min, pk.end_min
        g.area = (np.concatenate([u(at), u([te, ts])]), np.concatenate([v_(ay), v_([be, bs])]))
        g.baseline = (float(u(ts)), float(v_(bs)), float(u(te)), float(v_(be)))
    if panel.is_time is not None and panel.is_signal is not None and panel.is_time.size >= 2:
        iy = panel.is_signal
        fin = iy[np.isfinite(iy)]
        if fin.size:
            lo_i, hi_i = float(fin.min()), float(fin.max())
            iv = 0.04 + 0.75 * (iy - lo_i) / ((hi_i - lo_i) or 1.0)
            keep = (panel.is_time >= tmin) & (panel.is_time <= tmax)
            g.internal_standard = (u(panel.is_time[keep]), np.clip(iv[keep], 0, 1))
            g.labels["is"] = f"IS {panel.is_name} (scaled)"
    g.trace = (u(t), v_(y))
    if pk is not None and math.isfinite(pk.rt_min) and tmin <= pk.rt_min <= tmax:
        g.apex = float(u(pk.rt_min))
    info = []
    if pk is not None:
        info.append(f"RT {pk.rt_min:.3f}")
        info.append(f"area {_num(pk.area)}")
        if pk.flags:
            info.append(",".join(pk.flags))
    else:
        info.append("not detected")
    g.labels.update(info=" | ".join(info), tmin=f"{tmin:.2f}", tmax=f"{tmax:.2f} min", ylo=_num(ylo),
                    yhi=_num(yhi))
    # cached until both reports have drawn the panel: unit coordinates need no more than float32
    # (a millionth of the plot width)
    for name in ("trace", "internal_standard", "area"):
        xy = getattr(g, name)
        if xy is not None:
            setattr(g, name, (xy[0].astype(np.float32), xy[1].astype(np.float32)))
    return g


def _pts(x: np.ndarray, y: np.ndarray) -> str:
    """``x1,y1 x2,y2 ...`` in tenths of a unit, as integers, for an element drawn with ``_TENTHS``.

    One decimal is enough for a 320-unit viewBox; integers format twice as fast as floats, and a
    report has three of these lists per chromatogram.
    """
    if x.size == 0:
        return ""
    flat = np.rint(np.column_stack([x, y]) * 10).astype(np.int64).ravel().tolist()
    return ("{},{} " * x.size).format(*flat).rstrip()


#: the attribute that draws ``_pts`` coordinates (and stroke widths, dashes) at a tenth of their size
_TENTHS = 'transform="scale(0.1)"'


def chromatogram_svg(panel: Any, *, title: str | None = None) -> str:
    """An SVG chromatogram of one :class:`~thioquant.report.chrom.Panel`.

    Draws the expected retention window (shaded band), the analyte trace, the integrated area
    (filled between trace and baseline), the baseline, the apex and, dashed and scaled, the
    internal standard.

    Parameters
    ----------
    panel : Panel
    title : text in the top-left corner (default: ``"<analyte> - <sample_id>"``).

    Returns
    -------
    str : an ``<svg>`` element (no XML declaration), ready to inline in HTML.
    """
    x0, y0, x1, y1 = BOX
    g = panel_geometry(panel)
    label = escape(title if title is not None else g.labels["title"])

    def X(uu: Any) -> Any:
        return x0 + np.asarray(uu) * (x1 - x0)

    def Y(vv: Any) -> Any:
        return y1 - np.asarray(vv) * (y1 - y0)

    parts = [
        f'<svg class="chrom" viewBox="0 0 {W:g} {H:g}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'data-sample="{escape(panel.sample_id)}" data-analyte="{escape(panel.analyte)}" '
        f'data-injection="{panel.injection}">'
        f"<title>{label}</title>"
        f'<rect x="0" y="0" width="{W:g}" height="{H:g}" fill="#fff"/>'
    ]
    head = (f'<text x="{x0:g}" y="12" font-size="11" font-weight="bold" font-family="sans-serif" '
            f'fill="#222">{label}</text>')
    if g.trace is None:
        msg = escape(g.labels.get("error", "no trace"))
        parts.append(head + f'<text x="{W / 2:g}" y="{H / 2:g}" font-size="11" text-anchor="middle" '
                     f'font-family="sans-serif" fill="#c62828">{msg}</text></svg>')
        return "".join(parts)
    if g.window is not None:
        a, b = float(X(g.window[0])), float(X(g.window[1]))
        parts.append(f'<rect class="rtwin" x="{a:.1f}" y="{y0:g}" width="{b - a:.1f}" height="{y1 - y0:g}" '
                     f'fill="{COLORS["window"]}"/>')
    if g.expected is not None:
        e = float(X(g.expected))
        parts.append(f'<line x1="{e:.1f}" y1="{y0:g}" x2="{e:.1f}" y2="{y1:g}" stroke="#e0b800" '
                     f'stroke-width="0.8" stroke-dasharray="2,2"/>')
    if g.area is not None:
        parts.append(f'<polygon class="area" {_TENTHS} points="{_pts(X(g.area[0]), Y(g.area[1]))}" '
                     f'fill="{COLORS["area"]}" fill-opacity="0.8" stroke="none"/>')
    if g.baseline is not None:
        ua, va, ub, vb = g.baseline
        parts.append(f'<line class="baseline" x1="{float(X(ua)):.1f}" y1="{float(Y(va)):.1f}" '
                     f'x2="{float(X(ub)):.1f}" y2="{float(Y(vb)):.1f}" stroke="{COLORS["baseline"]}" '
                     f'stroke-width="1.2"/>')
    if g.internal_standard is not None:
        parts.append(f'<polyline class="is" {_TENTHS} '
                     f'points="{_pts(X(g.internal_standard[0]), Y(g.internal_standard[1]))}" '
                     f'fill="none" stroke="{COLORS["is"]}" stroke-width="9" stroke-dasharray="30,20"/>')
    parts.append(f'<polyline class="trace" {_TENTHS} points="{_pts(X(g.trace[0]), Y(g.trace[1]))}" fill="none" '
                 f'stroke="{COLORS["trace"]}" stroke-width="11" stroke-linejoin="round"/>')
    if g.apex is not None:
        a = float(X(g.apex))
        parts.append(f'<line class="apex" x1="{a:.1f}" y1="{y0:g}" x2="{a:.1f}" y2="{y0 + 6:g}" '
                     f'stroke="{COLORS["apex"]}" stroke-width="1.5"/>')
    parts.append(f'<path d="M{x0:g},{y0:g}V{y1:g}H{x1:g}" fill="none" stroke="#555" stroke-width="0.8"/>')
    font = 'font-family="sans-serif" font-size="10" fill="#444"'
    lb = {k: escape(v) for k, v in g.labels.items()}
    parts.append(f'<text x="{x0:g}" y="{y1 + 12:g}" {font}>{lb["tmin"]}</text>')
    parts.append(f'<text x="{x1:g}" y="{y1 + 12:g}" text-anchor="end" {font}>{lb["tmax"]}</text>')
    parts.append(f'<text x="{x0 - 2:g}" y="{y0 + 8:g}" text-anchor="end" {font}>{lb["yhi"]}</text>')
    parts.append(f'<text x="{x0 - 2:g}" y="{y1:g}" text-anchor="end" {font}>{lb["ylo"]}</text>')
    parts.append(f'<text x="{x1:g}" y="12" text-anchor="end" {font}>{lb["info"]}</text>')
    if "is" in lb:
        parts.append(f'<text x="{x1 - 2:g}" y="{y0 + 10:g}" text-anchor="end" font-family="sans-serif" '
                     f'font-size="9" fill="{COLORS["is"]}">{lb["is"]}</text>')
    parts.append(head)
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["COLORS", "Geometry", "chromatogram_svg", "panel_geometry"]
