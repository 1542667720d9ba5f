"""Exponentially modified Gaussian (EMG) peaks: model, analytic Jacobian, bounded fit.

The EMG is a Gaussian (centre ``mu``, standard deviation ``sigma``) convolved with an
exponential decay (time constant ``tau``), the usual model of a tailing chromatographic peak.
It is parametrised by its **area** so that the fitted area is a parameter, not an integral::

    f(t) = area / (2 tau) * exp(sigma^2 / (2 tau^2) - (t - mu) / tau)
           * erfc((sigma / tau - (t - mu) / sigma) / sqrt(2))

The naive formula overflows (``exp`` of a large number times an ``erfc`` that underflows); it is
evaluated in the equivalent form ``exp(-(t-mu)^2 / (2 sigma^2)) * erfcx(z)`` where ``z >= 0``,
which is finite for every ``tau > 0`` and tends to the Gaussian as ``tau -> 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erfc, erfcx

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _emg_shape(x: np.ndarray, sigma: float, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit-area EMG ``g`` at offsets ``x = t - mu`` and the Gaussian factor ``G``."""
    z = (sigma / tau - x / sigma) / _SQRT2
    gauss = np.exp(-0.5 * (x / sigma) ** 2)
    g = np.empty_like(x)
    pos = z >= 0
    g[pos] = gauss[pos] * erfcx(z[pos])
    neg = ~pos
    if neg.any():
        g[neg] = np.exp(0.5 * (sigma / tau) ** 2 - x[neg] / tau) * erfc(z[neg])
    g /= 2.0 * tau
    return g, gauss


def emg(t: np.ndarray, area: float, mu: float, sigma: float, tau: float) -> np.ndarray:
    """Exponentially modified Gaussian of the given area.

    Parameters
    ----------
    t : ndarray
        Time axis (minutes).
    area : float
        Peak area (signal x minutes).
    mu, sigma : float
        Centre and standard deviation of the Gaussian component (minutes).
    tau : float
        Exponential time constant (minutes, > 0; small values give a Gaussian).

    Returns
    -------
    ndarray
        The signal at ``t``.
    """
    x = np.asarray(t, dtype=float) - mu
    g, _ = _emg_shape(x, float(sigma), max(float(tau), 1e-12 * float(sigma)))
    return area * g


def emg_jacobian(t: np.ndarray, area: float, mu: float, sigma: float, tau: float) -> np.ndarray:
    """Analytic partial derivatives of :func:`emg` with respect to (area, mu, sigma, tau).

    Returns
    -------
    ndarray, shape (len(t), 4)
    """
    x = np.asarray(t, dtype=float) - mu
    g, gauss = _emg_shape(x, sigma, tau)
    k = gauss / (tau * _SQRT2PI)  # G / (tau sqrt(2 pi))
    jac = np.empty((x.size, 4))
    jac[:, 0] = g
    jac[:, 1] = area * (g / tau - k / sigma)
    jac[:, 2] = area * (g * sigma / tau**2 - k * (1.0 / tau + x / sigma**2))
    jac[:, 3] = area * (g * (x / tau**2 - 1.0 / tau - sigma**2 / tau**3) + k * sigma / tau**2)
    return jac


def emg_apex(mu: float, sigma: float, tau: float) -> float:
    """Approximate time of the EMG maximum (Foley & Dorsey style interpolation, minutes)."""
    r = tau / sigma
    # mode of an EMG: mu + sigma * m(r); m(0) = 0, m(r) -> r for large r is wrong (it tends to
    # a finite offset). A numerical solve is cheap and exact enough.
    tt = mu + sigma * np.linspace(-1.0, 2.0 + 2.0 * r, 401)
    return float(tt[np.argmax(emg(tt, 1.0, mu, sigma, tau))])


@dataclass(frozen=True)
class EMGFit:
    """Result of :func:`fit_emg`.

    ``params`` has one row (area, mu, sigma, tau) per peak; ``r2`` is the coefficient of
    determination over the fitted points; ``success`` is False when the optimiser failed, in
    which case ``params`` holds the starting values.
    """

    params: np.ndarray
    r2: float
    success: bool
    message: str = ""
    model: np.ndarray | None = None


def emg_sum(t: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Sum of EMGs, one row (area, mu, sigma, tau) per peak."""
    out = np.zeros(np.asarray(t).shape, dtype=float)
    for a, m, s, tau in np.asarray(params, dtype=float).reshape(-1, 4):
        out += emg(t, a, m, s, tau)
    return out


#: Clusters with more peaks are not deconvolved (the drop-line split stays, flagged FIT_POOR):
#: such fits are ill-posed and slow (75 fused noise peaks took 56 s and failed anyway), while
#: well-separated sums of up to 10 EMGs fit in 0.2 s.
MAX_FIT_PEAKS = 8


def fit_emg(
    t: np.ndarray,
    y: np.ndarray,
    guesses: np.ndarray,
    *,
    max_nfev: int = 200,
) -> EMGFit:
    """Fit a sum of EMGs to baseline-corrected data by bounded least squares.

    Parameters
    ----------
    t, y : ndarray
        Time (minutes) and baseline-corrected signal of the region to fit.
    guesses : ndarray, shape (n_peaks, 4)
        Starting (area, mu, sigma, tau) per peak. They are moved inside the bounds, so any
        finite guess is accepted.
    max_nfev : int
        Maximum number of function evaluations.

    Returns
    -------
    EMGFit
        Never raises for numerical reasons: a failed fit has ``success=False`` (so has a cluster
        of more than :data:`MAX_FIT_PEAKS` peaks, which is not attempted).

    Notes
    -----
    Bounds: area >= 0; mu within the fitted range; sigma between half a sampling interval and
    half the range; tau between 1 % of the smallest allowed sigma and the range.
    """
    from scipy.optimize import least_squares

    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    p0 = np.array(guesses, dtype=float).reshape(-1, 4)
    n = p0.shape[0]
    if n > MAX_FIT_PEAKS:
        return EMGFit(p0, math.nan, False, f"{n} peaks in one cluster: more than {MAX_FIT_PEAKS} are not fitted")
    span = float(t[-1] - t[0]) if t.size > 1 else 1.0
    dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    if not (np.isfinite(span) and span > 0 and np.isfinite(dt) and dt > 0) or t.size < 4 * n + 1:
        return EMGFit(p0, math.nan, False, "too few points to fit")
    ymax = float(np.max(np.abs(y))) or 1.0
    s_lo = 0.25 * dt
    lo = np.tile([0.0, t[0], s_lo, 0.01 * s_lo], n)
    hi = np.tile([10.0 * ymax * span, t[-1], 0.5 * span, span], n)
    x0 = p0.ravel().copy()
    x0 = np.where(np.isfinite(x0), x0, 0.5 * (lo + hi))
    # strictly inside the bounds: least_squares rejects a start on or outside them
    eps = 1e-9 * (hi - lo)
    x0 = np.clip(x0, lo + eps, hi - eps)
    scale = np.tile([ymax * span, span, span, span], n)

    def resid(p: np.ndarray) -> np.ndarray:
        return emg_sum(t, p) - y

    def jac(p: np.ndarray) -> np.ndarray:
        return np.hstack([emg_jacobian(t, *p[4 * k : 4 * k + 4]) for k in range(n)])

    try:
        with np.errstate(all="ignore"):
            res = least_squares(
                resid, x0, jac=jac, bounds=(lo, hi), x_scale=scale, method="trf",
                max_nfev=max_nfev, xtol=1e-10, ftol=1e-10,
            )
        p = res.x.reshape(n, 4)
        ok = bool(res.success) and bool(np.all(np.isfinite(p)))
        msg = str(res.message)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:  # pragma: no cover
        return EMGFit(p0, math.nan, False, f"fit failed: {exc}")
    model = emg_sum(t, p)
    ss_res = float(np.sum((y - model) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan
    return EMGFit(p, r2, ok, msg, model)
