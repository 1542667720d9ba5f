"""A patient's 6-TGN, 6-MMPN and dose over time, for the HTML report and the patient PDF page.

Drawn on the report canvases of :mod:`thioquant.report.chart` (SVG and PDF, no matplotlib);
:func:`thioquant.plot.patient_trend` draws the same content with matplotlib for notebooks.
Input: the ``points`` of :func:`thioquant.history.annotate` (earlier released results and the
current sample), each with a date, values per species and the dose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from thioquant.report.chart import (
    AMBER,
    BAND,
    FAIL,
    GRID,
    INK,
    TRACE,
    Axes,
    SvgCanvas,
    nice_ticks,
    tick_label,
)

PANELS = (("6-TGN", "6-TGN"), ("6-MMPN", "6-MMPN"), ("dose", "dose (mg/day)"))


def point_day(p: Mapping[str, Any]) -> float | None:
    """Days since 1970 of a point's collection date (else its release date)."""
    for key in ("collected_at", "released_at"):
        v = p.get(key)
        if v:
            try:
                return datetime.fromisoformat(str(v)).replace(tzinfo=None).timestamp() / 86400.0
            except ValueError:
                continue
    return None


def trend_series(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Arrays for the figure: ``day`` (days, NaN when undated), per species ``value`` (NaN when
    not a number) and ``text``, ``dose``, ``current`` (bool), ``delta`` (bool per species)."""
    days = np.array([point_day(p) if point_day(p) is not None else np.nan for p in points], dtype=float)
    if np.isnan(days).any():  # undated points are placed in order after the dated ones
        known = days[~np.isnan(days)]
        start = (known.max() if known.size else 0.0) + 7.0
        days[np.isnan(days)] = start + 7.0 * np.arange(int(np.isnan(days).sum()))
    out: dict[str, Any] = {"day": days, "current": np.array([bool(p.get("current")) for p in points])}
    for sp in ("6-TGN", "6-MMPN"):
        vals = [((p.get("values") or {}).get(sp) or {}) for p in points]
        out[sp] = np.array([v.get("value") if isinstance(v.get("value"), int | float) else np.nan for v in vals],
                           dtype=float)
        out[sp + ":text"] = [str(v.get("text") or "") for v in vals]
        out[sp + ":delta"] = np.array(["DELTA" in (v.get("flags") or []) for v in vals])
    # a recorded stop without a dose is a dose of 0 from then on (the step would carry the old one)
    out["dose"] = np.array([p.get("dose_mg") if isinstance(p.get("dose_mg"), int | float)
                            else (0.0 if p.get("therapy_event") == "stopped" else np.nan) for p in points],
                           dtype=float)
    return out


def _date_label(day: float) -> str:
    return datetime.fromtimestamp(day * 86400.0).strftime("%Y-%m-%d")


def trend_chart(canvas: Any, points: Sequence[Mapping[str, Any]], ranges: Any = None, *, width: float = 620,
                height: float = 300, title: str = "") -> None:
    """Three stacked panels sharing the date axis: 6-TGN with the target band, 6-MMPN with its
    limit, and the recorded dose. The current sample is drawn larger; a result flagged DELTA in
    red; a result that is not a number (undetectable, <LLOQ) as an open mark on the axis."""
    c = canvas
    s = trend_series(points)
    day = s["day"]
    if title:
        c.text(10, 14, title, 11, bold=True)
    x0, x1 = 92.0, width - 20.0
    lo, hi = (float(day.min()), float(day.max())) if day.size else (0.0, 1.0)
    pad = max((hi - lo) * 0.06, 5.0)
    xlim = (lo - pad, hi + pad)
    top, bottom = 24.0, height - 34.0
    ph = (bottom - top) / 3.0
    for k, (key, label) in enumerate(PANELS):
        y0, y1 = top + k * ph + 4, top + (k + 1) * ph - 6
        vals = s[key]
        finite = vals[np.isfinite(vals)]
        refs: list[float] = []
        if ranges is not None and key == "6-TGN":
            refs = [ranges.tgn_low, ranges.tgn_high]
        elif ranges is not None and key == "6-MMPN":
            refs = [ranges.mmp_high]
        span = [*finite.tolist(), *refs, 0.0]
        ylim = (0.0, max(span) * 1.15 or 1.0)
        ax = Axes(c, (x0, y0, x1, y1), xlim, ylim)
        if key == "6-TGN" and refs:
            c.rect(x0, float(ax.Y(refs[1])), x1 - x0, float(ax.Y(refs[0]) - ax.Y(refs[1])), fill=BAND)
        for r in refs:
            yv = float(ax.Y(r))
            c.line(x0, yv, x1, yv, color=AMBER, width=1, dash=(4, 3))
            c.text(x1 - 2, yv - 2, f"{r:g}", 7, color="#8a6d00", align="right")
        for t in nice_ticks(*ylim, n=3):
            yv = float(ax.Y(t))
            c.line(x0, yv, x1, yv, color=GRID, width=0.5)
            c.text(x0 - 4, yv + 3, tick_label(t), 7, align="right", color="#444444")
        c.rect(x0, y0, x1 - x0, y1 - y0, stroke="#777777", width=0.8)
        c.text(8, (y0 + y1) / 2 + 3, label, 8, bold=True)
        if key == "dose":
            ok = np.isfinite(vals)
            if ok.any():
                xs, ys = ax.X(day[ok]), ax.Y(vals[ok])
                sx = np.repeat(xs, 2)[1:]  # a step: the dose holds until the next recorded one
                sy = np.repeat(ys, 2)[:-1]
                c.polyline(sx, sy, color="#6a1b9a", width=1.2)
                for xv, yv in zip(xs, ys, strict=True):
                    c.marker(float(xv), float(yv), "o", color="#6a1b9a", size=2.5)
            continue
        ok = np.isfinite(vals)
        if ok.sum() > 1:
            c.polyline(ax.X(day[ok]), ax.Y(vals[ok]), color="#90a4ae", width=1)
        for i in range(day.size):
            xv = float(ax.X(day[i]))
            size = 4.0 if s["current"][i] else 3.0
            if ok[i]:
                col = FAIL if s[key + ":delta"][i] else TRACE
                c.marker(xv, float(ax.Y(vals[i])), "o", color=col, size=size)
            elif s[key + ":text"][i]:
                c.marker(xv, y1 - 3, "x", color="#777777", size=2.5)
                c.text(xv + 4, y1 - 5, s[key + ":text"][i], 6.5, color="#777777")
    # shared date axis under the last panel
    ax = Axes(c, (x0, top, x1, bottom), xlim, (0, 1))
    for d in day:
        xv = float(ax.X(d))
        c.line(xv, bottom - 6, xv, bottom - 2, color=INK, width=0.8)
    labels = sorted(set(day.tolist()))
    step = max(1, math.ceil(len(labels) / 6))
    for d in labels[::step]:
        c.text(float(ax.X(d)), bottom + 8, _date_label(d), 7, align="center", color="#444444")


def trend_svg(points: Sequence[Mapping[str, Any]], ranges: Any = None, *, width: float = 620, height: float = 300,
              title: str = "", label: str = "") -> str:
    """:func:`trend_chart` as an inline ``<svg>`` (``label``: its accessible name when the title
    is shown by the page instead)."""
    c = SvgCanvas(width, height, cls="chart trendchart", label=label or title or "patient trend")
    trend_chart(c, points, ranges, width=width, height=height, title=title)
    return c.svg()


__all__ = ["point_day", "trend_chart", "trend_series", "trend_svg"]
