"""ICH M10 points of a domain review of ``thioquant validate``.

Most tests change observations of the bundled LC-MS/MS package in memory (its runs are measured
once, from the measurement cache) and recompute one experiment; the ISR test also deletes files of
a copied package, as a laboratory would find them missing.
"""

from __future__ import annotations

import dataclasses as dc
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from thioquant.pipeline import quantify
from thioquant.validation import Design, validate_package
from thioquant.validation.criteria import Criteria
from thioquant.validation.experiments import (
    Data,
    Obs,
    accuracy_precision,
    calibration,
    collect,
    dilution_integrity,
    isr,
    matrix_effect,
    selectivity,
    stability,
)
from thioquant.validation.package import read_package
from thioquant.validation.validate import resolve_method

ROOT = Path(__file__).resolve().parents[1]
LCMS_PKG = ROOT / "sample_data" / "validation_lcmsms"
LCMS = ROOT / "calibrations" / "thiopurines_lcmsms.toml"


@pytest.fixture(scope="module")
def base() -> Data:
    pkg = read_package(LCMS_PKG)
    method = resolve_method(pkg, LCMS)
    return collect(pkg, method, {r.run_id: quantify(r.folder, method) for r in pkg.runs})


def rebuild(d0: Data, fn: Callable[[Obs], Obs | None], method=None) -> Data:
    """The package's data with every observation passed through ``fn`` (None drops it from the design)."""
    kept = [x for x in (fn(o) for o in d0.obs) if x is not None]
    excluded = [x for x in (fn(o) for o in d0.excluded) if x is not None]
    return Data(d0.package, method or d0.method, kept, d0.batches, excluded)


def _isr(o: Obs, pairs: tuple[str, ...], role: str = "repeat") -> bool:
    return o.role is not None and o.role.experiment == "isr" and o.role.get("pair") in pairs \
        and o.role.get("role") == role


# --- 1. ISR: the fraction is over every planned pair --------------------------------------------


def test_isr_missing_repeats_count_as_not_within(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    shutil.copytree(LCMS_PKG, pkg, ignore=shutil.ignore_patterns("validation"))
    raw = pkg / "runs" / "R3" / "raw"
    for pair in ("ISR-01", "ISR-02", "ISR-03", "ISR-04"):
        (f,) = raw.glob(f"*_{pair}-R.mzML")
        f.unlink()
    report = validate_package(pkg)
    assert report.failed_experiments == ["isr"]
    (ex,) = [e for e in report.experiments if e.key == "isr"]
    for ch in ex.checks:
        assert ch.value == pytest.approx(0.6)  # 6 of 10 planned pairs, not 6 of 6 evaluated
        assert "6/10 pairs" in ch.detail and "ISR-04 (not evaluable (repeat not measured))" in ch.detail
    row = next(r for r in ex.tables["pairs"] if r["pair"] == "ISR-01")
    assert row["within"] is False and row["note"].startswith("not evaluable (repeat not measured)")
    summary = {r["analyte"]: r for r in ex.tables["summary"]}
    assert [(r["pairs"], r["evaluated"], r["within"], r["fraction_pct"]) for r in summary.values()] == \
        [(10, 6, 6, 60)] * 2


def test_isr_repeat_outside_the_range_disagrees(base: Data) -> None:
    below = ("ISR-01", "ISR-02", "ISR-03", "ISR-04")

    def f(o: Obs) -> Obs:
        if o.analyte == "6-TG" and _isr(o, below):
            return dc.replace(o, conc=o.conc * 0.05, flags=(*o.flags, "BELOW_LLOQ"))
        if o.analyte == "6-TG" and _isr(o, ("ISR-05",), "original"):
            return dc.replace(o, conc=o.conc * 9, flags=(*o.flags, "ABOVE_ULOQ"))
        return o

    ex = isr(rebuild(base, f), Criteria())
    ch = next(c for c in ex.checks if c.analyte == "6-TG")
    assert not ch.passed and ch.value == pytest.approx(0.5) and "5/10 pairs" in ch.detail  # 5 made to disagree
    notes = {r["pair"]: r["note"] for r in ex.tables["pairs"] if r["analyte"] == "6-TG"}
    assert notes["ISR-01"] == "disagree: original quantified, repeat below the LLOQ"
    assert notes["ISR-05"] == "disagree: original above the ULOQ, repeat quantified"
    assert next(c for c in ex.checks if c.analyte == "6-MMP").passed


# --- 2. A&P needs a QC at the LLOQ, low, mid and high; 20 % only at the LLOQ ---------------------


def _no_lloq_qc(o: Obs) -> Obs | None:
    return None if o.role is not None and o.role.experiment == "accuracy_precision" and o.level == "QC-LLOQ" else o


def test_ap_without_an_lloq_qc_fails(base: Data) -> None:
    ex = accuracy_precision(rebuild(base, _no_lloq_qc), Criteria())
    assert ex.failed_criteria == ["qc_levels"]
    for a in ("6-TG", "6-MMP"):
        ch = next(c for c in ex.checks if c.criterion == "qc_levels" and c.analyte == a)
        assert ch.value == 3 and ch.detail == "missing: LLOQ QC"
    assert accuracy_precision(base, Criteria()).passed


def test_lowest_qc_above_the_lloq_is_judged_at_15_pct(base: Data) -> None:
    # a method without an LLOQ QC: its lowest QC (QCL, 2.5 x LLOQ) is a low QC, not an LLOQ QC
    qcs = {lv: v for lv, v in base.method.qcs.items() if lv != "QC-LLOQ"}
    method = dc.replace(base.method, qcs=qcs)

    def f(o: Obs) -> Obs | None:
        o = _no_lloq_qc(o)
        if o is not None and o.role is not None and o.role.experiment == "accuracy_precision" \
                and o.level == "QCL" and o.analyte == "6-TG":
            o = dc.replace(o, conc=o.conc / (1 + _bias(base, o.run)) * 1.17)  # every run's mean at +17 %
        return o

    ex = accuracy_precision(rebuild(base, f, method), Criteria())
    rows = [r for r in ex.tables["inter_run"] if r["level"] == "QCL"]
    assert {(r["role"], r["bias_limit_pct"], r["cv_limit_pct"]) for r in rows} == {("low", 15.0, 15.0)}
    failed = {(c.criterion, c.item) for c in ex.checks if not c.passed}
    assert ("inter_run_bias", "QCL") in failed and ("intra_run_bias", "QCL R1") in failed
    assert ("qc_levels", "LLOQ, low, mid, high QC") in failed


def _bias(d: Data, run: str) -> float:
    """Mean relative bias of the 6-TG QCL A&P replicates of one run."""
    vals = [o.conc for o in d.of("accuracy_precision", "6-TG") if o.level == "QCL" and o.run == run]
    return sum(vals) / len(vals) / d.method.nominal("qc", "QCL", "6-TG") - 1


# --- 4. stability and matrix effect use the injection's own nominal --------------------------------


def test_stability_and_matrix_use_the_injections_nominal(base: Data) -> None:
    def f(o: Obs) -> Obs:
        if o.role is not None and o.role.experiment in ("stability", "matrix_effect") \
                and o.role.get("qc_level") == "QCL":
            # package.toml says these QCs were spiked at 200, not the method's 250 (still a low QC): +25 %
            info = {**o.role.info, "nominal": {**o.role.nominal, "6-TG": 200.0}}
            return dc.replace(o, role=dc.replace(o.role, info=info))
        return o

    d = rebuild(base, f)
    st, me = stability(d, Criteria()), matrix_effect(d, Criteria())
    for ex, table in ((st, "conditions"), (me, "per_lot")):
        rows = [r for r in ex.tables[table] if r["analyte"] == "6-TG" and r["level"] == "QCL"]
        assert rows and all(r["nominal"] == 200 and r["bias_pct"] > 15 for r in rows)
        assert {c.analyte for c in ex.checks if not c.passed} == {"6-TG"}
    assert {c.item.split()[1] for c in st.checks if not c.passed} == {"QCL"}
    assert {c.criterion for c in me.checks if not c.passed} == {"lot_accuracy"}
    # without a nominal in package.toml, the method's QC level is the reference
    assert stability(base, Criteria()).passed and matrix_effect(base, Criteria()).passed


# --- 3. replicate minima of dilution integrity, stability and matrix effect -------------------------


def test_replicate_minima(base: Data) -> None:
    def f(o: Obs) -> Obs | None:
        r = o.role
        if r is None:
            return o
        if r.experiment == "dilution_integrity" and r.get("replicate") == 5:
            return None  # 4 determinations of DF 10
        if r.experiment == "stability" and r.get("condition") == "bench_top" and (
                r.get("qc_level") == "QCH" or r.get("replicate") == 3):
            return None  # bench-top: 2 low QCs, no high QC
        if r.experiment == "matrix_effect" and r.get("lot") == "L3" and r.get("qc_level") == "QCH" \
                and r.get("replicate") == 1:
            return None  # lot L3: 2 high QCs
        return o

    d, c = rebuild(base, f), Criteria()
    assert (c.dilution_min_replicates, c.stability_min_replicates, c.matrix_min_replicates) == (5, 3, 3)

    def failed(ex) -> set[tuple[str, str, str, float]]:
        return {(x.criterion, x.analyte, x.item, x.value) for x in ex.checks if not x.passed}

    both = ("6-TG", "6-MMP")
    assert failed(dilution_integrity(d, c)) == {("replicates", a, "DF 10", 4.0) for a in both}
    assert failed(stability(d, c)) == ({("replicates", a, "bench_top QCL", 2.0) for a in both}
                                       | {("qc_levels", a, "bench_top", 1.0) for a in both})
    assert next(x.detail for x in stability(d, c).checks if not x.passed and x.criterion == "qc_levels") \
        == "missing: high QC"
    assert failed(matrix_effect(d, c)) == {("replicates", a, "QCH L3", 2.0) for a in both}
    for fn in (dilution_integrity, stability, matrix_effect):
        assert fn(base, c).passed


def test_small_design_lowers_the_new_minima() -> None:
    over = Design.small().criteria_overrides()
    assert (over["dilution_min_replicates"], over["stability_min_replicates"], over["matrix_min_replicates"]) \
        == (2, 1, 1)
    assert not {"dilution_min_replicates", "stability_min_replicates", "matrix_min_replicates"} \
        & set(Design().criteria_overrides())


# --- 5. selectivity: less than 20 % of the LLOQ response (and 5 % of the IS) ------------------------


@pytest.mark.parametrize(("channel", "pct", "clean"), [("analyte", 20.0, False), ("analyte", 19.99, True),
                                                       ("is", 5.0, False), ("is", 4.99, True)])
def test_selectivity_blank_at_the_limit_interferes(base: Data, channel: str, pct: float, clean: bool) -> None:
    def f(o: Obs) -> Obs:
        if o.analyte == "6-TG" and o.role is not None and o.role.experiment == "selectivity" \
                and o.sample_id == "SEL-S3":
            ref = base.lloq_calibrator(o.run, "6-TG")
            if channel == "analyte":
                return dc.replace(o, area=pct / 100 * ref.area)
            return dc.replace(o, is_peak=None, is_area=pct / 100 * ref.is_area)
        return o

    ex = selectivity(rebuild(base, f), Criteria())
    row = next(r for r in ex.tables["blanks"] if r["analyte"] == "6-TG" and r["sample_id"] == "SEL-S3")
    assert row["pct_of_lloq" if channel == "analyte" else "is_pct"] == pytest.approx(pct)
    assert row["passed"] is clean and ex.passed is clean


# --- 6. a validation run's curve must include its LLOQ and ULOQ calibrators --------------------------


@pytest.mark.parametrize("end", ["uloq", "lloq"])
def test_calibration_with_a_narrowed_range_fails_its_run(base: Data, end: str) -> None:
    # what the pipeline reports when the ULOQ (LLOQ) calibrator of R1 fails: excluded, range narrowed,
    # curve still accepted for routine use
    out = base.batches["R1"].calibrations["6-TG"]
    narrowed = dc.replace(out, **({"uloq": 7500.0} if end == "uloq" else {"lloq": 200.0}))
    assert narrowed.passed
    r1 = SimpleNamespace(calibrations={**base.batches["R1"].calibrations, "6-TG": narrowed})
    d = Data(base.package, base.method, base.obs, {**base.batches, "R1": r1}, base.excluded)
    ex = calibration(d, Criteria())
    (bad,) = [ch for ch in ex.checks if not ch.passed]
    assert (bad.criterion, bad.analyte, bad.value) == ("curve_accepted", "6-TG", pytest.approx(2 / 3))
    assert "excluded in R1" in bad.detail
    row = next(r for r in ex.tables["runs"] if r["run"] == "R1" and r["analyte"] == "6-TG")
    assert row["passed"] is False and "must include its LLOQ and ULOQ calibrators" in row["reasons"]
    assert calibration(base, Criteria()).passed
