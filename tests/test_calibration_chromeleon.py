"""The whole chain on the 14-level Chromeleon HPLC-UV series (0.5 to 5000 ug/mL, 10 compounds).

Chromeleon exports no curve coefficients ("n.a."), only per-level areas and the back-calculated
concentrations (Summary_All Conc). Fitting a straight line through the origin without weighting
(Chromeleon "Lin") on the enabled calibrators (concentration > 0 in the calibration table)
reproduces the vendor's back-calculated concentrations for the five wide-range compounds.
Vendor areas are printed to 0.001 mAU*min, so only calibrators with area >= 0.1 mAU*min
(rounding <= 0.5 %) are compared.

The own-integration tests run the whole chain from the exported chromatograms (read_run ->
track_targets -> fit_calibration) and compare with Chromeleon's back-calculated concentrations;
docs/calibration.md ("Real data: Chromeleon series") has the measured agreement per compound.
"""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

import numpy as np
import pytest

from thioquant.calibration import accept_calibration, fit_calibration

SERIES = Path("chromeleon/smartPeakPy_HPLC_UV_Standards")
VENDOR = SERIES / "chromeleon_vendor_results"
# calibration file stem -> (summary column, traML name)
COMPOUNDS = {
    "5-HTP": ("5-HTP", "5-HTP"),
    "5-Hydroxyindole": ("5-HydroxyIndole", "5-hydroxyindole"),
    "Acetyltryptamine": ("Acetyltryptamine", "Acetyltryptamine"),
    "Melatonin": ("Melatonin", "Melatonin"),
    "N-acetylserotonin": ("Acetylserotonin", "Acetylserotonin"),
    "Riboflavin": ("Riboflavin", "Riboflavin"),
    "Serotonin": ("Serotonin (5-HT)", "Serotonin"),
    "Tryptamine": ("Tryptamine", "Tryptamine"),
    "Tryptophan": ("Tryptophan", "Tryptophan"),
}
#: compounds whose vendor back-calculations a through-origin unweighted line reproduces
MODEL_MATCHES = ("5-HTP", "Melatonin", "N-acetylserotonin", "Serotonin", "Tryptophan")


def _num(s: str) -> float:
    s = s.strip()
    return math.nan if s in ("", "n.a.") else float(s)


def _summary(root: Path) -> dict[str, dict[str, float]]:
    text = (root / VENDOR / "blank M9 ISO_Summary_All Conc.txt").read_text(encoding="utf-8-sig")
    header: list[str] | None = None
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        c = line.split("\t")
        if len(c) > 2 and c[0] == "" and c[1] == "Melatonin":
            header = [h.strip() for h in c[1:]]
        elif header and "ug/ml" in c[0]:
            out[c[0]] = {h: _num(v) for h, v in zip(header, c[1:], strict=False)}
    return out


def _calibration_table(root: Path, stem: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    text = (root / VENDOR / f"blank M9 ISO_Calibration_{stem}.txt").read_text(encoding="utf-8-sig")
    inj, x, a = [], [], []
    for line in text.splitlines():
        c = line.split("\t")
        if len(c) > 5 and c[0].strip().isdigit():
            inj.append(c[1])
            x.append(_num(c[3]))
            a.append(_num(c[4]))
    return inj, np.array(x), np.array(a)


def _vendor_case(root: Path, stem: str):
    inj, x, area = _calibration_table(root, stem)
    summ = _summary(root)
    vend = np.array([summ[i][COMPOUNDS[stem][0]] for i in inj])
    enabled = (x > 0) & np.isfinite(area)
    return inj, x, area, vend, enabled


@pytest.mark.parametrize("stem", MODEL_MATCHES)
def test_back_calculation_from_vendor_areas_within_half_percent(shared_data: Path, stem: str) -> None:
    inj, x, area, vend, enabled = _vendor_case(shared_data, stem)
    cal = fit_calibration(x[enabled], area[enabled], "linear0", "none")
    back = np.asarray(cal.inverse(area))
    cmp_ = np.isfinite(vend) & np.isfinite(area) & (area >= 0.1)
    assert cmp_.sum() >= 7
    dev = 100 * (back[cmp_] / vend[cmp_] - 1)
    assert np.max(np.abs(dev)) <= 0.5, dict(zip(np.array(inj)[cmp_], np.round(dev, 3), strict=True))


def test_narrow_range_compounds_differ_by_a_constant_slope(shared_data: Path) -> None:
    """For the other compounds the model (line through zero) still holds, but Chromeleon's slope
    differs by a constant 1-2 %: its curve used calibration data not in this export."""
    for stem in ("5-Hydroxyindole", "Acetyltryptamine", "Tryptamine", "Riboflavin"):
        inj, x, area, vend, enabled = _vendor_case(shared_data, stem)
        cal = fit_calibration(x[enabled], area[enabled], "linear0", "none")
        cmp_ = np.isfinite(vend) & np.isfinite(area) & (area >= 0.2)
        ratio = np.asarray(cal.inverse(area[cmp_])) / vend[cmp_]
        assert np.ptp(ratio) < 0.01, stem  # constant within 1 %: same model, other slope
        assert 1.0 < 100 * abs(ratio.mean() - 1) < 2.5, stem


def test_m10_acceptance_on_melatonin(shared_data: Path) -> None:
    inj, x, area, vend, enabled = _vendor_case(shared_data, "Melatonin")
    out = accept_calibration(x[enabled], area[enabled], model="linear", weighting="1/x^2")
    # 14 levels; the 0.5 and 1 ug/mL calibrators (areas 0.013, 0.016: 3 digits) are the weak ones
    assert out.passed, out.reasons
    assert out.uloq == 5000.0
    assert len({p.level for p in out.points if p.included}) >= 12


@functools.cache
def _runs(root: Path) -> dict:
    from thioquant.io import read_run

    return {
        (run := read_run(f)).metadata.get("Injection"): run
        for f in sorted((root / SERIES / "chromatograms").glob("*.txt"))
    }


#: Processing settings of the own integration, as in a lab's processing method. Chromeleon
#: integrated the small co-eluting peaks beside the analytes (5-HTP 25 ug/mL, tryptophan 25 and
#: 50 ug/mL) valley to valley: with ``fused="valley"`` thioquant's heights there agree with
#: Chromeleon's within 0.3 %, with the default perpendicular drop they are 2-3 % higher and the
#: areas 5-15 % higher. Its baseline is anchored on the signal at the boundary (``"point"``).
OWN_SETTINGS = {"fused": "valley", "anchor": "point"}
WINDOW_MIN = 0.15
#: S/N (USP, 2H/h) below which a peak is under the limit of quantitation (ICH: S/N 10)
LOQ_SN = 10.0
#: Levels above the floor whose own area differs from Chromeleon's for a documented reason that
#: is not an error of either: where the peak ends, or whether a small co-eluting peak is split.
KNOWN_DIFFERENCES = {
    ("Tryptophan", "10 ug/ml ISO"): "a co-eluting impurity at 3.37 min (0.13 mAU, 3.5 % of the "
    "height) is an unresolved shoulder here (valley 0.001 mAU deep); Chromeleon splits it off "
    "with a valley baseline, thioquant keeps it in the peak (+8 %). At 25 and 50 ug/mL it has a "
    "valley and both split it (within 0.7 %).",
    ("N-acetylserotonin", "50 ug/ml ISO"): "a small peak rides on the tail at 5.145 min (about "
    "1 mAU; seen in the 10-50 ug/mL standards, not above), unresolved (valley 0.004 mAU deep); "
    "thioquant integrates it with the tail (+2.0 % area, +2.3 % back-calculated).",
    ("Serotonin", "50 ug/ml ISO"): "the overloaded serotonin tail runs into 5-HTP; thioquant "
    "ends the peak at the valley (1.950 min), Chromeleon's area is 0.023 mAU*min smaller, as if "
    "its peak end were 0.03 min earlier on the tail (1.923 min) (+2.9 % area, +4.3 % back-calculated).",
}


@functools.cache
def _tracked(root: Path):
    """Own integration of every traML target in every injection, in injection order, with the
    expected retention time of each injection taken from the one before (track_targets)."""
    from thioquant.peaks import track_targets

    rts: dict[str, float] = {}
    with open(root / SERIES / "traML.csv") as fh:
        for r in csv.DictReader(fh):
            rts.setdefault(r["ProteinName"], float(r["RetentionTime"]))
    runs = _runs(root)
    inj = _calibration_table(root, "Melatonin")[0]  # injection order (No. 83-96)
    return inj, track_targets([runs[i].traces[0] for i in inj], rts, WINDOW_MIN, **OWN_SETTINGS)


def _own_case(root: Path, stem: str):
    io = pytest.importorskip("thioquant.io")
    peaks = pytest.importorskip("thioquant.peaks")
    if not hasattr(io, "read_run") or not hasattr(peaks, "track_targets"):
        pytest.skip("readers / peak engine not available")
    order, tracked = _tracked(root)
    inj, x, area, vend, _ = _vendor_case(root, stem)
    assert inj == order
    pks = tracked.peaks[COMPOUNDS[stem][1]]
    own = np.array([math.nan if p is None else p.area for p in pks])
    sn = np.array([math.nan if p is None else p.sn for p in pks])
    enabled = (x > 0) & np.isfinite(own)
    cal = fit_calibration(x[enabled], own[enabled], "linear0", "none")
    back = np.asarray(cal.inverse(own))
    return inj, area, vend, own, back, sn


def _compared(inj, area, vend, sn, stem):
    """Vendor area >= 0.1 mAU*min (printed to 0.001: rounding <= 0.5 %), own peak at or above
    the LOQ (S/N >= 10), and not one of the KNOWN_DIFFERENCES."""
    known = np.array([(stem, i) in KNOWN_DIFFERENCES for i in inj])
    return np.isfinite(vend) & np.isfinite(area) & (area >= 0.1) & (sn >= LOQ_SN) & ~known


#: compared levels (ug/mL) per compound; the test fails if one drops out
OWN_LEVELS = {
    "5-HTP": (10, 25, 50, 100, 250, 500, 750, 1000),
    "Melatonin": (10, 25, 50, 100, 250, 500, 750, 1000, 2500, 5000),
    "N-acetylserotonin": (10, 25, 100, 250, 500, 750, 1000),
    "Serotonin": (10, 25, 100, 250, 500, 750, 1000),
    "Tryptophan": (25, 50, 100, 250, 500, 750, 1000, 2500),
}


@pytest.mark.slow
@pytest.mark.parametrize("stem", MODEL_MATCHES)
def test_back_calculation_from_own_integration_within_two_percent(shared_data: Path, stem: str) -> None:
    """Own integration -> own calibration -> back-calculation vs Chromeleon, within 2 %.

    Compared: every calibrator with a Chromeleon area >= 0.1 mAU*min (the floor of the
    vendor-area test) whose own peak is at or above the LOQ (S/N >= 10), except the three
    KNOWN_DIFFERENCES (tested below); the levels are listed in OWN_LEVELS: 5-HTP 10-1000,
    melatonin 10-5000, N-acetylserotonin 10, 25 and 100-1000, serotonin 10, 25 and 100-1000,
    tryptophan 25-2500 ug/mL. Not compared: levels below 0.1 mAU*min (0.5-5 ug/mL, areas to 3
    digits), serotonin 5 ug/mL (S/N 4.6: its 0.12 mAU*min sit on a wavy baseline, own area
    -15 %), the 2500/5000 ug/mL injections of compounds absent from those standards.

    Serotonin overloads the column: its apex moves from 1.85 min (10 ug/mL) to 1.60 min
    (1000 ug/mL), beyond a fixed 0.15 min window, while 5-HTP sits at 2.03 min; the expected
    retention time is therefore updated from the previous injection (track_targets), as
    Chromeleon's "Use Recently Detected Retention Times" does.
    """
    inj, area, vend, own, back, sn = _own_case(shared_data, stem)
    cmp_ = _compared(inj, area, vend, sn, stem)
    levels = tuple(float(i.split()[0].replace(",", ".")) for i in np.array(inj)[cmp_])
    assert levels == OWN_LEVELS[stem]
    dev = 100 * (back[cmp_] / vend[cmp_] - 1)
    assert np.all(np.isfinite(dev)) and np.max(np.abs(dev)) <= 2.0, dict(
        zip(np.array(inj)[cmp_], np.round(dev, 2), strict=True)
    )


@pytest.mark.slow
@pytest.mark.parametrize(("stem", "injection"), sorted(KNOWN_DIFFERENCES))
def test_known_integration_differences_stay_bounded(shared_data: Path, stem: str,
                                                    injection: str) -> None:
    """The documented differences: the right peak is found (S/N well above the LOQ) and the
    back-calculated concentration stays within 10 % of Chromeleon's."""
    inj, area, vend, own, back, sn = _own_case(shared_data, stem)
    k = inj.index(injection)
    assert area[k] >= 0.1 and sn[k] >= LOQ_SN
    assert abs(100 * (back[k] / vend[k] - 1)) <= 10.0


#: Boundaries (min) of a straight baseline between two data points that reproduces both
#: Chromeleon's area and its height at the KNOWN_DIFFERENCES (found by searching every pair of
#: points around the peak, 2026-12-03); thioquant's automatic boundaries are in brackets.
VENDOR_BOUNDARIES = {
    # starts at the shoulder's slope minimum: the impurity split off with a valley baseline
    # [3.330-3.567]
    ("Tryptophan", "10 ug/ml ISO"): (3.380, 3.547),
    # ends on the rider's falling side, where at 25 ug/mL Chromeleon ends at 5.20 [4.997-5.200]
    ("N-acetylserotonin", "50 ug/ml ISO"): (5.000, 5.177),
    # ends on the tail 0.23 mAU above the baseline; at 25 and 100 ug/mL it ends in the valley
    # before 5-HTP (1.95-1.96 min), as thioquant does [1.747-1.950]
    ("Serotonin", "50 ug/ml ISO"): (1.757, 1.923),
}


@pytest.mark.slow
@pytest.mark.parametrize(("stem", "injection"), sorted(VENDOR_BOUNDARIES))
def test_known_differences_are_where_the_vendor_peak_starts_or_ends(shared_data: Path, stem: str,
                                                                    injection: str) -> None:
    """Manual integration between the boundaries Chromeleon's numbers imply reproduces its area
    and height (0.5 %) and its back-calculated concentration (2 %): the documented differences
    are the vendor's peak boundaries, not the integrator or the calibration."""
    from thioquant.peaks import integrate

    inj, area, vend, own, back, sn = _own_case(shared_data, stem)
    k = inj.index(injection)
    heights = {}
    text = (shared_data / VENDOR / f"blank M9 ISO_Calibration_{stem}.txt").read_text(
        encoding="utf-8-sig")
    for line in text.splitlines():
        c = line.split("\t")
        if len(c) > 5 and c[0].strip().isdigit():
            heights[c[1]] = _num(c[5])
    start, end = VENDOR_BOUNDARIES[(stem, injection)]
    p = integrate(_runs(shared_data)[injection].traces[0], start, end)
    assert p.area == pytest.approx(area[k], rel=0.005)
    assert p.height == pytest.approx(heights[injection], rel=0.005)
    # own curve from own areas, as in the other tests; only this one area is the manual one
    x = _vendor_case(shared_data, stem)[1]
    enabled = (x > 0) & np.isfinite(own)
    cal = fit_calibration(x[enabled], own[enabled], "linear0", "none")
    assert abs(100 * (float(cal.inverse(p.area)) / vend[k] - 1)) <= 2.0
    # and thioquant's own boundaries are elsewhere (the difference is not in the integrator)
    assert abs(100 * (own[k] / area[k] - 1)) > 1.5
