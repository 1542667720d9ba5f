"""Real files with vendor peak tables (read in place from ../shared/data)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thioquant.io import read_run
from thioquant.peaks import find_peaks, integrate

STD = ["STD_6.25", "STD_12.5", "STD_25", "STD_50", "STD_100"]


def _resolved(refs):
    """Vendor peaks that share no boundary with a neighbour (and are BB when coded)."""
    refs = sorted(refs, key=lambda p: p.rt_min)
    for i, rp in enumerate(refs):
        shared = (i > 0 and abs(refs[i - 1].end_min - rp.start_min) < 1e-6) or (
            i + 1 < len(refs) and abs(refs[i + 1].start_min - rp.end_min) < 1e-6)
        if not shared and rp.code.strip().upper() in ("", "BB") and math.isfinite(rp.start_min):
            yield rp


def test_agilent_aia_vendor_table(shared_data):
    run = read_run(shared_data / "andi_cdf/cheminfo_netcdf-gcms/agilent-hplc.cdf")
    tr = run.traces[0]
    pks = find_peaks(tr)
    rts = np.array([p.rt_min for p in pks])
    for rp in run.reference_peaks:
        assert np.min(np.abs(rts - rp.rt_min)) <= 0.02, rp
    n = 0
    for rp in _resolved(run.reference_peaks):
        pk = integrate(tr, rp.start_min, rp.end_min)
        assert pk.area * 60.0 == pytest.approx(rp.area, rel=1e-3)  # mAU*min -> mAU*s
        assert pk.height == pytest.approx(rp.height, rel=0.01)
        n += 1
    assert n == 6


def test_shimadzu_standards_vendor_tables(shared_data):
    total = found = checked = 0
    for name in STD:
        run = read_run(shared_data / f"shimadzu_labsolutions/Analysis_Lab_standards/{name}.txt")
        for tr in run.traces:
            refs = [p for p in run.reference_peaks if p.trace == tr.name]
            if not refs:
                continue
            rts = np.array([p.rt_min for p in find_peaks(tr)])
            total += len(refs)
            found += sum(np.min(np.abs(rts - rp.rt_min)) <= 0.02 for rp in refs)
            assert tr.signal_unit == "mV" and refs[0].area_unit == "uV*s"
            for rp in _resolved(refs):
                pk = integrate(tr, rp.start_min, rp.end_min)
                assert pk.area * 60.0 * 1000.0 == pytest.approx(rp.area, rel=0.01), (name, rp)
                checked += 1
    assert found / total >= 0.95
    assert checked >= 35


SCIEX = "mzml_srm/smartPeakPy_QTRAP5500_BloodProject_QC"


def _sciex(shared_data):
    """Analyst's result rows, and the one SRM trace of the mzML with a "Q1 / Q3" mass (or None)."""
    import csv

    run = read_run(shared_data / SCIEX / "150601_0_BloodProject01_PLT_QC_Broth-1.mzML")
    by_mz: dict[tuple[float, float], list] = {}
    for t in run.traces:
        if t.channel.kind == "srm":
            by_mz.setdefault((round(t.channel.precursor_mz, 1), round(t.channel.product_mz, 1)), []).append(t)

    def one(mass: str):
        q1, q3 = (round(float(x), 1) for x in mass.split("/"))
        found = by_mz.get((q1, q3), [])
        return found[0] if len(found) == 1 else None

    with open(shared_data / SCIEX / "referenceData_1_sciex_vendor_results.csv", newline="") as fh:
        return list(csv.DictReader(fh)), one


def _sciex_rows(shared_data):
    """(Sciex row, the one SRM trace with its Q1/Q3) for every component with an area."""
    rows, one = _sciex(shared_data)
    for r in rows:
        tr = one(r["mass_info"])
        if tr is not None and r["area"] and float(r["area"]) > 0:
            yield r, tr


def test_sciex_mrm_areas_between_the_vendor_boundaries(shared_data):
    """QTRAP 5500 MRM (LC-MS/MS), Analyst's own results for the same injection: every peak it
    integrated with a baseline-to-baseline drop line ("Baseline", 97 of 166) is reproduced by
    ``integrate`` between its start and end times (area in counts x s), and the apex within
    0.05 min of its retention time. Its "Valley" and "Manual" peaks carry a baseline that the
    export does not give (benchmarks/README.md has the figures)."""
    n = 0
    for r, tr in _sciex_rows(shared_data):
        if r["integration_type"] != "Baseline":
            continue
        pk = integrate(tr, float(r["start_time"]), float(r["end_time"]), baseline="drop")
        assert pk.area * 60.0 == pytest.approx(float(r["area"]), rel=1e-6), r["component_name"]
        assert abs(pk.rt_min - float(r["retention_time"])) < 0.05, r["component_name"]
        n += 1
    assert n == 97


def _sciex_pairs(shared_data):
    """(Sciex row, analyte trace, internal-standard trace) for every light/heavy pair with areas."""
    rows, one = _sciex(shared_data)
    for r in rows:
        if r["is_"] == "TRUE" or not r["area_ratio"] or not r["is_mass"]:
            continue
        ta, ti = one(r["mass_info"]), one(r["is_mass"])
        if ta is not None and ti is not None and float(r["area"] or 0) > 0 and float(r["is_area"] or 0) > 0:
            yield r, ta, ti


def test_sciex_noisy_peak_top_is_one_peak(shared_data):
    """Urate's MRM peak (about 7 points across its half height, a 10 % dip on its top) was split
    at its apex into a "shoulder" and half a peak (-51 % against Analyst); the shoulder's
    curvature is now judged against the noise on the peak top, and the peak is whole."""
    from thioquant.peaks import find_target

    r, ta, _ = next(p for p in _sciex_pairs(shared_data) if p[0]["component_name"] == "urate.urate_1.Light")
    pk = find_target(ta, float(r["retention_time"]), 0.2)
    assert not {"SHOULDER", "FUSED"} & set(pk.flags)
    assert pk.start_min < 3.65 and pk.end_min > 3.85
    assert pk.area * 60.0 == pytest.approx(float(r["area"]), rel=0.10)  # Analyst's ends later on the tail


def test_sciex_is_ratios_from_own_integration(shared_data):
    """Analyte / labelled-IS area ratios, both peaks by find_target, against Analyst's ratios for
    the 79 pairs: 36 within 5 %; for the 33 pairs Analyst integrated baseline to baseline, 21
    within 5 % and median |difference| 2.88 % (2026-12-04, robust target width; before: 78
    pairs found, 36, 20 and 3.35 %)."""
    from thioquant.peaks import find_target

    diffs, base = [], []
    for r, ta, ti in _sciex_pairs(shared_data):
        pa = find_target(ta, float(r["retention_time"]), 0.2)
        pi = find_target(ti, float(r["is_retention_time"]), 0.2)
        if pa is None or pi is None:
            continue
        d = abs(100.0 * (pa.area / pi.area / float(r["area_ratio"]) - 1.0))
        diffs.append(d)
        if r["integration_type"] == r["is_integration_type"] == "Baseline":
            base.append(d)
    assert len(diffs) == 79 and len(base) == 33
    assert sum(d <= 5 for d in diffs) >= 36
    assert sum(d <= 5 for d in base) >= 21 and float(np.median(base)) < 3.0
