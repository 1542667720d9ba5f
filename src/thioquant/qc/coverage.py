"""Run-time QC coverage (ICH M10, 2022, section 3.3 and domain notes section 4).

Every study run carries QCs at low, mid and high concentrations, at least in duplicate, and at
least 6 QCs or 5 % of the study samples, whichever is more. The method file's QC design is
checked when it loads (a warning); this rule checks what was actually *run*: a worklist with a
QC row left out, or a QC file that could not be measured, leaves a run whose QC acceptance
(2/3 of all QCs, half at each level) would pass on too few QCs. A run with only QCM-1 left
was "ACCEPTED ... QC: 2/2" before this rule.

A QC's level role (low, mid, high) comes from its nominal relative to the analyte's calibrated
range (:func:`thioquant.assay.method.qc_roles_at`), never from its name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from thioquant import flags
from thioquant.qc.rules import RuleOutcome

QC_COVERAGE = flags.register(
    "QC_COVERAGE",
    "run QC coverage below ICH M10: low, mid and high QCs (in duplicate) and >= 6 QCs or >= 5 % of the "
    "study samples",
)

#: The levels every study run must carry (ICH M10).
REQUIRED_ROLES = ("low", "mid", "high")


def required_qc_count(n_study_samples: int, *, min_count: int = 6, min_pct: float = 5.0) -> int:
    """QCs a run needs: ``min_count`` or ``min_pct`` % of the study samples, whichever is more."""
    return max(int(min_count), math.ceil(n_study_samples * float(min_pct) / 100.0 - 1e-9))


def qc_coverage(
    qc_nominals: Sequence[float],
    lloq: float,
    uloq: float,
    n_study_samples: int,
    *,
    min_count: int = 6,
    min_pct: float = 5.0,
    min_per_level: int = 2,
    severity: str = "reject",
    names: Sequence[str] | None = None,
) -> RuleOutcome:
    """Judge whether the QCs run for one analyte cover ICH M10's low, mid and high levels and count.

    Parameters
    ----------
    qc_nominals : sequence of float
        Nominal concentration of every usable, measured QC injection in the run (method
        ``conc_unit``).
    lloq, uloq : float
        The analyte's calibrated range (lowest and highest non-zero calibrator).
    n_study_samples : int
        Study (patient) samples in the run.
    min_count, min_pct, min_per_level : int, float, int
        ICH M10: at least 6 QCs, or 5 % of the study samples if more; each level at least in
        duplicate.
    severity : {"reject", "warn"}
        What a failure means for the run.
    names : sequence of str, optional
        Sample ids, in the order of ``qc_nominals``, for the details.

    Returns
    -------
    RuleOutcome
        Rule "qc_coverage", code ``QC_COVERAGE``; the message names the missing levels and the
        count against the requirement.
    """
    from thioquant.assay.method import qc_roles_at

    need = required_qc_count(n_study_samples, min_count=min_count, min_pct=min_pct)
    per_role = {r: 0 for r in REQUIRED_ROLES}
    for x in qc_nominals:
        for r in qc_roles_at(float(x), lloq, uloq) & set(REQUIRED_ROLES):
            per_role[r] += 1
    n = len(qc_nominals)
    short = [f"{r} ({per_role[r]} run, {min_per_level} needed)" for r in REQUIRED_ROLES
             if per_role[r] < min_per_level]
    problems = []
    if short:
        problems.append("QC levels missing or not in duplicate: " + ", ".join(short))
    if n < need:
        problems.append(f"{n} usable QC(s) run, {need} needed (at least {min_count}, or {min_pct:g} % of "
                        f"{n_study_samples} study samples if more)")
    details = {"qcs": n, "required": need, "study_samples": n_study_samples, "per_level": per_role,
               "min_per_level": min_per_level}
    if names is not None:
        details["qc_samples"] = list(names)
    if problems:
        return RuleOutcome("qc_coverage", QC_COVERAGE, False, severity,
                           "; ".join(problems) + " (ICH M10: every study run carries low, mid and high QCs)",
                           details)
    return RuleOutcome("qc_coverage", QC_COVERAGE, True, severity,
                       f"QC coverage: low {per_role['low']}, mid {per_role['mid']}, high {per_role['high']}; "
                       f"{n} QCs run, {need} needed", details)
