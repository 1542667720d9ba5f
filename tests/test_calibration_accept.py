"""ICH M10 calibration acceptance on known-truth simulated curves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from thioquant.calibration import accept_calibration, fit_calibration
from thioquant.errors import CalibrationError

X8 = np.array([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 8.0, 10.0])
TRUE = (0.002, 0.5)  # intercept, slope


def _curve(x, rel_noise=None):
    y = TRUE[0] + TRUE[1] * np.asarray(x, dtype=float)
    if rel_noise is not None:
        y = y * (1 + np.asarray(rel_noise))
    return y


def test_clean_curve_passes_with_full_range():
    noise = 0.02 * np.array([1, -1, 0.5, -0.5, 1, -1, 0.3, -0.3])
    out = accept_calibration(X8, _curve(X8, noise))
    assert out.passed, out.reasons
    assert out.lloq == 0.1 and out.uloq == 10.0
    assert all(p.included for p in out.points)
    assert all(abs(p.accuracy_pct - 100) < 5 for p in out.points)
    cal = out.calibration
    assert cal.model == "linear" and cal.weighting == "1/x^2"
    assert cal.coefficients[1] == pytest.approx(0.5, rel=0.03)


def test_failing_mid_calibrator_is_excluded_with_reason_and_run_passes():
    y = _curve(X8)
    y[4] *= 1.30  # level 2.0 reads 30 % high
    out = accept_calibration(X8, y)
    assert out.passed
    excl = out.excluded
    assert [p.x for p in excl] == [2.0]
    assert "outside 100 +/- 15 %" in excl[0].reason
    assert excl[0].accuracy_pct == pytest.approx(130, abs=0.5)
    assert any("excluded" in r for r in out.reasons)
    # the final curve is the true one
    assert out.calibration.coefficients[1] == pytest.approx(0.5, rel=1e-9)
    assert (out.lloq, out.uloq) == (0.1, 10.0)


def test_excluding_lloq_narrows_the_range():
    y = _curve(X8)
    y[0] *= 1.40  # LLOQ 40 % high: outside +/-20 % (unweighted fit barely feels it)
    out = accept_calibration(X8, y, weighting="none")
    assert out.passed, out.reasons
    assert [p.x for p in out.excluded] == [0.1]
    assert out.lloq == 0.2 and out.uloq == 10.0
    assert any("LLOQ raised from 0.1 to 0.2" in r for r in out.reasons)
    assert out.calibration.x_range == (0.2, 10.0)
    # the new LLOQ is judged at +/-20 %
    assert out.points[1].limit_pct == 20


def test_excluding_uloq_narrows_the_range():
    y = _curve(X8)
    y[-1] *= 0.75  # ULOQ 25 % low (1/x^2 fit barely feels it)
    out = accept_calibration(X8, y, weighting="1/x^2")
    assert out.passed, out.reasons
    assert [p.x for p in out.excluded] == [10.0]
    assert (out.lloq, out.uloq) == (0.1, 8.0)
    assert any("ULOQ lowered from 10 to 8" in r for r in out.reasons)


def test_worst_first_masking_is_recorded_not_hidden():
    # two gross errors at both ends: worst-first exclusion may take a neighbour first;
    # whatever happens, every exclusion carries its reason
    y = _curve(X8)
    y[0] *= 1.4
    y[-1] *= 0.75
    out = accept_calibration(X8, y, weighting="1/x")
    assert out.excluded
    for p in out.excluded:
        assert "outside 100 +/-" in p.reason
        assert any(f"x={p.x:g}" in r for r in out.reasons)


def test_lloq_gets_20_percent_other_levels_15():
    y = _curve(X8)
    y[0] = TRUE[0] + TRUE[1] * 0.1 * 1.18  # LLOQ at 118 %: accepted
    y[3] = TRUE[0] + TRUE[1] * 1.0 * 1.18  # mid level at 118 %: rejected
    out = accept_calibration(X8, y, model="linear", weighting="1/x^2")
    excluded = {p.x for p in out.excluded}
    assert 1.0 in excluded and 0.1 not in excluded
    lloq_pt = out.points[0]
    assert lloq_pt.limit_pct == 20 and out.points[3].limit_pct == 15


def test_too_few_levels_fails_with_reason():
    x = np.array([1, 2, 5, 10, 20.0])  # only 5 levels
    out = accept_calibration(x, _curve(x))
    assert not out.passed
    assert any("only 5 levels pass; need >= 6" in r for r in out.reasons)


def test_less_than_75_percent_fails_and_is_explained():
    x = np.repeat(X8, 1)
    y = _curve(x)
    bad = [1, 3, 5]  # 3 of 8 bad -> at most 5/8 = 62 % could pass
    y[bad] *= np.array([1.5, 0.6, 1.45])
    out = accept_calibration(x, y, weighting="1/x")
    assert not out.passed
    assert any("need >= 75 %" in r or "excluding more would break" in r for r in out.reasons)


def test_replicated_level_passes_with_half_of_replicates():
    x = np.repeat(X8, 2)
    y = _curve(x)
    y[6] *= 1.35  # one of two replicates at level 1.0 fails
    levels = [f"CAL{i // 2 + 1}" for i in range(x.size)]
    out = accept_calibration(x, y, levels=levels)
    assert out.passed
    assert [p.level for p in out.excluded] == ["CAL4"]
    assert out.as_dict()["n_included"] == 15


def test_as_dict_is_json_ready():
    y = _curve(X8)
    y[2] *= 1.5
    d = accept_calibration(X8, y).as_dict()
    s = json.dumps(d, allow_nan=False)
    assert '"model": "linear"' in s
    assert d["weighting"] == "1/x^2"
    assert len(d["points"]) == 8 and len(d["coefficients"]) == 2
    assert d["points"][2]["included"] is False and d["points"][2]["reason"]
    assert d["limits"]["lod"] >= 0 and d["limits"]["loq"] == pytest.approx(d["limits"]["lod"] * 10 / 3.3)
    assert d["limits"]["method"].endswith("residual SD of a line through the calibrators <= 10 x the lowest")


def test_limits_come_from_the_bottom_of_a_wide_weighted_curve():
    # 100-10,000 with 3 % proportional scatter: the whole curve's un-weighted residual SD is set by
    # the top calibrators and put the LOD above the LLOQ (as the bundled batch's 539 vs 100 nmol/L)
    from thioquant.calibration.limits import limits_from_residuals, limits_near_lloq

    x = np.array([100, 200, 500, 1000, 2000, 5000, 7500, 10000], float)
    y = 0.0002 * x * (1 + 0.03 * np.array([1, -1, 1, -1, 1, -1, 1, -1]))
    cal = accept_calibration(x, y).calibration
    whole, low = limits_from_residuals(cal), limits_near_lloq(cal)
    assert whole.lod > 100  # the old figure: above the lowest calibrator
    assert 0 < low.lod < 100 and low.lod < whole.lod / 5 and "<= 10 x the lowest" in low.method
    with pytest.raises(CalibrationError, match="fewer than 3"):
        limits_near_lloq(fit_calibration(x * [1, 1, 100, 100, 100, 100, 100, 100], y, "linear", "1/x^2"))


def test_fit_rejects_bad_input():
    with pytest.raises(CalibrationError):
        fit_calibration([1, 2], [1, 2], "linear")
    with pytest.raises(CalibrationError):
        fit_calibration([1, 2, 3], [1, np.nan, 3])
    with pytest.raises(CalibrationError):
        fit_calibration([0, 1, 2, 3], [1, 2, 3, 4], "power")
    with pytest.raises(CalibrationError):
        fit_calibration([1, 2, 3], [1, -2, 3], "linear", "1/y")
    with pytest.raises(CalibrationError):
        fit_calibration([1, 2, 3], [1, 2, 3], "cubic")
    with pytest.raises(CalibrationError):
        fit_calibration([1, 2, 3], [1, 2, 3], "linear", "1/z")


def test_models_recover_known_truth():
    x = np.array([1, 2, 5, 10, 20, 50, 100.0])
    cal = fit_calibration(x, 3 * x**0.9 * np.exp(0.0), "power")
    assert cal.coefficients[1] == pytest.approx(0.9, rel=1e-12)
    assert np.exp(cal.coefficients[0]) == pytest.approx(3, rel=1e-12)
    assert cal.inverse(3 * 7**0.9) == pytest.approx(7, rel=1e-12)
    q = fit_calibration(x, 0.5 + 2 * x - 0.004 * x**2, "quadratic", "1/x")
    np.testing.assert_allclose(q.coefficients, (0.5, 2, -0.004), rtol=1e-10)
    assert q.inverse(q.predict(42.0)) == pytest.approx(42.0, rel=1e-12)
    z = fit_calibration(x, 4 * x, "linear0", "1/x^2")
    assert z.coefficients == (0.0, pytest.approx(4.0))
    assert z.inverse(8.0) == pytest.approx(2.0)


def test_weighted_r2_definition():
    rng = np.random.default_rng(3)
    x = np.array([1, 2, 5, 10, 20, 50, 100.0])
    y = 2 * x * (1 + rng.normal(0, 0.03, x.size))
    cal = fit_calibration(x, y, "linear", "1/x")
    w = 1 / x
    r = y - cal.predict(x)
    ybar = np.sum(w * y) / np.sum(w)
    assert cal.r2 == pytest.approx(1 - np.sum(w * r**2) / np.sum(w * (y - ybar) ** 2), rel=1e-12)


def test_missing_response_is_excluded_with_reason_and_counts_against_fraction():
    y = _curve(X8)
    y[3] = np.nan  # no peak at level 1.0
    out = accept_calibration(X8, y)
    p = out.points[3]
    assert not p.included and p.reason == "non-finite concentration or response"
    assert out.passed  # 7/8 = 87.5 % and 7 levels
    y[5] = np.nan
    y[6] = np.nan
    out = accept_calibration(X8, y)  # 5/8 = 62.5 %, 5 levels
    assert not out.passed
    assert any("need >= 75 %" in r for r in out.reasons)
    assert any("need >= 6" in r for r in out.reasons)


def test_quadratic_and_power_acceptance():
    x = np.array([1, 2, 5, 10, 20, 50, 100, 200.0])
    out = accept_calibration(x, 0.1 + 2 * x - 0.003 * x**2, model="quadratic", weighting="1/x")
    assert out.passed and all(abs(p.accuracy_pct - 100) < 1e-6 for p in out.points)
    y = 3 * x**0.92
    y[4] *= 1.4
    out = accept_calibration(x, y, model="power", weighting="none")
    assert out.passed and [p.x for p in out.excluded] == [20.0]
    assert out.as_dict()["model"] == "power"


def test_linear0_outcome_as_dict():
    d = accept_calibration(X8, 0.5 * X8, model="linear0", weighting="1/x").as_dict()
    assert d["coefficients"] == [0.0, pytest.approx(0.5)]
    assert d["coefficient_sd"][0] == 0.0


def test_invalid_settings_raise():
    with pytest.raises(CalibrationError):
        accept_calibration(X8, _curve(X8), tolerance_pct=0)
    with pytest.raises(CalibrationError):
        accept_calibration(X8, _curve(X8), min_fraction=1.5)
    with pytest.raises(CalibrationError):
        accept_calibration(X8, _curve(X8), levels=["a"])
