"""The whole chain on the 14-level Chromeleon HPLC-UV series (0.5 to 5000 ug/mL, 10 compounds).

Chromeleon exports no curve coefficients ("n.a."), only per-level areas and the back-calculated
concentrations (Summary_All Conc). Fitting a straight line through the origin without weighting
(Chromeleon "Lin") on the enabled calibrators (concentration > 0 in the calibration table)
reproduces the vendor's back-calculated concentrations for the five wide-range compounds.
Vendor areas are printed to 0.001 mAU*min, so only calibrators with area >= 0.1 mAU*min
(rounding <= 0.5 %) are compared.
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


def _own_case(root: Path, stem: str):
    io = pytest.importorskip("thioquant.io")
    peaks = pytest.importorskip("thioquant.peaks")
    if not hasattr(io, "read_run") or not hasattr(peaks, "find_target"):
        pytest.skip("readers / peak engine not available")
    rts = {}
    with open(root / SERIES / "traML.csv") as fh:
        for r in csv.DictReader(fh):
            rts.setdefault(r["ProteinName"], float(r["RetentionTime"]))
    runs = _runs(root)
    inj, x, area, vend, _ = _vendor_case(root, stem)
    own = []
    for i in inj:
        p = peaks.find_target(runs[i].traces[0], rts[COMPOUNDS[stem][1]], 0.15) if i in runs else None
        own.append(math.nan if p is None else p.area)
    own = np.array(own)
    enabled = (x > 0) & np.isfinite(own)
    cal = fit_calibration(x[enabled], own[enabled], "linear0", "none")
    back = np.asarray(cal.inverse(own))
    return inj, area, vend, own, back


@pytest.mark.slow
@pytest.mark.parametrize(
    "stem",
    [
        "5-HTP",
        "Melatonin",
        "N-acetylserotonin",
        "Tryptophan",
        pytest.param(
            "Serotonin",
            marks=pytest.mark.xfail(
                reason="serotonin's apex moves from 1.87 min to 1.60 min at 1000 ug/mL (column "
                "overload): a fixed retention window either misses it or takes 5-HTP (2.04 min), "
                "so the curve from own areas lacks the top levels",
                strict=False,
            ),
        ),
    ],
)
def test_back_calculation_from_own_integration_within_two_percent(shared_data: Path, stem: str) -> None:
    """Own integration -> own calibration -> back-calculation vs Chromeleon, for well-defined
    peaks (vendor area >= 1 mAU*min)."""
    inj, area, vend, own, back = _own_case(shared_data, stem)
    cmp_ = np.isfinite(vend) & np.isfinite(area) & (area >= 1.0)
    assert cmp_.sum() >= 4
    dev = 100 * (back[cmp_] / vend[cmp_] - 1)
    assert np.all(np.isfinite(dev)) and np.max(np.abs(dev)) <= 2.0, dict(
        zip(np.array(inj)[cmp_], np.round(dev, 2), strict=True)
    )
