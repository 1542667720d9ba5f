"""Inverse-prediction (calibration) confidence intervals for reported concentrations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from thioquant.errors import CalibrationError
from thioquant.model import Calibration

from .fit import gradient, normalized_weights, raw_weights


def _weight_scale(cal: Calibration) -> tuple[float, float, float, float, float]:
    """(normalisation, x range, y range) of the included calibrators, computed once per call."""
    if cal.weighting == "none":
        return 1.0, math.nan, math.nan, math.nan, math.nan
    _, norm = normalized_weights(cal)
    xi, yi = cal.x[cal.included], cal.y[cal.included]
    return float(norm), float(xi.min()), float(xi.max()), float(yi.min()), float(yi.max())


def _new_obs_weight(cal: Calibration, x0: float, y0: float,
                    scale: tuple[float, float, float, float, float]) -> float:
    """Weight of a new observation on the fit's (normalised) weight scale.

    x0 and y0 are clamped to the range of the included calibrators, so a response below the
    lowest calibrator does not get an ever larger weight (an ever smaller variance).
    """
    if cal.weighting == "none":
        return 1.0
    norm, xlo, xhi, ylo, yhi = scale
    xc = min(max(x0, xlo), xhi)
    yc = min(max(y0, ylo), yhi)
    raw = raw_weights(np.array([xc]), np.array([yc]), cal.weighting)[0]
    return float(raw / norm)


def inverse_interval(
    cal: Calibration, y: Any, m: int = 1, confidence: float = 0.95
) -> tuple[float, float] | tuple[np.ndarray, np.ndarray]:
    """Confidence interval of the concentration read back from response(s) ``y``.

    Parameters
    ----------
    cal : Calibration
        Fitted curve.
    y : float or array_like
        Observed response (mean of ``m`` replicate injections).
    m : int
        Number of replicate responses averaged into ``y``.
    confidence : float
        Two-sided confidence level (0.95).

    Returns
    -------
    (low, high)
        Floats for a scalar ``y``, arrays otherwise. NaN where no bounded interval exists (slope
        not significantly different from zero at this confidence, or the response outside the
        curve's reach).

    Notes
    -----
    The variance of a new mean response at concentration ``x`` is
    ``s^2 / (m w0) + g(x)^T C g(x)``, where ``s`` is the residual SD, ``w0`` the normalised weight
    of the new observation (evaluated at the point estimate ``x0``: ``1/x0`` for 1/x weighting,
    ``1/y`` for 1/y..., with x0 and y clamped to the calibrated range), ``C`` the coefficient
    covariance and ``g`` the gradient of the curve with respect to its coefficients; ``t`` is
    Student's quantile with the fit's degrees of freedom.

    * ``linear`` / ``linear0``: the classical (Fieller-type) calibration interval, i.e. the set of
      ``x`` for which ``|y - a - b x| <= t sqrt(var(x))``: the roots of a quadratic in ``x``. It is
      asymmetric about ``x0`` and exists only when the slope is significant (``b^2 > t^2 var(b)``).
    * ``quadratic``: delta method, ``x0 +/- t sqrt(var) / |f'(x0)|``.
    * ``power``: delta method in the log domain (``ln x0 +/- t sd / c1``), exponentiated, so the
      interval is multiplicative.
    """
    if not (0 < confidence < 1):
        raise CalibrationError(f"confidence must be in (0, 1), got {confidence}")
    if int(m) < 1:
        raise CalibrationError(f"m must be >= 1, got {m}")
    if cal.dof < 1:
        raise CalibrationError("calibration has no residual degrees of freedom")
    from scipy.special import stdtrit  # lazily: only a batch that reports intervals pays the import

    t = float(stdtrit(int(cal.dof), 0.5 + float(confidence) / 2))
    ya = np.atleast_1d(np.asarray(y, dtype=float))
    scale = _weight_scale(cal)
    if cal.model in ("linear", "linear0"):
        lo, hi = _linear_many(cal, ya, int(m), t, scale)
    else:
        lo = np.full(ya.shape, np.nan)
        hi = np.full(ya.shape, np.nan)
        for i, yi in enumerate(ya):
            lo[i], hi[i] = _one(cal, float(yi), int(m), t, scale)
    if np.ndim(y) == 0:
        return float(lo[0]), float(hi[0])
    return lo, hi


def _linear_many(cal: Calibration, ya: np.ndarray, m: int, t: float,
                 scale: tuple[float, float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The straight-line (Fieller) interval for every response at once: the ``x`` where
    ``(y - a - b x)^2 = t^2 (v0 + vaa + 2 x vab + x^2 vbb)``. Element by element (1,000 responses
    in 0.2 ms; one Python call per response took 11 ms)."""
    lo = np.full(ya.shape, np.nan)
    hi = np.full(ya.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        x0 = np.asarray(cal.inverse(ya), dtype=float)
    ok = np.isfinite(ya) & np.isfinite(x0)
    c = cal.coefficients
    C = np.asarray(cal.covariance)
    a, b = c[0], c[1]
    vaa, vab, vbb = C[0, 0], C[0, 1], C[1, 1]
    t2 = t * t
    A = b * b - t2 * vbb
    if A <= 0 or not ok.any():
        return lo, hi
    y0, x0 = ya[ok], x0[ok]
    if cal.weighting == "none":
        w0 = np.ones_like(x0)
    else:
        norm, xlo, xhi, ylo, yhi = scale
        xc = np.minimum(np.maximum(x0, xlo), xhi)
        yc = np.minimum(np.maximum(y0, ylo), yhi)
        w0 = raw_weights(xc, yc, cal.weighting) / norm
    v0 = cal.residual_sd**2 / (m * w0)
    d = y0 - a
    B = -2.0 * (b * d + t2 * vab)
    Cq = d * d - t2 * (v0 + vaa)
    disc = B * B - 4 * A * Cq
    sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
    r1, r2 = (-B - sq) / (2 * A), (-B + sq) / (2 * A)
    lo[ok] = np.minimum(r1, r2)
    hi[ok] = np.maximum(r1, r2)
    return lo, hi


def _one(cal: Calibration, y0: float, m: int, t: float,
         scale: tuple[float, float, float, float, float]) -> tuple[float, float]:
    """The interval of one response for the power and quadratic models (delta method)."""
    nan = (math.nan, math.nan)
    if not math.isfinite(y0):
        return nan
    x0 = float(cal.inverse(y0))
    if not math.isfinite(x0):
        return nan
    s2 = cal.residual_sd**2
    C = np.asarray(cal.covariance)
    c = cal.coefficients
    if cal.model == "power":
        if y0 <= 0 or x0 <= 0:
            return nan
        w0 = _new_obs_weight(cal, x0, y0, scale)
        g = gradient(cal, x0)
        var = s2 / (m * w0) + float(g @ C @ g)
        half = t * math.sqrt(var) / abs(c[1])
        lx = math.log(x0)
        return math.exp(lx - half), math.exp(lx + half)
    w0 = _new_obs_weight(cal, x0, y0, scale)
    v0 = s2 / (m * w0)
    # quadratic (straight lines go through _linear_many): delta method
    g = gradient(cal, x0)
    var = v0 + float(g @ C @ g)
    slope = c[1] + 2 * c[2] * x0
    if slope == 0:
        return nan
    half = t * math.sqrt(var) / abs(slope)
    return x0 - half, x0 + half
