"""Calibration stage: weighted least-squares fitting, ICH M10 acceptance, model selection,
inverse-prediction intervals and detection/quantification limits.

See ``docs/calibration.md``.
"""

from .accept import CalibrationOutcome, CalibrationPoint, accept_calibration, back_calculate
from .fit import LstsqResult, fit_calibration, weighted_lstsq
from .interval import inverse_interval
from .limits import (
    Limits,
    limits_from_blanks,
    limits_from_residuals,
    limits_from_sn,
    limits_near_lloq,
    range_flags,
)
from .select import DEFAULT_CANDIDATES, candidates_for, partial_f_test, select_model

__all__ = [
    "DEFAULT_CANDIDATES",
    "CalibrationOutcome",
    "CalibrationPoint",
    "Limits",
    "LstsqResult",
    "accept_calibration",
    "back_calculate",
    "candidates_for",
    "fit_calibration",
    "inverse_interval",
    "limits_from_blanks",
    "limits_from_residuals",
    "limits_near_lloq",
    "limits_from_sn",
    "partial_f_test",
    "range_flags",
    "select_model",
    "weighted_lstsq",
]
