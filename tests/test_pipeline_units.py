"""A method calibrated in umol/L, ng/mL (or, for fixed cells, nmol or ng per aliquot) reports the
same pmol/8x10^8 RBC as the same method in nmol/L (pmol) on the same batch: the calibration unit
is converted before normalising, never taken as nmol/L."""

from __future__ import annotations

import math
import tomllib

import pytest

from thioquant.assay.method import parse_method
from thioquant.pipeline import quantify

MW = {"6-TG": 167.19, "6-MMP": 166.20}

# (batch, method file, unit, scale per analyte: nominal in the new unit = nominal x scale)
CASES = [
    ("lcmsms", "thiopurines_lcmsms", "umol/L", {"6-TG": 1e-3, "6-MMP": 1e-3}),
    ("lcmsms", "thiopurines_lcmsms", "ng/mL", {a: mw / 1000 for a, mw in MW.items()}),
    ("hplcuv", "thiopurines_hplcuv", "nmol", {"6-TG": 1e-3, "6-MMP": 1e-3}),
    ("hplcuv", "thiopurines_hplcuv", "ng", {a: mw / 1000 for a, mw in MW.items()}),
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    # the unit changes no measurement, so every run after the first reuses the peaks
    return tmp_path_factory.mktemp("units") / "cache.sqlite"


@pytest.fixture(scope="module")
def reference(repo_root, cache):
    out = {}
    for batch, method in {(c[0], c[1]) for c in CASES}:
        out[batch] = quantify(repo_root / "sample_data" / batch, repo_root / "calibrations" / f"{method}.toml",
                              cache=cache)
    return out


def _rescaled(path, unit, scale):
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["method"]["conc_unit"] = unit
    for table in ("calibrators", "qcs"):
        for level in data[table].values():
            for a in level:
                level[a] *= scale[a]
    return parse_method(data, source=str(path))


@pytest.mark.parametrize(("batch", "method", "unit", "scale"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_same_reported_values_in_any_unit(repo_root, cache, reference, batch, method, unit, scale):
    m = _rescaled(repo_root / "calibrations" / f"{method}.toml", unit, scale)
    ref = reference[batch]
    b = quantify(repo_root / "sample_data" / batch, m, cache=cache)
    assert b.accepted == ref.accepted
    assert len(b.results) == len(ref.results)
    n = 0
    for r, r0 in zip(b.results, ref.results, strict=True):
        assert (r.sample_id, r.analyte, r.flags) == (r0.sample_id, r0.analyte, r0.flags)
        # conc stays in the method's unit; reported is pmol/8x10^8 RBC whatever that unit is
        assert r.conc_unit == unit and r0.conc_unit != unit
        if math.isfinite(r0.conc):
            assert r.conc == pytest.approx(r0.conc * scale[r.analyte], rel=1e-9)
        for k in ("reported", "reported_low", "reported_high"):
            v, v0 = getattr(r, k), getattr(r0, k)
            assert math.isfinite(v) == math.isfinite(v0), (r.sample_id, k)
            if math.isfinite(v0):
                assert v == pytest.approx(v0, rel=1e-9), (r.sample_id, r.analyte, k)
                n += 1
        assert r.reported_unit == r0.reported_unit
    assert n >= 30  # every patient's two results and their intervals
    # so the clinical interpretation reads the same numbers
    assert b.interpretations == ref.interpretations and len(b.interpretations) >= 15
