"""Erythrocyte normalisation, unit conversions, uncertainty and method families."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from thioquant.assay import normalise as nz
from thioquant.errors import InputError, MethodError

# --- worked example (domain notes, section 2) ---------------------------------------------------


def test_worked_example_tgn_284():
    assert nz.per_8e8_rbc(1600, 4.5) == pytest.approx(1600 * 0.8 / 4.5)
    assert round(nz.per_8e8_rbc(1600, 4.5)) == 284


def test_worked_example_mmp_5333():
    assert round(nz.per_8e8_rbc(30_000, 4.5)) == 5333


def test_factor_at_rbc_4_5_is_0_178():
    assert nz.per_8e8_rbc(1.0, 4.5) == pytest.approx(0.1778, abs=1e-4)


def test_dilution_and_recovery():
    base = nz.per_8e8_rbc(1000, 4.0)
    assert nz.per_8e8_rbc(1000, 4.0, dilution=2.5) == pytest.approx(2.5 * base)
    assert nz.per_8e8_rbc(1000, 4.0, recovery=0.73) == pytest.approx(base / 0.73)
    assert nz.per_8e8_rbc(1000, 4.0, dilution=2.0, recovery=0.5) == pytest.approx(4 * base)


def test_recovery_default_is_no_correction():
    assert nz.per_8e8_rbc(1000, 4.0) == nz.per_8e8_rbc(1000, 4.0, recovery=1.0)
    assert nz.apply_recovery(100.0) == 100.0
    assert nz.apply_recovery(97.0, 0.97) == pytest.approx(100.0)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_bad_rbc_dilution_recovery_raise(bad):
    with pytest.raises(InputError):
        nz.per_8e8_rbc(1000, bad)
    with pytest.raises(InputError):
        nz.per_8e8_rbc(1000, 4.0, dilution=bad)
    with pytest.raises(InputError):
        nz.per_8e8_rbc(1000, 4.0, recovery=bad)


def test_missing_rbc_gives_nan():
    assert math.isnan(nz.per_8e8_rbc(1000, math.nan))


def test_arrays():
    out = nz.per_8e8_rbc(np.array([1600.0, 30_000.0]), 4.5)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [284.444, 5333.333], rtol=1e-5)


def test_inverse_of_normalisation():
    assert nz.rbc_from_per_8e8(nz.per_8e8_rbc(1234.0, 3.9), 3.9) == pytest.approx(1234.0)


# --- haematocrit and MCV, fixed cell number ------------------------------------------------


def test_cells_per_ml_from_hct_mcv():
    assert nz.cells_per_ml_from_hct_mcv(0.42, 90) == pytest.approx(4.667e9, rel=1e-3)
    assert nz.rbc_1e12_per_l_from_hct_mcv(0.42, 90) == pytest.approx(4.667, rel=1e-3)


def test_per_8e8_from_hct_mcv_matches_count():
    rbc = 0.405 / 90e-15 / 1e12  # 4.5 x 10^12/L
    assert nz.per_8e8_rbc_from_hct_mcv(1600, 0.405, 90) == pytest.approx(nz.per_8e8_rbc(1600, rbc))
    assert round(nz.per_8e8_rbc_from_hct_mcv(1600, 0.405, 90)) == 284


def test_hct_as_percentage_rejected():
    with pytest.raises(InputError, match="fraction"):
        nz.cells_per_ml_from_hct_mcv(42, 90)


def test_fixed_cells():
    assert nz.per_8e8_rbc_fixed_cells(250.0, 8e8) == pytest.approx(250.0)
    assert nz.per_8e8_rbc_fixed_cells(125.0, 4e8) == pytest.approx(250.0)
    assert nz.per_8e8_rbc_fixed_cells(73.0, 8e8, recovery=0.73) == pytest.approx(100.0)
    # 100 uL of a 4.5x10^12/L suspension holds 4.5x10^8 cells
    n = nz.n_cells_in_aliquot(4.5, 100)
    assert n == pytest.approx(4.5e8)
    # fixed volume and fixed cells agree: 1600 nmol/L x 100 uL = 160 pmol in 4.5e8 cells
    assert nz.per_8e8_rbc_fixed_cells(160.0, n) == pytest.approx(nz.per_8e8_rbc(1600, 4.5))


# --- mass <-> molar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "nmol_per_ng_ml"),
    [("6-TG", 5.981), ("6-MMP", 6.017), ("6-MP", 6.571), ("AMTCI", 1000 / 157.19)],
)
def test_ng_ml_to_nmol_l(analyte, nmol_per_ng_ml):
    assert nz.ng_ml_to_nmol_l(1.0, analyte) == pytest.approx(nmol_per_ng_ml, abs=1e-3)
    assert nz.nmol_l_to_ng_ml(nmol_per_ng_ml, analyte) == pytest.approx(1.0, abs=1e-3)


def test_molar_masses():
    assert nz.MOLAR_MASS_G_MOL == {"6-TG": 167.19, "6-MMP": 166.20, "6-MP": 152.18, "AMTCI": 157.19}


def test_analyte_aliases_and_numeric_molar_mass():
    assert nz.canonical_analyte("6TGN") == "6-TG"
    assert nz.canonical_analyte("thioguanine") == "6-TG"
    assert nz.canonical_analyte("6-MeMP") == "6-MMP"
    assert nz.canonical_analyte("amtci") == "AMTCI"
    assert nz.ng_ml_to_nmol_l(100.0, 200.0) == pytest.approx(500.0)
    with pytest.raises(InputError, match="unknown analyte"):
        nz.ng_ml_to_nmol_l(1.0, "caffeine")


def test_to_nmol_l_units():
    assert nz.to_nmol_l(1.6, "umol/L") == pytest.approx(1600)
    assert nz.to_nmol_l(1600, "pmol/mL") == pytest.approx(1600)
    assert nz.to_nmol_l(1.0, "ng/mL", "6-TG") == pytest.approx(5.981, abs=1e-3)
    assert nz.to_nmol_l(1.0, "mg/L", "6-TG") == pytest.approx(5981, abs=1)
    with pytest.raises(InputError):
        nz.to_nmol_l(1.0, "ng/mL")
    with pytest.raises(InputError):
        nz.to_nmol_l(1.0, "furlongs")


def test_normalisation_factor_hand_computed():
    # domain.md section 2: 6-TG 1.60 umol/L at RBC 4.5x10^12/L -> 1600 x 0.8 / 4.5 = 284.4
    f = nz.normalisation_factor("umol/L", "rbc_count")
    assert f == 1000.0
    assert nz.per_8e8_rbc(1.6 * f, 4.5) == pytest.approx(284.44, abs=0.01)
    # 267.5 ng/mL of 6-TG x 1000 / 167.19 = 1599.98 nmol/L -> 284.4
    f = nz.normalisation_factor("ng/mL", "rbc_count", 167.19)
    assert 267.5 * f == pytest.approx(1599.98, abs=0.01)
    assert nz.per_8e8_rbc(267.5 * f, 4.5) == pytest.approx(284.44, abs=0.01)
    assert nz.normalisation_factor("ug/L", "rbc_count", 167.19) == f
    for unit in ("nmol/L", "nM", "pmol/mL", " NMOL/l "):
        assert nz.normalisation_factor(unit, "rbc_count") == 1.0
    for unit in ("\u00b5mol/L", "\u03bcmol/L", "uM"):  # micro sign, Greek mu, molar
        assert nz.normalisation_factor(unit, "rbc_count") == 1000.0
    # fixed cells: an amount per aliquot, to pmol
    assert nz.normalisation_factor("pmol", "fixed_cells") == 1.0
    assert nz.normalisation_factor("nmol", "fixed_cells") == 1000.0
    assert 26.75 * nz.normalisation_factor("ng", "fixed_cells", 167.19) == pytest.approx(160.0, abs=0.01)


def test_normalisation_factor_rejects():
    with pytest.raises(InputError, match="accepted: nmol/L"):
        nz.normalisation_factor("mmol/L", "rbc_count")
    with pytest.raises(InputError, match="accepted: pmol"):  # a concentration is not an amount
        nz.normalisation_factor("nmol/L", "fixed_cells")
    with pytest.raises(InputError, match="accepted: nmol/L"):  # nor the other way round
        nz.normalisation_factor("pmol", "rbc_count")
    with pytest.raises(InputError, match="molar mass"):
        nz.normalisation_factor("ng/mL", "rbc_count")
    with pytest.raises(InputError, match="no formula"):
        nz.normalisation_factor("nmol/L", "none")


@pytest.mark.parametrize("mode", sorted(nz.NORMALISATION_UNITS))
def test_listed_units_are_the_converted_ones(mode):
    target, names = nz.NORMALISATION_UNITS[mode]
    assert nz.normalisation_factor(target, mode) == 1.0
    for unit in names:
        assert nz.normalisation_factor(unit, mode, 100.0) > 0
    assert len({nz._unit_key(u) for u in names}) == len(nz._MODE_TABLES[mode]) == len(names)


@given(st.floats(0, 1e6), st.sampled_from(sorted(nz.MOLAR_MASS_G_MOL)))
def test_mass_molar_roundtrip(x, analyte):
    assert nz.nmol_l_to_ng_ml(nz.ng_ml_to_nmol_l(x, analyte), analyte) == pytest.approx(x, rel=1e-12, abs=1e-12)


# --- other units ------------------------------------------------------------------------------


def test_pmol_per_02ml_wb_hb120():
    # 0.2 mL of blood at 4.0x10^12/L holds exactly 8x10^8 cells; at Hb 120 no scaling
    assert nz.to_pmol_per_02ml_wb_hb120(300.0, 4.0, 120.0) == pytest.approx(300.0)
    # twice the cells -> twice the amount; Hb 150 scales by 120/150
    assert nz.to_pmol_per_02ml_wb_hb120(300.0, 8.0, 150.0) == pytest.approx(600.0 * 120 / 150)
    v = nz.to_pmol_per_02ml_wb_hb120(284.4, 4.5, 140.0)
    assert nz.from_pmol_per_02ml_wb_hb120(v, 4.5, 140.0) == pytest.approx(284.4)


def test_pmol_per_g_hb():
    # MCH 30 pg: 8x10^8 cells hold 0.024 g Hb
    assert nz.to_pmol_per_g_hb(240.0, mch_pg=30.0) == pytest.approx(10_000.0)
    assert nz.to_pmol_per_g_hb(240.0, hb_g_l=135.0, rbc_1e12_per_l=4.5) == pytest.approx(10_000.0)
    assert nz.from_pmol_per_g_hb(10_000.0, mch_pg=30.0) == pytest.approx(240.0)
    with pytest.raises(InputError):
        nz.to_pmol_per_g_hb(240.0, hb_g_l=135.0)


def test_nmol_per_mmol_hb():
    # 1 g Hb = 0.062063 mmol: 10,000 pmol/g = 10 nmol/g = 161.1 nmol/mmol
    assert nz.to_nmol_per_mmol_hb(240.0, mch_pg=30.0) == pytest.approx(10.0 / 0.062063)
    assert nz.from_nmol_per_mmol_hb(10.0 / 0.062063, mch_pg=30.0) == pytest.approx(240.0)
    # consistent with Hb mmol/L = Hb g/dL x 0.62063
    hb_g_dl = 14.0
    assert hb_g_dl * 10 * nz.HB_MMOL_PER_G == pytest.approx(hb_g_dl * 0.62063)


def test_umol_l_packed_rbc():
    assert nz.to_umol_l_packed_rbc(72.0, 90.0) == pytest.approx(1.0)
    assert nz.from_umol_l_packed_rbc(1.0, 90.0) == pytest.approx(72.0)
    assert nz.to_umol_l_packed_rbc(80.0, 100.0) == pytest.approx(1.0)


@given(st.floats(1, 1e5), st.floats(2, 7), st.floats(80, 180), st.floats(60, 120))
def test_other_unit_roundtrips(v, rbc, hb, mcv):
    assert nz.from_pmol_per_02ml_wb_hb120(nz.to_pmol_per_02ml_wb_hb120(v, rbc, hb), rbc, hb) == pytest.approx(v)
    kw = {"hb_g_l": hb, "rbc_1e12_per_l": rbc}
    assert nz.from_pmol_per_g_hb(nz.to_pmol_per_g_hb(v, **kw), **kw) == pytest.approx(v)
    assert nz.from_nmol_per_mmol_hb(nz.to_nmol_per_mmol_hb(v, **kw), **kw) == pytest.approx(v)
    assert nz.from_umol_l_packed_rbc(nz.to_umol_l_packed_rbc(v, mcv), mcv) == pytest.approx(v)


# --- uncertainty ------------------------------------------------------------------------------


def test_interval_quadrature():
    # concentration +/-10 %, RBC CV 3 % x k 1.96 -> sqrt(0.1^2 + 0.0588^2)
    low, high = nz.normalised_interval(284.44, 1440, 1760, 1600, rbc_cv_pct=3.0)
    r = math.hypot(0.10, 1.96 * 0.03)
    assert low == pytest.approx(284.44 * (1 - r))
    assert high == pytest.approx(284.44 * (1 + r))


def test_interval_asymmetric_and_components():
    low, high = nz.normalised_interval(100.0, 90.0, 120.0, 100.0, rbc_cv_pct=0.0)
    assert (low, high) == pytest.approx((90.0, 120.0))
    low, high = nz.normalised_interval(100.0, 100.0, 100.0, 100.0, rbc_cv_pct=5.0, coverage_k=2.0)
    assert (low, high) == pytest.approx((90.0, 110.0))


def test_interval_widens_with_rbc_cv():
    a = nz.normalised_interval(284.0, 1500, 1700, 1600, rbc_cv_pct=1.0)
    b = nz.normalised_interval(284.0, 1500, 1700, 1600, rbc_cv_pct=8.0)
    assert b[0] < a[0] < 284.0 < a[1] < b[1]


def test_interval_never_negative_and_nan_when_unavailable():
    assert nz.normalised_interval(10.0, 0.0, 30.0, 10.0)[0] == 0.0
    assert all(math.isnan(x) for x in nz.normalised_interval(10.0, math.nan, 12.0, 10.0))
    assert all(math.isnan(x) for x in nz.normalised_interval(0.0, 0.0, 1.0, 0.0))


def test_interval_matches_monte_carlo():
    rng = np.random.default_rng(1)
    conc, rbc, sd_conc = 1600.0, 4.5, 40.0
    c = rng.normal(conc, sd_conc, 200_000)
    r = rng.normal(rbc, 0.04 * rbc, 200_000)
    v = nz.per_8e8_rbc(c, r)
    mc_low, mc_high = np.percentile(v, [2.5, 97.5])
    value = nz.per_8e8_rbc(conc, rbc)
    low, high = nz.normalised_interval(value, conc - 1.96 * sd_conc, conc + 1.96 * sd_conc, conc, rbc_cv_pct=4.0)
    assert low == pytest.approx(mc_low, rel=0.01)
    assert high == pytest.approx(mc_high, rel=0.015)


def test_normalise_wrapper_scales_interval_with_dilution():
    v, lo, hi = nz.normalise(1600, 4.5, conc_low=1500, conc_high=1700, dilution=2.0, rbc_cv_pct=0)
    assert v == pytest.approx(2 * 284.444, rel=1e-5)
    assert (lo, hi) == pytest.approx((v * 1500 / 1600, v * 1700 / 1600))


# --- RBC validation ---------------------------------------------------------------------------


def test_validate_rbc():
    assert nz.validate_rbc(4.5) is None
    assert "missing" in nz.validate_rbc(None)
    assert "missing" in nz.validate_rbc(math.nan)
    assert "missing" in nz.validate_rbc("")
    assert "not a number" in nz.validate_rbc("abc")
    assert "positive" in nz.validate_rbc(-1)
    assert "outside" in nz.validate_rbc(0.5)
    assert "outside" in nz.validate_rbc(9.0)
    assert nz.validate_rbc(1.0) is None and nz.validate_rbc(8.0) is None
    # a diluted suspension needs its own range
    assert nz.validate_rbc(0.5, low=0.2, high=2.0) is None


# --- method families --------------------------------------------------------------------------


def test_family_enum_and_parse():
    assert {f.value for f in nz.MethodFamily} == {"dervieux", "lennard", "lcmsms"}
    assert nz.method_family("Dervieux-type") is nz.MethodFamily.DERVIEUX
    assert nz.method_family("LC-MS/MS") is nz.MethodFamily.LCMSMS
    with pytest.raises(MethodError):
        nz.method_family("magic")


def test_convert_family_needs_explicit_factor():
    assert nz.convert_family(300.0, "dervieux", "dervieux") == 300.0
    with pytest.raises(MethodError, match="explicit"):
        nz.convert_family(100.0, "lennard", "dervieux")
    assert nz.convert_family(100.0, "lennard", "dervieux", factor=2.6) == pytest.approx(260.0)
    with pytest.raises(MethodError):
        nz.convert_family(100.0, "lennard", "dervieux", factor=0)
