"""Student's t for whole degrees of freedom, without scipy: quantile and two-sided tail.

Calibration intervals need one quantile per batch and analyte, and "auto" model selection a partial
F-test with 1 and nu degrees of freedom (F = t^2). ``scipy.special`` gives both, but importing it
costs about 0.25 s on every ``thioquant quantify``. For whole degrees of freedom (a calibration
always has n - p) the two-sided probability has a closed form (Abramowitz & Stegun 26.7.3-4, a
finite series in cos^2 of theta = atan(t / sqrt(nu))), which Newton's method inverts to machine
precision; the tail beyond t is the rest of the same (infinite) series, summed directly so that
small p-values keep their digits. Tests compare both with scipy.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def _series(t: float, nu: int, tail: bool) -> tuple[float, float, float]:
    """(theta, head, rest) of the series in c2 = cos^2(theta), theta = atan(t / sqrt(nu)).

    Term k is the one before times c2 (2k - 1) / (2k) for even nu, c2 (2k) / (2k + 1) for odd nu
    (term 0 is 1). ``head`` sums the first nu // 2 (even) or (nu - 1) // 2 (odd) terms, as in
    P(|T| <= t); ``rest`` (only with ``tail``) the infinite remainder, whose full sum is known
    (1 / sin theta, or (pi/2 - theta) / (sin cos) for odd nu), so the tail needs no 1 - P.
    """
    theta = math.atan(t / math.sqrt(nu))
    c2 = math.cos(theta) ** 2
    odd = nu % 2
    n_head = (nu - 1) // 2 if odd else nu // 2
    term, head, k = 1.0, 0.0, 0
    while k < n_head:
        head += term
        k += 1
        term *= c2 * (2 * k - 1 + odd) / (2 * k + odd)
    rest = 0.0
    if tail:
        rest = term
        while term > 1e-17 * rest:  # also ends at once when the first term underflowed to 0
            k += 1
            term *= c2 * (2 * k - 1 + odd) / (2 * k + odd)
            rest += term
    return theta, head, rest


def _two_sided(t: float, nu: int) -> float:
    """P(|T| <= t) for T ~ Student t with nu degrees of freedom, t >= 0."""
    theta, head, _ = _series(t, nu, tail=False)
    if nu % 2:
        return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * head)
    return math.sin(theta) * head


def _whole_dof(dof: float) -> int:
    nu = int(dof)
    if nu != dof or nu < 1:
        raise ValueError(f"degrees of freedom must be a whole number >= 1, got {dof!r}")
    return nu


def t_tail(t: float, dof: int) -> float:
    """P(|T| > |t|) for T ~ Student t with ``dof`` (whole) degrees of freedom.

    Below the median the complement of :func:`_two_sided` is exact enough; beyond it the tail
    series (the terms that the finite sum leaves out: its infinite sum is 1, or pi/2 inside the
    brackets for odd nu) avoids the cancellation of 1 - P.
    """
    nu = _whole_dof(dof)
    t = abs(float(t))
    if math.isnan(t):
        raise ValueError("t is NaN")
    if math.isinf(t):
        return 0.0
    p_in = _two_sided(t, nu)
    if p_in <= 0.5:
        return 1.0 - p_in
    theta, _, rest = _series(t, nu, tail=True)
    if nu % 2:
        return 2.0 / math.pi * math.sin(theta) * math.cos(theta) * rest
    return math.sin(theta) * rest


def f1_tail(f: float, dof: int) -> float:
    """P(F > f) for F with 1 and ``dof`` degrees of freedom (the square of a t): the partial F-test."""
    f = float(f)
    if math.isnan(f):
        raise ValueError("F is NaN")
    return 1.0 if f <= 0 else t_tail(math.sqrt(f), dof)


def _log_density_norm(nu: int) -> float:
    return math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)


def t_quantile(confidence: float, dof: int) -> float:
    """The t with P(|T| <= t) = confidence (the upper (1 + confidence) / 2 quantile).

    Parameters
    ----------
    confidence : two-sided level in (0, 1), e.g. 0.95.
    dof : degrees of freedom, a whole number >= 1.
    """
    nu = _whole_dof(dof)
    c = float(confidence)
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
