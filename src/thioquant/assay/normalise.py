"""Erythrocyte normalisation, unit conversion and uncertainty of reported results.

Thiopurine nucleotides are reported as an amount per number of red cells, pmol/8x10^8 RBC
(Lennard 1983; Dervieux & Boulieu 1998). This module turns a concentration measured in the
hydrolysed, aliquoted red-cell suspension into that unit, converts between mass and molar
concentrations and between the other units laboratories use, and attaches an interval to each
reported value. Every function takes plain numbers (or numpy arrays) and returns plain numbers;
units are part of every argument name. Formulas and sources are listed in
``docs/interpretation.md``.

Conventions
-----------
- ``rbc_1e12_per_l`` is the red-cell count of the *aliquoted suspension* in 10^12 cells/L. When
  the suspension is diluted (for instance washed cells resuspended in saline) its count is lower
  than a whole-blood count, which is why the plausible range in :func:`validate_rbc` is a
  parameter.
- ``dilution`` is the total dilution factor between the sample and the measured vial. It applies
  only when calibrators are *not* processed like the samples; matrix-matched, co-processed
  calibrators already absorb those volumes (domain notes, section 2).
- ``recovery`` is a fraction (0.73 = 73 %); results are divided by it. Default 1.0 (no correction).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

import numpy as np

from thioquant.errors import InputError, MethodError

# --- molar masses ---------------------------------------------------------------------------

#: Average molar masses (g/mol) of the measured bases (domain notes, section 1).
MOLAR_MASS_G_MOL: dict[str, float] = {
    "6-TG": 167.19,
    "6-MMP": 166.20,
    "6-MP": 152.18,
    "AMTCI": 157.19,
}

# Spellings accepted for each analyte (compared after lower-casing and removing "-", "_", " ").
_ALIASES: dict[str, str] = {
    "6tg": "6-TG", "tg": "6-TG", "6tgn": "6-TG", "tgn": "6-TG", "thioguanine": "6-TG",
    "6thioguanine": "6-TG", "tioguanine": "6-TG",
    "6mmp": "6-MMP", "mmp": "6-MMP", "6mmpn": "6-MMP", "mmpn": "6-MMP", "6memp": "6-MMP",
    "6methylmercaptopurine": "6-MMP", "methylmercaptopurine": "6-MMP",
    "6mp": "6-MP", "mp": "6-MP", "mercaptopurine": "6-MP", "6mercaptopurine": "6-MP",
    "amtci": "AMTCI",
}

#: Number of cells the reported unit refers to.
CELLS_PER_UNIT = 8e8

#: Hb monomer: mmol per g (Hb mmol/L = Hb g/dL x 0.62063, i.e. 16.114 g/mmol).
HB_MMOL_PER_G = 0.062063

#: Reference haemoglobin (g/L) of the German whole-blood unit pmol/0.2 mL at Hb 120 g/L.
HB_REFERENCE_G_L = 120.0


def canonical_analyte(analyte: str) -> str:
    """The key of :data:`MOLAR_MASS_G_MOL` that ``analyte`` names.

    Accepts the usual spellings ("6-TG", "6TGN", "thioguanine", "6-MMP", "6-MeMP", "AMTCI"...).

    Raises
    ------
    InputError
        When the name is not recognised.
    """
    key = str(analyte).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    for name in MOLAR_MASS_G_MOL:
        if key == name.lower().replace("-", ""):
            return name
    if key in _ALIASES:
        return _ALIASES[key]
    raise InputError(
        f"unknown analyte {analyte!r}; known: {', '.join(MOLAR_MASS_G_MOL)} "
        "(or give the molar mass in g/mol)"
    )


def molar_mass_g_mol(analyte: str | float) -> float:
    """Molar mass of ``analyte`` (a name, or a number taken as the molar mass itself)."""
    if isinstance(analyte, int | float) and not isinstance(analyte, bool):
        mw = float(analyte)
        if not (math.isfinite(mw) and mw > 0):
            raise InputError(f"molar mass must be a positive number, got {analyte!r}")
        return mw
    return MOLAR_MASS_G_MOL[canonical_analyte(str(analyte))]


def _out(x: Any) -> Any:
    """Return a float for 0-d input, the array otherwise."""
    arr = np.asarray(x, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


def _positive(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    bad = np.isfinite(arr) & (arr <= 0)
    if np.any(bad):
        raise InputError(f"{name} must be positive, got {value!r}")
    return arr


# --- mass <-> molar -------------------------------------------------------------------------


def ng_ml_to_nmol_l(conc_ng_ml: Any, analyte: str | float) -> Any:
    """ng/mL -> nmol/L: ``nmol/L = ng/mL x 1000 / MW``.

    Parameters
    ----------
    conc_ng_ml : float or array
        Mass concentration (ng/mL, identical to ug/L).
    analyte : str or float
        Analyte name (see :data:`MOLAR_MASS_G_MOL`) or its molar mass in g/mol.

    Returns
    -------
    float or ndarray
        Molar concentration in nmol/L. 1 ng/mL of 6-TG is 5.981 nmol/L.
    """
    return _out(np.asarray(conc_ng_ml, dtype=float) * 1000.0 / molar_mass_g_mol(analyte))


def nmol_l_to_ng_ml(conc_nmol_l: Any, analyte: str | float) -> Any:
    """nmol/L -> ng/mL: ``ng/mL = nmol/L x MW / 1000`` (inverse of :func:`ng_ml_to_nmol_l`)."""
    return _out(np.asarray(conc_nmol_l, dtype=float) * molar_mass_g_mol(analyte) / 1000.0)


# Concentration units accepted by :func:`to_nmol_l`: factor to nmol/L, and whether it is a mass unit.
# Keys are spelled as :func:`_unit_key` leaves them (lower case, no spaces, "u" for the micro sign).
_CONC_UNITS: dict[str, tuple[float, bool]] = {
    "nmol/l": (1.0, False), "nm": (1.0, False), "pmol/ml": (1.0, False),
    "umol/l": (1000.0, False), "um": (1000.0, False),
    "pmol/l": (1e-3, False),
    "ng/ml": (1.0, True), "ug/l": (1.0, True),
    "mg/l": (1000.0, True), "ug/ml": (1000.0, True),
    "pg/ml": (1e-3, True),
}

# Amounts per hydrolysed aliquot (fixed-cells methods): factor to pmol, and whether it is a mass
# unit (ng x 1000 / MW = pmol, the same arithmetic as ng/mL -> nmol/L).
_AMOUNT_UNITS: dict[str, tuple[float, bool]] = {
    "pmol": (1.0, False), "fmol": (1e-3, False), "nmol": (1000.0, False),
    "ng": (1.0, True), "pg": (1e-3, True),
}

#: For each normalisation mode: the unit its formula expects, and the units a method may
#: calibrate in (as listed in messages and docs/method_files.md; matched ignoring case, spaces
#: and the spelling of the micro sign).
NORMALISATION_UNITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "rbc_count": ("nmol/L", ("nmol/L", "nM", "pmol/mL", "pmol/L", "umol/L", "uM",
                             "ng/mL", "ug/L", "pg/mL", "ug/mL", "mg/L")),
    "fixed_cells": ("pmol", ("pmol", "fmol", "nmol", "ng", "pg")),
}
_MODE_TABLES = {"rbc_count": _CONC_UNITS, "fixed_cells": _AMOUNT_UNITS}


def _unit_key(unit: str) -> str:
    # the micro sign (U+00B5) and the Greek mu (U+03BC) look alike; both mean "u"
    return str(unit).strip().lower().replace(" ", "").replace("\u00b5", "u").replace("\u03bc", "u")


def is_mass_unit(unit: str) -> bool:
    """Whether ``unit`` (a concentration or an amount) is a mass unit, needing a molar mass."""
    key = _unit_key(unit)
    return any(key in table and table[key][1] for table in _MODE_TABLES.values())


def to_nmol_l(conc: Any, unit: str, analyte: str | float | None = None) -> Any:
    """Convert a concentration in ``unit`` to nmol/L.

    Molar units (nmol/L, umol/L, pmol/mL, pmol/L) need no analyte; mass units (ng/mL, ug/L,
    mg/L, ug/mL, pg/mL) need the analyte or its molar mass.

    Raises
    ------
    InputError
        For an unknown unit, or a mass unit without an analyte.
    """
    key = _unit_key(unit)
    if key not in _CONC_UNITS:
        raise InputError(f"unknown concentration unit {unit!r}; known: {', '.join(NORMALISATION_UNITS['rbc_count'][1])}")
    factor, is_mass = _CONC_UNITS[key]
    x = np.asarray(conc, dtype=float) * factor
    if is_mass:
        if analyte is None:
            raise InputError(f"converting {unit} to nmol/L needs the analyte's molar mass")
        return ng_ml_to_nmol_l(x, analyte)
    return _out(x)


def normalisation_factor(conc_unit: str, mode: str, molar_mass: float | None = None) -> float:
    """Factor taking a result in a method's ``conc_unit`` to the unit its normalisation expects.

    ``rbc_count`` (:func:`per_8e8_rbc`) expects nmol/L in the suspension; ``fixed_cells``
    (:func:`per_8e8_rbc_fixed_cells`) expects pmol per hydrolysed aliquot. Multiply the
    concentration and its interval by the factor before normalising.

    Parameters
    ----------
    conc_unit : str
        The method's calibration unit, one of ``NORMALISATION_UNITS[mode][1]``.
    mode : str
        ``"rbc_count"`` or ``"fixed_cells"``.
    molar_mass : float, optional
        Molar mass of the analyte, g/mol; required for mass units (ng/mL, ng...).

    Returns
    -------
    float
        1.0 for nmol/L (rbc_count) and pmol (fixed_cells); 1000 for umol/L; 1000 / MW for ng/mL.

    Raises
    ------
    InputError
        For a mode without a formula, a unit the mode cannot convert, or a mass unit without a
        molar mass.

    Examples
    --------
    >>> normalisation_factor("umol/L", "rbc_count")
    1000.0
    >>> round(normalisation_factor("ng/mL", "rbc_count", 167.19) * 267.5)
    1600
    """
    if mode not in NORMALISATION_UNITS:
        raise InputError(f"normalisation mode {mode!r} has no formula to convert {conc_unit!r} for")
    target, names = NORMALISATION_UNITS[mode]
    key = _unit_key(conc_unit)
    table = _MODE_TABLES[mode]
    if key not in table:
        raise InputError(
            f"{conc_unit!r} cannot be converted to {target} for normalisation mode {mode!r}; "
            f"accepted: {', '.join(names)}"
        )
    factor, is_mass = table[key]
    if not is_mass:
        return factor
    if molar_mass is None:
        raise InputError(f"converting {conc_unit} to {target} needs the analyte's molar mass")
    return factor * 1000.0 / molar_mass_g_mol(float(molar_mass))


# --- erythrocyte normalisation ---------------------------------------------------------------


def apply_recovery(value: Any, recovery: float = 1.0) -> Any:
    """Correct for extraction recovery: ``value / recovery`` (``recovery`` as a fraction)."""
    r = float(recovery)
    if not (math.isfinite(r) and r > 0):
        raise InputError(f"recovery must be a positive fraction, got {recovery!r}")
    return _out(np.asarray(value, dtype=float) / r)


def per_8e8_rbc(
    conc_nmol_l: Any,
    rbc_1e12_per_l: Any,
    dilution: Any = 1.0,
    recovery: float = 1.0,
) -> Any:
    """Fixed volume + cell count: ``result = C x DF / recovery x 0.8 / RBC``.

    ``C`` nmol/L in a suspension holding ``RBC x 10^12`` cells/L is ``C x 1000`` pmol per
    ``RBC x 10^12`` cells, hence ``C x 0.8 / RBC`` pmol per 8x10^8 cells.

    Parameters
    ----------
    conc_nmol_l : float or array
        Concentration measured in the vial, nmol/L.
    rbc_1e12_per_l : float or array
        RBC count of the aliquoted suspension, 10^12 cells/L.
    dilution : float or array
        Total dilution factor DF (>= any positive number; 1.0 when calibrators are co-processed).
    recovery : float
        Recovery fraction (default 1.0: no correction).

    Returns
    -------
    float or ndarray
        pmol/8x10^8 RBC. NaN propagates (missing RBC gives NaN).

    Examples
    --------
    >>> round(per_8e8_rbc(1600, 4.5), 1)
    284.4
    """
    rbc = _positive("RBC count", rbc_1e12_per_l)
    df = _positive("dilution factor", dilution)
    c = np.asarray(conc_nmol_l, dtype=float) * df
    return apply_recovery(c * (CELLS_PER_UNIT / 1e9) / rbc, recovery)


def rbc_from_per_8e8(pmol_per_8e8_rbc: Any, rbc_1e12_per_l: Any) -> Any:
    """Inverse of :func:`per_8e8_rbc` (DF = recovery = 1): the concentration in nmol/L."""
    rbc = _positive("RBC count", rbc_1e12_per_l)
    return _out(np.asarray(pmol_per_8e8_rbc, dtype=float) * rbc / 0.8)


def cells_per_ml_from_hct_mcv(hct_fraction: Any, mcv_fl: Any) -> Any:
    """Red cells per mL from haematocrit and MCV: ``Hct / MCV[L]``.

    Hct 0.42 and MCV 90 fL give 4.67x10^9 cells/mL (4.67x10^12/L).

    Parameters
    ----------
    hct_fraction : float or array
        Haematocrit as a fraction (0.42, not 42 %).
    mcv_fl : float or array
        Mean corpuscular volume, fL.

    Raises
    ------
    InputError
        If the haematocrit exceeds 1 (looks like a percentage) or either value is not positive.
    """
    hct = _positive("haematocrit", hct_fraction)
    if np.any(np.isfinite(hct) & (hct > 1.0)):
        raise InputError(f"haematocrit must be a fraction (0.42 for 42 %), got {hct_fraction!r}")
    mcv = _positive("MCV", mcv_fl)
    return _out(hct / (mcv * 1e-15) / 1000.0)


def rbc_1e12_per_l_from_hct_mcv(hct_fraction: Any, mcv_fl: Any) -> Any:
    """RBC count (10^12/L) from haematocrit (fraction) and MCV (fL)."""
    return _out(np.asarray(cells_per_ml_from_hct_mcv(hct_fraction, mcv_fl)) * 1000.0 / 1e12)


def per_8e8_rbc_from_hct_mcv(
    conc_nmol_l: Any,
    hct_fraction: Any,
    mcv_fl: Any,
    dilution: Any = 1.0,
    recovery: float = 1.0,
) -> Any:
    """Normalise with the RBC count derived from haematocrit and MCV (see :func:`per_8e8_rbc`)."""
    rbc = rbc_1e12_per_l_from_hct_mcv(hct_fraction, mcv_fl)
    return per_8e8_rbc(conc_nmol_l, rbc, dilution=dilution, recovery=recovery)


def n_cells_in_aliquot(rbc_1e12_per_l: Any, aliquot_volume_ul: Any) -> Any:
    """Cells in an aliquot: ``RBC[10^12/L] x V[uL] x 10^6``."""
    rbc = _positive("RBC count", rbc_1e12_per_l)
    v = _positive("aliquot volume", aliquot_volume_ul)
    return _out(rbc * v * 1e6)


def per_8e8_rbc_fixed_cells(amount_pmol: Any, n_cells: Any, recovery: float = 1.0) -> Any:
    """Fixed cell number (Lennard, Dervieux): ``result = amount[pmol] x 8e8 / N_cells``.

    Parameters
    ----------
    amount_pmol : float or array
        Amount found in the hydrolysed aliquot, pmol.
    n_cells : float or array
        Number of red cells in that aliquot (8e8 in the classic design, making the result
        the amount itself).
    recovery : float
        Recovery fraction (default 1.0).
    """
    n = _positive("cell number", n_cells)
    return apply_recovery(np.asarray(amount_pmol, dtype=float) * CELLS_PER_UNIT / n, recovery)


# --- other units ------------------------------------------------------------------------------


def mch_pg(hb_g_l: Any, rbc_1e12_per_l: Any) -> Any:
    """Mean corpuscular haemoglobin (pg/cell) from whole-blood Hb (g/L) and RBC (10^12/L)."""
    return _out(_positive("haemoglobin", hb_g_l) / _positive("RBC count", rbc_1e12_per_l))


def _resolve_mch(mch: Any, hb_g_l: Any, rbc_1e12_per_l: Any) -> np.ndarray:
    if mch is not None:
        return _positive("MCH", mch)
    if hb_g_l is None or rbc_1e12_per_l is None:
        raise InputError("give mch_pg, or both hb_g_l and rbc_1e12_per_l (whole blood)")
    return np.asarray(mch_pg(hb_g_l, rbc_1e12_per_l), dtype=float)


def to_pmol_per_02ml_wb_hb120(pmol_per_8e8_rbc: Any, rbc_1e12_per_l: Any, hb_g_l: Any) -> Any:
    """pmol/8x10^8 RBC -> pmol/0.2 mL whole blood normalised to Hb 120 g/L.

    0.2 mL of whole blood holds ``RBC x 0.2x10^9`` cells, so the amount in 0.2 mL is
    ``value x RBC / 4``; it is then scaled to Hb 120 g/L by ``x 120 / Hb`` (German practice).
    Assumes the nucleotides are confined to red cells.

    Parameters
    ----------
    pmol_per_8e8_rbc : float or array
        Result in pmol/8x10^8 RBC.
    rbc_1e12_per_l, hb_g_l : float or array
        The patient's *whole-blood* RBC count (10^12/L) and haemoglobin (g/L).
    """
    rbc = _positive("RBC count", rbc_1e12_per_l)
    hb = _positive("haemoglobin", hb_g_l)
    v = np.asarray(pmol_per_8e8_rbc, dtype=float)
    return _out(v * rbc * 0.2e9 / CELLS_PER_UNIT * HB_REFERENCE_G_L / hb)


def from_pmol_per_02ml_wb_hb120(value: Any, rbc_1e12_per_l: Any, hb_g_l: Any) -> Any:
    """Inverse of :func:`to_pmol_per_02ml_wb_hb120`."""
    rbc = _positive("RBC count", rbc_1e12_per_l)
    hb = _positive("haemoglobin", hb_g_l)
    return _out(np.asarray(value, dtype=float) * hb / HB_REFERENCE_G_L * CELLS_PER_UNIT / (rbc * 0.2e9))


def to_pmol_per_g_hb(
    pmol_per_8e8_rbc: Any,
    *,
    mch_pg: Any = None,
    hb_g_l: Any = None,
    rbc_1e12_per_l: Any = None,
) -> Any:
    """pmol/8x10^8 RBC -> pmol/g Hb: ``value / (8x10^8 x MCH[pg] x 10^-12)``.

    Give the MCH (pg/cell), or whole-blood Hb (g/L) and RBC (10^12/L) from which it is derived.
    """
    m = _resolve_mch(mch_pg, hb_g_l, rbc_1e12_per_l)
    return _out(np.asarray(pmol_per_8e8_rbc, dtype=float) / (CELLS_PER_UNIT * m * 1e-12))


def from_pmol_per_g_hb(
    value: Any, *, mch_pg: Any = None, hb_g_l: Any = None, rbc_1e12_per_l: Any = None
) -> Any:
    """Inverse of :func:`to_pmol_per_g_hb`."""
    m = _resolve_mch(mch_pg, hb_g_l, rbc_1e12_per_l)
    return _out(np.asarray(value, dtype=float) * CELLS_PER_UNIT * m * 1e-12)


def to_nmol_per_mmol_hb(
    pmol_per_8e8_rbc: Any,
    *,
    mch_pg: Any = None,
    hb_g_l: Any = None,
    rbc_1e12_per_l: Any = None,
) -> Any:
    """pmol/8x10^8 RBC -> nmol/mmol Hb (monomer; 1 g Hb = 0.062063 mmol).

    ``nmol/mmol = pmol/g / 1000 / 0.062063``.
    """
    per_g = np.asarray(
        to_pmol_per_g_hb(pmol_per_8e8_rbc, mch_pg=mch_pg, hb_g_l=hb_g_l, rbc_1e12_per_l=rbc_1e12_per_l),
        dtype=float,
    )
    return _out(per_g / 1000.0 / HB_MMOL_PER_G)


def from_nmol_per_mmol_hb(
    value: Any, *, mch_pg: Any = None, hb_g_l: Any = None, rbc_1e12_per_l: Any = None
) -> Any:
    """Inverse of :func:`to_nmol_per_mmol_hb`."""
    per_g = np.asarray(value, dtype=float) * 1000.0 * HB_MMOL_PER_G
    return from_pmol_per_g_hb(per_g, mch_pg=mch_pg, hb_g_l=hb_g_l, rbc_1e12_per_l=rbc_1e12_per_l)


def to_umol_l_packed_rbc(pmol_per_8e8_rbc: Any, mcv_fl: Any) -> Any:
    """pmol/8x10^8 RBC -> umol/L packed red cells: ``value / (0.8 x MCV[fL])``.

    8x10^8 cells of MCV 90 fL occupy 72 uL, so 1 umol/L ~ 72 pmol/8x10^8 RBC at MCV 90 fL.
    """
    mcv = _positive("MCV", mcv_fl)
    return _out(np.asarray(pmol_per_8e8_rbc, dtype=float) / (0.8 * mcv))


def from_umol_l_packed_rbc(umol_l: Any, mcv_fl: Any) -> Any:
    """umol/L packed red cells -> pmol/8x10^8 RBC (inverse of :func:`to_umol_l_packed_rbc`)."""
    mcv = _positive("MCV", mcv_fl)
    return _out(np.asarray(umol_l, dtype=float) * 0.8 * mcv)


# --- uncertainty ------------------------------------------------------------------------------


def normalised_interval(
    value: float,
    conc_low: float,
    conc_high: float,
    conc: float,
    rbc_cv_pct: float = 3.0,
    coverage_k: float = 1.96,
) -> tuple[float, float]:
    """Interval of a normalised result from the concentration interval and the RBC CV.

    The concentration interval (the calibration's inverse-prediction interval) is turned into
    relative half-widths below and above the concentration, ``(conc - conc_low) / conc`` and
    ``(conc_high - conc) / conc``. The RBC count enters the result as a divisor, so to first
    order its relative standard uncertainty is its CV; it is expanded by ``coverage_k`` (1.96 for
    the same ~95 % coverage as the prediction interval). The two independent relative
    contributions are combined in quadrature on each side:

    ``low = value x (1 - sqrt(r_low^2 + (k CV)^2))``, ``high = value x (1 + sqrt(r_high^2 + (k CV)^2))``

    The lower bound is not allowed below zero. Dilution and recovery factors scale the value and
    the concentration interval alike, so relative widths are unaffected by them.

    Parameters
    ----------
    value : float
        The normalised result (pmol/8x10^8 RBC or any unit proportional to ``conc``).
    conc_low, conc_high, conc : float
        The concentration interval and the concentration it surrounds (same unit).
    rbc_cv_pct : float
        CV of the RBC count, percent (configurable per method; 0 ignores it).
    coverage_k : float
        Coverage factor applied to the RBC CV.

    Returns
    -------
    (float, float)
        ``(low, high)``; ``(nan, nan)`` when the concentration or its interval is unavailable or
        the concentration is not positive.
    """
    vals = [float(v) for v in (value, conc_low, conc_high, conc)]
    if not all(math.isfinite(v) for v in vals) or vals[3] <= 0:
        return (math.nan, math.nan)
    v, lo, hi, c = vals
    cv = float(rbc_cv_pct)
    if not (math.isfinite(cv) and cv >= 0):
        raise InputError(f"RBC CV must be a non-negative percentage, got {rbc_cv_pct!r}")
    r_rbc = float(coverage_k) * cv / 100.0
    r_low = max(c - lo, 0.0) / c
    r_high = max(hi - c, 0.0) / c
    low = v * (1.0 - math.hypot(r_low, r_rbc))
    high = v * (1.0 + math.hypot(r_high, r_rbc))
    return (max(low, 0.0), high)


def normalise(
    conc_nmol_l: float,
    rbc_1e12_per_l: float,
    *,
    conc_low: float = math.nan,
    conc_high: float = math.nan,
    dilution: float = 1.0,
    recovery: float = 1.0,
    rbc_cv_pct: float = 3.0,
    coverage_k: float = 1.96,
) -> tuple[float, float, float]:
    """Normalised value with its interval: ``(value, low, high)`` in pmol/8x10^8 RBC.

    Convenience wrapper of :func:`per_8e8_rbc` and :func:`normalised_interval`.
    """
    value = float(per_8e8_rbc(conc_nmol_l, rbc_1e12_per_l, dilution=dilution, recovery=recovery))
    low, high = normalised_interval(
        value, conc_low, conc_high, conc_nmol_l, rbc_cv_pct=rbc_cv_pct, coverage_k=coverage_k
    )
    return value, low, high


def validate_rbc(
    rbc_1e12_per_l: Any, *, low: float = 1.0, high: float = 8.0
) -> str | None:
    """Reason why an RBC count cannot be used, or None when it can.

    ``low`` and ``high`` bound the plausible range (10^12/L). The defaults suit an undiluted
    suspension of washed cells; a diluted suspension needs its own range (method setting
    ``normalisation.rbc_min`` / ``rbc_max``).
    """
    if rbc_1e12_per_l is None or (isinstance(rbc_1e12_per_l, str) and not rbc_1e12_per_l.strip()):
        return "RBC count missing"
    try:
        v = float(rbc_1e12_per_l)
    except (TypeError, ValueError):
        return f"RBC count {rbc_1e12_per_l!r} is not a number"
    if math.isnan(v):
        return "RBC count missing"
    if not math.isfinite(v) or v <= 0:
        return f"RBC count {v:g} x10^12/L is not a positive number"
    if v < low or v > high:
        return f"RBC count {v:g} x10^12/L outside the plausible range {low:g}-{high:g} x10^12/L"
    return None


# --- method families --------------------------------------------------------------------------


class MethodFamily(StrEnum):
    """Assay family a result comes from; ranges are never compared across families."""

    DERVIEUX = "dervieux"
    LENNARD = "lennard"
    LCMSMS = "lcmsms"


def method_family(value: str | MethodFamily) -> MethodFamily:
    """Parse a method family name ("dervieux", "lennard", "lcmsms"; case-insensitive)."""
    key = str(value).strip().lower().replace("-", "").replace("_", "").replace("/", "")
    aliases = {"dervieuxtype": "dervieux", "lennardtype": "lennard", "lcms": "lcmsms", "lcmsmstype": "lcmsms"}
    key = aliases.get(key, key)
    try:
        return MethodFamily(key)
    except ValueError:
        raise MethodError(
            f"unknown method family {value!r}; use one of {', '.join(f.value for f in MethodFamily)}",
            key="method_family",
        ) from None


def convert_family(
    value: Any,
    from_family: str | MethodFamily,
    to_family: str | MethodFamily,
    factor: float | None = None,
) -> Any:
    """Express a result of one method family on the scale of another: ``value x factor``.

    Lennard-type and Dervieux-type results differ (Dervieux ~2.6x higher, Shipkova 2003), but
    the factor is unverified and method-dependent, so it must be configured explicitly.

    Raises
    ------
    MethodError
        When the families differ and no positive ``factor`` is given.
    """
    f_from, f_to = method_family(from_family), method_family(to_family)
    if f_from == f_to:
        return _out(value)
    if factor is None:
        raise MethodError(
            f"converting {f_from.value} results to the {f_to.value} scale needs an explicit, "
            "user-configured factor (none is built in)",
            key="family_factor",
        )
    fac = float(factor)
    if not (math.isfinite(fac) and fac > 0):
        raise MethodError(f"family conversion factor must be positive, got {factor!r}", key="family_factor")
    return _out(np.asarray(value, dtype=float) * fac)
