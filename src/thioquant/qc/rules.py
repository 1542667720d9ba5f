"""Run-QC rules as pure functions on plain values, and the run verdict.

Each run-level rule returns a :class:`RuleOutcome`; per-injection checks (IS response, retention
time, ion ratio) return an :class:`InjectionCheck` with one tuple of flag codes per injection plus
a run-level :class:`RuleOutcome`. :func:`run_verdict` combines outcomes into a :class:`Verdict`.

An outcome has one of three statuses: ``"pass"``, ``"fail"`` or ``"not_evaluated"`` (the rule
lacked the data it needs, e.g. no blank after the highest calibrator or no Westgard target yet).
A not-evaluated outcome never rejects the run and is never a warning.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from thioquant import flags
from thioquant.errors import MethodError

IS_CV = flags.register("IS_CV", "internal standard CV across the run above the limit")
# Codes of outcomes that could not be evaluated (status "not_evaluated"; qc.csv only, never a result flag).
NO_QC_SAMPLES = flags.register("NO_QC_SAMPLES", "QC acceptance not evaluated: no usable QC sample in the run")
NO_BLANK_ZERO = flags.register(
    "NO_BLANK_ZERO", "no usable blank (or zero sample) in a run with patient samples: ICH M10's "
    "calibration curve includes them, and carry-over and interference cannot be judged without")
QC_MISSING = flags.register(
    "QC_MISSING", "no usable QC sample in a run with patient samples: ICH M10 accepts a run on its "
    "QCs, so its results cannot be released")
NO_CARRYOVER_BLANK = flags.register(
    "NO_CARRYOVER_BLANK", "carry-over not evaluated: no blank was injected right after the highest calibrator")
NO_BLANKS = flags.register(
    "NO_BLANKS", "interference not evaluated: no blank or zero sample in the run")
NO_LLOQ_RESPONSE = flags.register(
    "NO_LLOQ_RESPONSE",
    "blank checks not evaluated: no positive LLOQ calibrator response to compare the blank with")
NO_IS_REFERENCE = flags.register(
    "NO_IS_REFERENCE",
    "internal standard checks not evaluated: no calibrator or QC with an internal standard response")
IS_CV_TOO_FEW = flags.register(
    "IS_CV_TOO_FEW", "internal standard CV not evaluated: fewer than two injections with an IS response")
NO_RT_REFERENCE = flags.register(
    "NO_RT_REFERENCE", "retention time not evaluated: no calibrator peak to define the reference retention time")
NO_ION_RATIO_REFERENCE = flags.register(
    "NO_ION_RATIO_REFERENCE", "ion ratio not evaluated: no calibrator with both quantifier and qualifier peaks")
QC_FAIL = "QC_FAIL"
CAL_FAIL = "CAL_FAIL"
CARRYOVER = "CARRYOVER"
INTERFERENCE = "INTERFERENCE"
IS_RESPONSE = "IS_RESPONSE"
RT_SHIFT = "RT_SHIFT"
ION_RATIO = "ION_RATIO"

#: the three states of a rule outcome
STATUSES = ("pass", "fail", "not_evaluated")

#: order in which failing reject rules decide a run (earlier wins)
DECISION_ORDER = (
    "calibration", "qc", "qc_coverage", "carryover", "interference", "westgard",
    "is_response", "is_cv", "rt", "ion_ratio",
)


@dataclass(frozen=True)
class RuleOutcome:
    """The result of one QC rule.

    Attributes
    ----------
    rule : str
        Rule name ("qc", "carryover", "westgard:2-2s"...).
    code : str
        Flag code written to ``results.csv`` when the rule fails (see :mod:`thioquant.flags`); for a
        not-evaluated outcome, the code saying why (``WG_NO_TARGET``, ``NO_CARRYOVER_BLANK``...).
    passed : bool
        True exactly when ``status`` is "pass".
    severity : {"reject", "warn"}
        What a failure of this rule means for the run (a not-evaluated outcome neither rejects
        nor warns, whatever its severity).
    message : str
        Plain-language statement of what was found, whether passed or not, or why the rule could
        not be evaluated.
    details : mapping
        Numbers behind the message (JSON-ready).
    status : {"pass", "fail", "not_evaluated"}
        Defaults to "pass" or "fail" from ``passed``; use :meth:`not_evaluated` for the third state.
    """

    rule: str
    code: str
    passed: bool
    severity: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    status: str = ""

    def __post_init__(self) -> None:
        if self.severity not in ("reject", "warn"):
            raise ValueError(f"severity must be 'reject' or 'warn', got {self.severity!r}")
        status = self.status or ("pass" if self.passed else "fail")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        if bool(self.passed) != (status == "pass"):
            raise ValueError(f"passed={self.passed!r} contradicts status {status!r}")
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @classmethod
    def not_evaluated(
        cls, rule: str, code: str, message: str, details: Mapping[str, Any] | None = None, *,
        severity: str = "warn",
    ) -> RuleOutcome:
        """An outcome for a rule that lacked the data to be evaluated (``passed`` is False)."""
        return cls(rule, code, False, severity, message, details or {}, status="not_evaluated")

    @property
    def evaluated(self) -> bool:
        """False when the rule could not be evaluated."""
        return self.status != "not_evaluated"

    @property
    def failed(self) -> bool:
        """True when the rule was evaluated and failed (a not-evaluated rule has not failed)."""
        return self.status == "fail"

    @property
    def rejects(self) -> bool:
        """True when this outcome makes the run fail."""
        return self.failed and self.severity == "reject"

    @property
    def warns(self) -> bool:
        """True when this outcome is a warning (a failed "warn" rule)."""
        return self.failed and self.severity == "warn"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "code": self.code,
            "passed": self.passed,
            "status": self.status,
            "severity": self.severity,
            "message": self.message,
            "details": _jsonable(dict(self.details)),
        }


@dataclass(frozen=True)
class InjectionCheck:
    """A per-injection check: flags for each injection plus the run-level summary.

    Iterating yields ``(flags, cv_pct)`` so ``flags, cv = is_response(...)`` works.
    """

    flags: tuple[tuple[str, ...], ...]
    values: np.ndarray
    deviation_pct: np.ndarray
    reference: float
    cv_pct: float
    outcome: RuleOutcome

    def __iter__(self):
        return iter((self.flags, self.cv_pct))

    @property
    def flagged(self) -> np.ndarray:
        return np.array([bool(f) for f in self.flags])


@dataclass(frozen=True)
class Verdict:
    """Run verdict: accepted or not, the rule that decided it, and every reason.

    ``warnings`` lists failed "warn" outcomes, ``not_evaluated`` the outcomes that could not be
    evaluated (both as ``CODE: message``); neither affects ``accepted``.
    """

    accepted: bool
    deciding_rule: str
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    outcomes: tuple[RuleOutcome, ...] = ()
    not_evaluated: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        state = "ACCEPTED" if self.accepted else "REJECTED"
        head = self.reasons[0] if self.reasons else ""
        return f"run {state} ({self.deciding_rule}): {head}" if head else f"run {state}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "deciding_rule": self.deciding_rule,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "not_evaluated": list(self.not_evaluated),
            "outcomes": [o.as_dict() for o in self.outcomes],
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    return v


def _sev(severity: str) -> str:
    if severity not in ("reject", "warn"):
        raise MethodError(f"severity must be 'reject' or 'warn', got {severity!r}")
    return severity


def _pos(name: str, v: float) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
        raise MethodError(f"{name} must be a positive number, got {v!r}")
    return float(v)


def _frac(name: str, v: float) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool) or not (0 < v <= 1):
        raise MethodError(f"{name} must be a fraction in (0, 1], got {v!r}")
    return float(v)


def _arr(values: Any) -> np.ndarray:
    return np.atleast_1d(np.asarray(values, dtype=float)).ravel()


# --------------------------------------------------------------------------- run-level rules


def qc_acceptance(
    accuracy_pct_by_level: Mapping[str, Sequence[float]],
    tolerance_pct: float = 15.0,
    min_fraction: float = 2.0 / 3.0,
    min_level_fraction: float = 0.5,
    *,
    level_tolerance_pct: Mapping[str, float] | None = None,
    severity: str = "reject",
) -> RuleOutcome:
    """ICH M10 QC rule: >= 2/3 of all QCs and >= 50 % at each level within +/- 15 %.

    Parameters
    ----------
    accuracy_pct_by_level : mapping level -> sequence of float
        Back-calculated accuracy (% of nominal) of every QC injection. A NaN (no peak, no
        result) counts as a failing QC.
    tolerance_pct : float
        +/- limit around 100 % (15).
    min_fraction, min_level_fraction : float
        Required passing fractions overall (2/3) and per level (0.5).
    level_tolerance_pct : mapping, optional
        Per-level limit, e.g. ``{"LLOQ": 20}``.
    """
    tol = _pos("tolerance_pct", tolerance_pct)
    _frac("min_fraction", min_fraction)
    _frac("min_level_fraction", min_level_fraction)
    per_tol = dict(level_tolerance_pct or {})
    levels: dict[str, Any] = {}
    n_all = n_ok = 0
    failing: list[str] = []
    for level, accs in accuracy_pct_by_level.items():
        a = _arr(accs)
        lim = _pos(f"level_tolerance_pct[{level}]", per_tol.get(level, tol))
        ok = np.isfinite(a) & (np.abs(a - 100.0) <= lim + 1e-9)
        n_all += a.size
        n_ok += int(ok.sum())
        frac = ok.sum() / a.size if a.size else 0.0
        lvl_pass = a.size > 0 and frac + 1e-12 >= min_level_fraction
        levels[str(level)] = {
            "n": int(a.size), "n_pass": int(ok.sum()), "fraction": float(frac),
            "limit_pct": lim, "passed": bool(lvl_pass), "accuracy_pct": a.tolist(),
        }
        if not lvl_pass:
            failing.append(
                f"level {level}: {int(ok.sum())}/{a.size} within +/-{lim:g} % "
                f"(need >= {100 * min_level_fraction:.0f} %)"
            )
    if n_all == 0:
        return RuleOutcome(
            "qc", QC_FAIL, False, _sev(severity), "no QC results: the run cannot be accepted",
            {"n_total": 0},
        )
    frac_all = n_ok / n_all
    passed = frac_all + 1e-12 >= min_fraction and not failing
    summary = f"{n_ok}/{n_all} QCs ({100 * frac_all:.0f} %) within +/-{tol:g} %"
    if passed:
        msg = f"QC acceptance met: {summary}, every level >= {100 * min_level_fraction:.0f} %"
    else:
        parts = []
        if frac_all + 1e-12 < min_fraction:
            parts.append(f"only {summary}; need >= {100 * min_fraction:.1f} %")
        parts.extend(failing)
        msg = "QC acceptance failed: " + "; ".join(parts)
    return RuleOutcome(
        "qc", QC_FAIL, bool(passed), _sev(severity), msg,
        {"n_total": n_all, "n_pass": n_ok, "fraction": frac_all, "levels": levels,
         "tolerance_pct": tol, "min_fraction": min_fraction, "min_level_fraction": min_level_fraction},
    )


def carryover(
    blank_response: float | Sequence[float],
    lloq_response: float,
    blank_is: float | Sequence[float] | None = None,
    mean_is: float | None = None,
    limit_pct: float = 20.0,
    is_limit_pct: float = 5.0,
    *,
    severity: str = "reject",
) -> RuleOutcome:
    """Carry-over: the blank injected after the highest calibrator.

    Passes when its analyte response is <= ``limit_pct`` (20) % of the LLOQ response and, when
    ``blank_is`` and ``mean_is`` are given, its IS response is <= ``is_limit_pct`` (5) % of the mean
    IS response. With several blanks the largest response is judged. Not evaluated (status
    "not_evaluated") without a blank (``NO_CARRYOVER_BLANK``) or without a positive LLOQ response
    (``NO_LLOQ_RESPONSE``).
    """
    lim = _pos("limit_pct", limit_pct)
    is_lim = _pos("is_limit_pct", is_limit_pct)
    b = _arr(blank_response)
    if b.size == 0:
        return RuleOutcome.not_evaluated(
            "carryover", NO_CARRYOVER_BLANK,
            "carry-over not evaluated: no blank was injected right after the highest calibrator",
            {"limit_pct": lim}, severity=_sev(severity))
    if not np.isfinite(lloq_response) or lloq_response <= 0:
        return RuleOutcome.not_evaluated(
            "carryover", NO_LLOQ_RESPONSE,
            "carry-over not evaluated: no positive LLOQ calibrator response to compare the blank with",
            {"limit_pct": lim}, severity=_sev(severity))
    b = np.where(np.isfinite(b), b, 0.0)  # no peak in the blank = no carry-over
    worst = float(b.max())
    pct = 100.0 * worst / lloq_response
    details: dict[str, Any] = {"blank_response": worst, "lloq_response": float(lloq_response),
                               "pct_of_lloq": pct, "limit_pct": lim}
    problems = []
    if pct > lim:
        problems.append(f"analyte {pct:.1f} % of the LLOQ response (limit {lim:g} %)")
    if blank_is is not None and mean_is is not None:
        bi = _arr(blank_is)
        bi = np.where(np.isfinite(bi), bi, 0.0)
        worst_is = float(bi.max()) if bi.size else 0.0
        is_pct = 100.0 * worst_is / mean_is if mean_is > 0 else math.inf
        details.update(blank_is=worst_is, mean_is=float(mean_is), pct_of_is=is_pct, is_limit_pct=is_lim)
        if is_pct > is_lim:
            problems.append(f"internal standard {is_pct:.1f} % of the mean IS response (limit {is_lim:g} %)")
    if problems:
        msg = "carry-over in the blank after the highest calibrator: " + "; ".join(problems)
    else:
        msg = f"no significant carry-over (blank {pct:.1f} % of LLOQ response, limit {lim:g} %)"
    return RuleOutcome("carryover", CARRYOVER, not problems, _sev(severity), msg, details)


def blank_interference(
    blank_responses: float | Sequence[float],
    lloq_response: float,
    blank_is: float | Sequence[float | None] | None = None,
    mean_is: float | None = None,
    limit_pct: float = 20.0,
    is_limit_pct: float = 5.0,
    *,
    names: Sequence[str] | None = None,
    severity: str = "reject",
) -> RuleOutcome:
    """Interference in blank and zero samples.

    Every blank/zero must have an analyte response <= ``limit_pct`` (20) % of the LLOQ response;
    blanks without internal standard must also have an IS-channel response <= ``is_limit_pct`` (5) %
    of the mean IS response. For zero samples (IS added) pass ``None`` as their ``blank_is`` entry.
    Not evaluated without blank/zero samples (``NO_BLANKS``) or without a positive LLOQ response
    (``NO_LLOQ_RESPONSE``).
    """
    lim = _pos("limit_pct", limit_pct)
    is_lim = _pos("is_limit_pct", is_limit_pct)
    b = _arr(blank_responses)
    names = [str(n) for n in names] if names is not None else [f"blank {i + 1}" for i in range(b.size)]
    if len(names) != b.size:
        raise MethodError(f"{len(names)} names for {b.size} blank responses")
    if b.size == 0:
        return RuleOutcome.not_evaluated(
            "interference", NO_BLANKS, "interference not evaluated: no blank or zero sample in the run",
            {"n": 0}, severity=_sev(severity))
    if not np.isfinite(lloq_response) or lloq_response <= 0:
        return RuleOutcome.not_evaluated(
            "interference", NO_LLOQ_RESPONSE,
            "interference not evaluated: no positive LLOQ calibrator response to compare the blanks with",
            {"n": int(b.size)}, severity=_sev(severity))
    if blank_is is None:
        bis: list[float | None] = [None] * b.size
    else:
        bis = list(np.atleast_1d(np.asarray(blank_is, dtype=object)).ravel())
        if len(bis) != b.size:
            raise MethodError(f"{len(bis)} blank IS values for {b.size} blank responses")
    rows = []
    problems = []
    for name, resp, bi in zip(names, b, bis, strict=True):
        r = 0.0 if not np.isfinite(resp) else float(resp)
        pct = 100.0 * r / lloq_response
        row: dict[str, Any] = {"name": name, "response": r, "pct_of_lloq": pct}
        if pct > lim:
            problems.append(f"{name}: analyte {pct:.1f} % of LLOQ response (limit {lim:g} %)")
        if bi is not None and mean_is is not None:
            biv = float(bi) if np.isfinite(float(bi)) else 0.0
            ip = 100.0 * biv / mean_is if mean_is > 0 else math.inf
            row["pct_of_is"] = ip
            if ip > is_lim:
                problems.append(f"{name}: internal standard {ip:.1f} % of mean IS (limit {is_lim:g} %)")
        rows.append(row)
    if problems:
        msg = "interference in blank/zero samples: " + "; ".join(problems)
    else:
        msg = f"no interference in {b.size} blank/zero sample(s) (limit {lim:g} % of LLOQ response)"
    return RuleOutcome("interference", INTERFERENCE, not problems, _sev(severity), msg,
                       {"samples": rows, "limit_pct": lim, "is_limit_pct": is_lim})


def calibration_rule(outcome: Any, *, severity: str = "reject", r2_min: float = 0.0) -> RuleOutcome:
    """Wrap a :class:`thioquant.calibration.CalibrationOutcome` as a run rule.

    ``r2_min``: the curve's r^2 must exceed it as well (CLSI C62-A: 0.995; 0 = not judged).
    """
    n = len(outcome.points)
    n_inc = sum(p.included for p in outcome.points)
    r2 = float(outcome.calibration.r2)
    low_r2 = r2_min > 0 and not r2 > r2_min
    passed = bool(outcome.passed) and not low_r2
    if passed:
        msg = (
            f"calibration accepted: {n_inc}/{n} calibrators within limits, range "
            f"{outcome.lloq:g} to {outcome.uloq:g}"
        )
    else:
        why = [r for r in outcome.reasons if "excluded:" not in r] if not outcome.passed else []
        if low_r2:
            why.append(f"r^2 {r2:.4f} is not above {r2_min:g} (CLSI C62-A)")
        msg = "calibration failed: " + "; ".join(why)
    return RuleOutcome(
        "calibration", CAL_FAIL, passed, _sev(severity), msg,
        {"n": n, "n_included": n_inc, "lloq": outcome.lloq, "uloq": outcome.uloq, "r2": r2,
         "r2_min": r2_min, "reasons": list(outcome.reasons)},
    )


# --------------------------------------------------------------------------- per-injection checks


def _mask(mask: Any, n: int, name: str) -> np.ndarray:
    m = np.asarray(mask, dtype=bool).ravel()
    if m.shape != (n,):
        raise MethodError(f"{name} must have one entry per injection ({n}), got {m.size}")
    return m


def _injection_check(
    rule: str, code: str, values: np.ndarray, ref: float, dev: np.ndarray, bad: np.ndarray,
    cv: float, severity: str, what: str, limit_txt: str, names: Sequence[str] | None,
) -> InjectionCheck:
    fl = tuple((code,) if b else () for b in bad)
    n_bad = int(bad.sum())
    idx = np.flatnonzero(bad)
    labels = [names[i] if names is not None else f"#{i + 1}" for i in idx]
    if n_bad:
        shown = ", ".join(f"{lab} ({dev[i]:+.1f} %)" for lab, i in zip(labels[:10], idx[:10], strict=False))
        more = f" and {n_bad - 10} more" if n_bad > 10 else ""
        msg = f"{what} outside {limit_txt} in {n_bad} injection(s): {shown}{more}"
    else:
        msg = f"{what} within {limit_txt} for all {int(np.isfinite(values).sum())} injections"
    out = RuleOutcome(
        rule, code, n_bad == 0, _sev(severity), msg,
        {"reference": ref, "n_flagged": n_bad, "flagged": labels, "cv_pct": cv},
    )
    return InjectionCheck(fl, values, dev, float(ref), float(cv), out)


def _cv(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    if v.size < 2 or v.mean() == 0:
        return math.nan
    return float(100.0 * np.std(v, ddof=1) / abs(np.mean(v)))


def is_response(
    is_areas: Any,
    reference_mask: Any,
    band: tuple[float, float] = (50.0, 150.0),
    *,
    names: Sequence[str] | None = None,
    severity: str = "warn",
) -> InjectionCheck:
    """Internal-standard response of every injection against the mean of the reference injections.

    Parameters
    ----------
    is_areas : array_like
        IS response of every injection (NaN when missing: flagged ``NO_IS`` elsewhere, not here).
    reference_mask : array_like of bool
        Injections defining the mean (calibrators and QCs).
    band : (low, high)
        Accepted band in % of that mean (50, 150).

    Returns
    -------
    InjectionCheck
        ``flags`` holds ``("IS_RESPONSE",)`` for injections outside the band; ``values`` the IS
        response in % of the reference mean; ``cv_pct`` the IS CV across all injections with an IS.
    """
    a = _arr(is_areas)
    m = _mask(reference_mask, a.size, "reference_mask")
    lo, hi = float(band[0]), float(band[1])
    if not (0 <= lo < 100 < hi):
        raise MethodError(f"IS band must satisfy 0 <= low < 100 < high, got {band}")
    ref_vals = a[m & np.isfinite(a)]
    if ref_vals.size == 0:
        raise MethodError("no reference injection (calibrator/QC) with an IS response")
    ref = float(ref_vals.mean())
    pct = 100.0 * a / ref
    bad = np.isfinite(pct) & ((pct < lo) | (pct > hi))
    chk = _injection_check(
        "is_response", IS_RESPONSE, pct, ref, pct - 100.0, bad, _cv(a), severity,
        "IS response", f"{lo:g}-{hi:g} % of the calibrator/QC mean", names,
    )
    return chk


def is_cv_rule(cv_pct: float, limit_pct: float = 10.0, *, severity: str = "warn") -> RuleOutcome:
    """Warn when the IS CV across the run exceeds ``limit_pct``; not evaluated when the CV is NaN
    (fewer than two IS responses: ``IS_CV_TOO_FEW``)."""
    lim = _pos("limit_pct", limit_pct)
    if math.isnan(float(cv_pct)):
        return RuleOutcome.not_evaluated(
            "is_cv", IS_CV_TOO_FEW,
            "IS CV not evaluated: fewer than two injections with an internal standard response",
            {"cv_pct": None, "limit_pct": lim}, severity=_sev(severity))
    ok = not (np.isfinite(cv_pct) and cv_pct > lim)
    msg = f"IS CV across the run {cv_pct:.1f} % ({'within' if ok else 'above'} {lim:g} %)"
    return RuleOutcome("is_cv", IS_CV, ok, _sev(severity), msg, {"cv_pct": cv_pct, "limit_pct": lim})


def rt_check(
    rts: Any,
    calibrator_mask: Any,
    tolerance_pct: float = 2.5,
    *,
    names: Sequence[str] | None = None,
    severity: str = "warn",
    relative: bool = False,
) -> InjectionCheck:
    """Retention time of every injection within +/- ``tolerance_pct`` % of the calibrator mean.

    ``values`` are the retention times; ``deviation_pct`` ``100 (rt - mean) / mean``; ``cv_pct`` the
    RT CV of the calibrators. NaN retention times (no peak) are not flagged here. With
    ``relative=True`` the values are relative retention times (analyte RT / internal standard RT,
    EU 2002/657/EC) and the messages say so.
    """
    tol = _pos("tolerance_pct", tolerance_pct)
    r = _arr(rts)
    m = _mask(calibrator_mask, r.size, "calibrator_mask")
    cal = r[m & np.isfinite(r)]
    if cal.size == 0:
        raise MethodError("no calibrator with a retention time")
    ref = float(cal.mean())
    dev = 100.0 * (r - ref) / ref
    bad = np.isfinite(dev) & (np.abs(dev) > tol + 1e-12)
    what, ref_txt = (("relative retention time", f"{ref:.4f}") if relative else ("retention time", f"{ref:.3f} min"))
    return _injection_check(
        "rt", RT_SHIFT, r, ref, dev, bad, _cv(cal), severity,
        what, f"+/-{tol:g} % of the calibrator mean ({ref_txt})", names,
    )


#: (lower bound of qual/quant in %, relative tolerance in %), EU 2002/657/EC LC-MS tiers
ION_RATIO_TIERS = ((50.0, 20.0), (20.0, 25.0), (10.0, 30.0), (0.0, 50.0))


def tiered_ion_ratio_tolerance(ratio: float) -> float:
    """Relative tolerance (%) for a qual/quant ratio: 20 % above 0.5, 25 % for 0.2-0.5,
    30 % for 0.1-0.2, 50 % up to 0.1 (EU 2002/657/EC)."""
    pct = 100.0 * ratio
    for lower, tol in ION_RATIO_TIERS:
        if pct > lower:
            return tol
    return ION_RATIO_TIERS[-1][1]


def ion_ratios(quant: Any, qual: Any) -> np.ndarray:
    """Qualifier/quantifier ion ratios, NaN where the quantifier has no positive response."""
    q, ql = np.asarray(quant, dtype=float), np.asarray(qual, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q > 0, ql / q, np.nan)


def ion_ratio_check(
    quant: Any,
    qual: Any,
    calibrator_mask: Any,
    tolerance_pct: float | str = 20.0,
    *,
    names: Sequence[str] | None = None,
    severity: str = "warn",
) -> InjectionCheck:
    """Qualifier/quantifier ion ratio within +/- ``tolerance_pct`` % (relative) of the calibrator mean.

    ``values`` are the ratios ``qual / quant``; ``deviation_pct`` ``100 (ratio / mean - 1)``.
    Injections without both responses are not flagged here. ``tolerance_pct="tiered"`` takes
    the tolerance from the calibrator mean ratio (:func:`tiered_ion_ratio_tolerance`): CLSI C62-A's
    20 % applies when the qualifier is > 50 % of the quantifier, weaker qualifiers get 25-50 %.
    """
    tiered = tolerance_pct == "tiered"
    tol = 0.0 if tiered else _pos("tolerance_pct", tolerance_pct)  # type: ignore[arg-type]
    q = _arr(quant)
    ql = _arr(qual)
    if q.shape != ql.shape:
        raise MethodError("quant and qual must have one value per injection")
    m = _mask(calibrator_mask, q.size, "calibrator_mask")
    ratio = ion_ratios(q, ql)
    cal = ratio[m & np.isfinite(ratio)]
    if cal.size == 0:
        raise MethodError("no calibrator with both quantifier and qualifier responses")
    ref = float(cal.mean())
    if tiered:
        tol = tiered_ion_ratio_tolerance(ref)
    dev = 100.0 * (ratio / ref - 1.0)
    bad = np.isfinite(dev) & (np.abs(dev) > tol + 1e-12)
    return _injection_check(
        "ion_ratio", ION_RATIO, ratio, ref, dev, bad, _cv(cal), severity,
        "ion ratio", f"+/-{tol:g} % of the calibrator mean ({ref:.4g})", names,
    )


# --------------------------------------------------------------------------- verdict


def run_verdict(outcomes: Iterable[RuleOutcome | InjectionCheck]) -> Verdict:
    """Combine rule outcomes into the run verdict.

    The run is rejected when any outcome with severity "reject" failed; the deciding rule is the
    first such failure in the order calibration, QC, carry-over, interference, Westgard, then
    the rest in the given order. An accepted run is decided by the QC rule when present (else the
    calibration rule, else "all rules"). Failed "warn" outcomes are listed as warnings. Outcomes
    that could not be evaluated are listed in ``not_evaluated`` and affect neither.
    """
    outs = [o.outcome if isinstance(o, InjectionCheck) else o for o in outcomes]

    def rank(o: RuleOutcome) -> int:
        base = o.rule.split(":")[0]
        return DECISION_ORDER.index(base) if base in DECISION_ORDER else len(DECISION_ORDER)

    rejects = sorted((o for o in outs if o.rejects), key=rank)
    warnings = tuple(f"{o.code}: {o.message}" for o in outs if o.warns)
    skipped = tuple(f"{o.code}: {o.message}" for o in outs if not o.evaluated)
    if rejects:
        first = rejects[0]
        reasons = tuple(f"{o.code}: {o.message}" for o in rejects)
        return Verdict(False, first.rule, reasons, warnings, tuple(outs), skipped)
    evaluated = [o for o in outs if o.evaluated]
    decider = next((o for o in evaluated if o.rule == "qc"), None) or next(
        (o for o in evaluated if o.rule == "calibration"), None
    )
    if decider is not None:
        reasons = (decider.message,) + tuple(o.message for o in outs if o is not decider and o.passed)
        return Verdict(True, decider.rule, reasons, warnings, tuple(outs), skipped)
    reasons = tuple(o.message for o in evaluated) or ("no rules evaluated",)
    return Verdict(True, "all rules", reasons, warnings, tuple(outs), skipped)
