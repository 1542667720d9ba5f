"""Detection and quantification limits (ICH Q2(R2)) and reportable-range flags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thioquant.errors import CalibrationError
from thioquant.model import Calibration


@dataclass(frozen=True)
class Limits:
    """Limit of detection and of quantification, in concentration units.

    ``method`` is one of "residual_sd", "intercept_sd", "blank_sd", "sn"; ``sigma`` and ``slope``
    are the values used (``sigma`` is NaN for "sn").
    """

    lod: float
    loq: float
    sigma: float
    slope: float
    method: str

    def as_dict(self) -> dict[str, Any]:
        return {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in self.__dict__.items()}


def _slope_at_zero(cal: Calibration) -> float:
    if cal.model == "power":
        raise CalibrationError(
            "sigma/S limits need a slope at zero concentration; the power model has none "
            "(use limits_from_blanks with a slope or limits_from_sn)"
        )
    return float(cal.coefficients[1])


def limits_from_residuals(
    cal: Calibration, *, sigma: str = "residual", lod_factor: float = 3.3, loq_factor: float = 10.0
) -> Limits:
    """ICH Q2 limits from the calibration curve: LOD = 3.3 sigma / S, LOQ = 10 sigma / S.

    Parameters
    ----------
    cal : Calibration
        A linear, linear0 or quadratic curve (S is the slope at zero, ``c1``).
    sigma : {"residual", "intercept"}
        "residual": the un-weighted residual SD of the included calibrators about the curve,
        ``sqrt(sum((y - f(x))^2) / dof)``, in response units (for an unweighted fit this is
        ``cal.residual_sd``); "intercept": the standard deviation of the fitted intercept.
    lod_factor, loq_factor : float
        3.3 and 10 (ICH Q2).
    """
    S = _slope_at_zero(cal)
    if S == 0:
        raise CalibrationError("slope is zero: limits undefined")
    if sigma == "residual":
        inc = cal.included
        r = cal.y[inc] - np.asarray(cal.predict(cal.x[inc]))
        sd = float(np.sqrt(np.sum(r**2) / cal.dof))
        method = "residual_sd"
    elif sigma == "intercept":
        if cal.model == "linear0":
            raise CalibrationError("a curve through zero has no intercept SD")
        sd = float(np.sqrt(cal.covariance[0, 0]))
        method = "intercept_sd"
    else:
        raise CalibrationError(f"sigma must be 'residual' or 'intercept', got '{sigma}'")
    return Limits(lod_factor * sd / abs(S), loq_factor * sd / abs(S), sd, S, method)


def limits_near_lloq(cal: Calibration, *, factor: float = 10.0, lod_factor: float = 3.3,
                     loq_factor: float = 10.0) -> Limits:
    """ICH Q2 limits from a straight line through the included calibrators up to ``factor`` x the
    lowest one (ICH Q2: a calibration curve "in the range of the DL").

    Over a wide, weighted range the whole curve's un-weighted residual SD is set by the top
    calibrators: for 6-TG at 100-10,000 nmol/L it gave an LOD of 539 nmol/L, five times the
    accepted LLOQ. Needs at least 3 distinct levels in that part of the range.
    """
    from .fit import fit_calibration

    inc = np.asarray(cal.included, dtype=bool)
    x, y = np.asarray(cal.x, dtype=float)[inc], np.asarray(cal.y, dtype=float)[inc]
    low = (x <= factor * float(np.min(x))) & np.isfinite(y)
    if len(set(x[low].tolist())) < 3:  # (np.unique would import numpy.ma into every batch)
        raise CalibrationError(f"fewer than 3 calibrator levels up to {factor:g} x the lowest")
    lim = limits_from_residuals(fit_calibration(x[low], y[low], "linear", "none"),
                                lod_factor=lod_factor, loq_factor=loq_factor)
    return Limits(lim.lod, lim.loq, lim.sigma, lim.slope,
                  f"residual SD of a line through the calibrators <= {factor:g} x the lowest")


def limits_from_blanks(
    blank_responses: Any, slope: float, *, lod_factor: float = 3.3, loq_factor: float = 10.0
) -> Limits:
    """ICH Q2 limits from the SD of blank responses: LOD = 3.3 sd / S, LOQ = 10 sd / S.

    Needs at least 2 blank responses (ICH suggests an appropriate number, typically >= 6... the
    caller decides); ``slope`` is the calibration slope S in response per concentration.
    """
    b = np.asarray(blank_responses, dtype=float).ravel()
    b = b[np.isfinite(b)]
    if b.size < 2:
        raise CalibrationError("need at least 2 finite blank responses")
    if not np.isfinite(slope) or slope == 0:
        raise CalibrationError("slope must be finite and non-zero")
    sd = float(np.std(b, ddof=1))
    return Limits(lod_factor * sd / abs(slope), loq_factor * sd / abs(slope), sd, float(slope), "blank_sd")


def limits_from_sn(
    x: Any, sn: Any, *, lod_sn: float = 3.0, loq_sn: float = 10.0
) -> Limits:
    """Limits by signal-to-noise: the concentrations where S/N reaches 3 and 10.

    S/N is taken as proportional to concentration (a line through the origin fitted to the
    calibrators' S/N values, weighted 1/x^2 so the low levels dominate).
    """
    from .fit import fit_calibration

    xa = np.asarray(x, dtype=float).ravel()
    sa = np.asarray(sn, dtype=float).ravel()
    ok = np.isfinite(xa) & np.isfinite(sa) & (xa > 0) & (sa > 0)
    if ok.sum() < 2:
        raise CalibrationError("need at least 2 calibrators with positive S/N")
    cal = fit_calibration(xa[ok], sa[ok], "linear0", "1/x^2")
    k = cal.coefficients[1]
    return Limits(lod_sn / k, loq_sn / k, float("nan"), float(k), "sn")


BELOW_LLOQ = "BELOW_LLOQ"
ABOVE_ULOQ = "ABOVE_ULOQ"


def range_flags(conc: float, lloq: float, uloq: float) -> tuple[str, ...]:
    """Flags for a concentration against the reportable range.

    Returns ``("BELOW_LLOQ",)`` ("<LLOQ") or ``("ABOVE_ULOQ",)`` (">ULOQ: dilute and rerun") or
    ``()``. A NaN concentration gets no range flag (the caller flags it otherwise).
    """
    if not np.isfinite(conc):
        return ()
    if np.isfinite(lloq) and conc < lloq * (1 - 1e-12):
        return (BELOW_LLOQ,)
    if np.isfinite(uloq) and conc > uloq * (1 + 1e-12):
        return (ABOVE_ULOQ,)
    return ()
