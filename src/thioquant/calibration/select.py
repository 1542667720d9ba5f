"""Automatic model and weighting selection ("auto" in the method file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from thioquant.errors import CalibrationError

from .accept import CalibrationOutcome, accept_calibration
from .fit import fit_calibration, weighted_sse

DEFAULT_CANDIDATES: tuple[tuple[str, str], ...] = tuple(
    (m, w) for m in ("linear", "quadratic") for w in ("none", "1/x", "1/x^2")
)


def candidates_for(
    model: str = "auto",
    weighting: str = "auto",
    *,
    auto_models: Sequence[str] = ("linear", "quadratic"),
    auto_weightings: Sequence[str] = ("none", "1/x", "1/x^2"),
) -> list[tuple[str, str]]:
    """Candidate ``(model, weighting)`` pairs for a method's settings, "auto" expanded.

    ``candidates_for("linear", "auto")`` gives linear with none, 1/x, 1/x^2;
    ``candidates_for("auto", "1/x^2")`` gives linear and quadratic with 1/x^2.
    """
    from thioquant.model import CALIBRATION_MODELS, WEIGHTINGS

    models = list(auto_models) if model == "auto" else [model]
    weights = list(auto_weightings) if weighting == "auto" else [weighting]
    for m in models:
        if m not in CALIBRATION_MODELS:
            raise CalibrationError(f"unknown calibration model '{m}'")
    for w in weights:
        if w not in WEIGHTINGS:
            raise CalibrationError(f"unknown weighting '{w}'")
    return [(m, w) for m in models for w in weights]


def partial_f_test(x: Any, y: Any, weighting: str, included: Any) -> tuple[float, float]:
    """Partial F-test of quadratic against linear on the same points and weights.

    ``F = (SSE_lin - SSE_quad) / (SSE_quad / dof_quad)`` with 1 and ``dof_quad`` degrees of
    freedom (weighted sums of squares). Returns ``(F, p)``.
    """
    lin = fit_calibration(x, y, "linear", weighting, included=included)
    quad = fit_calibration(x, y, "quadratic", weighting, included=included)
    sse_l, sse_q = weighted_sse(lin), weighted_sse(quad)
    if sse_q <= 0:
        return float("inf"), 0.0
    F = (sse_l - sse_q) / (sse_q / quad.dof)
    from scipy.special import fdtrc  # lazily: only "auto" model selection needs it

    p = float(fdtrc(1, quad.dof, F)) if F > 0 else 1.0  # sums of squares may cross
    return float(F), p


def select_model(
    x: Any,
    y: Any,
    candidates: Sequence[tuple[str, str]] = DEFAULT_CANDIDATES,
    *,
    levels: Sequence[str] | None = None,
    alpha: float = 0.05,
    **accept_kwargs: Any,
) -> tuple[CalibrationOutcome, list[dict[str, Any]]]:
    """Choose a model and weighting among ``candidates``.

    Each candidate ``(model, weighting)`` goes through :func:`accept_calibration`. Candidates are
    ranked by (1) passing acceptance, (2) fewest excluded calibrators, (3) lowest sum of
    ``|%RE|`` (``|accuracy - 100|``) over the calibrators included in the final curve. A quadratic
    candidate is eligible only when a partial F-test against the linear model with the same
    weighting, on the same included points, gives ``p < alpha``; otherwise it stays in the evidence
    table with the reason.

    Parameters
    ----------
    x, y : array_like
        Calibrator concentrations and responses.
    candidates : sequence of (model, weighting)
        Default: linear and quadratic, each with none, 1/x, 1/x^2.
    levels : sequence of str, optional
        Level labels, passed to :func:`accept_calibration`.
    alpha : float
        Significance level of the partial F-test (0.05).
    **accept_kwargs
        Passed to :func:`accept_calibration` (tolerances, minimum fractions...).

    Returns
    -------
    (CalibrationOutcome, list of dict)
        The chosen outcome (carrying the evidence in ``selection``, so ``as_dict()`` writes it to
        ``calibration.json``) and the evidence table, one row per candidate with: model, weighting,
        passed, n_included, n_excluded, sum_abs_re_pct, r2, f_stat, p_value, eligible, chosen, note.
    """
    if not candidates:
        raise CalibrationError("no candidate models given")
    if not (0 < alpha < 1):
        raise CalibrationError(f"alpha must be in (0, 1), got {alpha}")
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    rows: list[dict[str, Any]] = []
    outcomes: list[CalibrationOutcome | None] = []
    for model, weighting in candidates:
        row: dict[str, Any] = {
            "model": model, "weighting": weighting, "passed": False, "n_included": 0,
            "n_excluded": 0, "sum_abs_re_pct": float("nan"), "r2": float("nan"),
            "f_stat": None, "p_value": None, "eligible": False, "chosen": False, "note": "",
        }
        try:
            out = accept_calibration(xa, ya, model=model, weighting=weighting, levels=levels, **accept_kwargs)
        except CalibrationError as exc:
            row["note"] = f"cannot fit: {exc}"
            rows.append(row)
            outcomes.append(None)
            continue
        inc = [p for p in out.points if p.included]
        row.update(
            passed=out.passed,
            n_included=len(inc),
            n_excluded=len(out.points) - len(inc),
            sum_abs_re_pct=float(sum(abs(p.accuracy_pct - 100.0) for p in inc)),
            r2=float(out.calibration.r2),
            eligible=True,
        )
        if model == "quadratic":
            try:
                F, p = partial_f_test(xa, ya, weighting, out.calibration.included)
            except CalibrationError as exc:
                F, p = float("nan"), 1.0
                row["note"] = f"F-test impossible: {exc}"
            row["f_stat"], row["p_value"] = F, p
            if not p < alpha:
                row["eligible"] = False
                row["note"] = (
                    f"quadratic not significantly better than linear (partial F = {F:.3g}, "
                    f"p = {p:.3g} >= {alpha:g})"
                )
            else:
                row["note"] = f"quadratic significantly better than linear (F = {F:.3g}, p = {p:.3g})"
        rows.append(row)
        outcomes.append(out)

    def key(i: int) -> tuple:
        r = rows[i]
        return (not r["passed"], r["n_excluded"], r["sum_abs_re_pct"])

    eligible = [i for i, r in enumerate(rows) if r["eligible"]]
    if not eligible:
        fitted = [i for i, o in enumerate(outcomes) if o is not None]
        if not fitted:
            raise CalibrationError("no candidate model could be fitted: " + "; ".join(r["note"] for r in rows))
        eligible = fitted
    best = min(eligible, key=key)
    rows[best]["chosen"] = True
    if not rows[best]["note"]:
        rows[best]["note"] = "chosen: " + ("passed, " if rows[best]["passed"] else "failed, ") + (
            f"{rows[best]['n_excluded']} excluded, sum |%RE| = {rows[best]['sum_abs_re_pct']:.2f}"
        )
    chosen = outcomes[best]
    assert chosen is not None
    from dataclasses import replace

    return replace(chosen, selection=tuple(dict(r) for r in rows)), rows
