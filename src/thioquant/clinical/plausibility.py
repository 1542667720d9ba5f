"""Hand-entered values: what a measured 6-TGN / 6-MMP result can be (``thioquant interpret``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

#: Smallest 6-TGN / 6-MMP value (pmol/8x10^8 RBC) accepted as a *quantified* result from the
#: command line. It lies well below every documented limit of quantification (HPLC-UV LOQ 8 and
#: 70 pmol/8x10^8 RBC for 6-TG and 6-MMP; LC-MS/MS LLOQ 100 and 500 nmol/L, i.e. 10 and 50 at
#: RBC 8x10^12/L), so a smaller number cannot be a measured result: it is "nd" mistyped, or
#: a unit slip. It is a sanity floor, not an LLOQ: below the laboratory's own LLOQ, enter "nd".
PLAUSIBLE_MIN_PMOL_8E8 = 1.0

#: Largest value (pmol/8x10^8 RBC) accepted from the command line, per metabolite: about 100x
#: the highest 6-TGN (880) and 50x the highest 6-MMP (20,937) in published patient series
#: (Moon 2018). A larger number is a unit or typing slip (nmol/L entered as pmol/8x10^8 RBC,
#: a missing decimal point), not a patient.
PLAUSIBLE_MAX_PMOL_8E8: Mapping[str, float] = MappingProxyType({"tgn": 100_000.0, "mmp": 1_000_000.0})

_ROLE_LABEL = {"tgn": "6-TGN", "mmp": "6-MMP"}


def implausible_level(value: float, role: str) -> str | None:
    """Why a hand-entered 6-TGN (``role="tgn"``) or 6-MMP (``"mmp"``) value cannot be a measured
    result, or None when it can.

    Parameters
    ----------
    value : float
        The value, pmol/8x10^8 RBC.
    role : {"tgn", "mmp"}
        Which metabolite.

    Returns
    -------
    str or None
        For example "6-TGN 0 pmol/8x10^8 RBC is not a quantified result; use nd for not detected".
        Checks: finite, not negative, not 0, at least :data:`PLAUSIBLE_MIN_PMOL_8E8` and at most
        :data:`PLAUSIBLE_MAX_PMOL_8E8`. Batch results are not checked here: they are bounded by
        the calibration range (LLOQ/ULOQ flags) and the method's RBC and dilution limits.
    """
    label, hi = _ROLE_LABEL[role], PLAUSIBLE_MAX_PMOL_8E8[role]
    x = float(value)
    if not math.isfinite(x) or x < 0:
        return f"{label} {x:g} pmol/8x10^8 RBC is not a non-negative number"
    if x == 0:
        # a measurement below the LLOQ is "not detected", never a measured 0; treating 0 as nd
        # would guess, and a guess must not produce a non-adherence comment
        return f"{label} 0 pmol/8x10^8 RBC is not a quantified result; use nd for not detected"
    if x < PLAUSIBLE_MIN_PMOL_8E8:
        return (f"{label} {x:g} pmol/8x10^8 RBC is below {PLAUSIBLE_MIN_PMOL_8E8:g}, under any "
                "assay's limit of quantification; use nd for not detected (below the LLOQ)")
    if x > hi:
        return (f"{label} {x:g} pmol/8x10^8 RBC is above the plausibility limit {hi:.0f} "
                "pmol/8x10^8 RBC; check the unit (nmol/L is not pmol/8x10^8 RBC) and the digits")
    return None

