"""Student's t quantile without scipy: against scipy.special.stdtrit and printed tables."""

from __future__ import annotations

import math

import pytest
from scipy.special import stdtrit

from thioquant.calibration.tdist import t_quantile


def test_closed_forms_for_one_and_two_degrees_of_freedom():
    assert t_quantile(0.95, 1) == pytest.approx(math.tan(0.475 * math.pi), rel=1e-15)
    assert t_quantile(0.95, 2) == pytest.approx(0.95 * math.sqrt(2 / (1 - 0.95**2)), rel=1e-15)


def test_matches_scipy_to_eleven_digits():
    worst = 0.0
    for dof in range(1, 301):
        for conf in (0.5, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 0.9999):
            ref = float(stdtrit(dof, 0.5 + conf / 2))
            worst = max(worst, abs(t_quantile(conf, dof) - ref) / ref)
    assert worst < 1e-11


@pytest.mark.parametrize(("conf", "dof", "table"), [  # printed two-sided table, 4 decimals
    (0.95, 1, 12.7062), (0.95, 2, 4.3027), (0.95, 6, 2.4469), (0.95, 10, 2.2281), (0.99, 5, 4.0321),
    (0.90, 30, 1.6973), (0.999, 20, 3.8495),
])
def test_textbook_values(conf, dof, table):
    assert abs(t_quantile(conf, dof) - table) <= 5e-5


def test_small_confidence_follows_the_density_at_zero():
    # P(|T| <= t) ~ 2 f(0) t for small t; f(0) = 3/8 for 4 degrees of freedom
    assert t_quantile(1e-6, 4) == pytest.approx(1e-6 / (2 * 0.375), rel=1e-9)


@pytest.mark.parametrize(("conf", "dof"), [(0.0, 5), (1.0, 5), (0.95, 0), (0.95, 2.5), (math.nan, 5)])
def test_invalid_arguments(conf, dof):
    with pytest.raises(ValueError):
        t_quantile(conf, dof)
