"""Small vector charts (calibration curve, %RE residuals, Levey-Jennings) without matplotlib.

The reports draw these few figures with the same code into SVG (HTML report) and into the PDF
writer, so writing a report never imports matplotlib (its import alone costs more than all
report files together). Notebooks use :mod:`thioquant.plot`, which draws the same content with
matplotlib.

A *canvas* has ``line``, ``polyline``, ``polygon``, ``rect``, ``text`` and ``marker`` methods in
top-left-origin coordinates: :class:`SvgCanvas` collects SVG elements; the PDF side adapts a
:class:`~thioquant.report.pdfdoc.Page` with :class:`PdfCanvas`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np

INK, GRID, TRACE = "#333333", "#e3e7ec", "#1f4e8c"
PASS, FAIL, AMBER = "#2e7d32", "#c62828", "#f9a825"
BAND = "#e8f5e9"


# --- canvases -------------------------------------------------------------------------------


class SvgCanvas:
    """Collects SVG elements; :meth:`svg` returns the ``<svg>`` text."""

    def __init__(self, width: float, height: float, *, cls: str = "chart", label: str = "") -> None:
        self.width, self.height = width, height
        self.cls, self.label = cls, label
        self.parts: list[str] = []

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color: str = INK, width: float = 1.0,
             dash: Sequence[float] | None = None) -> None:
        d = f' stroke-dasharray="{",".join(f"{v:g}" for v in dash)}"' if dash else ""
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
                          f'stroke-width="{width:g}"{d}/>')

    def polyline(self, xs: Any, ys: Any, *, color: str = INK, width: float = 1.0,
                 dash: Sequence[float] | None = None) -> None:
        d = f' stroke-dasharray="{",".join(f"{v:g}" for v in dash)}"' if dash else ""
        self.parts.append(f'<polyline points="{_pts(xs, ys)}" fill="none" stroke="{color}" stroke-width="{width:g}"'
                          f'{d}/>')

    def polygon(self, xs: Any, ys: Any, *, fill: str = INK) -> None:
        self.parts.append(f'<polygon points="{_pts(xs, ys)}" fill="{fill}" stroke="none"/>')

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str | None = None, stroke: str | None = None,
             width: float = 0.5) -> None:
        f = fill or "none"
        s = f' stroke="{stroke}" stroke-width="{width:g}"' if stroke else ""
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{f}"{s}/>')

    def text(self, x: float, y: float, text: str, size: float = 9, *, color: str = INK, align: str = "left",
             bold: bool = False, mono: bool = False) -> None:
        anchor = {"left": "start", "center": "middle", "right": "end"}[align]
        fam = "ui-monospace,Menlo,Consolas,monospace" if mono else "sans-serif"
        b = ' font-weight="bold"' if bold else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" font-family="{fam}" fill="{color}" '
                          f'text-anchor="{anchor}"{b}>{escape(text)}</text>')

    def marker(self, x: float, y: float, kind: str = "o", *, color: str = INK, size: float = 3.0) -> None:
        if kind == "x":
            s = size
            self.parts.append(f'<path d="M{x - s:.1f},{y - s:.1f}L{x + s:.1f},{y + s:.1f}M{x - s:.1f},{y + s:.1f}'
                              f'L{x + s:.1f},{y - s:.1f}" stroke="{color}" stroke-width="2"/>')
        else:
            self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:g}" fill="{color}"/>')

    def svg(self) -> str:
        lab = escape(self.label)
        return (f'<svg class="{self.cls}" viewBox="0 0 {self.width:g} {self.height:g}" '
                f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{lab}"><title>{lab}</title>'
                f'<rect x="0" y="0" width="{self.width:g}" height="{self.height:g}" fill="#fff"/>'
                + "".join(self.parts) + "</svg>")


class PdfCanvas:
    """Adapts a :class:`~thioquant.report.pdfdoc.Page` region to the canvas interface."""

    def __init__(self, page: Any, x0: float = 0.0, y0: float = 0.0, scale: float = 1.0) -> None:
        self.page, self.x0, self.y0, self.k = page, x0, y0, scale

    def _x(self, x: Any) -> Any:
        return self.x0 + np.asarray(x, dtype=float) * self.k

    def _y(self, y: Any) -> Any:
        return self.y0 + np.asarray(y, dtype=float) * self.k

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color: str = INK, width: float = 1.0,
             dash: Sequence[float] | None = None) -> None:
        self.page.line(float(self._x(x1)), float(self._y(y1)), float(self._x(x2)), float(self._y(y2)), color=color,
                       width=width * self.k, dash=[d * self.k for d in dash] if dash else None)

    def polyline(self, xs: Any, ys: Any, *, color: str = INK, width: float = 1.0,
                 dash: Sequence[float] | None = None) -> None:
        self.page.polyline(self._x(xs), self._y(ys), color=color, width=width * self.k,
                           dash=[d * self.k for d in dash] if dash else None)

    def polygon(self, xs: Any, ys: Any, *, fill: str = INK) -> None:
        self.page.polygon(self._x(xs), self._y(ys), fill=fill)

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str | None = None, stroke: str | None = None,
             width: float = 0.5) -> None:
        self.page.rect(float(self._x(x)), float(self._y(y)), w * self.k, h * self.k, fill=fill, stroke=stroke,
                       width=width * self.k)

    def text(self, x: float, y: float, text: str, size: float = 9, *, color: str = INK, align: str = "left",
             bold: bool = False, mono: bool = False) -> None:
        font = "F3" if mono else ("F2" if bold else "F1")
        self.page.text(float(self._x(x)), float(self._y(y)), text, size * self.k, font=font, color=color,
                       align=align)

    def marker(self, x: float, y: float, kind: str = "o", *, color: str = INK, size: float = 3.0) -> None:
        if kind == "x":
            self.line(x - size, y - size, x + size, y + size, color=color, width=2)
            self.line(x - size, y + size, x + size, y - size, color=color, width=2)
        else:
            a = np.linspace(0, 2 * np.pi, 12, endpoint=False)
            self.polygon(x + size * np.cos(a), y + size * np.sin(a), fill=color)


def _pts(xs: Any, ys: Any) -> str:
    flat = np.column_stack([np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)]).ravel().tolist()
    return ("{:.1f},{:.1f} " * (len(flat) // 2)).format(*flat).rstrip()


# --- axes -------------------------------------------------------------------------------------


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    return [round(start + i * step, 12) for i in range(int((hi - start) / step + 1e-9) + 1)]


def tick_label(v: float) -> str:
    """Compact tick text: 0.5, 250, 2k, 1.5M, 1e-05."""
    a = abs(v)
    if a == 0:
        return "0"
    for div, s in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:g}{s}"
    if a < 1e-3:
        return f"{v:.0e}"
    return f"{v:g}"


class Axes:
    """Maps data to a canvas box (x0, y0, x1, y1: left, top, right, bottom) with lin/log scales."""

    def __init__(self, canvas: Any, box: tuple[float, float, float, float], xlim: tuple[float, float],
                 ylim: tuple[float, float], *, xlog: bool = False, ylog: bool = False) -> None:
        self.c, self.box = canvas, box
        self.xlog, self.ylog = xlog, ylog
        self.xlim = self._tr(np.array(xlim, dtype=float), xlog)
        self.ylim = self._tr(np.array(ylim, dtype=float), ylog)
        if self.xlim[1] <= self.xlim[0]:
            self.xlim = np.array([self.xlim[0] - 0.5, self.xlim[0] + 0.5])
        if self.ylim[1] <= self.ylim[0]:
            self.ylim = np.array([self.ylim[0] - 0.5, self.ylim[0] + 0.5])

    @staticmethod
    def _tr(v: np.ndarray, log: bool) -> np.ndarray:
        if not log:
            return v
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(np.where(v > 0, v, np.nan))

    def X(self, x: Any) -> np.ndarray:
        x0, _, x1, _ = self.box
        u = (self._tr(np.asarray(x, dtype=float), self.xlog) - self.xlim[0]) / (self.xlim[1] - self.xlim[0])
        return x0 + u * (x1 - x0)

    def Y(self, y: Any) -> np.ndarray:
        _, y0, _, y1 = self.box
        v = (self._tr(np.asarray(y, dtype=float), self.ylog) - self.ylim[0]) / (self.ylim[1] - self.ylim[0])
        return y1 - np.clip(v, -0.02, 1.02) * (y1 - y0)

    def _ticks(self, lim: np.ndarray, log: bool) -> list[float]:
        if log:
            return [10.0 ** k for k in range(math.ceil(lim[0] - 1e-9), math.floor(lim[1] + 1e-9) + 1)]
        return nice_ticks(float(lim[0]), float(lim[1]))

    def frame(self, xlabel: str = "", ylabel: str = "", *, grid: bool = True) -> None:
        x0, y0, x1, y1 = self.box
        c = self.c
        for t in self._ticks(self.xlim, self.xlog):
            x = float(self.X(t))
            if grid:
                c.line(x, y0, x, y1, color=GRID, width=0.6)
            c.line(x, y1, x, y1 + 3, color=INK, width=0.8)
            c.text(x, y1 + 12, tick_label(t), 8, align="center", color="#444444")
        for t in self._ticks(self.ylim, self.ylog):
            y = float(self.Y(t))
            if grid:
                c.line(x0, y, x1, y, color=GRID, width=0.6)
            c.line(x0 - 3, y, x0, y, color=INK, width=0.8)
            c.text(x0 - 5, y + 3, tick_label(t), 8, align="right", color="#444444")
        c.rect(x0, y0, x1 - x0, y1 - y0, stroke="#777777", width=0.8)
        if xlabel:
            c.text((x0 + x1) / 2, y1 + 25, xlabel, 9, align="center")
        if ylabel:
            c.text(x0 - 5, y0 - 6, ylabel, 9, align="right")


# --- charts -----------------------------------------------------------------------------------


def _padded(lo: float, hi: float, log: bool, frac: float = 0.06) -> tuple[float, float]:
    if log:
        a, b = math.log10(lo), math.log10(hi)
        pad = (b - a) * frac or 0.5
        return 10 ** (a - pad), 10 ** (b + pad)
    pad = (hi - lo) * frac or abs(hi) * 0.1 or 1.0
    return lo - pad, hi + pad


def calibration_chart(canvas: Any, outcome: Any, *, name: str = "", conc_unit: str = "", width: float = 520,
                      height: float = 470) -> None:
    """Calibration curve (top) and %RE residuals (bottom) into ``canvas`` (size ``width`` x ``height``).

    Included calibrators are green dots, excluded ones red crosses; the equation, r^2, model and
    weighting are printed in the plot; the residual panel shades each calibrator's acceptance
    limit.
    """
    from thioquant.model import equation_text

    cal = outcome.calibration
    pts = outcome.points
    x = np.array([p.x for p in pts], dtype=float)
    y = np.array([p.y for p in pts], dtype=float)
    re = np.array([p.accuracy_pct - 100.0 for p in pts], dtype=float)
    lim = np.array([p.limit_pct for p in pts], dtype=float)
    inc = np.array([p.included for p in pts], dtype=bool)
    pos = x[(x > 0) & np.isfinite(x)]
    log = bool(pos.size > 1 and pos.max() / pos.min() > 100)
    grid = np.geomspace(pos.min(), pos.max(), 120) if log else np.linspace(0, np.nanmax(x), 120)
    curve = np.asarray(cal.predict(grid), dtype=float)
    yall = np.concatenate([y[np.isfinite(y)], curve[np.isfinite(curve)]])
    if log:
        yall = yall[yall > 0]
    xl = _padded(float(pos.min()) if log else 0.0, float(np.nanmax(x)), log)
    yl = _padded(float(yall.min()), float(yall.max()), log) if yall.size else (0.0, 1.0)
    c = canvas
    state, col = ("pass", PASS) if outcome.passed else ("FAIL", FAIL)
    c.text(width / 2, 16, f"{name} calibration ({state})" if name else f"calibration ({state})", 12, align="center",
           bold=True, color=col)
    top_h = height * 0.62
    ax = Axes(c, (62, 40, width - 14, top_h), xl, yl, xlog=log, ylog=log)
    ax.frame("", "response")
    ok = np.isfinite(curve) & ((curve > 0) if log else True)
    c.polyline(ax.X(grid[ok]), ax.Y(curve[ok]), color=TRACE, width=1.6)
    for xi, yi, ii in zip(x, y, inc, strict=True):
        if math.isfinite(xi) and math.isfinite(yi) and (not log or (xi > 0 and yi > 0)):
            c.marker(float(ax.X(xi)), float(ax.Y(yi)), "o" if ii else "x", color=PASS if ii else FAIL, size=3.5)
    c.text(70, 56, equation_text(cal.model, cal.coefficients), 9, mono=True)
    c.text(70, 69, f"r\u00b2 = {cal.r2:.5f}", 9, mono=True)
    c.text(70, 82, f"{cal.model}, weighting {cal.weighting}", 9, color="#444444")
    # legend
    lx, ly = width - 150, top_h - 34
    c.marker(lx, ly, "o", color=PASS, size=3.5)
    c.text(lx + 8, ly + 3, "included calibrator", 8)
    c.marker(lx, ly + 13, "x", color=FAIL, size=3.5)
    c.text(lx + 8, ly + 16, "excluded calibrator", 8)
    # residuals
    r_top = top_h + 22
    finite = np.concatenate([np.abs(re[np.isfinite(re)]), lim[np.isfinite(lim)]])
    rmax = 1.25 * float(finite.max()) if finite.size else 25.0
    axr = Axes(c, (62, r_top, width - 14, height - 34), xl, (-rmax, rmax), xlog=log)
    order = np.argsort(x)
    xs, ls = x[order], lim[order]
    if xs.size:
        # step band of the acceptance limits, breaking halfway between neighbours
        edges_u = np.concatenate([[float(ax.X(xl[0]))], (ax.X(xs[:-1]) + ax.X(xs[1:])) / 2,
                                  [float(ax.X(xl[1]))]])
        for i, lv in enumerate(ls):
            if math.isfinite(lv):
                y_hi, y_lo = float(axr.Y(lv)), float(axr.Y(-lv))
                c.rect(float(edges_u[i]), y_hi, float(edges_u[i + 1] - edges_u[i]), y_lo - y_hi, fill=BAND)
    axr.frame(f"concentration ({conc_unit})" if conc_unit else "concentration", "%RE")
    c.line(62, float(axr.Y(0)), width - 14, float(axr.Y(0)), color="#777777", width=0.8)
    for xi, ri, ii, p in zip(x, re, inc, pts, strict=True):
        if math.isfinite(xi) and math.isfinite(ri) and (not log or xi > 0):
            X, Y = float(axr.X(xi)), float(axr.Y(ri))
            c.marker(X, Y, "o" if ii else "x", color=PASS if ii else FAIL, size=3)
            c.text(X + 4, Y - 4, p.level, 7, color="#555555")


def calibration_svg(outcome: Any, *, name: str = "", conc_unit: str = "", width: float = 520,
                    height: float = 470) -> str:
    """:func:`calibration_chart` as an inline ``<svg>``."""
    c = SvgCanvas(width, height, cls="chart calchart", label=f"{name} calibration curve and residuals")
    calibration_chart(c, outcome, name=name, conc_unit=conc_unit, width=width, height=height)
    return c.svg()


def levey_jennings_chart(canvas: Any, data: Mapping[str, Any], *, width: float = 620, height: float = 230) -> None:
    """Levey-Jennings chart of a :meth:`~thioquant.qc.westgard.QCHistory.levey_jennings` dict."""
    vals = np.asarray([v for v in (data.get("value") or []) if v is not None], dtype=float)
    mean, sd = data.get("mean"), data.get("sd")
    have = mean is not None and sd is not None and math.isfinite(mean) and math.isfinite(sd) and sd > 0
    c = canvas
    c.text(10, 16, f"{data.get('analyte', '')} {data.get('level', '')}  (target: {data.get('target_source', '')})",
           11, bold=True)
    n = np.arange(1, vals.size + 1, dtype=float)
    if have:
        lo, hi = mean - 3.6 * sd, mean + 3.6 * sd
        if vals.size:
            lo, hi = min(lo, float(vals.min())), max(hi, float(vals.max()))
    elif vals.size:
        lo, hi = _padded(float(vals.min()), float(vals.max()), False, 0.2)
    else:
        lo, hi = 0.0, 1.0
    ax = Axes(c, (62, 30, width - 40, height - 34), (0.5, max(vals.size, 1) + 0.5), (lo, hi))
    ax.frame("run", "value", grid=False)
    if have:
        for k, col, dash in ((0, "#333333", None), (1, "#9e9e9e", (2, 2)), (2, AMBER, (5, 3)), (3, FAIL, (5, 3))):
            for sgn in ((1,) if k == 0 else (1, -1)):
                yv = float(ax.Y(mean + sgn * k * sd))
                c.line(62, yv, width - 40, yv, color=col, width=1, dash=dash)
                if k:
                    c.text(width - 36, yv + 3, f"{'+' if sgn > 0 else '-'}{k}SD", 7, color=col)
                else:
                    c.text(width - 36, yv + 3, "mean", 7, color=col)
    if vals.size:
        c.polyline(ax.X(n), ax.Y(vals), color="#90a4ae", width=1)
        for xi, v in zip(n, vals, strict=True):
            z = abs((v - mean) / sd) if have else 0.0
            col = FAIL if z > 3 else (AMBER if z > 2 else TRACE)
            c.marker(float(ax.X(xi)), float(ax.Y(v)), "o", color=col, size=3)


def levey_jennings_svg(data: Mapping[str, Any], *, width: float = 620, height: float = 230) -> str:
    """:func:`levey_jennings_chart` as an inline ``<svg>``."""
    c = SvgCanvas(width, height, cls="chart ljchart",
                  label=f"Levey-Jennings {data.get('analyte', '')} {data.get('level', '')}")
    levey_jennings_chart(c, data, width=width, height=height)
    return c.svg()


__all__ = ["Axes", "PdfCanvas", "SvgCanvas", "calibration_chart", "calibration_svg", "levey_jennings_chart",
           "levey_jennings_svg", "nice_ticks", "tick_label"]
