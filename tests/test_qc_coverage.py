"""Run-time QC coverage (ICH M10): low, mid and high QCs in duplicate, and >= 6 QCs or 5 % of the
study samples, whichever is more. A run without it is rejected with its own code, QC_COVERAGE."""

from __future__ import annotations

import csv

import pytest

from thioquant.errors import MethodError
from thioquant.pipeline import quantify
from thioquant.qc import QC_COVERAGE, QCSettings, qc_coverage, required_qc_count

# LC-MS/MS 6-TG calibrated range of the bundled method (nmol/L)
LLOQ, ULOQ = 100.0, 10000.0
LOW, MID, HIGH = 250.0, 4000.0, 8000.0


def test_required_count_is_six_or_five_percent():
    assert required_qc_count(24) == 6
    assert required_qc_count(120) == 6
    assert required_qc_count(121) == 7  # 6.05 -> 7
    assert required_qc_count(960) == 48


def test_full_design_passes():
    out = qc_coverage([LOW, MID, HIGH] * 2, LLOQ, ULOQ, 24)
    assert out.passed and out.details["per_level"] == {"low": 2, "mid": 2, "high": 2}


@pytest.mark.parametrize("nominals, missing", [
    ([MID], ["low", "mid", "high"]),               # the case: only QCM-1 left
    ([LOW, LOW, MID, MID, MID, MID], ["high"]),     # six QCs but no high level
    ([LOW, MID, HIGH, LOW, MID, MID], ["high"]),    # high only once
])
def test_missing_level_rejects(nominals, missing):
    out = qc_coverage(nominals, LLOQ, ULOQ, 24)
    assert not out.passed and out.code == QC_COVERAGE and out.severity == "reject"
    for lv in missing:
        assert f"{lv} (" in out.message


def test_count_rule_scales_with_study_samples():
    out = qc_coverage([LOW, MID, HIGH] * 2, LLOQ, ULOQ, 200)
    assert not out.passed and "6 usable QC(s) run, 10 needed" in out.message
    assert qc_coverage([LOW, MID, HIGH] * 4, LLOQ, ULOQ, 200).passed


def test_lloq_qc_counts_toward_total_but_not_as_low():
    out = qc_coverage([LLOQ] * 3 + [MID, HIGH] * 2, LLOQ, ULOQ, 24)
    assert not out.passed and "low (0 run" in out.message


def test_settings_validate():
    assert QCSettings().qc_min_count == 6 and QCSettings().severity["qc_coverage"] == "reject"
    with pytest.raises(MethodError, match="qc_min_pct_of_samples"):
        QCSettings(qc_min_pct_of_samples=150)
    with pytest.raises(MethodError, match="qc_min_count"):
        QCSettings.from_dict({"qc_min_count": -1})


def _drop_qcs(batch, keep):
    p = batch / "worklist.csv"
    rows = list(csv.reader(p.open(newline="")))
    rows = [r for r in rows if r[3] != "qc" or r[1] in keep]
    with p.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_bundled_batches_meet_coverage(sample_batch):
    for name in ("lcmsms", "hplcuv"):
        b = quantify(sample_batch(name))
        cov = [o for o in b.qc_outcomes if o.rule == "qc_coverage"]
        assert len(cov) == 2 and all(o.passed for o in cov), [o.message for o in cov]
        assert b.accepted


def test_run_with_one_qc_is_rejected(sample_batch):
    # issue 19 item 3: a copy of the LC-MS/MS batch with only QCM-1 left was "Run ACCEPTED ... QC: 2/2"
    batch = sample_batch("lcmsms")
    _drop_qcs(batch, {"QCM-1"})
    b = quantify(batch)
    assert not b.accepted
    assert b.verdict.deciding_rule == "qc_coverage"
    assert any(r.startswith("QC_COVERAGE") for r in b.verdict.reasons)
    assert all("RUN_INVALID" in r.flags for r in b.results if r.sample_type == "unknown")
    interp = {row["sample_id"]: row for row in b.interpretations}
    assert all(row["category"] == "not_interpretable" for row in interp.values())


def test_run_without_high_qcs_is_rejected(sample_batch):
    batch = sample_batch("lcmsms")
    _drop_qcs(batch, {"QCL-1", "QCL-2", "QCM-1", "QCM-2"})
    b = quantify(batch)
    assert not b.accepted and b.verdict.deciding_rule == "qc_coverage"
    assert "high (0 run" in " ".join(b.verdict.reasons)


def test_coverage_severity_is_configurable():
    out = qc_coverage([MID], LLOQ, ULOQ, 24, severity="warn")
    assert not out.passed and out.warns and not out.rejects
