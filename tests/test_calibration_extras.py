"""Inverse-prediction intervals, ICH Q2 limits, range flags and automatic model selection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thioquant.calibration import (
    candidates_for,
    fit_calibration,
    inverse_interval,
    limits_from_blanks,
    limits_from_residuals,
    limits_from_sn,
    range_flags,
    select_model,
)
from thioquant.errors import CalibrationError

X = np.array([0.5, 1, 2, 5, 10, 20, 50, 100.0])


def test_fieller_interval_solves_the_defining_equation():
    rng = np.random.default_rng(0)
    y = 1.0 + 2.0 * X + rng.normal(0, 0.5, X.size)
    cal = fit_calibration(X, y, "linear", "none")
    y0 = 41.0
    lo, hi = inverse_interval(cal, y0, m=2)
    from scipy.stats import t

    tq = t.ppf(0.975, cal.dof)
    a, b = cal.coefficients
    C = cal.covariance
    for x in (lo, hi):
        var = cal.residual_sd**2 / 2 + C[0, 0] + 2 * x * C[0, 1] + x * x * C[1, 1]
        assert abs(y0 - a - b * x) == pytest.approx(tq * math.sqrt(var), rel=1e-9)
    x0 = cal.inverse(y0)
    assert lo < x0 < hi
    # close to the textbook first-order formula s/b sqrt(1/m + 1/n + (y0-ybar)^2/(b^2 Sxx))
    s = cal.residual_sd
    sx0 = s / b * math.sqrt(1 / 2 + 1 / X.size + (y0 - y.mean()) ** 2 / (b**2 * np.sum((X - X.mean()) ** 2)))
    assert (hi - lo) / 2 == pytest.approx(tq * sx0, rel=0.01)


@pytest.mark.parametrize("model,weighting", [("linear", "1/x^2"), ("quadratic", "1/x"), ("power", "none")])
def test_interval_coverage_on_known_truth(model, weighting):
    """Simulated calibrations with 5 % CV: the 95 % interval covers the truth ~95 % of the time."""
    rng = np.random.default_rng(42)
    x_true = 7.0

    def f(x):
        if model == "power":
            return 3.0 * np.power(x, 0.95)
        if model == "quadratic":
            return 0.1 + 2.0 * x - 0.004 * x * x
        return 0.1 + 2.0 * x

    hits, n = 0, 400
    for _ in range(n):
        y = f(X) * (1 + rng.normal(0, 0.05, X.size))
        cal = fit_calibration(X, y, model, weighting)
        y0 = f(x_true) * (1 + rng.normal(0, 0.05))
        lo, hi = inverse_interval(cal, y0)
        hits += lo <= x_true <= hi
    assert 0.90 <= hits / n <= 0.99


def test_interval_vectorised_and_nan_outside_reach():
    cal = fit_calibration(X, 2 * X + 0.01 * np.sin(X), "linear")
    lo, hi = inverse_interval(cal, np.array([10.0, 20.0]))
    assert lo.shape == (2,) and np.all(lo < hi)
    q = fit_calibration(X, 1 + 2 * X - 0.01 * X**2 + 0.01 * np.cos(X), "quadratic")
    assert all(math.isnan(v) for v in inverse_interval(q, 1e6))


def test_limits_from_residuals_ich_q2():
    rng = np.random.default_rng(5)
    x = np.array([1, 2, 3, 4, 5, 6, 8, 10.0])
    y = 0.2 + 4.0 * x + rng.normal(0, 0.3, x.size)
    cal = fit_calibration(x, y, "linear")
    lim = limits_from_residuals(cal)
    assert lim.sigma == pytest.approx(cal.residual_sd, rel=1e-12)  # unweighted fit
    assert lim.lod == pytest.approx(3.3 * cal.residual_sd / cal.coefficients[1])
    assert lim.loq == pytest.approx(10 * cal.residual_sd / cal.coefficients[1])
    li = limits_from_residuals(cal, sigma="intercept")
    assert li.sigma == pytest.approx(math.sqrt(cal.covariance[0, 0]))
    with pytest.raises(CalibrationError):
        limits_from_residuals(fit_calibration(x, y, "power"))


def test_limits_from_blanks_and_sn():
    blanks = [0.10, 0.12, 0.08, 0.11, 0.09, 0.10]
    lim = limits_from_blanks(blanks, slope=2.0)
    sd = np.std(blanks, ddof=1)
    assert lim.lod == pytest.approx(3.3 * sd / 2) and lim.loq == pytest.approx(10 * sd / 2)
    sn = limits_from_sn([1, 2, 5, 10], [6, 12, 30, 60])  # S/N = 6 per unit
    assert sn.lod == pytest.approx(0.5) and sn.loq == pytest.approx(10 / 6)
    with pytest.raises(CalibrationError):
        limits_from_blanks([0.1], 2.0)


def test_range_flags():
    assert range_flags(0.5, 1, 100) == ("BELOW_LLOQ",)
    assert range_flags(150, 1, 100) == ("ABOVE_ULOQ",)
    assert range_flags(1.0, 1, 100) == () and range_flags(100, 1, 100) == ()
    assert range_flags(float("nan"), 1, 100) == ()


def test_select_model_keeps_linear_when_quadratic_not_significant():
    rng = np.random.default_rng(1)  # a draw where no weighting finds curvature (p > 0.05)
    x6 = np.concatenate([X, X])
    y6 = (0.05 + 1.5 * x6) * (1 + rng.normal(0, 0.03, x6.size))
    out, table = select_model(x6, y6)
    assert out.calibration.model == "linear"
    quad = [r for r in table if r["model"] == "quadratic"]
    assert quad and all(r["p_value"] is not None for r in quad)
    assert any("not significantly better" in r["note"] for r in quad)
    assert sum(r["chosen"] for r in table) == 1
    assert len(table) == 6
    import json

    d = json.loads(json.dumps(out.as_dict(), allow_nan=False))
    assert len(d["selection"]) == 6 and sum(r["chosen"] for r in d["selection"]) == 1


def test_select_model_picks_quadratic_for_curved_response():
    rng = np.random.default_rng(8)
    x = np.repeat(X, 2)
    y = (0.05 + 1.5 * x - 0.006 * x**2) * (1 + rng.normal(0, 0.01, x.size))
    out, table = select_model(x, y)
    assert out.calibration.model == "quadratic"
    chosen = next(r for r in table if r["chosen"])
    assert chosen["p_value"] < 0.05 and "significantly better" in chosen["note"]
    assert out.passed
    # linear with the same weighting would have needed exclusions or larger errors
    lin = next(r for r in table if r["model"] == "linear" and r["weighting"] == chosen["weighting"])
    assert (lin["n_excluded"], lin["sum_abs_re_pct"]) > (chosen["n_excluded"], chosen["sum_abs_re_pct"])


def test_select_model_prefers_weighting_for_heteroscedastic_data():
    rng = np.random.default_rng(11)
    x = np.repeat(X, 3)
    y = 2.0 * x * (1 + rng.normal(0, 0.05, x.size)) + 0.001
    out, table = select_model(x, y, candidates=[("linear", "none"), ("linear", "1/x^2")])
    assert out.calibration.weighting == "1/x^2"


def test_candidates_for_expands_auto():
    assert candidates_for("linear", "auto") == [("linear", "none"), ("linear", "1/x"), ("linear", "1/x^2")]
    assert candidates_for("auto", "1/x^2") == [("linear", "1/x^2"), ("quadratic", "1/x^2")]
    assert len(candidates_for()) == 6
    with pytest.raises(CalibrationError):
        candidates_for("cubic", "none")


def test_interval_below_the_range_does_not_collapse():
    rng = np.random.default_rng(2)
    y = 2 * X * (1 + rng.normal(0, 0.03, X.size))
    cal = fit_calibration(X, y, "linear", "1/x^2")
    lo0, hi0 = inverse_interval(cal, 0.0)
    lo1, hi1 = inverse_interval(cal, 2 * X[0])
    assert hi0 - lo0 > 0.5 * (hi1 - lo1)  # not shrinking to nothing at zero response
