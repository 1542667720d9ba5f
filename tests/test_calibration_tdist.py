"""Student's t quantile without scipy: against scipy.special.stdtrit and printed tables."""

from __future__ import annotations

import math

import pytest
from scipy.special import stdtrit

from thioquant.calibration.tdist import f1_tail, t_quantile, t_tail


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


def test_tail_matches_scipy_down_to_tiny_p_values():
    from scipy.special import fdtrc, stdtr

    worst = 0.0
    for dof in (*range(1, 61), 100, 300):
        for f in (1e-6, 0.01, 0.5, 1.0, 3.84, 10.0, 100.0, 1e4, 1e8):
            ref = float(fdtrc(1, dof, f))
            if ref > 1e-290:
                worst = max(worst, abs(f1_tail(f, dof) - ref) / ref)
        for t in (0.1, 1.0, 2.5, 40.0):
            ref = 2.0 * float(stdtr(dof, -t))
            worst = max(worst, abs(t_tail(t, dof) - ref) / ref)
    assert worst < 1e-10  # p = 4.7e-271 (F = 1e8, 89 dof) to 1e-11


def test_tail_edges():
    assert f1_tail(0.0, 5) == 1.0 and f1_tail(-0.3, 5) == 1.0  # sums of squares may cross
    assert t_tail(math.inf, 5) == 0.0
    assert t_tail(1.0, 1) == pytest.approx(0.5, rel=1e-15)  # Cauchy: P(|T| > 1) = 1/2
    with pytest.raises(ValueError):
        f1_tail(math.nan, 5)


def test_auto_model_selection_does_not_import_scipy():
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from thioquant.calibration.select import partial_f_test\n"
            "x = np.array([1., 2, 5, 10, 20, 50, 100, 200]); y = 0.3 + 2 * x - 1e-3 * x**2\n"
            "y = y * (1 + 0.01 * np.sin(x))\n"
            "F, p = partial_f_test(x, y, '1/x^2', np.ones(8, bool)); assert p < 0.05, p\n"
            "print(any(m.split('.')[0] == 'scipy' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
