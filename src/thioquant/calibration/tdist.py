"""Student's t quantile for whole degrees of freedom, without scipy.

Calibration intervals need one quantile per batch and analyte. ``scipy.special.stdtrit`` gives it,
but importing scipy.special costs about 0.25 s on every ``thioquant quantify``. For whole degrees of
freedom (a calibration always has n - p) the two-sided probability has a closed form (Abramowitz &
Stegun 26.7.3-4, a finite series in cos^2 of theta = atan(t / sqrt(nu))), which Newton's method
inverts to machine precision; tests compare it with scipy.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def _two_sided(t: float, nu: int) -> float:
    """P(|T| <= t) for T ~ Student t with nu degrees of freedom, t >= 0."""
    theta = math.atan(t / math.sqrt(nu))
    c2 = math.cos(theta) ** 2
    if nu % 2:  # odd: (2/pi) (theta + sin cos (1 + 2/3 c2 + 2*4/(3*5) c2^2 + ...))
        if nu == 1:
            return 2.0 * theta / math.pi
        term, total = 1.0, 1.0
        for k in range(1, (nu - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    term, total = 1.0, 1.0  # even: sin (1 + 1/2 c2 + 1*3/(2*4) c2^2 + ...)
    for k in range(1, nu // 2):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


def _log_density_norm(nu: int) -> float:
    return math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)


def t_quantile(confidence: float, dof: int) -> float:
    """The t with P(|T| <= t) = confidence (the upper (1 + confidence) / 2 quantile).

    Parameters
    ----------
    confidence : two-sided level in (0, 1), e.g. 0.95.
    dof : degrees of freedom, a whole number >= 1.
    """
    nu = int(dof)
    c = float(confidence)
    if nu != dof or nu < 1:
        raise ValueError(f"degrees of freedom must be a whole number >= 1, got {dof!r}")
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if nu == 1:
        return math.tan(math.pi * c / 2)
    if nu == 2:
        return c * math.sqrt(2.0 / (1.0 - c * c))
    z = NormalDist().inv_cdf(0.5 + c / 2)
    # Cornish-Fisher start, then Newton: the probability is concave in t, so the steps settle
    # from one side
    t = z + (z**3 + z) / (4 * nu) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu * nu)
    lnorm = _log_density_norm(nu)
    for _ in range(60):
        dens = math.exp(lnorm - (nu + 1) / 2 * math.log1p(t * t / nu))
        step = (_two_sided(t, nu) - c) / (2.0 * dens)
        t -= step
        # convergence is quadratic: after a step of 1e-10 the error is far below rounding, which
        # only makes further steps jitter by ~1e-15
        if abs(step) <= 1e-10 * t:
            break
    return t
