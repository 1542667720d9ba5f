"""Property-based checks of the fitting core (invariances that must hold for any data)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thioquant.calibration import fit_calibration
from thioquant.errors import CalibrationError

MODELS = ["linear", "linear0", "quadratic", "power"]
WEIGHTS = ["none", "1/x", "1/x^2", "1/y", "1/y^2"]


@st.composite
def curves(draw):
    n = draw(st.integers(6, 14))
    x = np.sort(np.array(draw(st.lists(st.floats(0.01, 1000), min_size=n, max_size=n, unique=True))))
    slope = draw(st.floats(0.01, 100))
    noise = np.array(draw(st.lists(st.floats(-0.1, 0.1), min_size=n, max_size=n)))
    y = slope * x * (1 + noise) + 1e-3 * slope
    return x, y, draw(st.sampled_from(MODELS)), draw(st.sampled_from(WEIGHTS))


@settings(max_examples=60, deadline=None)
@given(curves(), st.floats(0.001, 1000))
def test_response_scaling_scales_the_curve(data, k):
    x, y, model, weighting = data
    try:
        a = fit_calibration(x, y, model, weighting)
    except CalibrationError:
        return  # e.g. too few distinct points after rounding
    b = fit_calibration(x, k * y, model, weighting)
    # back-calculated concentrations do not depend on the response unit
    np.testing.assert_allclose(b.inverse(k * y), a.inverse(y), rtol=1e-6, atol=1e-9 * x.max())
    assert b.r2 == pytest.approx(a.r2, rel=1e-9, abs=1e-12)


def test_quadratic_without_curvature_inverts_like_a_line():
    # found by the property above: a quadratic fit of straight-line data has a curvature of
    # ~1e-32, and the textbook root formula cancelled to 0 for every response
    x = np.arange(1.0, 7.0)
    for k in (1.0, 1.5):
        cal = fit_calibration(x, k * (x + 0.001), "quadratic", "none")
        np.testing.assert_allclose(cal.inverse(k * (x + 0.001)), x, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(curves(), st.randoms(use_true_random=False))
def test_point_order_does_not_matter(data, rnd):
    x, y, model, weighting = data
    idx = list(range(x.size))
    rnd.shuffle(idx)
    try:
        a = fit_calibration(x, y, model, weighting)
    except CalibrationError:
        return
    b = fit_calibration(x[idx], y[idx], model, weighting)
    np.testing.assert_allclose(b.coefficients, a.coefficients, rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(curves())
def test_exact_data_are_reproduced(data):
    x, _, model, weighting = data
    c = {"linear": (0.3, 2.0), "linear0": (0.0, 2.0), "quadratic": (0.3, 2.0, 1e-4), "power": (0.1, 0.9)}[model]
    y = np.exp(c[0]) * x ** c[1] if model == "power" else np.polynomial.polynomial.polyval(x, c)
    cal = fit_calibration(x, y, model, weighting)
    np.testing.assert_allclose(cal.coefficients, c, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(cal.inverse(y), x, rtol=1e-7)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-0.5, 0.6), min_size=8, max_size=8),
    st.sampled_from(["linear", "quadratic"]),
    st.sampled_from(["none", "1/x", "1/x^2"]),
)
def test_acceptance_invariants(errors, model, weighting):
    """Whatever the calibrators look like: every exclusion has a reason, and a passing curve
    satisfies every M10 condition it claims."""
    from thioquant.calibration import accept_calibration

    x = np.array([1, 2, 5, 10, 20, 50, 100, 200.0])
    y = (0.01 + 0.5 * x) * (1 + np.array(errors))
    out = accept_calibration(x, y, model=model, weighting=weighting)
    for p in out.points:
        assert p.included or p.reason
        if not p.included:
            assert any(f"x={p.x:g}" in r for r in out.reasons)
    if out.passed:
        inc = [p for p in out.points if p.included]
        assert all(abs(p.accuracy_pct - 100) <= p.limit_pct + 1e-6 for p in inc)
        assert len(inc) >= 0.75 * len(out.points)
        assert len({p.x for p in inc}) >= 6
        assert out.lloq == min(p.x for p in inc) and out.uloq == max(p.x for p in inc)
    else:
        assert out.reasons


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([0.0, -1.5, 2.0, 1e-300, 5000.0, 0.1 + 0.2, 0.3]), max_size=20))
def test_n_distinct_counts_like_np_unique(values):
    from thioquant.calibration.fit import n_distinct

    x = np.array(values, dtype=float)
    assert n_distinct(x) == np.unique(x).size


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=3),
       st.lists(st.floats(-1e4, 1e4), min_size=0, max_size=5))
def test_predict_is_numpy_polyval_bit_for_bit(coefs, xs):
    from thioquant.model import Calibration

    c = coefs if len(coefs) > 1 else [0.0, coefs[0]]  # linear0 keeps a zero intercept
    cal = Calibration(model="quadratic" if len(c) == 3 else "linear", weighting="none",
                      coefficients=tuple(c), covariance=np.eye(len(c)), residual_sd=0.0, r2=1.0,
                      x=np.array([1.0, 2.0]), y=np.array([1.0, 2.0]), included=np.ones(2, bool))
    x = np.array(xs)
    want = np.polynomial.polynomial.polyval(x, np.array(c))
    assert np.array_equal(cal.predict(x), want)
    assert cal.predict(3.5) == float(np.polynomial.polynomial.polyval(3.5, np.array(c)))


@pytest.mark.parametrize("model", ["linear", "linear0"])
@pytest.mark.parametrize("weighting", WEIGHTS)
def test_straight_line_interval_ends_solve_the_fieller_equation(model, weighting):
    # each end x of the interval of response y satisfies (y - a - b x)^2 = t^2 var(x), with
    # var(x) = s^2 / w0 + Var(a + b x) (w0: the new observation's weight), and the point
    # estimate lies inside; the same for one response as for many
    from scipy.special import stdtrit

    from thioquant.calibration import interval as I

    rng = np.random.default_rng(7)
    for noise in (0.001, 0.05, 0.4):
        x = np.sort(rng.uniform(0.5, 1000, 9))
        y = x * rng.uniform(0.001, 10) * (1 + rng.normal(0, noise, x.size))
        cal = fit_calibration(x, y, model, weighting)
        ys = rng.uniform(0.05, 1.1, 40) * y.max()
        lo, hi = I.inverse_interval(cal, ys)
        t = float(stdtrit(cal.dof, 0.975))
        a, b = cal.coefficients
        C = np.asarray(cal.covariance)
        scale = I._weight_scale(cal)
        for yi, x_lo, x_hi in zip(ys, lo, hi, strict=True):
            if not np.isfinite(x_lo):
                continue
            x0 = (yi - a) / b
            assert x_lo <= x0 <= x_hi
            w0 = I._new_obs_weight(cal, x0, yi, scale)
            for xe in (x_lo, x_hi):
                var = cal.residual_sd**2 / w0 + C[0, 0] + 2 * xe * C[0, 1] + xe * xe * C[1, 1]
                assert (yi - a - b * xe) ** 2 == pytest.approx(t * t * var, rel=1e-6)
        one = [I.inverse_interval(cal, float(v)) for v in ys[:5]]
        assert np.array_equal(np.array(one), np.column_stack([lo[:5], hi[:5]]), equal_nan=True)
    with np.errstate(invalid="ignore"):
        nan_lo, _ = I.inverse_interval(cal, np.array([np.nan, np.inf]))
    assert np.isnan(nan_lo).all()
