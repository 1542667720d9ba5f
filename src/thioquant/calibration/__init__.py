"""Calibration stage: weighted least-squares fitting, ICH M10 acceptance, model selection,
inverse-prediction intervals and detection/quantification limits.

See ``docs/calibration.md``.
"""

from .accept import CalibrationOutcome, CalibrationPoint, accept_calibration, back_calculate
from .fit import LstsqResult, fit_calibration, weighted_lstsq

__all__ = [
    "CalibrationOutcome",
    "CalibrationPoint",
    "LstsqResult",
    "accept_calibration",
    "back_calculate",
    "fit_calibration",
    "weighted_lstsq",
]
