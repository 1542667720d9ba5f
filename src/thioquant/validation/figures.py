"""Figures of a validation report (matplotlib, imported inside the functions).

Each function takes a :class:`~thioquant.validation.validate.ValidationReport` and returns a
:class:`matplotlib.figure.Figure` (or None when the experiment was not performed); the HTML report
embeds them as SVG.
"""

from __future__ import annotations

import math
from typing import Any


def _figure(width: float, height: float, ncols: int) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def accuracy_figure(report: Any) -> Any:
    """Accuracy (% of nominal) of every A&P replicate, per level and run, with the acceptance band."""
    from thioquant.validation.design import qc_levels
    from thioquant.validation.experiments import qc_roles

    exp = report.experiment("accuracy_precision")
    if not exp.performed:
        return None
    ap = {(i.run, i.sample_id) for i in report.package.of("accuracy_precision")}
    analytes = [a.name for a in report.method.analytes]
    levels = [lv for lv in qc_levels(report.method)]
    runs = [r.run_id for r in report.package.runs]
    fig, axes = _figure(4.2 * len(analytes), 3.0, len(analytes))
    for ax, analyte in zip(axes, analytes, strict=True):
        for j, run in enumerate(runs):
            batch = report.batches.get(run)
            if batch is None:
                continue
            for i, lv in enumerate(levels):
                vals = [r.accuracy_pct for r in batch.results if (run, r.sample_id) in ap and r.analyte == analyte
                        and r.level == lv and math.isfinite(r.accuracy_pct)]
                x = [i + (j - (len(runs) - 1) / 2) * 0.18] * len(vals)
                ax.plot(x, vals, "o", ms=3.5, color=f"C{j}", label=run if i == 0 else None)
        for i, lv in enumerate(levels):
            at_lloq = "lloq" in qc_roles(report.method, lv, analyte)  # as A&P judges it
            tol = report.criteria.ap_bias_lloq_pct if at_lloq else report.criteria.ap_bias_pct
            ax.fill_between([i - 0.45, i + 0.45], 100 - tol, 100 + tol, color="#e8f5e9", zorder=0)
        ax.axhline(100, color="grey", lw=0.6)
        ax.set_xticks(range(len(levels)), levels, fontsize=8)
        ax.set_title(analyte, fontsize=10)
        ax.set_ylabel("accuracy (% of nominal)", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def matrix_factor_figure(report: Any) -> Any:
    """Analyte and IS-normalised matrix factor per lot, per analyte and level."""
    exp = report.experiment("matrix_effect")
    if not exp.performed:
        return None
    rows = exp.tables["per_lot"]
    analytes = list(dict.fromkeys(r["analyte"] for r in rows))
    fig, axes = _figure(4.2 * len(analytes), 3.0, len(analytes))
    for ax, analyte in zip(axes, analytes, strict=True):
        sel = [r for r in rows if r["analyte"] == analyte]
        for k, lv in enumerate(dict.fromkeys(r["level"] for r in sel)):
            pts = [r for r in sel if r["level"] == lv]
            lots = [r["lot"] for r in pts]
            ax.plot(lots, [r["matrix_factor"] or math.nan for r in pts], "o--", color=f"C{k}", alpha=0.5,
                    label=f"{lv} MF")
            ax.plot(lots, [r["is_normalised_mf"] or math.nan for r in pts], "s-", color=f"C{k}",
                    label=f"{lv} IS-normalised")
        ax.axhspan(0.85, 1.15, color="#e8f5e9", zorder=0)
        ax.set_title(analyte, fontsize=10)
        ax.set_ylabel("matrix factor", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def calibration_figure(report: Any) -> Any:
    """Back-calculated calibrators (% of nominal) of every run, per level."""
    exp = report.experiment("calibration")
    rows = exp.tables.get("back_calculated", [])
    if not rows:
        return None
    analytes = list(dict.fromkeys(r["analyte"] for r in rows))
    runs = [r.run_id for r in report.package.runs]
    fig, axes = _figure(4.2 * len(analytes), 3.0, len(analytes))
    for ax, analyte in zip(axes, analytes, strict=True):
        sel = [r for r in rows if r["analyte"] == analyte]
        x = [r["nominal"] for r in sel]
        for j, run in enumerate(runs):
            ax.semilogx(x, [r.get(f"accuracy_pct_{run}") or math.nan for r in sel], "o", ms=3.5, color=f"C{j}",
                        label=run)
        ax.fill_between([min(x) * 0.8, max(x) * 1.25], 85, 115, color="#e8f5e9", zorder=0)
        ax.axhline(100, color="grey", lw=0.6)
        ax.set_title(analyte, fontsize=10)
        ax.set_xlabel(f"nominal ({report.method.conc_unit})", fontsize=8)
        ax.set_ylabel("back-calculated (% of nominal)", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


#: experiment key -> figure function, in the order the HTML report shows them
FIGURES = {
    "calibration": calibration_figure,
    "accuracy_precision": accuracy_figure,
    "matrix_effect": matrix_factor_figure,
}
