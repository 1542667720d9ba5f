"""Clinical context of a patient sample: controlled vocabularies and the inputs.

Inputs come from worklist columns (:meth:`ClinicalContext.from_row` /
:meth:`ClinicalContext.from_row_checked`) or ``thioquant interpret`` options. Every field is
optional; an empty cell means "not recorded". Vocabularies:

- drug: azathioprine, mercaptopurine, thioguanine (aliases AZA, 6-MP, 6-TG...);
- TPMT / NUDT15 phenotype: the CPIC terms normal, intermediate, possible_intermediate, poor,
  indeterminate (aliases NM, IM, PM...). "homozygous" is refused: it can mean homozygous wild
  type (normal) as well as homozygous variant (poor);
- TPMT / NUDT15 genotype as star alleles (``*1/*3A``), mapped to a CPIC phenotype with
  :func:`phenotype_from_genotype`;
- indication: a controlled vocabulary (:data:`INDICATIONS`) with synonyms. A cell that is not a
  synonym stays a free-text note and never selects advice (a word such as "leukocytoclastic"
  or "all" in free text used to select the malignancy advice).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from thioquant.errors import InputError

PHENOTYPES = ("normal", "intermediate", "possible_intermediate", "poor", "indeterminate")
DRUGS = ("azathioprine", "mercaptopurine", "thioguanine")

_PHENOTYPE_ALIASES = {
    "normal": "normal", "nm": "normal", "normalmetabolizer": "normal", "normalmetaboliser": "normal",
    "wildtype": "normal", "wt": "normal", "extensive": "normal",
    "intermediate": "intermediate", "im": "intermediate", "intermediatemetabolizer": "intermediate",
    "intermediatemetaboliser": "intermediate", "heterozygous": "intermediate", "het": "intermediate",
    "possibleintermediate": "possible_intermediate", "possibleim": "possible_intermediate",
    "possibleintermediatemetabolizer": "possible_intermediate",
    "possibleintermediatemetaboliser": "possible_intermediate",
    "poor": "poor", "pm": "poor", "poormetabolizer": "poor", "poormetaboliser": "poor",
    "deficient": "poor", "low": "intermediate", "heterozygousvariant": "intermediate",
    "homozygousvariant": "poor", "homozygouswildtype": "normal",
    "indeterminate": "indeterminate", "unknown": "indeterminate",
}

#: Words refused as a phenotype because they name no single phenotype.
_AMBIGUOUS_PHENOTYPES = {
    "homozygous": "homozygous wild type is normal, homozygous variant is poor; use normal or poor "
                  "(or give the genotype, e.g. *1/*1 or *3A/*3A)",
}

_DRUG_ALIASES = {
    "azathioprine": "azathioprine", "aza": "azathioprine", "imuran": "azathioprine",
    "mercaptopurine": "mercaptopurine", "6mp": "mercaptopurine", "mp": "mercaptopurine",
    "purinethol": "mercaptopurine", "6mercaptopurine": "mercaptopurine",
    "thioguanine": "thioguanine", "tioguanine": "thioguanine", "6tg": "thioguanine",
    "6thioguanine": "thioguanine",
}


def _key(text: str) -> str:
    return "".join(ch for ch in str(text).strip().lower() if ch.isalnum())


def parse_phenotype(value: Any, *, column: str = "tpmt") -> str | None:
    """Normalise a TPMT/NUDT15 phenotype ("IM", "intermediate metabolizer"...) or None."""
    if _missing(value):
        return None
    k = _key(value)
    if k in _PHENOTYPE_ALIASES:
        return _PHENOTYPE_ALIASES[k]
    if k in _AMBIGUOUS_PHENOTYPES:
        raise InputError(f"phenotype {value!r} is ambiguous: {_AMBIGUOUS_PHENOTYPES[k]}", key=column)
    raise InputError(
        f"unknown phenotype {value!r}; use normal, intermediate, possible_intermediate, poor or "
        "indeterminate",
        key=column,
    )


def parse_drug(value: Any, *, column: str = "drug") -> str | None:
    """Normalise a drug name (azathioprine, mercaptopurine, thioguanine) or None."""
    if _missing(value):
        return None
    k = _key(value)
    if k in _DRUG_ALIASES:
        return _DRUG_ALIASES[k]
    raise InputError(f"unknown drug {value!r}; use one of {', '.join(DRUGS)}", key=column)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "na", "n/a", "nan", "none", "-")


# --- indications --------------------------------------------------------------------------------

#: Controlled vocabulary of indications: code -> label. Only a code selects advice (the CPIC
#: poor-metaboliser advice differs for malignancy; autoimmune hepatitis has its own dose band).
INDICATIONS: dict[str, str] = {
    "ibd": "IBD",
    "aih": "autoimmune hepatitis",
    "transplant": "transplant",
    "rheumatology": "rheumatology",
    "dermatology": "dermatology",
    "malignancy": "ALL/other malignancy",
    "other": "other (non-malignant)",
}

#: Synonyms (whole cell, case, spaces and punctuation ignored) -> indication code. A cell is
#: matched as a whole, never by a word inside it: "Crohn disease, previous leukopenia" and "all
#: patients with IBD" are free text, not a malignancy.
_INDICATION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "ibd": ("ibd", "inflammatory bowel disease", "crohn", "crohns", "crohn disease", "crohn's disease",
            "crohns disease", "cd", "ulcerative colitis", "uc", "ibd-u", "ibdu", "ibd unclassified",
            "indeterminate colitis", "microscopic colitis"),
    "aih": ("aih", "autoimmune hepatitis", "auto-immune hepatitis", "aih type 1", "aih type 2",
            "type 1 aih", "type 2 aih", "autoimmune hepatitis type 1", "autoimmune hepatitis type 2",
            "type 1 autoimmune hepatitis", "type 2 autoimmune hepatitis"),
    "transplant": ("transplant", "transplantation", "organ transplant", "solid organ transplant",
                   "kidney transplant", "renal transplant", "liver transplant", "heart transplant",
                   "lung transplant"),
    "rheumatology": ("rheumatology", "rheumatological", "rheumatoid arthritis", "ra", "sle", "lupus",
                     "systemic lupus erythematosus", "vasculitis", "anca vasculitis",
                     "anca-associated vasculitis", "myositis", "polymyositis", "dermatomyositis"),
    "dermatology": ("dermatology", "dermatological", "atopic dermatitis", "eczema", "atopic eczema",
                    "bullous pemphigoid", "pemphigus", "pemphigus vulgaris", "chronic actinic dermatitis",
                    "leukocytoclastic vasculitis", "cutaneous vasculitis"),
    "malignancy": ("all", "acute lymphoblastic leukaemia", "acute lymphoblastic leukemia",
                   "acute lymphocytic leukaemia", "acute lymphocytic leukemia", "b-all", "t-all",
                   "aml", "acute myeloid leukaemia", "acute myeloid leukemia", "leukaemia", "leukemia",
                   "lymphoma", "lymphoblastic lymphoma", "malignancy", "cancer", "other malignancy",
                   "all/other malignancy"),
    "other": ("other", "other non-malignant", "non-malignant"),
}
_INDICATION_BY_KEY = {_key(s): code for code, syns in _INDICATION_SYNONYMS.items() for s in (code, *syns)}


def parse_indication(value: Any) -> tuple[str | None, str | None]:
    """(indication code or None, free text or None) from a cell.

    A cell that is a synonym of the vocabulary gives its code and no text; any other text gives
    no code and is kept as a free-text note, which never selects advice.
    """
    if _missing(value):
        return None, None
    text = str(value).strip()
    code = _INDICATION_BY_KEY.get(_key(text))
    return (code, None) if code else (None, text)


# --- genotypes (star alleles) ---------------------------------------------------------------------

#: Allele function per gene (CPIC TPMT/NUDT15 guideline 2018, allele functionality table; only
#: the common alleles; an allele not listed has unknown function). CPIC groups "uncertain" and
#: "unknown" function together.
ALLELE_FUNCTION: dict[str, dict[str, str]] = {
    "tpmt": {"*1": "normal", "*2": "no", "*3a": "no", "*3b": "no", "*3c": "no", "*4": "no"},
    "nudt15": {"*1": "normal", "*2": "no", "*3": "no"},
}


def phenotype_from_genotype(genotype: Any, gene: str = "tpmt") -> str | None:
    """CPIC phenotype from a diplotype such as ``*1/*3A`` (None when not recorded).

    Two normal-function alleles: normal; one normal and one no-function: intermediate; two
    no-function: poor; one no-function and one of unknown/uncertain function: possible
    intermediate; otherwise (a normal with an unknown allele, two unknown): indeterminate
    (CPIC 2018, assignment of likely phenotypes based on genotypes).

    Raises
    ------
    InputError
        When the text is not two star alleles separated by "/".
    """
    if _missing(genotype):
        return None
    text = str(genotype).strip().lower().replace(" ", "")
    parts = text.split("/")
    if len(parts) != 2 or not all(p.startswith("*") and len(p) > 1 and p[1:].isalnum() for p in parts):
        raise InputError(f"{gene} genotype {genotype!r} is not a diplotype of star alleles such as *1/*3A",
                         key=f"{gene}_genotype")
    table = ALLELE_FUNCTION[gene]
    funcs = sorted(table.get(p, "unknown") for p in parts)
    if funcs == ["normal", "normal"]:
        return "normal"
    if funcs == ["no", "normal"]:
        return "intermediate"
    if funcs == ["no", "no"]:
        return "poor"
    if funcs == ["no", "unknown"]:
        return "possible_intermediate"
    return "indeterminate"


def parse_yes_no(value: Any, *, column: str = "allopurinol") -> bool | None:
    """True / False / None (not recorded) from yes/no, true/false, 1/0, y/n."""
    if isinstance(value, bool):
        return value
    if _missing(value):
        return None
    k = _key(value)
    if k in ("yes", "y", "true", "1", "on"):
        return True
    if k in ("no", "n", "false", "0", "off"):
        return False
    raise InputError(f"{column} must be yes or no, got {value!r}", key=column)


# --- the context of one sample -------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicalContext:
    """Optional per-patient context. Liver tests are multiples of the upper limit of normal.

    ``room_temperature``: True (stored at room temperature), False (refrigerated) or None
    (not recorded; the room-temperature limit is applied). ``indication`` is a code of
    :data:`INDICATIONS` (a synonym given here is mapped to its code; any other text moves to
    ``indication_note`` and selects nothing). ``tpmt_genotype`` / ``nudt15_genotype`` are star
    diplotypes (``*1/*3A``) and ``tpmt_activity`` the red-cell TPMT activity in the profile's
    unit; they give the phenotype when the phenotype itself is not recorded. Blood counts
    (``wbc``, ``neutrophils``, ``platelets``) are 10^9/L. ``allopurinol``: co-therapy recorded
    (True/False/None). ``weeks_on_dose``: weeks since the start or the last dose change.
    """

    drug: str | None = None
    dose_mg: float | None = None
    weight_kg: float | None = None
    tpmt: str | None = None
    nudt15: str | None = None
    alt_uln: float | None = None
    ast_uln: float | None = None
    bilirubin_uln: float | None = None
    collected_at: datetime | None = None
    received_at: datetime | None = None
    room_temperature: bool | None = None
    indication: str | None = None
    indication_note: str | None = None
    tpmt_genotype: str | None = None
    nudt15_genotype: str | None = None
    tpmt_activity: float | None = None
    allopurinol: bool | None = None
    wbc: float | None = None
    neutrophils: float | None = None
    platelets: float | None = None
    weeks_on_dose: float | None = None

    def __post_init__(self) -> None:
        code, text = parse_indication(self.indication)
        if text is not None and self.indication not in INDICATIONS:
            note = text if not self.indication_note else f"{text}; {self.indication_note}"
            object.__setattr__(self, "indication_note", note)
        object.__setattr__(self, "indication", code)
        for gene in ("tpmt", "nudt15"):
            g = getattr(self, f"{gene}_genotype")
            if g is not None:
                phenotype_from_genotype(g, gene)  # validate
                object.__setattr__(self, f"{gene}_genotype", str(g).strip())
        object.__setattr__(self, "allopurinol", parse_yes_no(self.allopurinol))
        object.__setattr__(self, "drug", parse_drug(self.drug))
        object.__setattr__(self, "tpmt", parse_phenotype(self.tpmt, column="tpmt"))
        object.__setattr__(self, "nudt15", parse_phenotype(self.nudt15, column="nudt15"))
        for name, lo_strict in (("dose_mg", True), ("weight_kg", True), ("alt_uln", False),
                                ("ast_uln", False), ("bilirubin_uln", False), ("tpmt_activity", False),
                                ("wbc", False), ("neutrophils", False), ("platelets", False),
                                ("weeks_on_dose", False)):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0 \
                    or (lo_strict and v == 0):
                raise InputError(f"{name} must be a {'positive' if lo_strict else 'non-negative'} number, got {v!r}",
                                 key=name)
            object.__setattr__(self, name, float(v))
        for name in ("collected_at", "received_at"):
            v = getattr(self, name)
            if isinstance(v, str):
                try:
                    object.__setattr__(self, name, None if _missing(v) else datetime.fromisoformat(v.strip()))
                except ValueError:
                    raise InputError(f"not an ISO 8601 date-time: {v!r}", key=name) from None
            elif v is not None and not isinstance(v, datetime):
                raise InputError(f"must be a date-time, got {v!r}", key=name)
        if self.collected_at is not None and self.received_at is not None:
            if (self.collected_at.tzinfo is None) != (self.received_at.tzinfo is None):
                raise InputError("collected_at and received_at must both have, or both lack, a time zone",
                                 key="received_at")
            if self.received_at < self.collected_at:
                raise InputError("received_at is earlier than collected_at", key="received_at")

    @property
    def dose_mg_kg(self) -> float | None:
        """Dose per body weight, mg/kg/day (the dose is taken as a daily dose)."""
        if self.dose_mg is None or self.weight_kg is None:
            return None
        return self.dose_mg / self.weight_kg

    def phenotype(self, gene: str) -> str | None:
        """The recorded phenotype of ``gene`` ("tpmt"/"nudt15"), else the one its genotype gives."""
        recorded = getattr(self, gene)
        if recorded is not None:
            return recorded
        return phenotype_from_genotype(getattr(self, f"{gene}_genotype"), gene)

    @property
    def age_hours(self) -> float | None:
        """Hours from collection to receipt, or None."""
        if self.collected_at is None or self.received_at is None:
            return None
        return (self.received_at - self.collected_at).total_seconds() / 3600.0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ClinicalContext:
        """Build from worklist columns, strictly: any unusable value raises.

        Columns (all optional): ``drug, dose_mg, weight_kg, tpmt, nudt15, alt_x_uln, ast_x_uln,
        bilirubin_x_uln, collected_at, received_at`` (ISO 8601, e.g. ``2026-03-01T08:30``), and
        ``storage`` (``room_temperature``/``rt``/``ambient`` or ``refrigerated``/``4c``/``cold``),
        ``indication`` (a code or synonym of :data:`INDICATIONS`; other text is kept as a note),
        ``indication_note``, ``tpmt_genotype``, ``nudt15_genotype`` (``*1/*3A``),
        ``tpmt_activity``, ``allopurinol`` (yes/no), ``wbc``, ``neutrophils``, ``platelets``
        (10^9/L) and ``weeks_on_dose``. Empty cells mean "not recorded". See :meth:`from_row_checked` for
        the lenient form used on worklists.

        Raises
        ------
        InputError
            Listing every unusable value, each with its column; ``key`` is the first column.
        """
        ctx, problems = cls.from_row_checked(row)
        if problems:
            # the strict form uses nothing, so no "ignored" after each problem
            raise InputError("; ".join(p.text for p in problems), key=problems[0].column)
        return ctx

    @classmethod
    def from_row_checked(cls, row: Mapping[str, Any]) -> tuple[ClinicalContext, list[ContextProblem]]:
        """Build from worklist columns, dropping only the unusable fields.

        Every column is checked, so every problem of the row is returned, not only the first.
        A bad value voids its own field and the rest of the context is kept: the fields are
        independent notes (liver tests, dose band, sample age), and a lab scientist expects a
        typo in one column not to silence the others. Fields that only mean something as a pair
        are voided together when the *pair* is inconsistent: ``collected_at``/``received_at``
        (receipt before collection, or only one with a time zone) give no sample age, since it
        is not known which of the two is wrong. A field dropped this way reads as "not recorded"
        (for example, no dose per kg without a usable dose and weight; the normal band, not
        flagged, without a usable phenotype), so the caller should show the problems to the
        user (the pipeline writes them to ``messages.txt``).

        Parameters
        ----------
        row : mapping
            Worklist columns (see :meth:`from_row`).

        Returns
        -------
        (ClinicalContext, list of ContextProblem)
            The context from the usable fields, and one problem per unusable value, in column
            order.
        """
        problems: list[ContextProblem] = []

        def bad(col: str, reason: str, ignored: tuple[str, ...] | None = None) -> None:
            problems.append(ContextProblem(col, row.get(col), reason, ignored or (col,)))

        def number(col: str, *, positive: bool = False) -> float | None:
            v = row.get(col)
            if _missing(v):
                return None
            try:
                x = float(str(v).strip().rstrip("xX").strip()) if isinstance(v, str) else float(v)
            except (TypeError, ValueError):
                bad(col, "is not a number")
                return None
            if not math.isfinite(x) or x < 0 or (positive and x == 0):
                bad(col, f"must be a {'positive' if positive else 'non-negative'} number")
                return None
            return x

        def when(col: str) -> datetime | None:
            v = row.get(col)
            if _missing(v):
                return None
            if isinstance(v, datetime):
                return v
            try:
                return datetime.fromisoformat(str(v).strip())
            except ValueError:
                bad(col, "is not an ISO 8601 date-time (YYYY-MM-DD HH:MM)")
                return None

        def parsed(col: str, parse: Any, reason: str) -> str | None:
            try:
                return parse(row.get(col), column=col)
            except InputError:
                amb = _AMBIGUOUS_PHENOTYPES.get(_key(row.get(col))) if parse is parse_phenotype else None
                bad(col, f"is ambiguous: {amb}" if amb else reason)
                return None

        phenotype = ("is not a known phenotype (use normal, intermediate, possible_intermediate, poor "
                     "or indeterminate)")
        drug = parsed("drug", parse_drug, f"is not a known drug (use {', '.join(DRUGS)})")
        dose = number("dose_mg", positive=True)  # a daily dose of 0 mg has no dose band to compare
        weight = number("weight_kg", positive=True)
        tpmt = parsed("tpmt", parse_phenotype, phenotype)
        nudt15 = parsed("nudt15", parse_phenotype, phenotype)
        alt, ast, bili = number("alt_x_uln"), number("ast_x_uln"), number("bilirubin_x_uln")
        collected, received = when("collected_at"), when("received_at")
        if collected is not None and received is not None:
            pair = ("collected_at", "received_at")
            if (collected.tzinfo is None) != (received.tzinfo is None):
                bad("received_at", f"and collected_at {row.get('collected_at')!r} must both have, or "
                    "both lack, a time zone", pair)
                collected = received = None
            elif received < collected:
                bad("received_at", f"is earlier than collected_at {row.get('collected_at')!r}", pair)
                collected = received = None

        storage_col = "storage" if "storage" in row else "room_temperature"
        storage = row.get(storage_col)
        rt: bool | None = None
        if isinstance(storage, bool):
            rt = storage
        elif not _missing(storage):
            k = _key(storage)
            if k in ("roomtemperature", "rt", "ambient", "true", "yes", "1", "22c", "25c"):
                rt = True
            elif k in ("refrigerated", "fridge", "4c", "cold", "false", "no", "0", "2to8c", "28c"):
                rt = False
            else:
                # not recorded -> the room-temperature limit and loss (the larger) apply
                bad(storage_col, "is not room_temperature or refrigerated")
        indication, ind_text = parse_indication(row.get("indication"))
        note = row.get("indication_note")
        notes = [t for t in (ind_text, None if _missing(note) else str(note).strip()) if t]

        def genotype(col: str, gene: str) -> str | None:
            v = row.get(col)
            try:
                phenotype_from_genotype(v, gene)
            except InputError:
                bad(col, "is not a diplotype of star alleles such as *1/*3A")
                return None
            return None if _missing(v) else str(v).strip()

        tpmt_geno, nudt15_geno = genotype("tpmt_genotype", "tpmt"), genotype("nudt15_genotype", "nudt15")
        activity = number("tpmt_activity")
        try:
            allo = parse_yes_no(row.get("allopurinol"))
        except InputError:
            bad("allopurinol", "is not yes or no")
            allo = None
        wbc, neut, plt = number("wbc"), number("neutrophils"), number("platelets")
        weeks = number("weeks_on_dose")
        ctx = cls(
            drug=drug, dose_mg=dose, weight_kg=weight, tpmt=tpmt, nudt15=nudt15, alt_uln=alt,
            ast_uln=ast, bilirubin_uln=bili, collected_at=collected, received_at=received,
            room_temperature=rt, indication=indication, indication_note="; ".join(notes) or None,
            tpmt_genotype=tpmt_geno, nudt15_genotype=nudt15_geno, tpmt_activity=activity,
            allopurinol=allo, wbc=wbc, neutrophils=neut, platelets=plt, weeks_on_dose=weeks,
        )
        return ctx, problems


@dataclass(frozen=True)
class ContextProblem:
    """One unusable clinical-context value: its column, the value as given and what was dropped."""

    column: str
    value: Any
    reason: str
    ignored: tuple[str, ...]

    @property
    def text(self) -> str:
        """The problem alone, e.g. "dose_mg '0' must be a positive number"."""
        return f"{self.column} {self.value!r} {self.reason}"

    def __str__(self) -> str:
        what = "ignored" if self.ignored == (self.column,) else f"{' and '.join(self.ignored)} ignored"
        return f"{self.text}; {what}"

