"""The clinical rules: the pattern table and the context notes, each with its source.

:func:`interpret` applies the BSG-type pattern table (domain notes, section 3) to a 6-TGN /
6-MMP pair (pmol/8x10^8 RBC) with a profile's cut-offs, and adds notes from the optional
clinical context. :data:`RULES` lists every rule with its source and the kind of source
(``guideline``: CPIC, ICH M10, CLSI, AGA, BSG, BSR; ``secondary``: a laboratory's published
ranges, a review or a dosing summary; ``lab``: a laboratory-defined placeholder). Every comment is
decision support for the clinician, never an instruction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from thioquant.assay.normalise import method_family as _method_family
from thioquant.clinical import codes as C
from thioquant.clinical.context import INDICATIONS, ClinicalContext, phenotype_from_genotype
from thioquant.clinical.formatting import _cmp, _range, format_near, format_ratio
from thioquant.clinical.profiles import Profile, load_profile
from thioquant.clinical.wording import CATEGORIES
from thioquant.errors import InputError


@dataclass(frozen=True)
class Rule:
    """One rule of the clinical layer and where it comes from."""

    id: str
    text: str
    source: str
    kind: str  # "guideline", "secondary" or "lab"


#: Every rule, in the order docs/interpretation.md lists them (a test checks the page names each).
RULES: tuple[Rule, ...] = (
    Rule("pattern_table", "6-TGN / 6-MMP pattern table (categories and comments)",
         "BSG IBD guideline table (Lamb et al., Gut 2019); Hungarian paediatric table 2021", "guideline"),
    Rule("cutoffs_default", "6-TGN 235-450, 6-MMP > 5700, MMP:TGN > 11",
         "Mayo Clinic Laboratories THIO, LabCorp (laboratory ranges); BSG 2019 table", "secondary"),
    Rule("cutoffs_aga", "6-TGN 230-450 (monotherapy)", "AGA 2017 TDM guideline (Feuerstein et al.)",
         "guideline"),
    Rule("cutoffs_prometheus", "6-TGN 230-400, 6-MMP < 5700", "Prometheus Laboratories", "secondary"),
    Rule("ratio20", "MMP:TGN > 20 as shunting", "reviews", "secondary"),
    Rule("tgn_undetectable_ratio_bound",
         "6-TGN undetectable with 6-MMP detected: MMP:TGN is at least 6-MMP / (6-TGN LLOQ, or the "
         "target's lower limit when the LLOQ is not known); above the cut-off -> preferential "
         "methylation; never a dose increase",
         "arithmetic on the pattern table (BSG 2019: dose escalation in shunters raises hepatotoxicity risk)",
         "guideline"),
    Rule("very_low_adherence", "both levels very low -> adherence wording before any dose increase",
         "BSG 2019 / Hungarian table: undetectable or very low levels may indicate non-adherence; the "
         "'very low' limits are laboratory-defined", "lab"),
    Rule("censored", "a '<x' result whose bound spans a cut-off is not classified", "measurement logic", "lab"),
    Rule("mmp_undetectable", "6-MMP undetectable: low TPMT only beside a high 6-TGN",
         "pharmacology: low TPMT raises 6-TGN (CPIC 2018)", "guideline"),
    Rule("thioguanine", "thioguanine: azathioprine/mercaptopurine ranges not applied",
         "6-MMP is not a thioguanine metabolite; 6-TGN runs much higher on thioguanine (reviews)",
         "secondary"),
    Rule("family", "ranges not applied across method families", "Shipkova 2003 (Clin Chem 49:260)",
         "secondary"),
    Rule("cpic_bands", "TPMT/NUDT15 dose bands (normal, intermediate 30-80 %, both 20-50 %, poor)",
         "CPIC TPMT/NUDT15 guideline 2018, 2024 update", "guideline"),
    Rule("cpic_poor_indication",
         "poor metaboliser: non-malignant -> consider a non-thiopurine; malignancy -> ~10 % thrice "
         "weekly; selected only by a coded indication", "CPIC 2018", "guideline"),
    Rule("testing_prompt", "TPMT/NUDT15 not recorded or indeterminate -> testing prompt, no band as if normal",
         "CPIC 2018 (pre-emptive genotyping; indeterminate: measure activity); dosing source (testing "
         "before starting)", "guideline"),
    Rule("genotype", "star-allele diplotypes -> CPIC phenotypes", "CPIC 2018 allele function table",
         "guideline"),
    Rule("tpmt_activity", "TPMT activity -> phenotype by laboratory cut-offs",
         "ARUP test 0092066 (default cut-offs; laboratory-specific)", "lab"),
    Rule("aih_band", "azathioprine 1-2 mg/kg/day in autoimmune hepatitis",
         "autoimmune-hepatitis practice with prednisolone (dosing source; not CPIC)", "secondary"),
    Rule("steady_state", "steady state 2 / 2-4 / 4-6 weeks; sample at about 4 weeks",
         "CPIC 2018; common practice (4 and 12-16 weeks)", "guideline"),
    Rule("allopurinol", "allopurinol: low 6-MMP expected, thiopurine at 25-33 %; warning with a full dose",
         "BSG 2019 table; dosing source (secondary summary)", "secondary"),
    Rule("blood_count", "WBC < 3.5, neutrophils < 1.6, platelets < 140 x10^9/L -> notes beside 6-TGN",
         "BSR/BHPR 2017 DMARD monitoring guideline", "guideline"),
    Rule("liver", "ALT/AST at or above 3x ULN: consider withholding; at or above 5x ULN or bilirubin "
         ">= 2x ULN: stop-and-review", "dosing source ('consider stopping at 3x, stop if it rises to 5x')",
         "secondary"),
    Rule("sample_age", "6-TGN and 6-MMP losses in whole blood before receipt",
         "Pike 2001; de Graaf 2010; limits laboratory-defined", "secondary"),
    Rule("monitoring", "blood count every 1-2 weeks for 8 weeks then 3-monthly; LFTs every 2 weeks then "
         "3-6-monthly", "dosing source (secondary summary)", "secondary"),
    Rule("qc_coverage", "run QC: low, mid and high QCs, >= 6 or >= 5 % of study samples",
         "ICH M10 (2022), section 3.3", "guideline"),
)


# --- the result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpretation:
    """Interpretation of one patient's 6-TGN / 6-MMP pair (pmol/8x10^8 RBC).

    ``tgn``/``mmp`` are None when undetectable; ``ratio`` is MMP:TGN when both were detected.
    ``ratio_low`` is the lower bound of the ratio when 6-TGN is undetectable and 6-MMP detected.
    ``method_family_assumed`` is True when no method family was given and the profile's ranges
    were applied as if the assay were of one of the profile's families.
    """

    tgn: float | None
    mmp: float | None
    ratio: float | None
    category: str
    comment: str
    notes: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    profile: str = ""
    dose_band: str | None = None
    method_family: str | None = None
    tgn_detected: bool = True
    mmp_detected: bool = True
    ratio_low: float | None = None
    tgn_below: float | None = None
    mmp_below: float | None = None
    method_family_assumed: bool = False
    profile_families: tuple[str, ...] = ()
    #: Cut-offs per value ("tgn", "mmp", "ratio") that the displayed values must not contradict
    #: (see :func:`format_near`); filled by :func:`interpret` from the profile.
    cutoffs: Mapping[str, tuple[float, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def label(self) -> str:
        return CATEGORIES.get(self.category, self.category)

    @property
    def family_text(self) -> str:
        """Which method family the ranges were applied for, in words."""
        if self.method_family and not self.method_family_assumed:
            return self.method_family
        fams = "/".join(self.profile_families) or "the profile's"
        return f"not given; the {self.profile} profile's ranges for {fams} assays were applied"

    def ratio_text(self) -> str:
        """The ratio as shown: "18.8", "> 166.7" (a lower bound), or ""."""
        if self.ratio is not None:
            return format_ratio(self.ratio, self.cutoffs.get("ratio", ()))
        if self.ratio_low is not None:
            return "> " + format_ratio(self.ratio_low, self.cutoffs.get("ratio", ()))
        return ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("cutoffs")  # display helper, not part of the result
        d["notes"] = list(self.notes)
        d["flags"] = list(self.flags)
        d["profile_families"] = list(self.profile_families)
        d["label"] = self.label
        return d

    def describe(self) -> str:
        """Multi-line plain text for a report or the terminal."""
        cat = self.label if self.label == self.category.replace("_", " ") else f"{self.label} ({self.category})"
        ratio = self.ratio_text()
        if self.ratio is None and self.ratio_low is not None:
            ratio += " (lower bound: 6-TGN undetectable)"
        lines = [
            f"6-TGN: {_fmt(self.tgn, self.tgn_detected, self.cutoffs.get('tgn', ()), self.tgn_below)}",
            f"6-MMPN: {_fmt(self.mmp, self.mmp_detected, self.cutoffs.get('mmp', ()), self.mmp_below)}",
            f"MMP:TGN ratio: {ratio or '-'}",
            f"Category: {cat}",
            f"Comment: {self.comment}",
        ]
        lines += [f"Note: {n}" for n in self.notes]
        if self.dose_band:
            lines.append(f"Dose band: {self.dose_band}")
        if self.flags:
            lines.append(f"Flags: {', '.join(self.flags)}")
        lines.append(f"Profile: {self.profile}")
        lines.append(f"Method family: {self.family_text}")
        return "\n".join(lines)


def _fmt(v: float | None, detected: bool, cutoffs: Iterable[float] = (), below: float | None = None) -> str:
    if not detected:
        return "undetectable" if below is None else f"undetectable (< {below:g} pmol/8x10^8 RBC)"
    # interpret() stores a NaN (not available) result as None with detected=True
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "not available"
    return format_near(v, cutoffs, 0 if abs(v) >= 100 else 1) + " pmol/8x10^8 RBC"


def _cutoffs(p: Profile) -> dict[str, tuple[float, ...]]:
    return {"tgn": (p.tgn_low, p.tgn_high, p.tgn_very_high), "mmp": (p.mmp_high,), "ratio": (p.ratio_high,)}


def _value(v: Any, detected: bool, name: str) -> tuple[float | None, bool, bool]:
    """(value or None, detected, available)."""
    if v is None or not detected:
        return None, False, True
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {v!r}", key=name) from None
    if math.isnan(x):
        return None, True, False
    if not math.isfinite(x) or x < 0:
        raise InputError(f"{name} must be a non-negative number, got {v!r}", key=name)
    return x, True, True


def _bound(v: Any, name: str) -> float | None:
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {v!r}", key=name) from None
    if math.isnan(x):
        return None
    if not math.isfinite(x) or x <= 0:
        raise InputError(f"{name} must be a positive number, got {v!r}", key=name)
    return x


# --- the entry point -------------------------------------------------------------------------------


def interpret(
    tgn: float | None,
    mmp: float | None,
    *,
    profile: str | Path | Profile = "default",
    tgn_detected: bool = True,
    mmp_detected: bool = True,
    context: ClinicalContext | None = None,
    method_family: str | None = None,
    tgn_interval: tuple[float, float] | None = None,
    mmp_interval: tuple[float, float] | None = None,
    tgn_below: float | None = None,
    mmp_below: float | None = None,
) -> Interpretation:
    """Interpret a 6-TGN / 6-MMP pair (pmol/8x10^8 RBC) with a profile.

    Parameters
    ----------
    tgn, mmp : float or None
        Results in pmol/8x10^8 RBC. None (or ``*_detected=False``) means undetectable (below
        LOD/LLOQ); NaN means not available, and the pair is then not interpreted.
    profile : str, Path or Profile
        Profile name, TOML path or loaded profile.
    tgn_detected, mmp_detected : bool
        False marks a result below the LOD/LLOQ.
    context : ClinicalContext, optional
        Drug, dose, weight, phenotypes/genotypes/activity, indication, allopurinol, blood
        counts, liver tests, weeks on the dose and sample times, for extra notes.
    method_family : str, optional
        Family of the assay that produced the results; when given and not among the profile's
        ``method_families`` the pair is not interpreted (category ``not_comparable``). When
        omitted, the profile's ranges are applied and the result says so
        (``method_family_assumed``).
    tgn_interval, mmp_interval : (float, float), optional
        Uncertainty intervals of the results; when one spans a cut-off a note says so. They never
        change the category.
    tgn_below, mmp_below : float, optional
        For an undetectable result, the value it is known to be below (the LLOQ expressed in
        pmol/8x10^8 RBC, or the x of a result reported as "<x"). With 6-TGN undetectable and
        6-MMP detected, the MMP:TGN ratio is at least ``mmp / tgn_below`` (without it, at least
        ``mmp / tgn_low``: an undetectable 6-TGN is below the target range). A bound above the
        metabolite's cut-off (6-TGN above the target's lower limit, 6-MMP raised) leaves the
        pair unclassified.

    Returns
    -------
    Interpretation
        Category code (see :data:`~thioquant.clinical.wording.CATEGORIES`), comment, notes and flags.
    """
    prof = load_profile(profile)
    t, t_det, t_ok = _value(tgn, tgn_detected, "tgn")
    m, m_det, m_ok = _value(mmp, mmp_detected, "mmp")
    t_below = None if t_det else _bound(tgn_below, "tgn_below")
    m_below = None if m_det else _bound(mmp_below, "mmp_below")
    assumed = method_family in (None, "")
    fam = None if assumed else _method_family(method_family).value
    ctx = context
    notes: list[str] = []
    flags: list[str] = []
    ratio = m / t if (t_det and m_det and t is not None and m is not None and t > 0) else None
    ratio_low = None
    if t_ok and m_ok and not t_det and m_det and m is not None:
        ratio_low = m / (t_below if t_below is not None else prof.tgn_low)

    pheno = _phenotypes(ctx, prof, notes) if ctx is not None else _Pheno(None, None)
    pre_ss = _pre_steady_state(ctx, pheno, prof, notes, flags) if ctx is not None else False

    spans = []
    if t_below is not None and _cmp(t_below) > prof.tgn_low:
        spans.append(f"6-TGN reported as < {t_below:g}, a bound above the {prof.tgn_low:g} lower limit "
                     "of the target range")
    if m_below is not None and prof.mmp_raised(m_below):
        spans.append(f"6-MMP reported as < {m_below:g}, a bound at or above the {prof.mmp_high:g} cut-off")

    if fam is not None and fam not in prof.method_families:
        category = "not_comparable"
        comment = prof.comment(category, method_family=fam)
        flags.append(C.FLAG_FAMILY)
    elif not (t_ok and m_ok):
        category = "not_interpretable"
        comment = prof.comment(category)
        flags.append(C.FLAG_NOT_INTERPRETED)
        _single_metabolite_note(t if t_ok else math.nan, t_det, m if m_ok else math.nan, m_det, prof, notes)
    elif spans:
        category = "not_interpretable"
        comment = prof.comment("not_interpretable_censored")
        flags += [C.FLAG_NOT_INTERPRETED, C.FLAG_CENSORED]
        notes.append(f"{'; '.join(spans)}: the value may lie on either side of the cut-off, so the "
                     "pair was not classified (a '<x' result is not 'undetectable' unless x is below "
                     "the cut-offs); the value or the assay's LLOQ may be requested.")
    elif ctx is not None and ctx.drug == "thioguanine":
        category = "thioguanine"
        comment = prof.comment(category)
        flags.append(C.FLAG_THIOGUANINE)
        if m_det and m is not None:
            notes.append(f"6-MMP detected ({format_near(m, (prof.mmp_high,))}) although thioguanine is "
                         "recorded: 6-MMP is not a thioguanine metabolite, so the recorded drug or "
                         "co-medication (azathioprine, mercaptopurine) may be checked.")
    else:
        category, comment = _classify(t, m, ratio, ratio_low, t_below, prof, notes, flags, ctx, pheno, pre_ss)
        _interval_notes(t, tgn_interval, "6-TGN", (prof.tgn_low, prof.tgn_high, prof.tgn_very_high), notes)
        _interval_notes(m, mmp_interval, "6-MMP", (prof.mmp_high,), notes)

    ratio_high = (ratio is not None and prof.ratio_raised(ratio)) or (
        ratio_low is not None and prof.ratio_raised(ratio_low))
    dose_band = None
    if ctx is not None:
        dose_band = _context_notes(ctx, prof, pheno, t, t_det, category, ratio_high, notes, flags)
    if category in ("not_interpretable", "not_comparable"):
        # a dosing sentence beside a result that must not be interpreted (a rejected run, a
        # doubtful sample) reads as advice; the context's other notes still help the lab
        dose_band = None
    return Interpretation(
        tgn=t, mmp=m, ratio=ratio, category=category, comment=comment, notes=tuple(notes),
        flags=tuple(dict.fromkeys(flags)), profile=prof.name, dose_band=dose_band,
        method_family=fam, tgn_detected=t_det, mmp_detected=m_det, ratio_low=ratio_low,
        tgn_below=t_below, mmp_below=m_below,
        method_family_assumed=assumed, profile_families=tuple(prof.method_families),
        cutoffs=_cutoffs(prof),
    )


# --- the pattern table ---------------------------------------------------------------------------


def _classify(
    t: float | None, m: float | None, ratio: float | None, ratio_low: float | None,
    t_below: float | None, p: Profile, notes: list[str], flags: list[str],
    ctx: ClinicalContext | None, pheno: _Pheno, pre_ss: bool,
) -> tuple[str, str]:
    """Pattern table (BSG 2019 type). ``t``/``m`` None means undetectable.

    Rules (see :data:`RULES`): ``pattern_table``, ``tgn_undetectable_ratio_bound``,
    ``very_low_adherence``, ``mmp_undetectable``, ``allopurinol`` (its 6-MMP part).
    """
    if t is None and m is None:
        flags.append(C.FLAG_UNDETECTABLE)
        return "non_adherence", p.comment("non_adherence")
    allopurinol = ctx is not None and ctx.allopurinol is True
    mmp_high = m is not None and p.mmp_raised(m)
    ratio_high = (ratio is not None and p.ratio_raised(ratio)) or (ratio_low is not None and p.ratio_raised(ratio_low))
    if mmp_high:
        flags.append(C.FLAG_MMP_HIGH)
    if ratio_high:
        flags.append(C.FLAG_RATIO_HIGH)
    if t is None and m is not None and ratio_low is not None:
        how = (f"6-TGN below {format_near(t_below, ())} (its LLOQ or reported bound)" if t_below is not None
               else f"6-TGN below the {p.tgn_low:g} lower limit of the target range (the assay's LLOQ was "
               "not given; with it the bound is higher)")
        op = ">=" if p.ratio_high_includes_limit else ">"
        side = (f"above the {p.ratio_high:g} cut-off ({op} {p.ratio_high:g})" if ratio_high
                else f"not above the {p.ratio_high:g} cut-off, so preferential methylation is neither shown "
                "nor excluded")
        notes.append(f"6-TGN undetectable with 6-MMP {format_near(m, (p.mmp_high,))}: with {how} the MMP:TGN "
                     f"ratio is greater than {format_ratio(ratio_low, (p.ratio_high,))}, {side}.")
    if m is None and t is not None and _cmp(t) > p.tgn_very_high:
        flags += [C.FLAG_TGN_HIGH, C.FLAG_TPMT_PATTERN]
        return "tpmt_deficiency", p.comment("tpmt_deficiency")
    tc = None if t is None else _cmp(t)
    if tc is None or tc < p.tgn_low:
        flags.append(C.FLAG_TGN_LOW)
        if mmp_high or ratio_high:
            key = "preferential_methylation_allopurinol" if allopurinol else "preferential_methylation"
            return "preferential_methylation", p.comment(key)
        category = "subtherapeutic"
        if t is None:
            comment = p.comment("subtherapeutic_tgn_undetectable")
        elif tc < p.tgn_very_low and (m is None or _cmp(m) < p.mmp_very_low):
            comment = p.comment("subtherapeutic_very_low")
        elif "poor" in (pheno.tpmt, pheno.nudt15):
            comment = p.comment("subtherapeutic_poor_metaboliser")
        elif pre_ss:
            comment = p.comment("subtherapeutic_pre_steady_state")
        else:
            comment = p.comment("subtherapeutic")
            if pheno.tpmt in (None, "indeterminate") or pheno.nudt15 in (None, "indeterminate"):
                comment += (" TPMT/NUDT15 status is not recorded (or indeterminate): testing may be "
                            "considered before a dose increase (CPIC).")
    elif tc <= p.tgn_high:
        category = "hepatotoxicity_risk" if mmp_high else "therapeutic"
        comment = p.comment(category)
    else:
        flags.append(C.FLAG_TGN_HIGH)
        category = "supratherapeutic" if mmp_high else "myelotoxicity_risk"
        comment = p.comment(category)
    if ratio_high and ratio is not None:
        op = ">=" if p.ratio_high_includes_limit else ">"
        comment += (
            f" The MMP:TGN ratio of {format_ratio(ratio, (p.ratio_high,))} ({op} {p.ratio_high:g}) is "
            "consistent with preferential methylation (shunting); dose escalation may raise 6-MMP more "
            "than 6-TGN."
        )
    if m is None and t is not None:
        if tc > p.tgn_high:
            notes.append("6-MMP undetectable with a high 6-TGN: may be consistent with low TPMT activity "
                         "(TPMT status, if not known, may help).")
        elif tc >= p.tgn_low:
            notes.append("6-MMP undetectable with 6-TGN within the target range: may be seen with low TPMT "
                         "activity on a reduced dose, or with allopurinol co-therapy.")
        else:
            notes.append("6-MMP undetectable with 6-TGN below the target range: consistent with a low dose, "
                         "partial adherence or a recent dose change (low TPMT activity would raise 6-TGN, "
                         "not lower it).")
    if category == "myelotoxicity_risk" and pheno.tpmt == "normal":
        notes.append("TPMT is recorded as normal, so causes other than low TPMT activity (the dose, "
                     "allopurinol or other interacting co-medication, NUDT15 status) may be considered.")
    if allopurinol and mmp_high and category != "preferential_methylation":
        notes.append("6-MMP raised although allopurinol is recorded (a low 6-MMP is expected with "
                     "allopurinol): adherence to allopurinol may be checked.")
    return category, comment


def _single_metabolite_note(
    t: float | None, t_det: bool, m: float | None, m_det: bool, p: Profile, notes: list[str]
) -> None:
    """Describe the one available metabolite against its cut-offs (pattern table not applied)."""
    t_avail = not (t is not None and math.isnan(t))
    m_avail = not (m is not None and math.isnan(m))
    if t_avail == m_avail:
        return
    tcut, mcut = _cutoffs(p)["tgn"], _cutoffs(p)["mmp"]
    if t_avail:
        if not t_det or t is None:
            where = "undetectable"
        elif _cmp(t) < p.tgn_low:
            where = f"{format_near(t, tcut)}, below {p.tgn_low:g}"
        elif _cmp(t) <= p.tgn_high:
            where = f"{format_near(t, tcut)}, within {p.tgn_low:g}-{p.tgn_high:g}"
        else:
            where = f"{format_near(t, tcut)}, above {p.tgn_high:g}"
        notes.append(f"6-TGN {where}; 6-MMP not available, so the pattern table was not applied.")
    else:
        if not m_det or m is None:
            where = "undetectable"
        elif p.mmp_raised(m):
            where = f"{format_near(m, mcut)}, above the {p.mmp_high:g} cut-off"
        else:
            where = f"{format_near(m, mcut)}, within normal (cut-off {p.mmp_high:g})"
        notes.append(f"6-MMP {where}; 6-TGN not available, so the pattern table was not applied.")


def _interval_notes(
    value: float | None, interval: tuple[float, float] | None, label: str,
    cutoffs: Sequence[float], notes: list[str],
) -> None:
    if value is None or interval is None:
        return
    lo, hi = (float(x) for x in interval)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return
    spanned = [c for c in cutoffs if lo < c < hi]
    if spanned:
        notes.append(
            f"{label} uncertainty interval {format_near(lo, spanned)}-{format_near(hi, spanned)} spans the "
            f"{', '.join(f'{c:g}' for c in spanned)} cut-off: the classification near this limit is "
            "uncertain; a repeat measurement may help."
        )


# --- phenotype, genotype and activity --------------------------------------------------------------


@dataclass(frozen=True)
class _Pheno:
    tpmt: str | None
    nudt15: str | None


def _phenotypes(ctx: ClinicalContext, p: Profile, notes: list[str]) -> _Pheno:
    """The phenotype per gene: recorded, else from the genotype (CPIC), else (TPMT) from activity.

    Rules ``genotype`` (CPIC 2018) and ``tpmt_activity`` (laboratory cut-offs).
    """
    out = {}
    for gene, label in (("tpmt", "TPMT"), ("nudt15", "NUDT15")):
        recorded = getattr(ctx, gene)
        geno = getattr(ctx, f"{gene}_genotype")
        from_geno = ctx.phenotype(gene) if recorded is None else None
        if recorded is None and geno is not None:
            notes.append(f"{label} genotype {geno}: CPIC phenotype {from_geno.replace('_', ' ')}.")
        elif recorded is not None and geno is not None:
            g = phenotype_from_genotype(geno, gene)
            if g != recorded and g != "indeterminate":
                notes.append(f"{label} phenotype recorded as {recorded.replace('_', ' ')} but genotype {geno} "
                             f"gives {g.replace('_', ' ')} (CPIC): the recorded phenotype is used; the "
                             "discrepancy may warrant review.")
        out[gene] = recorded or from_geno
    if ctx.tpmt_activity is not None:
        act, unit = ctx.tpmt_activity, p.tpmt_activity_unit
        lo, hi = p.tpmt_activity_poor_below, p.tpmt_activity_normal_from
        caveat = ("a red-cell transfusion in the previous ~3 months can mask a deficiency, and thiopurine "
                  "therapy can induce activity")
        if lo is None or hi is None:
            notes.append(f"TPMT activity {act:g} {unit}: no activity cut-offs are configured in the profile, "
                         "so no phenotype was derived from it.")
        else:
            ph = "poor" if act < lo else ("normal" if act >= hi else "intermediate")
            if out["tpmt"] is None or out["tpmt"] == "indeterminate":
                out["tpmt"] = ph
                notes.append(f"TPMT activity {format_near(act, (lo, hi), 1)} {unit}: {ph} activity "
                             f"({p.tpmt_activity_source}); {caveat}.")
            elif out["tpmt"] != ph and not (out["tpmt"] == "possible_intermediate" and ph == "intermediate"):
                notes.append(f"TPMT activity {format_near(act, (lo, hi), 1)} {unit} reads as {ph} activity, "
                             f"but the TPMT phenotype is {out['tpmt'].replace('_', ' ')}: the recorded or "
                             f"genotype phenotype is used; {caveat}.")
    return _Pheno(out["tpmt"], out["nudt15"])


def _phenotype_band(tpmt: str | None, nudt15: str | None) -> str:
    """'normal', 'intermediate', 'intermediate_both', 'poor', 'partial' (one gene known, normal)
    or 'unknown'."""
    known = [x for x in (tpmt, nudt15) if x not in (None, "indeterminate")]
    if not known:
        return "unknown"
    if "poor" in known:
        return "poor"
    n_int = sum(x in ("intermediate", "possible_intermediate") for x in known)
    if n_int == 2:
        return "intermediate_both"
    if n_int == 1:
        return "intermediate"
    return "normal"


def _pre_steady_state(ctx: ClinicalContext, pheno: _Pheno, p: Profile, notes: list[str],
                      flags: list[str]) -> bool:
    """Steady-state notes; True when the sample was taken before steady state (rule
    ``steady_state``: CPIC 2018; sampling at about 4 weeks, common practice)."""
    band = _phenotype_band(pheno.tpmt, pheno.nudt15)
    key = "intermediate" if band == "intermediate_both" else band
    ss = p.steady_state_weeks.get(key)
    if ss and key in ("intermediate", "poor"):
        notes.append(
            f"Steady state is expected about {_range(ss)} weeks after each dose change for "
            f"{key} metabolisers (CPIC); earlier samples may underestimate 6-TGN."
        )
    weeks = ctx.weeks_on_dose
    if weeks is None:
        return False
    need = max(p.sample_after_weeks, ss[1] if ss else 0.0)
    if _cmp(weeks) < need:
        flags.append(C.FLAG_PRE_STEADY_STATE)
        notes.append(
            f"Sample taken {format_near(weeks, (need,), 1)} weeks after the start or the last dose change, "
            f"before steady state (about {need:g} weeks; CPIC: about 2 weeks for normal, 2-4 for "
            "intermediate and 4-6 for poor metabolisers; sampling at about 4 weeks is common practice): "
            "the levels may not yet reflect the current dose."
        )
        return True
    return False


# --- context notes ---------------------------------------------------------------------------------


def _context_notes(
    ctx: ClinicalContext, p: Profile, pheno: _Pheno, t: float | None, t_det: bool, category: str,
    ratio_high: bool, notes: list[str], flags: list[str],
) -> str | None:
    _liver_notes(ctx, p, notes, flags)
    _age_notes(ctx, p, notes, flags)
    _blood_count_notes(ctx, p, t, t_det, category, notes, flags)
    if ctx.indication_note:
        notes.append(f"Indication recorded as free text ({ctx.indication_note!r}): it is not in the "
                     f"controlled vocabulary ({', '.join(INDICATIONS.values())}), so it selects no advice.")
    _allopurinol_notes(ctx, p, notes, flags)
    band = _phenotype_band(pheno.tpmt, pheno.nudt15)
    informative = (ctx.drug, pheno.tpmt, pheno.nudt15, ctx.dose_mg, ctx.tpmt_genotype, ctx.nudt15_genotype,
                   ctx.tpmt_activity)
    if all(x is None for x in informative):
        return None
    return _dose_band(ctx, pheno, band, p, flags, ratio_high)


def _liver_notes(ctx: ClinicalContext, p: Profile, notes: list[str], flags: list[str]) -> None:
    """Rule ``liver`` (the dosing source, secondary)."""
    # The source reads "consider stopping at 3x ULN; stop if ALT/AST rises to 5x ULN": both limits
    # are reached at the value itself (>=).
    lft = [(n, v) for n, v in (("ALT", ctx.alt_uln), ("AST", ctx.ast_uln)) if v is not None]
    worst = max((v for _, v in lft), default=None)
    bili_stop = ctx.bilirubin_uln is not None and _cmp(ctx.bilirubin_uln) >= p.bilirubin_stop_x_uln
    lft_cut = (p.alt_ast_note_x_uln, p.alt_ast_stop_x_uln)
    lft_text = ", ".join(f"{n} {format_near(v, lft_cut, 1)}x ULN" for n, v in lft)
    if (worst is not None and _cmp(worst) >= p.alt_ast_stop_x_uln) or bili_stop:
        parts = [lft_text] if worst is not None and _cmp(worst) >= p.alt_ast_note_x_uln else []
        if bili_stop:
            parts.append(f"bilirubin {format_near(ctx.bilirubin_uln, (p.bilirubin_stop_x_uln,), 1)}x ULN")
        notes.append(
            f"{'; '.join(parts)} (at or above {p.alt_ast_stop_x_uln:g}x ULN for ALT/AST or "
            f"{p.bilirubin_stop_x_uln:g}x ULN for bilirubin): consistent with significant liver "
            "injury; the dosing source advises stopping the thiopurine when ALT/AST rises to "
            f"{p.alt_ast_stop_x_uln:g}x ULN; prompt review, including whether to withhold the "
            "thiopurine, may be considered."
        )
        flags.append(C.FLAG_LFT_REVIEW)
    elif worst is not None and _cmp(worst) >= p.alt_ast_note_x_uln:
        notes.append(
            f"{lft_text} (at or above {p.alt_ast_note_x_uln:g}x ULN): possible thiopurine hepatotoxicity; "
            f"the dosing source suggests considering withholding the thiopurine at {p.alt_ast_note_x_uln:g}x "
            "ULN; the 6-MMP level and a repeat of liver tests may help the assessment."
        )
        flags.append(C.FLAG_LFT)


def _age_notes(ctx: ClinicalContext, p: Profile, notes: list[str], flags: list[str]) -> None:
    """Rule ``sample_age`` (Pike 2001; de Graaf 2010; limits laboratory-defined)."""
    age = ctx.age_hours
    if age is None:
        return
    rt = ctx.room_temperature is not False
    limit = p.room_temperature_max_hours if rt else p.refrigerated_max_hours
    if not _cmp(age) > limit:
        return
    days = age / 24.0
    where = "at room temperature" if ctx.room_temperature else (
        "refrigerated" if ctx.room_temperature is False else
        "storage temperature not recorded, room temperature assumed")
    parts = []
    for loss, source in (
        (p.tgn_loss_pct_per_day_room_temperature if rt else p.tgn_loss_pct_per_day_refrigerated,
         p.tgn_loss_source_room_temperature if rt else p.tgn_loss_source_refrigerated),
        (p.mmp_loss_pct_per_day_room_temperature if rt else p.mmp_loss_pct_per_day_refrigerated,
         p.mmp_loss_source_room_temperature if rt else p.mmp_loss_source_refrigerated),
    ):
        # Linear in days: the sources give a rate (Pike) or one 7-day point (de Graaf), so a
        # linear rate reproduces both at the durations they report.
        lo, hi = (min(100.0, days * x) for x in loss)
        cited = f"; {source}" if source else ""
        parts.append(f"about {_range((lo, hi), 0)} % over {days:.1f} days ({_range(loss)} %/day{cited})")
    notes.append(
        f"Sample received {format_near(age, (limit,))} h after collection ({where}; profile limit "
        f"{limit:g} h): 6-TGN in whole blood may be underestimated by {parts[0]}, and 6-MMP by "
        f"{parts[1]}; a low 6-TGN result may partly reflect sample age rather than dosing, and a "
        "hepatotoxicity risk from 6-MMP may be underestimated, so the result may be interpreted with "
        "caution and a fresh sample considered before any dose change."
    )
    flags.append(C.FLAG_AGED)


def _blood_count_notes(ctx: ClinicalContext, p: Profile, t: float | None, t_det: bool, category: str,
                       notes: list[str], flags: list[str]) -> None:
    """Rule ``blood_count`` (BSR/BHPR 2017 DMARD monitoring guideline; CPIC 2018 for NUDT15)."""
    low, kinds = [], []
    for label, kind, v, lim, flag in (
            ("WBC", "leukopenia", ctx.wbc, p.wbc_low, C.FLAG_LEUKOPENIA),
            ("neutrophils", "neutropenia", ctx.neutrophils, p.neutrophils_low, C.FLAG_LEUKOPENIA),
            ("platelets", "thrombocytopenia", ctx.platelets, p.platelets_low, C.FLAG_THROMBOCYTOPENIA)):
        if v is not None and _cmp(v) < lim:
            low.append(f"{label} {format_near(v, (lim,), 1)} x10^9/L (below {lim:g})")
            kinds.append(kind)
            flags.append(flag)
    if not low:
        return
    if category in ("not_interpretable", "not_comparable", "thioguanine"):
        beside = "the metabolite pattern was not applied"
    elif t is not None and t_det and _cmp(t) > p.tgn_high:
        beside = f"with 6-TGN above {p.tgn_high:g}, consistent with thiopurine myelotoxicity"
    else:
        beside = ("with 6-TGN not above the target range: myelotoxicity can occur without a raised 6-TGN "
                  "(for example in NUDT15 deficiency, CPIC 2018), and other causes may be considered")
    notes.append(
        f"{'; '.join(low)}: {' and '.join(kinds)} {beside}; review, including whether to withhold the "
        f"thiopurine, may be considered ({p.blood_count_source})."
    )


def _normal_band(ctx: ClinicalContext, p: Profile) -> tuple[tuple[float, float] | None, bool]:
    """(normal-metaboliser band in mg/kg/day, True when it is an indication's band)."""
    if ctx.drug is None:
        return None, False
    if ctx.indication:
        band = p.normal_mg_kg_day.get(f"{ctx.drug}:{ctx.indication}")
        if band:
            return band, True
    return p.normal_mg_kg_day.get(ctx.drug), False


def _allopurinol_notes(ctx: ClinicalContext, p: Profile, notes: list[str], flags: list[str]) -> None:
    """Rule ``allopurinol`` (BSG 2019 table; the dosing source, secondary)."""
    if ctx.allopurinol is not True:
        return
    frac = _range([f * 100 for f in p.allopurinol_fraction], 0)
    normal, _ = _normal_band(ctx, p)
    dose = ctx.dose_mg_kg
    if ctx.drug == "thioguanine":
        notes.append("Allopurinol co-therapy recorded with thioguanine: the 25-33 % dosing applies to "
                     "azathioprine and mercaptopurine; the combination may be reviewed.")
        return
    if normal is not None and dose is not None:
        lo, hi = normal[0] * p.allopurinol_fraction[0], normal[1] * p.allopurinol_fraction[1]
        if _cmp(dose) > _cmp(hi):
            flags.append(C.FLAG_ALLOPURINOL_FULL_DOSE)
            notes.append(
                f"Allopurinol co-therapy recorded with a thiopurine dose of {format_near(dose, (hi,), 2)} "
                f"mg/kg/day, above {frac} % of the usual {_range(normal)} mg/kg/day ({_range((lo, hi))} "
                "mg/kg/day): allopurinol inhibits xanthine oxidase and raises 6-TGN markedly, with a "
                "risk of severe myelotoxicity at a full thiopurine dose; urgent review of the "
                "combination may be warranted (BSG 2019; dosing source)."
            )
            return
        notes.append(f"Allopurinol co-therapy recorded: a low 6-MMP is expected, and the recorded dose "
                     f"{format_near(dose, (hi,), 2)} mg/kg/day is within the reduced {frac} % range "
                     f"({_range((lo, hi))} mg/kg/day) used with allopurinol (BSG 2019).")
        return
    notes.append(f"Allopurinol co-therapy recorded: a low 6-MMP is expected, and the thiopurine is usually "
                 f"given at {frac} % of the usual dose with allopurinol (BSG 2019); the dose per kg is not "
                 "recorded, so a full dose (a dangerous interaction) cannot be excluded here.")


def _dose_band(ctx: ClinicalContext, pheno: _Pheno, band: str, p: Profile, flags: list[str],
               ratio_high: bool) -> str:
    """Rules ``cpic_bands``, ``cpic_poor_indication``, ``testing_prompt`` (CPIC 2018/2024) and
    ``aih_band`` (the dosing source, not CPIC)."""

    def show(x: str | None) -> str:
        return "not recorded" if x is None else x.replace("_", " ")

    geno = f"TPMT {show(pheno.tpmt)}, NUDT15 {show(pheno.nudt15)}"
    drug_label = ctx.drug or "drug not recorded"
    base = f"{drug_label}; {geno}"
    if ctx.drug == "thioguanine":
        return f"{base}: no mg/kg band (CPIC doses thioguanine per m^2)"
    normal, indication_band = _normal_band(ctx, p)
    if band == "poor":
        if ctx.indication == "malignancy":
            frac = p.poor_malignancy_fraction
            return (f"{base}: for malignancy CPIC suggests a drastically reduced dose "
                    f"(~{frac * 100:g} % of the normal daily dose, thrice weekly)")
        if ctx.indication is not None:
            return (f"{base}: for a non-malignant condition ({INDICATIONS[ctx.indication]}) CPIC suggests "
                    "considering a non-thiopurine alternative")
        return (f"{base}; indication not coded: CPIC suggests considering a non-thiopurine alternative for "
                f"non-malignant conditions; for malignancy, ~{p.poor_malignancy_fraction * 100:g} % of the "
                "normal daily dose thrice weekly")
    missing = [g for g, x in (("TPMT", pheno.tpmt), ("NUDT15", pheno.nudt15)) if x is None]
    indeterminate = [g for g, x in (("TPMT", pheno.tpmt), ("NUDT15", pheno.nudt15)) if x == "indeterminate"]
    prompt = ""
    if indeterminate:
        prompt += (f" {' and '.join(indeterminate)} phenotype indeterminate: CPIC suggests measuring TPMT "
                   "activity or genotyping to assign a phenotype.")
    if missing:
        prompt += (f" {' and '.join(missing)} status not recorded: CPIC recommends TPMT and NUDT15 testing "
                   "(the dosing source calls testing mandatory before starting).")
    if band == "unknown":
        return f"{drug_label}:{prompt} No dose band is given as if the patient were a normal metaboliser."
    fraction = {"intermediate": p.intermediate_fraction,
                "intermediate_both": p.intermediate_both_fraction}.get(band, (1.0, 1.0))
    pheno_txt = {"normal": "normal metaboliser", "intermediate": "intermediate metaboliser",
                 "intermediate_both": "intermediate in both genes"}[band]
    who = (f"{p.indication_band_source}" if indication_band else "CPIC starting dose")
    if normal is None:
        if band in ("intermediate", "intermediate_both"):
            txt = (f"{base}: CPIC starting dose {_range([f * 100 for f in fraction], 0)} % of the normal "
                   f"dose ({pheno_txt}); no mg/kg band configured for {drug_label}")
        else:
            txt = f"{base}: no mg/kg band configured for {drug_label} ({pheno_txt})"
        return txt + (f".{prompt}" if prompt else "")
    lo, hi = normal[0] * fraction[0], normal[1] * fraction[1]
    frac_txt = "" if fraction == (1.0, 1.0) else (
        f" = CPIC {_range([f * 100 for f in fraction], 0)} % of {_range(normal)} mg/kg/day")
    label = (f"{INDICATIONS[ctx.indication]} band ({who})" if indication_band else who)
    txt = f"{base}: {label} {_range((lo, hi))} mg/kg/day ({pheno_txt}{frac_txt})"
    dose = ctx.dose_mg_kg
    if dose is not None:
        if dose < lo - 1e-9:
            where = "below"
        elif dose > hi + 1e-9:
            where = "above"
        else:
            where = "within"
        txt += (f"; recorded dose {format_near(dose, (lo, hi), 2)} mg/kg/day ({ctx.dose_mg:g} mg / "
                f"{ctx.weight_kg:g} kg) is {where} this band")
        if ctx.allopurinol is True:
            txt += " (with allopurinol a reduced dose is expected; see the notes)"
        elif where == "below" and ratio_high:
            txt += (" (with the MMP:TGN ratio above the cut-off, a dose increase would be expected to raise "
                    "6-MMP rather than 6-TGN)")
        # Only a dose above the band is flagged: maintenance doses below the starting band are
        # common and not in themselves a safety signal.
        if where == "above":
            flags.append(C.FLAG_DOSE)
            txt += ", which may warrant review in the light of the metabolite levels"
    return txt + (f".{prompt}" if prompt else "")
