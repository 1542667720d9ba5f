"""ICH M10 calibration acceptance: back-calculation, exclusion by rule, reportable range."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thioquant.errors import CalibrationError
from thioquant.model import Calibration

from .fit import MIN_LEVELS, N_PARAMS, fit_calibration, n_distinct


@dataclass(frozen=True)
class CalibrationPoint:
    """One calibrator as judged by :func:`accept_calibration`.

    ``back_calc`` is the concentration read back from the final curve (also for excluded points);
    ``accuracy_pct`` is ``100 * back_calc / x``; ``reason`` says why the point was excluded
    (empty when included).
    """

    level: str
    x: float
    y: float
    back_calc: float
    accuracy_pct: float
    included: bool
    reason: str = ""
    limit_pct: float = 15.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "x": _num(self.x),
            "y": _num(self.y),
            "back_calc": _num(self.back_calc),
            "accuracy_pct": _num(self.accuracy_pct),
            "limit_pct": _num(self.limit_pct),
            "included": bool(self.included),
            "reason": self.reason,
        }


@dataclass(frozen=True, eq=False)
class CalibrationOutcome:
    """A calibration with its ICH M10 verdict.

    Attributes
    ----------
    calibration : Calibration
        Final fit on the included calibrators.
    points : tuple of CalibrationPoint
        Every calibrator, in input order.
    passed : bool
        True when the acceptance rules hold (see :func:`accept_calibration`).
    reasons : list of str
        Plain-language reasons: every exclusion and, when ``passed`` is False, why.
    lloq, uloq : float
        Lowest / highest passing level (the reportable range); NaN when none pass.
    settings : dict
        The acceptance settings used.
    selection : tuple of dict
        Evidence table of :func:`~thioquant.calibration.select_model` when the model was chosen
        automatically (empty otherwise).
    """

    calibration: Calibration
    points: tuple[CalibrationPoint, ...]
    passed: bool
    reasons: list[str] = field(default_factory=list)
    lloq: float = float("nan")
    uloq: float = float("nan")
    settings: dict[str, Any] = field(default_factory=dict)
    selection: tuple[dict[str, Any], ...] = ()

    @property
    def excluded(self) -> tuple[CalibrationPoint, ...]:
        return tuple(p for p in self.points if not p.included)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for ``calibration.json``).

        Includes ``limits``: ICH Q2 LOD/LOQ from the residual SD of a line through the calibrators
        up to 10x the lowest (:func:`~thioquant.calibration.limits.limits_near_lloq`), else of the
        final curve (None for the power model, which has no slope at zero).
        """
        from .limits import limits_from_residuals, limits_near_lloq

        cal = self.calibration
        try:
            try:
                lim = limits_near_lloq(cal)
            except CalibrationError:  # too few levels near the bottom: the whole curve
                lim = limits_from_residuals(cal)
            limits: dict[str, Any] | None = {
                "lod": _num(lim.lod), "loq": _num(lim.loq), "sigma": _num(lim.sigma),
                "slope": _num(lim.slope), "method": "ICH Q2 3.3/10 sigma/S, sigma = " + lim.method,
            }
        except CalibrationError:
            limits = None
        return {
            "model": cal.model,
            "weighting": cal.weighting,
            "coefficients": [float(c) for c in cal.coefficients],
            "coefficient_sd": [_num(v) for v in np.sqrt(np.clip(np.diag(cal.covariance), 0, None))],
            "covariance": [[_num(v) for v in row] for row in cal.covariance],
            "residual_sd": _num(cal.residual_sd),
            "r2": _num(cal.r2),
            "r2_definition": "weighted coefficient of determination (uncentred for linear0; ln y for power)",
            "dof": int(cal.dof),
            "passed": bool(self.passed),
            "reasons": list(self.reasons),
            "lloq": _num(self.lloq),
            "uloq": _num(self.uloq),
            "limits": limits,
            "n_calibrators": len(self.points),
            "n_included": int(sum(p.included for p in self.points)),
            "settings": dict(self.settings),
            "points": [p.as_dict() for p in self.points],
            "selection": [
                {k: (_num(v) if isinstance(v, float) else v) for k, v in row.items()}
                for row in self.selection
            ],
        }


def _num(v: float) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def back_calculate(cal: Calibration, y: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Back-calculated concentrations and accuracy ``100 * back / nominal`` (%)."""
    back = np.atleast_1d(np.asarray(cal.inverse(np.asarray(y, dtype=float)), dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = 100.0 * back / np.asarray(x, dtype=float)
    return back, acc


def _validate(tolerance_pct: float, lloq_tolerance_pct: float, min_fraction: float, min_levels: int) -> None:
    if not (0 < tolerance_pct < 100):
        raise CalibrationError(f"tolerance_pct must be in (0, 100), got {tolerance_pct}")
    if not (0 < lloq_tolerance_pct < 100):
        raise CalibrationError(f"lloq_tolerance_pct must be in (0, 100), got {lloq_tolerance_pct}")
    if not (0 < min_fraction <= 1):
        raise CalibrationError(f"min_fraction must be in (0, 1], got {min_fraction}")
    if int(min_levels) < 1:
        raise CalibrationError(f"min_levels must be >= 1, got {min_levels}")


def accept_calibration(
    x: Any,
    y: Any,
    *,
    model: str = "linear",
    weighting: str = "1/x^2",
    levels: Sequence[str] | None = None,
    tolerance_pct: float = 15.0,
    lloq_tolerance_pct: float = 20.0,
    min_fraction: float = 0.75,
    min_levels: int = 6,
    min_level_fraction: float = 0.5,
    manual_exclusions: Sequence[str] | None = None,
    manual_sources: Sequence[str] | None = None,
    rule_exclusions: Sequence[str] | None = None,
) -> CalibrationOutcome:
    """Fit a calibration and apply the ICH M10 acceptance rules.

    Algorithm
    ---------
    1. Fit all calibrators; back-calculate each one.
    2. A calibrator fails when its accuracy is outside ``100 +/- tolerance_pct`` (``+/-
       lloq_tolerance_pct`` at the lowest *included* level, i.e. the current LLOQ).
    3. While any included calibrator fails, exclude the worst one (largest ``|accuracy - 100| /
       limit``), record why, refit and re-judge. Exclusions are never undone. Exclusion stops when
       the rules in 5 could not hold without one more (fewer than 75 % of the calibrators or 6
       levels would remain, even if every remaining one passed after the refit) or too few
       points would remain to fit; the remaining failures then make the calibration fail.
    4. A level passes when at least ``min_level_fraction`` (default 50 %, M10) of its replicates are
       included and within limits. LLOQ and ULOQ are the lowest and highest passing levels, so
       excluding the nominal LLOQ or ULOQ narrows the reportable range.
    5. ``passed`` requires: no included calibrator outside its limit, >= ``min_fraction`` (75 %) of
       all calibrators within limits, and >= ``min_levels`` (6) passing levels.

    Parameters
    ----------
    x, y : array_like
        Nominal concentrations and responses of the calibrators (replicates allowed).
    model, weighting : str
        See :func:`fit_calibration`. ICH M10 prefers the simplest adequate model; 1/x^2 is the
        usual bioanalytical weighting and is the default here.
    levels : sequence of str, optional
        Level label per calibrator (e.g. "CAL1"); default: the concentration itself.
    tolerance_pct, lloq_tolerance_pct : float
        Accuracy limits in percent (15 and 20).
    min_fraction : float
        Minimum fraction of calibrators passing (0.75).
    min_levels : int
        Minimum number of passing levels (6).
    min_level_fraction : float
        Minimum fraction of replicates passing for a level to pass (0.5).
    manual_exclusions : sequence of str, optional
        One entry per calibrator: a reviewer's reason to exclude it ("" keeps it). Such a point is
        left out of the fit before step 1, with ``"excluded by reviewer: <reason>"`` as its
        reason, and counts as not passing (as any excluded point).
    manual_sources : sequence of str, optional
        One entry per calibrator: who or what made its manual exclusion, when not a reviewer in
        the review ("" for one), e.g. ``decisions file overrides.csv row 3``; its reason then
        reads ``"excluded by <source>: <reason>"``.
    rule_exclusions : sequence of str, optional
        One entry per calibrator: why a rule of the run excludes it before the fit ("" keeps
        it), e.g. an integration held for review (``[calibration] exclude_held``). Recorded as
        ``"excluded before the fit: <reason>"``; like any excluded point it counts as not
        passing, so the 75 % and 6-level rules still judge the curve.

    Returns
    -------
    CalibrationOutcome

    Raises
    ------
    CalibrationError
        Invalid settings or data, or a curve that cannot be fitted at all.
    """
    _validate(tolerance_pct, lloq_tolerance_pct, min_fraction, min_levels)
    xa = np.asarray(x, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if xa.shape != ya.shape:
        raise CalibrationError(f"x ({xa.size} values) and y ({ya.size} values) differ in length")
    n = xa.size
    lv = [_fmt(v) for v in xa] if levels is None else [str(v) for v in levels]
    if len(lv) != n:
        raise CalibrationError(f"{len(lv)} level labels for {n} calibrators")
    # level -> nominal concentration (the lowest x carrying the label orders the levels)
    level_x: dict[str, float] = {}
    for lab, xv in zip(lv, xa, strict=True):
        level_x[lab] = min(level_x.get(lab, np.inf), float(xv))
    settings = {
        "tolerance_pct": tolerance_pct,
        "lloq_tolerance_pct": lloq_tolerance_pct,
        "min_fraction": min_fraction,
        "min_levels": int(min_levels),
        "min_level_fraction": min_level_fraction,
    }

    reasons: list[str] = []
    why = [""] * n
    inc = np.isfinite(xa) & np.isfinite(ya)
    if rule_exclusions is not None and len(rule_exclusions) != n:
        raise CalibrationError(f"{len(rule_exclusions)} rule exclusions for {n} calibrators")
    by_rule = list(rule_exclusions) if rule_exclusions is not None else [""] * n
    for i in range(n):  # a rule's reason first: it says why (e.g. no internal standard peak)
        if by_rule[i]:
            inc[i] = False
            why[i] = f"excluded before the fit: {by_rule[i]}"
            reasons.append(f"calibrator {lv[i]} (x={_fmt(xa[i])}) {why[i]}")
        elif not inc[i]:
            why[i] = "non-finite concentration or response"
            reasons.append(f"calibrator {lv[i]} (x={_fmt(xa[i])}) excluded: {why[i]}")
    if manual_exclusions is not None:
        if len(manual_exclusions) != n:
            raise CalibrationError(f"{len(manual_exclusions)} manual exclusions for {n} calibrators")
        if manual_sources is not None and len(manual_sources) != n:
            raise CalibrationError(f"{len(manual_sources)} manual exclusion sources for {n} calibrators")
        for i, reason in enumerate(manual_exclusions):
            if reason and inc[i]:
                inc[i] = False
                by = (manual_sources[i] if manual_sources is not None else "") or "reviewer"
                why[i] = f"excluded by {by}: {reason}"
                reasons.append(f"calibrator {lv[i]} (x={_fmt(xa[i])}) {why[i]}")
    if model == "power" or weighting in ("1/y", "1/y^2"):
        bad = inc & (ya <= 0)
        for i in np.flatnonzero(bad):
            why[i] = "non-positive response cannot enter this model/weighting"
            reasons.append(f"calibrator {lv[i]} (x={_fmt(xa[i])}) excluded: {why[i]}")
        inc &= ~bad
    if model == "power" or weighting in ("1/x", "1/x^2"):
        bad = inc & (xa <= 0)
        for i in np.flatnonzero(bad):
            why[i] = "non-positive concentration cannot enter this model/weighting"
            reasons.append(f"calibrator {lv[i]} (x={_fmt(xa[i])}) excluded: {why[i]}")
        inc &= ~bad

    def limits(mask: np.ndarray) -> np.ndarray:
        lo = xa[mask].min() if mask.any() else np.nan
        return np.where(np.isclose(xa, lo, rtol=1e-12, atol=0), lloq_tolerance_pct, tolerance_pct)

    def judge(mask: np.ndarray, within: np.ndarray) -> tuple[bool, list[str], list[str]]:
        ok = mask & within
        frac = ok.sum() / n
        passing = _passing_levels(lv, ok, min_level_fraction)
        problems = []
        if frac + 1e-12 < min_fraction:
            problems.append(
                f"only {ok.sum()}/{n} calibrators ({100 * frac:.0f} %) within limits; "
                f"need >= {100 * min_fraction:.0f} %"
            )
        if len(passing) < min_levels:
            problems.append(f"only {len(passing)} levels pass; need >= {min_levels}")
        return not problems, problems, passing

    cal = fit_calibration(xa, ya, model, weighting, included=inc)
    step = 0
    while True:
        back, acc = back_calculate(cal, ya, xa)
        lim = limits(inc)
        dev = np.abs(acc - 100.0)
        within = np.isfinite(dev) & (dev <= lim + 1e-9)
        failing = inc & ~within
        if not failing.any():
            break
        score = np.where(failing, np.where(np.isfinite(dev), dev / lim, np.inf), -1.0)
        worst = int(np.argmax(score))
        trial = inc.copy()
        trial[worst] = False
        # could the curve still be accepted without it (and fitted)? Judged on the points left,
        # each of which may pass once the worst is gone and the curve refitted: one gross
        # outlier pulls a 1/x^2 line so far that every other calibrator fails against it, and
        # judging the trial on that line left the outlier in (bench_noise 12 %: all 8 of 8
        # outside limits around a calibrator at 301 %)
        trial_ok = trial.sum() > N_PARAMS[model] and n_distinct(xa[trial]) >= MIN_LEVELS[model]
        if trial_ok:
            ok_after = trial
            frac_after = ok_after.sum() / n
            levels_after = _passing_levels(lv, ok_after, min_level_fraction)
            trial_ok = frac_after + 1e-12 >= min_fraction and len(levels_after) >= min_levels
        if not trial_ok:
            reasons.append(
                f"{int(failing.sum())} included calibrator(s) still outside limits; excluding "
                f"more would break the acceptance rules"
            )
            break
        step += 1
        acc_txt = "not computable" if not np.isfinite(acc[worst]) else f"{acc[worst]:.1f} %"
        why[worst] = (
            f"back-calculated accuracy {acc_txt} outside 100 +/- {lim[worst]:g} % "
            f"(exclusion {step}, worst of {int(failing.sum())} failing)"
        )
        reasons.append(f"calibrator {lv[worst]} (x={_fmt(xa[worst])}) excluded: {why[worst]}")
        inc = trial
        cal = fit_calibration(xa, ya, model, weighting, included=inc)

    back, acc = back_calculate(cal, ya, xa)
    lim = limits(inc)
    dev = np.abs(acc - 100.0)
    within = np.isfinite(dev) & (dev <= lim + 1e-9)
    ok, problems, passing = judge(inc, within)
    still = inc & ~within
    if still.any():
        ok = False
        for i in np.flatnonzero(still):
            problems.append(
                f"calibrator {lv[i]} (x={_fmt(xa[i])}) included but outside limits "
                f"({acc[i]:.1f} %, limit +/- {lim[i]:g} %)"
            )
    if passing:
        lloq = min(level_x[lab] for lab in passing)
        uloq = max(level_x[lab] for lab in passing)
    else:
        lloq = uloq = float("nan")
    nominal_lo, nominal_hi = float(np.nanmin(xa)), float(np.nanmax(xa))
    if np.isfinite(lloq) and lloq > nominal_lo:
        reasons.append(f"LLOQ raised from {_fmt(nominal_lo)} to {_fmt(lloq)} (lowest passing level)")
    if np.isfinite(uloq) and uloq < nominal_hi:
        reasons.append(f"ULOQ lowered from {_fmt(nominal_hi)} to {_fmt(uloq)} (highest passing level)")
    reasons.extend(problems)
    points = tuple(
        CalibrationPoint(
            level=lv[i],
            x=float(xa[i]),
            y=float(ya[i]),
            back_calc=float(back[i]),
            accuracy_pct=float(acc[i]),
            included=bool(inc[i]),
            reason=why[i],
            limit_pct=float(lim[i]),
        )
        for i in range(n)
    )
    return CalibrationOutcome(
        calibration=cal,
        points=points,
        passed=bool(ok),
        reasons=reasons,
        lloq=float(lloq),
        uloq=float(uloq),
        settings=settings,
    )


def _passing_levels(levels: Sequence[str], ok: np.ndarray, min_level_fraction: float) -> list[str]:
    out = []
    for lab in dict.fromkeys(levels):
        idx = [i for i, v in enumerate(levels) if v == lab]
        n_ok = sum(bool(ok[i]) for i in idx)
        if n_ok > 0 and n_ok / len(idx) + 1e-12 >= min_level_fraction:
            out.append(lab)
    return out
