"""Run QC: ICH M10 QC acceptance, carry-over, internal standard, retention time, ion ratio,
blank interference, Westgard multirules across runs, and the run verdict.

Pure functions on plain values; see ``docs/qc.md``.
"""

from .coverage import QC_COVERAGE, qc_coverage, required_qc_count
from .rules import (
    DECISION_ORDER,
    ION_RATIO_TIERS,
    STATUSES,
    InjectionCheck,
    RuleOutcome,
    Verdict,
    blank_interference,
    calibration_rule,
    carryover,
    ion_ratio_check,
    is_cv_rule,
    is_response,
    qc_acceptance,
    rt_check,
    run_verdict,
    tiered_ion_ratio_tolerance,
)
from .settings import DEFAULT_SEVERITY, PER_ANALYTE_KEYS, WESTGARD_RULES, QCSettings
from .westgard import QCHistory, default_history_path, plot_levey_jennings

__all__ = [
    "DECISION_ORDER",
    "DEFAULT_SEVERITY",
    "ION_RATIO_TIERS",
    "PER_ANALYTE_KEYS",
    "QC_COVERAGE",
    "STATUSES",
    "WESTGARD_RULES",
    "InjectionCheck",
    "QCHistory",
    "QCSettings",
    "RuleOutcome",
    "Verdict",
    "blank_interference",
    "calibration_rule",
    "carryover",
    "default_history_path",
    "ion_ratio_check",
    "is_cv_rule",
    "is_response",
    "plot_levey_jennings",
    "qc_acceptance",
    "qc_coverage",
    "required_qc_count",
    "rt_check",
    "run_verdict",
    "tiered_ion_ratio_tolerance",
]
