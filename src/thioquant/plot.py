"""Plot functions for notebooks and reports; each returns a :class:`matplotlib.figure.Figure`.

matplotlib is imported inside the functions (with the Agg backend unless one is already chosen),
so ``import thioquant.plot`` stays cheap. Every function accepts ``ax=`` to draw into an existing
Axes; the returned figure is then that Axes' figure.

Functions
---------
chromatogram : a trace (or a report panel) with the integrated area, baseline, expected window
    and an internal-standard overlay.
calibration : a calibration curve with its points, excluded calibrators, equation and r^2.
residuals : the %RE (relative error of back-calculated concentrations) of each calibrator.
calibration_report : calibration curve and residual plot stacked, as in the report.
levey_jennings : a Levey-Jennings chart from :meth:`thioquant.qc.westgard.QCHistory.levey_jennings`.
pathway : the thiopurine metabolic pathway.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

_STYLE = {
    "trace": "#1f4e8c",
    "is": "#d0731d",
    "area": "#4f9bd9",
    "baseline": "#c62828",
    "window": "#fff3c4",
    "fail": "#c62828",
    "pass": "#2e7d32",
}


def _figure(ax: Any, size: tuple[float, float]) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    fig.subplots_adjust(left=0.14, right=0.95, bottom=0.16, top=0.9)
    return fig, fig.add_subplot()


def _new_figure(size: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=size)


def _quiet_log(ax: Any, axis: str = "both") -> None:
    """Log axes without minor tick labels (they dominate drawing time and clutter small plots)."""
    from matplotlib.ticker import NullFormatter

    if axis in ("x", "both"):
        ax.xaxis.set_minor_formatter(NullFormatter())
    if axis in ("y", "both"):
        ax.yaxis.set_minor_formatter(NullFormatter())


# --- chromatogram ---------------------------------------------------------------------------


def chromatogram(
    trace: Any,
    peak: Any = None,
    *,
    internal_standard: Any = None,
    is_peak: Any = None,
    rt_expected: float | None = None,
    window_min: float | None = None,
    xlim: tuple[float, float] | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Draw a chromatogram with its integration.

    Parameters
    ----------
    trace : :class:`~thioquant.model.Trace` or :class:`~thioquant.report.chrom.Panel`.
        A Panel carries its peak, internal standard and expected window, so the other
        arguments are then optional.
    peak : :class:`~thioquant.model.Peak`, optional. Its area (between trace and baseline from
        ``start_min`` to ``end_min``) is shaded and its baseline drawn.
    internal_standard : Trace, optional. Drawn dashed on a secondary y axis.
    is_peak : Peak, optional. The internal standard's integration (apex marked).
    rt_expected, window_min : expected retention time and half-width of its window (minutes).
    xlim : time range to show (default: the whole trace).
    title : axes title.
    ax : Axes to draw into (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _figure(ax, (6.0, 3.2))
    from thioquant.report.chrom import Panel

    if isinstance(trace, Panel):
        p = trace
        t, y = p.time, p.signal
        peak = peak if peak is not None else p.peak
        is_t, is_y = p.is_time, p.is_signal
        is_peak = is_peak if is_peak is not None else p.is_peak
        rt_expected = rt_expected if rt_expected is not None else p.rt_expected
        window_min = window_min if window_min is not None else p.window_min
        label, is_label, unit = p.trace_name or p.analyte, p.is_name, p.signal_unit
        area_t, area_y = p.area_time, p.area_signal
        title = title if title is not None else f"{p.analyte} \u2013 {p.sample_id}"
    else:
        t, y = np.asarray(trace.time_min), np.asarray(trace.signal)
        label, unit = trace.name, getattr(trace, "signal_unit", "")
        is_t = is_y = None
        is_label = ""
        if internal_standard is not None:
            is_t, is_y = np.asarray(internal_standard.time_min), np.asarray(internal_standard.signal)
            is_label = internal_standard.name
        area_t = area_y = None
        if peak is not None and math.isfinite(peak.start_min):
            sel = (t >= peak.start_min) & (t <= peak.end_min)
            area_t, area_y = t[sel], y[sel]
    if rt_expected is not None and window_min is not None and math.isfinite(rt_expected):
        ax.axvspan(rt_expected - window_min, rt_expected + window_min, color=_STYLE["window"], zorder=0,
                   label="expected RT window")
        ax.axvline(rt_expected, color="#e0b800", lw=0.8, ls=":", zorder=0)
    ax.plot(t, y, color=_STYLE["trace"], lw=1.0, label=label)
    if peak is not None and area_t is not None and len(area_t) >= 2:
        bs = peak.baseline_start if math.isfinite(peak.baseline_start) else float(area_y[0])
        be = peak.baseline_end if math.isfinite(peak.baseline_end) else float(area_y[-1])
        span = (peak.end_min - peak.start_min) or 1.0
        base = bs + (be - bs) * (np.asarray(area_t) - peak.start_min) / span
        ax.fill_between(area_t, base, area_y, color=_STYLE["area"], alpha=0.45, lw=0,
                        label=f"area {peak.area:.4g}")
        ax.plot([peak.start_min, peak.end_min], [bs, be], color=_STYLE["baseline"], lw=1.2, label="baseline")
        ax.axvline(peak.rt_min, color="#2e7d32", lw=0.8, ymin=0.93)
    if is_t is not None and is_y is not None and len(is_t):
        ax2 = ax.twinx()
        ax2.plot(is_t, is_y, color=_STYLE["is"], lw=0.9, ls="--", label=f"IS {is_label}")
        ax2.set_ylabel(f"IS {is_label}", color=_STYLE["is"], fontsize=8)
        ax2.tick_params(axis="y", labelsize=7, colors=_STYLE["is"])
        if is_peak is not None and math.isfinite(is_peak.rt_min):
            ax2.axvline(is_peak.rt_min, color=_STYLE["is"], lw=0.6, ls=":")
    if xlim is not None:
        ax.set_xlim(*xlim)
    elif len(t):
        ax.set_xlim(float(t[0]), float(t[-1]))
    ax.set_xlabel("time (min)")
    ax.set_ylabel(unit or "signal")
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


# --- calibration ----------------------------------------------------------------------------


def equation(calibration: Any, digits: int = 4) -> str:
    """The fitted curve as text, e.g. ``y = 0.0123 x + 0.0004``."""
    from thioquant.model import equation_text

    return equation_text(calibration.model, calibration.coefficients, digits)


def _points(outcome: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    pts = outcome.points
    x = np.array([p.x for p in pts], dtype=float)
    y = np.array([p.y for p in pts], dtype=float)
    re = np.array([p.accuracy_pct - 100.0 for p in pts], dtype=float)
    inc = np.array([p.included for p in pts], dtype=bool)
    return x, y, re, inc, [p.level for p in pts]


def calibration(
    outcome: Any, *, name: str = "", conc_unit: str = "", log: bool | None = None, ax: Any = None
) -> Any:
    """Calibration curve: included calibrators (dots), excluded ones (red crosses), the fit.

    Parameters
    ----------
    outcome : :class:`~thioquant.calibration.CalibrationOutcome`
    name : analyte name for the title.
    conc_unit : unit of the x axis.
    log : log-log axes (default: when the calibrators span more than two decades).
    ax : Axes to draw into.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _figure(ax, (5.0, 3.6))
    cal = outcome.calibration
    x, y, _, inc, _levels = _points(outcome)
    pos = x[x > 0]
    if log is None:
        log = pos.size > 1 and pos.max() / pos.min() > 100
    lo = pos.min() if pos.size else 0.0
    hi = x.max() if x.size else 1.0
    grid = np.geomspace(lo, hi, 200) if log and lo > 0 else np.linspace(0, hi, 200)
    ax.plot(grid, np.asarray(cal.predict(grid)), color=_STYLE["trace"], lw=1.2,
            label=f"{cal.model}, weight {cal.weighting}")
    ax.plot(x[inc], y[inc], "o", color=_STYLE["pass"], ms=5, label="calibrators")
    if (~inc).any():
        ax.plot(x[~inc], y[~inc], "x", color=_STYLE["fail"], ms=8, mew=2, label="excluded")
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
        _quiet_log(ax)
    ax.set_xlabel(f"concentration ({conc_unit})" if conc_unit else "concentration")
    ax.set_ylabel("response")
    state = "pass" if outcome.passed else "FAIL"
    ax.set_title(f"{name} calibration ({state})" if name else f"calibration ({state})", fontsize=10,
                 color=_STYLE["pass"] if outcome.passed else _STYLE["fail"])
    ax.text(0.02, 0.98, f"{equation(cal)}\nr\u00b2 = {cal.r2:.5f}", transform=ax.transAxes, va="top",
            fontsize=8, family="monospace")
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    return fig


def residuals(outcome: Any, *, name: str = "", conc_unit: str = "", ax: Any = None) -> Any:
    """Relative error (%RE) of each calibrator's back-calculated concentration.

    The acceptance limits of each point (usually +/-15 %, +/-20 % at the LLOQ) are drawn as a
    band; excluded calibrators are red crosses.
    """
    fig, ax = _figure(ax, (5.0, 2.2))
    x, _, re, inc, levels = _points(outcome)
    lim = np.array([p.limit_pct for p in outcome.points], dtype=float)
    order = np.argsort(x)
    ax.axhline(0, color="#555", lw=0.8)
    if x.size:
        ax.fill_between(x[order], -lim[order], lim[order], step="mid", color="#e8f5e9", zorder=0,
                        label="limits")
    ax.plot(x[inc], re[inc], "o", color=_STYLE["pass"], ms=5)
    if (~inc).any():
        ax.plot(x[~inc], re[~inc], "x", color=_STYLE["fail"], ms=8, mew=2)
    pos = x[x > 0]
    if pos.size > 1 and pos.max() / pos.min() > 100:
        ax.set_xscale("log")
        _quiet_log(ax, "x")
    for xi, ri, lv in zip(x, re, levels, strict=True):
        if math.isfinite(ri):
            ax.annotate(lv, (xi, ri), textcoords="offset points", xytext=(3, 3), fontsize=6, color="#555")
    top = np.nanmax(np.abs(np.concatenate([re[np.isfinite(re)], lim]))) if x.size else 20.0
    ax.set_ylim(-1.2 * top, 1.2 * top)
    ax.set_ylabel("%RE")
    ax.set_xlabel(f"concentration ({conc_unit})" if conc_unit else "concentration")
    if name:
        ax.set_title(f"{name} residuals", fontsize=9)
    return fig


def calibration_report(outcome: Any, *, name: str = "", conc_unit: str = "", fig: Any = None) -> Any:
    """Calibration curve above its %RE residual plot (the report's calibration figure)."""
    if fig is None:
        fig = _new_figure((5.2, 5.0))
        fig.subplots_adjust(left=0.14, right=0.96, bottom=0.09, top=0.94, hspace=0.38)
    ax1, ax2 = fig.subplots(2, 1, height_ratios=[2.2, 1.0])
    calibration(outcome, name=name, conc_unit=conc_unit, ax=ax1)
    residuals(outcome, conc_unit=conc_unit, ax=ax2)
    return fig


# --- Levey-Jennings ---------------------------------------------------------------------------


def levey_jennings(data: Mapping[str, Any], *, title: str | None = None, ax: Any = None) -> Any:
    """Levey-Jennings chart: QC values in run order against mean and +/-1, 2, 3 SD lines.

    Parameters
    ----------
    data : dict from :meth:`thioquant.qc.westgard.QCHistory.levey_jennings` (keys ``value``,
        ``run_id``, ``mean``, ``sd``, ``lines``, ``analyte``, ``level``).
    title : axes title (default: ``"<analyte> <level>"``).
    ax : Axes to draw into.
    """
    fig, ax = _figure(ax, (6.0, 2.6))
    vals = np.asarray(data.get("value") or [], dtype=float)
    n = np.arange(1, vals.size + 1)
    mean, sd = data.get("mean"), data.get("sd")
    if mean is not None and sd is not None and math.isfinite(mean) and math.isfinite(sd) and sd > 0:
        for k, col, ls in ((0, "#333", "-"), (1, "#9e9e9e", ":"), (2, "#f9a825", "--"), (3, "#c62828", "--")):
            for sgn in ((1,) if k == 0 else (1, -1)):
                ax.axhline(mean + sgn * k * sd, color=col, lw=0.9, ls=ls)
            if k:
                ax.text(1.01, (mean + k * sd), f"+{k}SD", transform=ax.get_yaxis_transform(), fontsize=6,
                        va="center", color=col)
                ax.text(1.01, (mean - k * sd), f"-{k}SD", transform=ax.get_yaxis_transform(), fontsize=6,
                        va="center", color=col)
        z = np.abs((vals - mean) / sd)
        colors = np.where(z > 3, _STYLE["fail"], np.where(z > 2, "#f9a825", _STYLE["trace"]))
    else:
        colors = np.full(vals.size, _STYLE["trace"])
    ax.plot(n, vals, color="#90a4ae", lw=0.8, zorder=1)
    ax.scatter(n, vals, c=list(colors), s=14, zorder=2)
    ax.set_xlabel("run")
    ax.set_ylabel("value")
    src = data.get("target_source", "")
    ax.set_title(title or f"{data.get('analyte', '')} {data.get('level', '')}  (target: {src})", fontsize=9)
    return fig


# --- patient trend ----------------------------------------------------------------------------


def patient_trend(points: Any, ranges: Any = None, *, title: str | None = None, fig: Any = None) -> Any:
    """A patient's 6-TGN, 6-MMPN and dose over time, with the profile's ranges.

    Parameters
    ----------
    points : the points of one patient: ``thioquant.history.patient_series(history, patient_id)``,
        or ``batch.patient_history[sample_id]["points"]`` after ``thioquant.history.annotate``
        (earlier results and the current one). Each has ``collected_at`` (else ``released_at``),
        ``values`` (species -> ``{"value", "text", "flags"}``) and ``dose_mg``.
    ranges : reference ranges with ``tgn_low``, ``tgn_high``, ``mmp_high`` (e.g.
        ``thioquant.report.content.reference_ranges(batch)``); a mapping with those keys (as in
        ``results.json``'s ``reference_ranges``) works too.
    title : figure title.
    fig : Figure to draw into (three stacked axes sharing the date axis).

    Results flagged ``DELTA`` are red; a result that is not a number (undetectable, <LLOQ) is a
    grey cross on the axis; the dose is drawn as a step.
    """
    from datetime import datetime as _dt

    from thioquant.report.trend import trend_series

    if isinstance(ranges, Mapping):
        from types import SimpleNamespace

        ranges = SimpleNamespace(**ranges)
    fig = fig or _new_figure((6.4, 5.0))
    axes = fig.subplots(3, 1, sharex=True)
    fig.subplots_adjust(left=0.13, right=0.96, bottom=0.1, top=0.92, hspace=0.12)
    s = trend_series(list(points))
    dates = [_dt.fromtimestamp(d * 86400.0) for d in s["day"]]
    for ax, key, label in zip(axes, ("6-TGN", "6-MMPN", "dose"), ("6-TGN", "6-MMPN", "dose (mg/day)"), strict=True):
        vals = s[key]
        ok = np.isfinite(vals)
        if key == "dose":
            if ok.any():
                ax.step([d for d, k in zip(dates, ok, strict=True) if k], vals[ok], where="post", color="#6a1b9a")
                ax.plot([d for d, k in zip(dates, ok, strict=True) if k], vals[ok], "o", color="#6a1b9a", ms=4)
        else:
            if ranges is not None and key == "6-TGN":
                ax.axhspan(ranges.tgn_low, ranges.tgn_high, color="#e8f5e9", zorder=0, label="target range")
            if ranges is not None and key == "6-MMPN":
                ax.axhline(ranges.mmp_high, color="#f9a825", ls="--", lw=1, label="hepatotoxicity threshold")
            xs = [d for d, k in zip(dates, ok, strict=True) if k]
            ax.plot(xs, vals[ok], color="#90a4ae", lw=0.9, zorder=1)
            colors = np.where(s[key + ":delta"][ok], _STYLE["fail"], _STYLE["trace"])
            ax.scatter(xs, vals[ok], c=list(colors), s=np.where(s["current"][ok], 40, 20), zorder=2)
            for d, text, good in zip(dates, s[key + ":text"], ok, strict=True):
                if not good and text:
                    ax.plot([d], [0], "x", color="#777777", clip_on=False, zorder=3)
                    ax.annotate(text, (d, 0), xytext=(3, 3), textcoords="offset points", fontsize=6, color="#777777")
            ax.set_ylim(bottom=0)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].tick_params(axis="x", rotation=30)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# --- pathway ----------------------------------------------------------------------------------


def pathway(*, ax: Any = None) -> Any:
    """The thiopurine metabolic pathway (what the assay measures, in bold)."""
    fig, ax = _figure(ax, (7.0, 3.2))
    from matplotlib.patches import FancyBboxPatch

    boxes = {
        "AZA": (0.08, 0.78, "azathioprine", "#eceff1"),
        "MP": (0.08, 0.42, "6-mercaptopurine\n(6-MP)", "#eceff1"),
        "TGN": (0.55, 0.78, "6-thioguanine nucleotides\n(6-TGN, measured)", "#e3f2fd"),
        "MMP": (0.55, 0.42, "6-methylmercaptopurine\n(6-MMP/6-MMPN, measured)", "#fff3e0"),
        "TUA": (0.55, 0.08, "6-thiouric acid\n(inactive)", "#eceff1"),
    }
    for _key, (x, y, text, col) in boxes.items():
        ax.add_patch(FancyBboxPatch((x - 0.07, y - 0.08), 0.34 if x > 0.3 else 0.22, 0.16,
                                    boxstyle="round,pad=0.01", fc=col, ec="#455a64", transform=ax.transAxes))
        ax.text(x + (0.1 if x > 0.3 else 0.04), y, text, ha="center", va="center", fontsize=8,
                fontweight="bold" if "measured" in text else "normal", transform=ax.transAxes)
    arrows = [
        ((0.12, 0.70), (0.12, 0.50), "non-enzymatic (GSH)"),
        ((0.23, 0.45), (0.48, 0.74), "HPRT (-> IMPDH, GMPS)"),
        ((0.23, 0.42), (0.48, 0.42), "TPMT"),
        ((0.23, 0.38), (0.48, 0.10), "xanthine oxidase"),
    ]
    for (xa, ya), (xb, yb), lab in arrows:
        ax.annotate("", xy=(xb, yb), xytext=(xa, ya), xycoords="axes fraction",
                    arrowprops={"arrowstyle": "-|>", "color": "#37474f", "lw": 1.2})
        ax.text((xa + xb) / 2 + 0.01, (ya + yb) / 2 + 0.02, lab, fontsize=7, color="#37474f",
                transform=ax.transAxes, style="italic")
    ax.set_axis_off()
    ax.set_title("Thiopurine metabolism", fontsize=10)
    return fig


def to_rgb(fig: Any, dpi: float = 130) -> np.ndarray:
    """A figure rendered with Agg as an ``(rows, cols, 3)`` uint8 array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def to_png(fig_or_rgb: Any, dpi: float = 130) -> bytes:
    """PNG bytes of a figure (or of an RGB array from :func:`to_rgb`)."""
    import io

    from matplotlib.image import imsave

    rgb = fig_or_rgb if isinstance(fig_or_rgb, np.ndarray) else to_rgb(fig_or_rgb, dpi)
    buf = io.BytesIO()
    imsave(buf, rgb, format="png", metadata={"Software": None})
    return buf.getvalue()


def to_svg(fig: Any) -> str:
    """A figure as an inline ``<svg>`` string (text kept as text, no XML header)."""
    import io

    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "thioquant"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


__all__ = [
    "calibration",
    "calibration_report",
    "chromatogram",
    "equation",
    "levey_jennings",
    "pathway",
    "patient_trend",
    "residuals",
    "to_png",
    "to_rgb",
    "to_svg",
]
