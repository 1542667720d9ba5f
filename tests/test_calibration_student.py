"""Student's t and F of the calibration come from scipy (the hand-written calibration/tdist.py is
gone, docs/dependencies.md): the quantiles the intervals use and the p-values of the partial
F-test, against printed tables and closed forms that do not go through scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thioquant.calibration import fit_calibration, inverse_interval
from thioquant.calibration.select import partial_f_test


def _quadratic_half_width(dof: int, confidence: float) -> float:
    # the quadratic model's interval is the delta method x0 +/- t sd / |f'(x0)|: its half width
    # is proportional to the t quantile the interval used
    x = np.linspace(1.0, 20.0, dof + 3)
    y = 0.5 + 2.0 * x + 0.01 * x**2 + 0.3 * np.sin(3 * x)
    cal = fit_calibration(x, y, "quadratic", "none")
    assert cal.dof == dof
    lo, hi = inverse_interval(cal, 20.0, confidence=confidence)
    return (hi - lo) / 2


@pytest.mark.parametrize(("conf", "dof", "table"), [  # printed two-sided table, 4 decimals
    (0.95, 1, 12.7062), (0.95, 2, 4.3027), (0.95, 6, 2.4469), (0.95, 10, 2.2281), (0.99, 5, 4.0321),
    (0.90, 30, 1.6973), (0.999, 20, 3.8495),
])
def test_interval_uses_the_printed_t_quantile(conf, dof, table):
    # the ratio of two half widths on the same fit is the ratio of their t quantiles; the
    # reference is the closed form for one degree of freedom, t = tan(pi c / 2)
    ratio = _quadratic_half_width(dof, conf) / _quadratic_half_width(dof, 0.5)
    t_half = {1: 1.0, 2: 0.8165, 5: 0.7267, 6: 0.7176, 10: 0.6998, 20: 0.6870, 30: 0.6828}[dof]
    assert ratio * t_half == pytest.approx(table, rel=2e-4)  # t_half: 4 decimals


def test_one_degree_of_freedom_is_the_cauchy_closed_form():
    ratio = _quadratic_half_width(1, 0.95) / _quadratic_half_width(1, 0.5)
    assert ratio == pytest.approx(math.tan(0.475 * math.pi) / math.tan(0.25 * math.pi), rel=1e-10)


def test_partial_f_test_p_value_matches_the_closed_form_for_two_dof():
    # F with 1 and 2 dof is the square of a t with 2 dof: P(|T| > t) = 1 - t / sqrt(t^2 + 2)
    x = np.array([1.0, 2, 5, 10, 20])
    for bend in (1e-4, 1e-3, 1e-2):
        y = 0.3 + 2 * x - bend * x**2 + 0.05 * np.sin(x)
        F, p = partial_f_test(x, y, "none", np.ones(5, bool))
        t = math.sqrt(F)
        assert p == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-12)


def test_partial_f_test_keeps_tiny_p_values():
    # a strongly curved response: p far below 1e-10 must keep its digits (no 1 - P cancellation)
    x = np.array([1.0, 2, 5, 10, 20, 50, 100, 200, 500, 1000])
    y = 0.3 + 2 * x - 1e-3 * x**2 + 1e-6 * np.cos(x)
    F, p = partial_f_test(x, y, "none", np.ones(x.size, bool))
    assert 0.0 < p < 1e-10
    # odd dof closed form (7 dof) through the regularised incomplete beta: I_{nu/(nu+F)}(nu/2, 1/2)
    # is checked against the series of A&S 26.7.4 here, independently of scipy
    nu = 7
    theta = math.atan(math.sqrt(F) / math.sqrt(nu))
    c2 = math.cos(theta) ** 2
    term, rest, k = 1.0, 0.0, 0
    while k < (nu - 1) // 2:
        k += 1
        term *= c2 * (2 * k) / (2 * k + 1)
    rest = term
    while term > 1e-17 * rest:
        k += 1
        term *= c2 * (2 * k) / (2 * k + 1)
        rest += term
    assert p == pytest.approx(2 / math.pi * math.sin(theta) * math.cos(theta) * rest, rel=1e-9)


def test_partial_f_test_on_a_straight_line_gives_p_one_or_close():
    x = np.array([1.0, 2, 5, 10, 20, 50])
    F, p = partial_f_test(x, 3 * x + 1, "none", np.ones(6, bool))
    assert p == 1.0 or p > 0.5
