"""Run QC on known-truth simulated runs, each failing one rule on purpose."""

from __future__ import annotations

import json

import numpy as np
import pytest

from thioquant import flags
from thioquant.calibration import accept_calibration
from thioquant.errors import MethodError
from thioquant.qc import (
    QCSettings,
    RuleOutcome,
    blank_interference,
    calibration_rule,
    carryover,
    ion_ratio_check,
    is_cv_rule,
    is_response,
    qc_acceptance,
    rt_check,
    run_verdict,
    tiered_ion_ratio_tolerance,
)

CAL_X = np.array([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])  # umol/L
QC_X = {"LQC": 0.15, "MQC": 2.0, "HQC": 8.0}
SLOPE, INTERCEPT = 0.8, 0.001


def simulate_run(seed=0, *, qc_bias=None, blank_after_uloq=0.0, blank_is=0.0, is_drop=None,
                 rt_shift=None, ion_ratio=None, zero_analyte=0.0):
    """A clean run (2 % response noise) with optional faults.

    Returns a dict of inputs, in injection order: 8 calibrators, 3 x 3 QCs, blank after ULOQ,
    one zero sample, 4 patient samples.
    """
    rng = np.random.default_rng(seed)
    kinds = ["cal"] * 8 + ["qc"] * 9 + ["blank", "zero"] + ["sample"] * 4
    n = len(kinds)
    nominal = list(CAL_X) + [QC_X[lv] for lv in ("LQC", "MQC", "HQC") for _ in range(3)] + [0, 0] + [0.3, 1.1, 4.2, 7.7]
    qc_levels = [lv for lv in ("LQC", "MQC", "HQC") for _ in range(3)]
    conc = np.array(nominal, dtype=float)
    if qc_bias:
        for i, lv in enumerate(qc_levels):
            conc[8 + i] *= qc_bias.get((lv, i % 3), 1.0)
    ratio = (INTERCEPT * (conc > 0) + SLOPE * conc) * (1 + rng.normal(0, 0.02, n))
    ratio[kinds.index("blank")] = blank_after_uloq
    ratio[kinds.index("zero")] = zero_analyte
    is_area = 1e5 * (1 + rng.normal(0, 0.03, n))
    if is_drop:
        for i, f in is_drop.items():
            is_area[i] *= f
    blank_i = kinds.index("blank")
    is_area[blank_i] = blank_is
    rt = 3.20 * (1 + rng.normal(0, 0.002, n))
    if rt_shift:
        for i, f in rt_shift.items():
            rt[i] *= f
    quant = ratio * is_area
    quant[blank_i] = blank_after_uloq * 1e5  # analyte area in the blank (no IS added)
    qual = 0.45 * quant * (1 + rng.normal(0, 0.02, n))
    if ion_ratio:
        for i, f in ion_ratio.items():
            qual[i] *= f
    return {"kinds": kinds, "nominal": np.array(nominal), "ratio": ratio, "is_area": is_area,
            "rt": rt, "quant": quant, "qual": qual, "qc_levels": qc_levels}


def evaluate(run, settings=None):
    settings = settings or QCSettings()
    k = np.array(run["kinds"])
    cal_m = k == "cal"
    out = accept_calibration(run["nominal"][cal_m], run["ratio"][cal_m])
    rules: list = [calibration_rule(out, severity=settings.severity["calibration"])]
    qc_i = np.flatnonzero(k == "qc")
    acc = 100 * np.asarray(out.calibration.inverse(run["ratio"][qc_i])) / run["nominal"][qc_i]
    by_level: dict[str, list[float]] = {}
    for lv, a in zip(run["qc_levels"], acc, strict=True):
        by_level.setdefault(lv, []).append(a)
    rules.append(qc_acceptance(by_level, settings.qc_tolerance_pct, settings.qc_min_fraction,
                               settings.qc_min_level_fraction))
    lloq_resp = float(np.mean(run["ratio"][cal_m][run["nominal"][cal_m] == out.lloq]))
    ref = cal_m | (k == "qc")
    mean_is = float(run["is_area"][ref].mean())
    b = int(np.flatnonzero(k == "blank")[0])
    z = int(np.flatnonzero(k == "zero")[0])
    # carry-over and interference on absolute analyte areas
    lloq_area = lloq_resp * mean_is
    rules.append(carryover(run["quant"][b], lloq_area,
                           blank_is=run["is_area"][b], mean_is=mean_is,
                           limit_pct=settings.carryover_limit_pct, is_limit_pct=settings.carryover_is_limit_pct))
    rules.append(blank_interference([run["ratio"][z] * mean_is], lloq_area, blank_is=[None], mean_is=mean_is))
    isr = is_response(np.where(k == "blank", np.nan, run["is_area"]), ref, settings.is_band_pct)
    rules += [isr, is_cv_rule(isr.cv_pct, settings.is_cv_limit_pct)]
    rules.append(rt_check(np.where(k == "blank", np.nan, run["rt"]), cal_m, settings.rt_tolerance_pct))
    rules.append(ion_ratio_check(run["quant"], run["qual"], cal_m, settings.ion_ratio_tolerance_pct))
    return run_verdict(rules), rules, out


def test_clean_run_is_accepted_by_the_qc_rule():
    v, rules, out = evaluate(simulate_run())
    assert v.accepted, v.reasons
    assert v.deciding_rule == "qc"
    assert "9/9 QCs" in v.reasons[0]
    assert not v.warnings
    assert "run ACCEPTED (qc)" in v.message
    json.dumps(v.as_dict(), allow_nan=False)


def test_qc_failing_two_of_three_at_one_level_rejects():
    # both M10 conditions at stake: 7/9 overall passes 2/3 but HQC has 1/3 -> reject
    v, rules, _ = evaluate(simulate_run(qc_bias={("HQC", 0): 1.25, ("HQC", 1): 0.8}))
    assert not v.accepted and v.deciding_rule == "qc"
    qc = next(r for r in rules if r.rule == "qc")
    assert qc.code == "QC_FAIL" and "level HQC: 1/3" in qc.message
    assert qc.details["n_pass"] == 7


def test_qc_one_failure_per_level_still_passes():
    v, rules, _ = evaluate(simulate_run(qc_bias={("LQC", 0): 1.3, ("MQC", 1): 0.7, ("HQC", 2): 1.2}))
    qc = next(r for r in rules if r.rule == "qc")
    assert qc.passed and qc.details["n_pass"] == 6  # 6/9 = 2/3 exactly
    assert v.accepted


def test_qc_overall_fraction_below_two_thirds_rejects():
    res = qc_acceptance({"L": [100, 130, 100, 100], "M": [100, 100, 70, 120], "H": [100, 100, 100, 125]})
    # 8/12 = 66.7 % passes; one more failure makes 7/12 = 58 %
    assert res.passed
    res = qc_acceptance({"L": [100, 130, 100, 100], "M": [100, 100, 70, 120], "H": [100, 100, 84, 125]})
    assert not res.passed and "need >= 66.7 %" in res.message


def test_qc_nan_counts_as_failure_and_lloq_level_tolerance():
    assert not qc_acceptance({"L": [np.nan, 90], "M": [100, 100]}, min_level_fraction=0.51).passed
    assert qc_acceptance({"LLOQ": [118, 119, 100]}, level_tolerance_pct={"LLOQ": 20}).passed
    assert not qc_acceptance({}).passed


def test_carryover_rejects_and_names_the_limit():
    v, rules, _ = evaluate(simulate_run(blank_after_uloq=0.05 * 0.3))  # ~30 % of the LLOQ response
    assert not v.accepted and v.deciding_rule == "carryover"
    co = next(r for r in rules if r.rule == "carryover")
    assert co.code == "CARRYOVER" and "of the LLOQ response (limit 20 %)" in co.message
    assert 20 < co.details["pct_of_lloq"] < 45


def test_carryover_of_internal_standard():
    res = carryover(0.0, 1000.0, blank_is=6000.0, mean_is=1e5)
    assert not res.passed and "internal standard 6.0 %" in res.message
    assert carryover(150.0, 1000.0, blank_is=4000.0, mean_is=1e5).passed
    assert carryover([100.0, np.nan], 1000.0).passed


def test_is_response_out_of_band_is_flagged_per_injection_and_warns():
    v, rules, _ = evaluate(simulate_run(is_drop={20: 0.4, 21: 1.6}))
    isr = next(r for r in rules if getattr(r, "outcome", None) is not None and r.outcome.rule == "is_response")
    assert isr.flags[20] == ("IS_RESPONSE",) and isr.flags[21] == ("IS_RESPONSE",)
    assert sum(bool(f) for f in isr.flags) == 2
    assert v.accepted  # warn only
    assert any(w.startswith("IS_RESPONSE") for w in v.warnings)
    flags_, cv = isr
    assert flags_ is isr.flags and cv > 3


def test_is_cv_warning():
    assert not is_cv_rule(18.0).passed
    assert not is_cv_rule(11.0).passed  # CLSI C62-A: 5-10 %
    assert is_cv_rule(8.0).passed and QCSettings().is_cv_limit_pct == 10.0
    assert is_cv_rule(8.0, limit_pct=5).severity == "warn"


def test_retention_time_shift_flagged():
    v, rules, _ = evaluate(simulate_run(rt_shift={19: 1.03, 20: 0.98}))
    rt = next(r for r in rules if getattr(r, "outcome", None) is not None and r.outcome.rule == "rt")
    assert rt.flags[19] == ("RT_SHIFT",) and rt.flags[20] == ()
    assert rt.deviation_pct[19] == pytest.approx(3.0, abs=0.6)
    assert not rt.outcome.passed and "RT_SHIFT" in " ".join(v.warnings)


def test_ion_ratio_flagged():
    v, rules, _ = evaluate(simulate_run(ion_ratio={22: 1.3}))
    ir = next(r for r in rules if getattr(r, "outcome", None) is not None and r.outcome.rule == "ion_ratio")
    assert ir.flags[22] == ("ION_RATIO",)
    assert sum(bool(f) for f in ir.flags) == 1
    assert ir.reference == pytest.approx(0.45, rel=0.02)


def test_interference_in_zero_sample_rejects():
    v, rules, _ = evaluate(simulate_run(zero_analyte=0.3 * (INTERCEPT + SLOPE * 0.05)))
    assert not v.accepted and v.deciding_rule == "interference"
    bl = blank_interference([10.0, 50.0], 100.0, blank_is=[1000.0, None], mean_is=1e4, names=["DB1", "Z1"])
    assert not bl.passed and "DB1: internal standard 10.0 %" in bl.message and "Z1: analyte 50.0 %" in bl.message


def test_failed_calibration_decides_before_qc():
    run = simulate_run()
    run["ratio"][:4] *= np.array([1.5, 0.6, 1.4, 0.7])  # half the calibrators wrong
    v, rules, out = evaluate(run)
    assert not out.passed
    assert not v.accepted and v.deciding_rule == "calibration"
    assert v.reasons[0].startswith("CAL_FAIL: calibration failed")


def test_run_verdict_ordering_and_warn_only():
    a = RuleOutcome("ion_ratio", "ION_RATIO", False, "warn", "x")
    b = RuleOutcome("carryover", "CARRYOVER", False, "reject", "co")
    c = RuleOutcome("qc", "QC_FAIL", False, "reject", "qc bad")
    v = run_verdict([a, b, c])
    assert not v.accepted and v.deciding_rule == "qc" and len(v.reasons) == 2
    assert run_verdict([a]).accepted and run_verdict([]).accepted


def test_every_code_has_a_plain_language_message():
    v, rules, _ = evaluate(simulate_run())
    for r in rules:
        code = r.outcome.code if hasattr(r, "outcome") else r.code
        assert code in flags.FLAGS and len(flags.FLAGS[code]) > 10


def test_input_validation():
    with pytest.raises(MethodError):
        is_response([1, 2], [True], (50, 150))
    with pytest.raises(MethodError):
        is_response([1, 2], [True, True], (120, 150))
    with pytest.raises(MethodError):
        rt_check([1, 2], [False, False])
    with pytest.raises(MethodError):
        qc_acceptance({"L": [100]}, tolerance_pct=-1)


def test_tiered_ion_ratio_tolerance():
    assert [tiered_ion_ratio_tolerance(r) for r in (0.8, 0.3, 0.15, 0.05)] == [20, 25, 30, 50]
    cal = np.array([True] * 4 + [False] * 2)
    quant = np.full(6, 1000.0)
    qual = np.array([150, 150, 150, 150, 190, 200.0])  # ratio 0.15 -> +/-30 %
    chk = ion_ratio_check(quant, qual, cal, "tiered")
    assert chk.flags[4] == () and chk.flags[5] == ("ION_RATIO",)  # +26.7 % ok, +33.3 % not
    assert ion_ratio_check(quant, qual, cal, 20).flags[4] == ("ION_RATIO",)
    assert QCSettings.from_dict({"ion_ratio_tolerance_pct": "tiered"}).ion_ratio_tolerance_pct == "tiered"
    with pytest.raises(MethodError) as ei:
        QCSettings.from_dict({"ion_ratio_tolerance_pct": "loose"})
    assert "tiered" in str(ei.value)


def test_outcome_status_keeps_passed_consistent():
    ok = RuleOutcome("qc", "QC_FAIL", True, "reject", "fine")
    bad = RuleOutcome("qc", "QC_FAIL", False, "reject", "bad")
    assert (ok.status, bad.status) == ("pass", "fail")  # derived from passed: old calls unchanged
    assert bad.failed and bad.rejects and not ok.failed
    ne = RuleOutcome.not_evaluated("carryover", "NO_CARRYOVER_BLANK", "no blank", severity="reject")
    assert ne.status == "not_evaluated" and ne.passed is False and not ne.evaluated
    assert not ne.failed and not ne.rejects and not ne.warns
    assert ne.as_dict()["status"] == "not_evaluated" and ok.as_dict()["status"] == "pass"
    with pytest.raises(ValueError):
        RuleOutcome("qc", "QC_FAIL", True, "reject", "x", status="fail")
    with pytest.raises(ValueError):
        RuleOutcome("qc", "QC_FAIL", True, "reject", "x", status="not_evaluated")
    with pytest.raises(ValueError):
        RuleOutcome("qc", "QC_FAIL", False, "reject", "x", status="skipped")


def test_not_evaluated_never_rejects_nor_warns():
    qc = RuleOutcome("qc", "QC_FAIL", True, "reject", "QC acceptance met")
    ne_reject = RuleOutcome.not_evaluated("carryover", "NO_CARRYOVER_BLANK", "no blank", severity="reject")
    ne_warn = RuleOutcome.not_evaluated("rt", "NO_RT_REFERENCE", "no calibrator peak")
    v = run_verdict([ne_reject, qc, ne_warn])
    assert v.accepted and v.deciding_rule == "qc" and v.warnings == ()
    assert v.reasons == ("QC acceptance met",)
    assert v.not_evaluated == ("NO_CARRYOVER_BLANK: no blank", "NO_RT_REFERENCE: no calibrator peak")
    assert v.as_dict()["not_evaluated"] == list(v.not_evaluated)
    # a not-evaluated QC rule does not decide an accepted run; the calibration rule does
    cal = RuleOutcome("calibration", "CAL_FAIL", True, "reject", "calibration accepted")
    v = run_verdict([cal, RuleOutcome.not_evaluated("qc", "NO_QC_SAMPLES", "no QC", severity="reject")])
    assert v.accepted and v.deciding_rule == "calibration"
    assert run_verdict([ne_warn]).reasons == ("no rules evaluated",)


def test_rules_without_their_data_are_not_evaluated():
    co = carryover([], 1000.0)
    assert co.status == "not_evaluated" and co.code == "NO_CARRYOVER_BLANK" and co.severity == "reject"
    co = carryover(50.0, float("nan"))
    assert co.status == "not_evaluated" and co.code == "NO_LLOQ_RESPONSE"
    bl = blank_interference([], 1000.0)
    assert bl.status == "not_evaluated" and bl.code == "NO_BLANKS"
    bl = blank_interference([5.0], 0.0)
    assert bl.status == "not_evaluated" and bl.code == "NO_LLOQ_RESPONSE"
    cv = is_cv_rule(float("nan"))
    assert cv.status == "not_evaluated" and cv.code == "IS_CV_TOO_FEW"
    for o in (co, bl, cv):
        assert o.code in flags.FLAGS and "not evaluated" in flags.FLAGS[o.code] and "not evaluated" in o.message
    # data present: evaluated as before
    assert carryover(30.0, 1000.0).status == "pass" and carryover(300.0, 1000.0).status == "fail"
    # a QC rule with no QC results still fails: QCs are what it judges (ICH M10)
    assert qc_acceptance({}).status == "fail"


def test_calibration_rule_applies_the_clsi_r2_limit():
    # every calibrator within +/-15 % (ICH M10 passes), but alternating +/-12-13 % scatter:
    # r^2 below CLSI C62-A's 0.995
    from thioquant.qc.settings import QCSettings

    x = np.array([100, 200, 500, 1000, 2500, 5000, 7500, 10000], float)
    y = 0.001 * x * np.array([1.13, 0.87, 1.13, 0.87, 1.12, 0.88, 1.12, 0.88])
    oc = accept_calibration(x, y, model="linear", weighting="1/x^2")
    assert oc.passed and oc.calibration.r2 < 0.995
    assert calibration_rule(oc).passed  # not judged unless asked
    out = calibration_rule(oc, r2_min=QCSettings().calibration_r2_min)
    assert not out.passed and out.rejects and "r^2 0.9" in out.message and "0.995" in out.message
    good = accept_calibration(x, 0.001 * x * (1 + 0.01 * np.sin(x)), model="linear", weighting="1/x^2")
    assert calibration_rule(good, r2_min=0.995).passed
    with pytest.raises(MethodError):
        QCSettings(calibration_r2_min=1.0)
