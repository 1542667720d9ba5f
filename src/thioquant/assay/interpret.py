"""Clinical interpretation of a patient's 6-TGN / 6-MMP pair (pmol/8x10^8 RBC).

Cut-offs live in TOML *profiles* (``thioquant/assay/profiles/*.toml``, or any file passed by
path); :func:`interpret` applies the BSG-type pattern table (domain notes, section 3) and adds
notes from optional clinical context (drug and dose, weight, TPMT/NUDT15 phenotype with CPIC
dose bands, liver tests, sample age). Every comment is decision support for the clinician,
never an instruction.

"Undetectable"
--------------
A metabolite is *undetectable* when its value is ``None`` or its ``*_detected`` flag is False
(below the LOD or LLOQ: not quantifiable). A value of NaN means *not available* (for example
not reportable because the RBC count was missing): the pair is then not interpreted.
Comparisons use the unrounded values, and a value printed next to its cut-offs (comments, notes,
``interpretation.csv``) gets as many decimals as it needs to stay on the same side of each cut-off:
234.96 prints as "234.96" (not "235") with "6-TGN below 235", and a ratio of 11.001 as "11.001"
(not "11.0") with "> 11". See :func:`format_near`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from thioquant import flags as _flags
from thioquant.assay.normalise import canonical_analyte, method_family
from thioquant.errors import InputError, MethodError

# --- flags --------------------------------------------------------------------------------------

FLAG_TGN_LOW = _flags.register("TGN_LOW", "6-TGN below the profile's target range")
FLAG_TGN_HIGH = _flags.register("TGN_HIGH", "6-TGN above the profile's target range (myelotoxicity risk)")
FLAG_MMP_HIGH = _flags.register("MMP_HIGH", "6-MMP above the profile's hepatotoxicity cut-off")
FLAG_RATIO_HIGH = _flags.register(
    "RATIO_HIGH", "MMP:TGN ratio above the profile's cut-off: consistent with preferential methylation"
)
FLAG_UNDETECTABLE = _flags.register(
    "BOTH_UNDETECTABLE", "6-TGN and 6-MMP both undetectable: consistent with non-adherence"
)
FLAG_TPMT_PATTERN = _flags.register(
    "TPMT_PATTERN", "very high 6-TGN with undetectable 6-MMP: pattern of possible TPMT deficiency"
)
FLAG_LFT = _flags.register("LFT_RAISED", "ALT/AST above the profile's hepatotoxicity-note threshold")
FLAG_LFT_REVIEW = _flags.register(
    "LFT_REVIEW", "ALT/AST or bilirubin above the profile's stop-and-review threshold"
)
FLAG_AGED = _flags.register(
    "SAMPLE_AGED", "sample older than the profile's stability limit on receipt: 6-TGN may be underestimated"
)
FLAG_FAMILY = _flags.register(
    "FAMILY_MISMATCH", "result's method family is not one the profile's ranges apply to: not interpreted"
)
FLAG_DOSE = _flags.register(
    "DOSE_ABOVE_BAND", "dose above the CPIC starting-dose band for the recorded TPMT/NUDT15 phenotype"
)
FLAG_NOT_INTERPRETED = _flags.register(
    "NOT_INTERPRETED", "6-TGN or 6-MMP result not available: pair not interpreted"
)

# --- categories and default comments ------------------------------------------------------------

#: Category code -> short label.
CATEGORIES: dict[str, str] = {
    "non_adherence": "both undetectable",
    "subtherapeutic": "sub-therapeutic",
    "preferential_methylation": "preferential methylation",
    "therapeutic": "therapeutic",
    "hepatotoxicity_risk": "hepatotoxicity risk",
    "supratherapeutic": "supratherapeutic",
    "myelotoxicity_risk": "myelotoxicity risk",
    "tpmt_deficiency": "possible TPMT deficiency",
    "not_interpretable": "not interpretable",
    "not_comparable": "method family not covered by profile",
}

#: Default comment per category (``str.format`` fields: tgn_low, tgn_high, tgn_very_high,
#: mmp_high, ratio_high, profile). A profile's ``[comments]`` table overrides them.
DEFAULT_COMMENTS: dict[str, str] = {
    "non_adherence": (
        "6-TGN and 6-MMP both undetectable: consistent with non-adherence (rarely malabsorption); "
        "the clinician may wish to discuss adherence and consider a repeat measurement."
    ),
    "subtherapeutic": (
        "6-TGN below {tgn_low:g} with 6-MMP within normal: consistent with sub-therapeutic dosing; "
        "a dose increase and a repeat measurement at steady state may be considered."
    ),
    "preferential_methylation": (
        "6-TGN below {tgn_low:g} with raised 6-MMP or MMP:TGN ratio above {ratio_high:g}: consistent "
        "with preferential methylation (shunting); dose escalation would be expected to raise "
        "hepatotoxicity risk rather than 6-TGN; specialist review may consider allopurinol with "
        "thiopurine dose reduction to 25-33 %."
    ),
    "therapeutic": (
        "6-TGN within {tgn_low:g}-{tgn_high:g} and 6-MMP within normal: consistent with therapeutic "
        "levels; if the patient is not responding, thiopurine-refractory disease may be considered."
    ),
    "hepatotoxicity_risk": (
        "6-TGN within {tgn_low:g}-{tgn_high:g} with 6-MMP above {mmp_high:g}: associated with "
        "hepatotoxicity risk; a dose reduction and a repeat measurement may be considered."
    ),
    "supratherapeutic": (
        "6-TGN above {tgn_high:g} and 6-MMP above {mmp_high:g}: consistent with supratherapeutic "
        "dosing; a dose reduction may be considered."
    ),
    "myelotoxicity_risk": (
        "6-TGN above {tgn_high:g} with 6-MMP within normal: associated with myelotoxicity risk "
        "(possibly low TPMT activity); a blood count and a dose reduction may be considered."
    ),
    "tpmt_deficiency": (
        "6-TGN above {tgn_very_high:g} with 6-MMP undetectable: pattern consistent with possible "
        "TPMT deficiency; urgent clinical review, including a blood count and TPMT status, may be "
        "warranted."
    ),
    "not_interpretable": (
        "6-TGN or 6-MMP result not available (not reportable): the pair has not been interpreted."
    ),
    "not_comparable": (
        "Result from a {method_family}-type method; the {profile} profile's ranges were derived for "
        "{families} assays and are not applied (ranges are not comparable across method families)."
    ),
}

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
    "deficient": "poor", "homozygous": "poor", "low": "intermediate",
    "indeterminate": "indeterminate", "unknown": "indeterminate",
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


def _cmp(x: float) -> float:
    """Value used in comparisons: rounded to 6 decimals to absorb floating-point noise
    (450.00000000001 from a computation is compared as 450)."""
    return round(float(x), 6)


#: Most decimals :func:`format_near` adds; comparisons (:func:`_cmp`) see no further than this.
_MAX_DECIMALS = 6
_WIDE = Context(prec=400)  # enough for any finite float's integer digits plus _MAX_DECIMALS


def _side(x: float, cutoff: float) -> int:
    """-1, 0 or 1: where ``x`` lies relative to ``cutoff``, as the comparisons see it."""
    a, c = _cmp(x), _cmp(cutoff)
    return (a > c) - (a < c)


def format_near(
    value: float, cutoffs: Iterable[float] = (), decimals: int = 0, *, half_up: bool = False
) -> str:
    """Format ``value`` so that the text never contradicts its comparison with a cut-off.

    Parameters
    ----------
    value : float
        The number to show.
    cutoffs : iterable of float
        Cut-offs the value is printed next to (or compared with in the same row).
    decimals : int
        Usual number of decimals. More (up to 6) are used only when the rounded text would land
        on or cross a cut-off that the value itself does not equal or cross.
    half_up : bool
        Round halves up (as :func:`format_ratio` always did) instead of Python's rounding of
        the binary value.

    Returns
    -------
    str
        For example ``format_near(234.96, [235])`` is "234.96", ``format_near(235.0, [235])``
        "235" and ``format_near(11.001, [11], 1, half_up=True)`` "11.001".
    """
    x = float(value)
    if not math.isfinite(x):
        return f"{x}"
    cuts = [float(c) for c in cutoffs]
    want = [_side(x, c) for c in cuts]
    text = ""
    for d in range(max(0, decimals), max(decimals, _MAX_DECIMALS) + 1):
        if half_up:
            q = Decimal(1).scaleb(-d)
            # the default 28-digit context cannot hold a huge value to d decimals (a ratio of
            # 5333 / 1e-300 raised InvalidOperation); a finite float has at most 309 digits
            text = f"{Decimal(repr(round(x, 9))).quantize(q, rounding=ROUND_HALF_UP, context=_WIDE)}"
        else:
            text = f"{x:.{d}f}"
        if [_side(float(text), c) for c in cuts] == want:
            break
    return text


def format_ratio(ratio: float | None, cutoffs: Iterable[float] = ()) -> str:
    """MMP:TGN ratio to one decimal, halves rounded up (30000/1600 = 18.75 -> "18.8").

    With ``cutoffs`` (the profile's ratio cut-off), more decimals are shown when one decimal
    would land on or cross a cut-off: 11.001 -> "11.001", 10.999 -> "10.999" next to 11.
    """
    if ratio is None or not math.isfinite(ratio):
        return ""
    return format_near(ratio, cutoffs, 1, half_up=True)


# --- profiles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """A validated interpretation profile (all concentrations in pmol/8x10^8 RBC).

    Limits of the 6-TGN target range are inclusive (``low <= tgn <= high`` is in range).
    6-MMP is raised when ``mmp > mmp_high`` (``>=`` when ``mmp_high_includes_limit``); the
    ratio likewise.
    """

    name: str
    description: str = ""
    sources: tuple[str, ...] = ()
    unit: str = "pmol/8x10^8 RBC"
    method_families: tuple[str, ...] = ("dervieux", "lcmsms")
    tgn_low: float = 235.0
    tgn_high: float = 450.0
    tgn_very_high: float = 1000.0
    mmp_high: float = 5700.0
    mmp_high_includes_limit: bool = False
    ratio_high: float = 11.0
    ratio_high_includes_limit: bool = False
    alt_ast_note_x_uln: float = 3.0
    alt_ast_stop_x_uln: float = 5.0
    bilirubin_stop_x_uln: float = 2.0
    room_temperature_max_hours: float = 48.0
    refrigerated_max_hours: float = 168.0
    tgn_loss_pct_per_day_room_temperature: tuple[float, float] = (2.0, 6.7)
    tgn_loss_pct_per_day_refrigerated: tuple[float, float] = (1.43, 1.43)
    tgn_loss_source_room_temperature: str = (
        "Pike 2001: 2-4 %/day; de Graaf 2010: median 53 % of baseline after 7 days at 22 C")
    tgn_loss_source_refrigerated: str = "de Graaf 2010: median 90 % of baseline after 7 days at 4 C"
    steady_state_weeks: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    intermediate_fraction: tuple[float, float] = (0.30, 0.80)
    intermediate_both_fraction: tuple[float, float] = (0.20, 0.50)
    poor_malignancy_fraction: float = 0.10
    normal_mg_kg_day: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    comments: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    sha256: str = ""

    def mmp_raised(self, mmp: float) -> bool:
        mmp = _cmp(mmp)
        return mmp >= self.mmp_high if self.mmp_high_includes_limit else mmp > self.mmp_high

    def ratio_raised(self, ratio: float) -> bool:
        ratio = _cmp(ratio)
        return ratio >= self.ratio_high if self.ratio_high_includes_limit else ratio > self.ratio_high

    def comment(self, category: str, **extra: Any) -> str:
        template = self.comments.get(category, DEFAULT_COMMENTS[category])
        fields = {
            "tgn_low": self.tgn_low, "tgn_high": self.tgn_high, "tgn_very_high": self.tgn_very_high,
            "mmp_high": self.mmp_high, "ratio_high": self.ratio_high, "profile": self.name,
            "families": "/".join(self.method_families), **extra,
        }
        try:
            return template.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise MethodError(f"comment template cannot be filled ({exc})", path=self.source,
                              key=f"comments.{category}") from None

    def cutoffs(self) -> str:
        """One-line summary of the cut-offs."""
        mmp_op = ">=" if self.mmp_high_includes_limit else ">"
        r_op = ">=" if self.ratio_high_includes_limit else ">"
        return (
            f"6-TGN {self.tgn_low:g}-{self.tgn_high:g} (very high > {self.tgn_very_high:g}); "
            f"6-MMP raised {mmp_op} {self.mmp_high:g}; MMP:TGN raised {r_op} {self.ratio_high:g} "
            f"[{self.unit}; {'/'.join(self.method_families)}]"
        )


_SCHEMA: dict[str, set[str]] = {
    "profile": {"name", "description", "sources", "unit", "method_families", "extends"},
    "tgn": {"low", "high", "very_high"},
    "mmp": {"high", "high_includes_limit"},
    "ratio": {"high", "high_includes_limit"},
    "liver": {"alt_ast_note_x_uln", "alt_ast_stop_x_uln", "bilirubin_stop_x_uln"},
    "stability": {
        "room_temperature_max_hours", "refrigerated_max_hours",
        "tgn_loss_pct_per_day_room_temperature", "tgn_loss_pct_per_day_refrigerated",
        "tgn_loss_source_room_temperature", "tgn_loss_source_refrigerated",
    },
    "steady_state_weeks": {"normal", "intermediate", "poor"},
    "dose": {"intermediate_fraction", "intermediate_both_fraction", "poor_malignancy_fraction",
             "normal_mg_kg_day"},
    "comments": set(DEFAULT_COMMENTS),
}


def _profile_dir() -> Any:
    return resources.files("thioquant.assay").joinpath("profiles")


def list_profiles() -> list[str]:
    """Names of the profiles shipped with thioquant."""
    return sorted(
        p.name[: -len(".toml")] for p in _profile_dir().iterdir() if p.name.endswith(".toml")
    )


def _read_profile(
    name_or_path: str | Path, base_dir: str | Path | None = None
) -> tuple[dict[str, Any], str, bytes]:
    text = str(name_or_path)
    has_sep = "/" in text or "\\" in text
    looks_like_path = isinstance(name_or_path, Path) or text.endswith(".toml") or has_sep
    shipped = text
    if looks_like_path:
        p = Path(name_or_path)
        if not p.is_absolute() and base_dir is not None and (Path(base_dir) / p).is_file():
            p = Path(base_dir) / p
        if not p.is_file() and not has_sep and p.stem in list_profiles():
            looks_like_path, shipped = False, p.stem  # "default.toml" names the shipped profile
    if looks_like_path:
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise MethodError(f"cannot read profile ({exc.strerror or exc})", path=p) from None
        source = str(p)
    else:
        res = _profile_dir().joinpath(f"{shipped}.toml")
        if not res.is_file():
            raise MethodError(
                f"unknown interpretation profile {shipped!r}; available: {', '.join(list_profiles())} "
                "(or give a path to a .toml file)",
                key="profile",
            )
        data = res.read_bytes()
        source = f"thioquant:profiles/{shipped}.toml"
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MethodError("profile is not UTF-8 text", path=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise MethodError(f"invalid TOML: {exc}", path=source) from None
    return parsed, source, data


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _resolve(
    name_or_path: str | Path, seen: tuple[str, ...] = (), base_dir: str | Path | None = None
) -> tuple[dict[str, Any], str, bytes]:
    parsed, source, data = _read_profile(name_or_path, base_dir)
    if source in seen:
        raise MethodError("profile 'extends' chain is circular", path=source, key="profile.extends")
    head = parsed.get("profile", {})
    base_name = head.get("extends") if isinstance(head, Mapping) else None
    if base_name is None:
        return parsed, source, data
    if not isinstance(base_name, str) or not base_name.strip():
        raise MethodError("must name a profile or a path", path=source, key="profile.extends")
    here = None if source.startswith("thioquant:") else Path(source).parent
    base, _, _ = _resolve(base_name, (*seen, source), here)
    base_head = dict(base.get("profile", {}))
    base_head.pop("extends", None)
    merged = _merge({**base, "profile": base_head}, parsed)
    return merged, source, data


class _Check:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, reason: str) -> MethodError:
        return MethodError(reason, path=self.source, key=key)

    def number(self, v: Any, key: str, *, lo: float = 0.0, strict: bool = True, hi: float | None = None) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.fail(key, f"must be a finite number, got {v!r}")
        v = float(v)
        if v < lo or (strict and v == lo):
            raise self.fail(key, f"must be {'>' if strict else '>='} {lo:g}, got {v:g}")
        if hi is not None and v > hi:
            raise self.fail(key, f"must be <= {hi:g}, got {v:g}")
        return v

    def pair(self, v: Any, key: str, *, hi: float | None = None) -> tuple[float, float]:
        if not isinstance(v, list | tuple) or len(v) != 2:
            raise self.fail(key, f"must be a [low, high] pair of numbers, got {v!r}")
        a = self.number(v[0], f"{key}[0]", strict=False, hi=hi)
        b = self.number(v[1], f"{key}[1]", strict=False, hi=hi)
        if a > b:
            raise self.fail(key, f"low ({a:g}) must not exceed high ({b:g})")
        return (a, b)

    def boolean(self, v: Any, key: str) -> bool:
        if not isinstance(v, bool):
            raise self.fail(key, f"must be true or false, got {v!r}")
        return v

    def text(self, v: Any, key: str) -> str:
        if not isinstance(v, str):
            raise self.fail(key, f"must be text, got {v!r}")
        return v.strip()


def parse_profile(data: Mapping[str, Any], *, source: str = "<profile>", sha256: str = "") -> Profile:
    """Validate a profile mapping (as read from TOML, after ``extends`` is resolved)."""
    ck = _Check(source)
    extra = sorted(set(data) - set(_SCHEMA))
    if extra:
        raise ck.fail(extra[0], f"unknown table (allowed: {', '.join(sorted(_SCHEMA))})")
    tables: dict[str, Mapping[str, Any]] = {}
    for t, allowed in _SCHEMA.items():
        d = data.get(t, {})
        if not isinstance(d, Mapping):
            raise ck.fail(t, "must be a table")
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ck.fail(f"{t}.{unknown[0]}", f"unknown setting (allowed: {', '.join(sorted(allowed))})")
        tables[t] = d
    kw: dict[str, Any] = {}

    head = tables["profile"]
    if "name" not in head:
        raise ck.fail("profile.name", "required text is missing")
    kw["name"] = ck.text(head["name"], "profile.name")
    if not kw["name"]:
        raise ck.fail("profile.name", "must not be empty")
    if "description" in head:
        kw["description"] = ck.text(head["description"], "profile.description")
    if "unit" in head:
        kw["unit"] = ck.text(head["unit"], "profile.unit")
    if "sources" in head:
        s = head["sources"]
        if not isinstance(s, list) or not all(isinstance(x, str) for x in s):
            raise ck.fail("profile.sources", "must be a list of text")
        kw["sources"] = tuple(s)
    if "method_families" in head:
        fams = head["method_families"]
        if not isinstance(fams, list) or not fams:
            raise ck.fail("profile.method_families", "must be a non-empty list")
        try:
            kw["method_families"] = tuple(method_family(f).value for f in fams)
        except MethodError as exc:
            raise ck.fail("profile.method_families", exc.reason) from None

    def num(table: str, key: str, attr: str | None = None, **opts: Any) -> None:
        if key in tables[table]:
            kw[attr or f"{table}_{key}"] = ck.number(tables[table][key], f"{table}.{key}", **opts)

    def flag(table: str, key: str, attr: str) -> None:
        if key in tables[table]:
            kw[attr] = ck.boolean(tables[table][key], f"{table}.{key}")

    def pair(table: str, key: str, attr: str, **opts: Any) -> None:
        if key in tables[table]:
            kw[attr] = ck.pair(tables[table][key], f"{table}.{key}", **opts)

    num("tgn", "low")
    num("tgn", "high")
    num("tgn", "very_high")
    num("mmp", "high")
    flag("mmp", "high_includes_limit", "mmp_high_includes_limit")
    num("ratio", "high")
    flag("ratio", "high_includes_limit", "ratio_high_includes_limit")
    for k in _SCHEMA["liver"]:
        num("liver", k, k)
    num("stability", "room_temperature_max_hours", "room_temperature_max_hours")
    num("stability", "refrigerated_max_hours", "refrigerated_max_hours")
    pair("stability", "tgn_loss_pct_per_day_room_temperature", "tgn_loss_pct_per_day_room_temperature", hi=100)
    pair("stability", "tgn_loss_pct_per_day_refrigerated", "tgn_loss_pct_per_day_refrigerated", hi=100)
    for k in ("tgn_loss_source_room_temperature", "tgn_loss_source_refrigerated"):
        if k in tables["stability"]:
            kw[k] = ck.text(tables["stability"][k], f"stability.{k}")
    ss = {k: ck.pair(v, f"steady_state_weeks.{k}") for k, v in tables["steady_state_weeks"].items()}
    kw["steady_state_weeks"] = MappingProxyType(ss)
    pair("dose", "intermediate_fraction", "intermediate_fraction", hi=1.0)
    pair("dose", "intermediate_both_fraction", "intermediate_both_fraction", hi=1.0)
    num("dose", "poor_malignancy_fraction", "poor_malignancy_fraction", hi=1.0)
    bands = tables["dose"].get("normal_mg_kg_day", {})
    if not isinstance(bands, Mapping):
        raise ck.fail("dose.normal_mg_kg_day", "must be a table of drug = [low, high]")
    parsed_bands: dict[str, tuple[float, float]] = {}
    for k, v in bands.items():
        bkey = f"dose.normal_mg_kg_day.{k}"
        drug, _, indication = str(k).partition(":")
        if _key(drug) not in _DRUG_ALIASES:
            raise ck.fail(bkey, f"unknown drug {drug!r}; use one of {', '.join(DRUGS)}")
        name = _DRUG_ALIASES[_key(drug)] + (f":{_key(indication)}" if indication else "")
        parsed_bands[name] = ck.pair(v, bkey, hi=100)
    kw["normal_mg_kg_day"] = MappingProxyType(parsed_bands)
    comments = {k: ck.text(v, f"comments.{k}") for k, v in tables["comments"].items()}
    kw["comments"] = MappingProxyType(comments)

    prof = Profile(**kw, source=source, sha256=sha256)
    if not prof.tgn_low < prof.tgn_high:
        raise ck.fail("tgn.high", f"must be greater than tgn.low ({prof.tgn_low:g})")
    if not prof.tgn_high < prof.tgn_very_high:
        raise ck.fail("tgn.very_high", f"must be greater than tgn.high ({prof.tgn_high:g})")
    if not prof.alt_ast_note_x_uln <= prof.alt_ast_stop_x_uln:
        raise ck.fail("liver.alt_ast_stop_x_uln", "must not be below liver.alt_ast_note_x_uln")
    # Fill the comment templates once so a bad template is reported at load time.
    for cat in DEFAULT_COMMENTS:
        prof.comment(cat, method_family="x")
    return prof


def load_profile(
    name_or_path: str | Path | Profile = "default", *, base_dir: str | Path | None = None
) -> Profile:
    """Load and validate an interpretation profile.

    Parameters
    ----------
    name_or_path : str, Path or Profile
        A shipped profile name (see :func:`list_profiles`), or a path to a TOML file. A file may
        start from another profile with ``[profile] extends = "default"`` and override only some
        keys (a relative ``extends`` path is relative to the file). A :class:`Profile` is
        returned unchanged.
    base_dir : str or Path, optional
        Folder tried first for a relative path, e.g. the folder of the method file that names
        the profile.

    Raises
    ------
    MethodError
        Naming the file and the key, for a missing file, invalid TOML or a bad setting.
    """
    if isinstance(name_or_path, Profile):
        return name_or_path
    merged, source, data = _resolve(name_or_path, (), base_dir)
    return parse_profile(merged, source=source, sha256=hashlib.sha256(data).hexdigest())


# --- clinical context -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicalContext:
    """Optional per-patient context. Liver tests are multiples of the upper limit of normal.

    ``room_temperature``: True (stored at room temperature), False (refrigerated) or None
    (not recorded; the room-temperature limit is applied). ``indication`` is free text; values
    containing "malign", "leuk" or "lymph" select the malignancy advice for poor metabolisers, and
    "aih" (autoimmune hepatitis) selects a "drug:aih" dose band when the profile has one.
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "drug", parse_drug(self.drug))
        object.__setattr__(self, "tpmt", parse_phenotype(self.tpmt, column="tpmt"))
        object.__setattr__(self, "nudt15", parse_phenotype(self.nudt15, column="nudt15"))
        for name, lo_strict in (("dose_mg", True), ("weight_kg", True), ("alt_uln", False),
                                ("ast_uln", False), ("bilirubin_uln", False)):
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
        ``storage`` (``room_temperature``/``rt``/``ambient`` or ``refrigerated``/``4c``/``cold``)
        and ``indication``. Empty cells mean "not recorded". See :meth:`from_row_checked` for
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
                bad(col, reason)
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
        indication = row.get("indication")
        ctx = cls(
            drug=drug, dose_mg=dose, weight_kg=weight, tpmt=tpmt, nudt15=nudt15, alt_uln=alt,
            ast_uln=ast, bilirubin_uln=bili, collected_at=collected, received_at=received,
            room_temperature=rt, indication=None if _missing(indication) else str(indication).strip(),
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


# --- interpretation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpretation:
    """Interpretation of one patient's 6-TGN / 6-MMP pair (pmol/8x10^8 RBC).

    ``tgn``/``mmp`` are None when undetectable; ``ratio`` is MMP:TGN when both were detected.
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
    #: Cut-offs per value ("tgn", "mmp", "ratio") that the displayed values must not contradict
    #: (see :func:`format_near`); filled by :func:`interpret` from the profile.
    cutoffs: Mapping[str, tuple[float, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def label(self) -> str:
        return CATEGORIES.get(self.category, self.category)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("cutoffs")  # display helper, not part of the result
        d["notes"] = list(self.notes)
        d["flags"] = list(self.flags)
        d["label"] = self.label
        return d

    def describe(self) -> str:
        """Multi-line plain text for a report or the terminal."""
        lines = [
            f"6-TGN: {_fmt(self.tgn, self.tgn_detected, self.cutoffs.get('tgn', ()))}",
            f"6-MMP: {_fmt(self.mmp, self.mmp_detected, self.cutoffs.get('mmp', ()))}",
            f"MMP:TGN ratio: {format_ratio(self.ratio, self.cutoffs.get('ratio', ())) or '-'}",
            f"Category: {self.label} ({self.category})",
            f"Comment: {self.comment}",
        ]
        lines += [f"Note: {n}" for n in self.notes]
        if self.dose_band:
            lines.append(f"Dose band: {self.dose_band}")
        if self.flags:
            lines.append(f"Flags: {', '.join(self.flags)}")
        fam = f"; method family {self.method_family}" if self.method_family else ""
        lines.append(f"Profile: {self.profile}{fam}")
        return "\n".join(lines)


def _fmt(v: float | None, detected: bool, cutoffs: Iterable[float] = ()) -> str:
    if not detected:
        return "undetectable"
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
        Drug, dose, weight, phenotypes, liver tests and sample times, for extra notes.
    method_family : str, optional
        Family of the assay that produced the results; when given and not among the profile's
        ``method_families`` the pair is not interpreted (category ``not_comparable``). Convert
        first with :func:`thioquant.assay.normalise.convert_family` and an explicit factor.
    tgn_interval, mmp_interval : (float, float), optional
        Uncertainty intervals of the results (from
        :func:`thioquant.assay.normalise.normalised_interval`); when one spans a cut-off a note
        says so. They never change the category, which uses the results themselves.

    Returns
    -------
    Interpretation
        Category code (see :data:`CATEGORIES`), comment, notes and flags.
    """
    prof = load_profile(profile)
    t, t_det, t_ok = _value(tgn, tgn_detected, "tgn")
    m, m_det, m_ok = _value(mmp, mmp_detected, "mmp")
    fam = None if method_family in (None, "") else _family_value(method_family)
    notes: list[str] = []
    flags: list[str] = []
    ratio = m / t if (t_det and m_det and t is not None and m is not None and t > 0) else None

    if fam is not None and fam not in prof.method_families:
        category = "not_comparable"
        comment = prof.comment(category, method_family=fam)
        flags.append(FLAG_FAMILY)
    elif not (t_ok and m_ok):
        category = "not_interpretable"
        comment = prof.comment(category)
        flags.append(FLAG_NOT_INTERPRETED)
        _single_metabolite_note(t if t_ok else math.nan, t_det, m if m_ok else math.nan, m_det, prof, notes)
    else:
        category, comment = _classify(t, m, ratio, prof, notes, flags)
        _interval_notes(t, tgn_interval, "6-TGN", (prof.tgn_low, prof.tgn_high, prof.tgn_very_high), notes)
        _interval_notes(m, mmp_interval, "6-MMP", (prof.mmp_high,), notes)

    dose_band = _context_notes(context, prof, notes, flags) if context is not None else None
    if category == "not_interpretable":
        # a dosing sentence beside a result that must not be interpreted (a rejected run, a
        # doubtful sample) reads as advice; the context's other notes (liver tests, sample age)
        # still help the lab investigate
        dose_band = None
    return Interpretation(
        tgn=t, mmp=m, ratio=ratio, category=category, comment=comment, notes=tuple(notes),
        flags=tuple(dict.fromkeys(flags)), profile=prof.name, dose_band=dose_band,
        method_family=fam, tgn_detected=t_det, mmp_detected=m_det, cutoffs=_cutoffs(prof),
    )


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


def _family_value(value: str) -> str:
    return method_family(value).value


def _classify(
    t: float | None, m: float | None, ratio: float | None, p: Profile, notes: list[str], flags: list[str]
) -> tuple[str, str]:
    """Pattern table (BSG 2019 type). ``t``/``m`` None means undetectable."""
    if t is None and m is None:
        flags.append(FLAG_UNDETECTABLE)
        return "non_adherence", p.comment("non_adherence")
    mmp_high = m is not None and p.mmp_raised(m)
    ratio_high = ratio is not None and p.ratio_raised(ratio)
    if mmp_high:
        flags.append(FLAG_MMP_HIGH)
    if ratio_high:
        flags.append(FLAG_RATIO_HIGH)
    if t is None:
        notes.append(
            "6-TGN undetectable while 6-MMP is detected: the MMP:TGN ratio cannot be computed; "
            "consistent with partial adherence or marked preferential methylation."
        )
    if m is None and t is not None and _cmp(t) > p.tgn_very_high:
        flags += [FLAG_TGN_HIGH, FLAG_TPMT_PATTERN]
        return "tpmt_deficiency", p.comment("tpmt_deficiency")
    tc = None if t is None else _cmp(t)
    if tc is None or tc < p.tgn_low:
        flags.append(FLAG_TGN_LOW)
        if mmp_high or ratio_high:
            return "preferential_methylation", p.comment("preferential_methylation")
        category = "subtherapeutic"
    elif tc <= p.tgn_high:
        category = "hepatotoxicity_risk" if mmp_high else "therapeutic"
    else:
        flags.append(FLAG_TGN_HIGH)
        category = "supratherapeutic" if mmp_high else "myelotoxicity_risk"
    comment = p.comment(category)
    if ratio_high:
        op = ">=" if p.ratio_high_includes_limit else ">"
        comment += (
            f" The MMP:TGN ratio of {format_ratio(ratio, (p.ratio_high,))} ({op} {p.ratio_high:g}) is "
            "consistent with "
            "preferential methylation (shunting); dose escalation may raise 6-MMP more than 6-TGN."
        )
    if m is None and t is not None:
        notes.append("6-MMP undetectable: may be consistent with low TPMT activity or recent dosing changes.")
    return category, comment


def _phenotype_band(tpmt: str | None, nudt15: str | None) -> str:
    """'normal', 'intermediate', 'intermediate_both', 'poor' or 'unknown'."""
    ph = [x for x in (tpmt, nudt15) if x not in (None, "indeterminate")]
    if not ph:
        return "unknown"
    if "poor" in ph:
        return "poor"
    n_int = sum(x in ("intermediate", "possible_intermediate") for x in ph)
    if n_int == 2:
        return "intermediate_both"
    if n_int == 1:
        return "intermediate"
    return "normal"


def _context_notes(ctx: ClinicalContext, p: Profile, notes: list[str], flags: list[str]) -> str | None:
    # Liver tests.
    lft = [(n, v) for n, v in (("ALT", ctx.alt_uln), ("AST", ctx.ast_uln)) if v is not None]
    worst = max((v for _, v in lft), default=None)
    bili_stop = ctx.bilirubin_uln is not None and ctx.bilirubin_uln >= p.bilirubin_stop_x_uln
    lft_cut = (p.alt_ast_note_x_uln, p.alt_ast_stop_x_uln)
    lft_text = ", ".join(f"{n} {format_near(v, lft_cut, 1)}x ULN" for n, v in lft)
    if (worst is not None and worst > p.alt_ast_stop_x_uln) or bili_stop:
        parts = [lft_text] if worst is not None and worst > p.alt_ast_note_x_uln else []
        if bili_stop:
            parts.append(f"bilirubin {format_near(ctx.bilirubin_uln, (p.bilirubin_stop_x_uln,), 1)}x ULN")
        notes.append(
            f"{'; '.join(parts)} (above {p.alt_ast_stop_x_uln:g}x ULN for ALT/AST or "
            f">= {p.bilirubin_stop_x_uln:g}x ULN for bilirubin): consistent with significant liver "
            "injury; prompt review, including whether to withhold the thiopurine, may be considered."
        )
        flags.append(FLAG_LFT_REVIEW)
    elif worst is not None and worst > p.alt_ast_note_x_uln:
        notes.append(
            f"{lft_text} (above {p.alt_ast_note_x_uln:g}x ULN): possible thiopurine hepatotoxicity; "
            "the 6-MMP level and a repeat of liver tests may help the assessment."
        )
        flags.append(FLAG_LFT)

    # Sample age.
    age = ctx.age_hours
    if age is not None:
        rt = ctx.room_temperature is not False
        limit = p.room_temperature_max_hours if rt else p.refrigerated_max_hours
        loss = p.tgn_loss_pct_per_day_room_temperature if rt else p.tgn_loss_pct_per_day_refrigerated
        source = p.tgn_loss_source_room_temperature if rt else p.tgn_loss_source_refrigerated
        if age > limit:
            days = age / 24.0
            # Linear in days: the sources give a rate (Pike) or one 7-day point (de Graaf), so
            # a linear rate reproduces both at the durations they report.
            lo, hi = (min(100.0, days * x) for x in loss)
            where = "at room temperature" if ctx.room_temperature else (
                "refrigerated" if ctx.room_temperature is False else
                "storage temperature not recorded, room temperature assumed")
            cited = f"; {source}" if source else ""
            notes.append(
                f"Sample received {format_near(age, (limit,))} h after collection ({where}; profile limit "
                f"{limit:g} h): "
                f"6-TGN in whole blood may be underestimated by about {_range((lo, hi), 0)} % over "
                f"{days:.1f} days ({_range(loss)} %/day{cited}); a low 6-TGN result may partly "
                "reflect sample age rather than dosing, so it may be interpreted with caution and a "
                "fresh sample considered before any dose change."
            )
            flags.append(FLAG_AGED)

    # Phenotype and dose band.
    band = _phenotype_band(ctx.tpmt, ctx.nudt15)
    if band in ("intermediate", "intermediate_both", "poor"):
        key = "intermediate" if band == "intermediate_both" else band
        ss = p.steady_state_weeks.get(key)
        if ss:
            notes.append(
                f"Steady state is expected about {_range(ss)} weeks after each dose change for "
                f"{key} metabolisers (CPIC); earlier samples may underestimate 6-TGN."
            )
    if ctx.drug is None and ctx.tpmt is None and ctx.nudt15 is None:
        return None
    return _dose_band(ctx, band, p, flags)


def _range(pair: Sequence[float], digits: int = 2) -> str:
    a, b = (round(x, digits) for x in pair)
    return f"{a:g}" if a == b else f"{a:g}-{b:g}"


def _dose_band(ctx: ClinicalContext, band: str, p: Profile, flags: list[str]) -> str:
    geno = f"TPMT {ctx.tpmt or 'not recorded'}, NUDT15 {ctx.nudt15 or 'not recorded'}"
    indication = (ctx.indication or "").lower()
    words = "".join(ch if ch.isalnum() else " " for ch in indication).split()
    malignant = any(w.startswith(("malign", "leuk", "lymphom", "cancer", "neoplas")) or w in ("all", "aml")
                    for w in words)
    normal = None
    drug_label = ctx.drug or "drug not recorded"
    if ctx.drug is not None:
        ind_key = f"{ctx.drug}:{_key(indication)}" if indication else None
        normal = p.normal_mg_kg_day.get(ind_key) if ind_key else None
        normal = normal or p.normal_mg_kg_day.get(ctx.drug)
    base = f"{drug_label}; {geno}"
    if band == "poor":
        if malignant:
            frac = p.poor_malignancy_fraction
            txt = (f"{base}: CPIC suggests a drastically reduced dose for malignancy "
                   f"(~{frac * 100:g} % of the normal daily dose, thrice weekly)")
        elif indication:
            txt = f"{base}: CPIC suggests considering a non-thiopurine alternative for non-malignant conditions"
        else:
            txt = (f"{base}: CPIC suggests considering a non-thiopurine alternative for non-malignant "
                   f"conditions; for malignancy, ~{p.poor_malignancy_fraction * 100:g} % of the normal "
                   "daily dose thrice weekly")
        return txt
    fraction = {"intermediate": p.intermediate_fraction,
                "intermediate_both": p.intermediate_both_fraction}.get(band, (1.0, 1.0))
    pheno_txt = {"normal": "normal metaboliser", "unknown": "phenotype not recorded; normal band shown",
                 "intermediate": "intermediate metaboliser",
                 "intermediate_both": "intermediate in both genes"}[band]
    if normal is None:
        if band in ("intermediate", "intermediate_both"):
            return (f"{base}: CPIC starting dose {_range([f * 100 for f in fraction], 0)} % of the "
                    f"normal dose ({pheno_txt}); no mg/kg band configured for {drug_label}")
        return f"{base}: no mg/kg band configured for {drug_label} ({pheno_txt})"
    lo, hi = normal[0] * fraction[0], normal[1] * fraction[1]
    frac_txt = "" if fraction == (1.0, 1.0) else (
        f" = {_range([f * 100 for f in fraction], 0)} % of {_range(normal)} mg/kg/day")
    txt = f"{base}: CPIC starting dose {_range((lo, hi))} mg/kg/day ({pheno_txt}{frac_txt})"
    dose = ctx.dose_mg_kg
    if dose is not None:
        if dose < lo - 1e-9:
            where = "below"
        elif dose > hi + 1e-9:
            where = "above"
        else:
            where = "within"
        txt += (f"; recorded dose {format_near(dose, (lo, hi), 2)} mg/kg/day ({ctx.dose_mg:g} mg / {ctx.weight_kg:g} kg) "
                f"is {where} this band")
        # Only a dose above the band of a *recorded* phenotype is flagged: maintenance doses
        # below the starting band are common and not in themselves a safety signal.
        if where == "above" and band != "unknown":
            flags.append(FLAG_DOSE)
            txt += ", which may warrant review in the light of the metabolite levels"
    return txt


# --- plausibility of a value typed in by hand -----------------------------------------------------

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


# --- tabular output ---------------------------------------------------------------------------

#: Columns of ``interpretation.csv``.
INTERPRETATION_COLUMNS = (
    "patient_id", "sample_id", "tgn_pmol_8e8", "mmp_pmol_8e8", "ratio", "category", "comment",
    "notes", "profile", "method_family", "dose_band", "flags",
)

#: Result flags that mean "below the reportable limit": the metabolite is treated as undetectable.
UNDETECTED_FLAGS = frozenset({"NOT_DETECTED", "BELOW_LOD", "BELOW_LLOQ", "NO_PEAK"})

#: Result flags that mean "no usable RBC count": the result (even an undetectable one) cannot be
#: expressed per 8x10^8 RBC, so it is not available for interpretation.
RBC_FLAGS = frozenset({"NO_RBC", "BAD_RBC"})

#: Flags under which a result is not interpreted however it reads, a number or "undetectable"
#: (its values stay in results.csv for the investigation), in the order the note names them:
#: a rejected run; a sample_id on two worklist rows (whose result is the patient's cannot be
#: told); no usable RBC count ("undetectable" per 8x10^8 RBC needs the count: at RBC 0.5 a 6-TG
#: LLOQ of 100 nmol/L is 160 pmol/8x10^8 RBC, so it must not read as non-adherence).
NOT_INTERPRETED_FLAGS = ("RUN_INVALID", "DUPLICATE_ID", "HELD", "DEAD_CHANNEL", *sorted(RBC_FLAGS))

_NON_PATIENT_TYPES = frozenset({
    "calibrator", "cal", "standard", "qc", "blank", "zero", "double_blank", "solvent",
    "system_suitability", "sst", "carryover", "matrix_blank",
})


def interpretation_row(
    interp: Interpretation, *, patient_id: str = "", sample_id: str = "", decimals: int = 1
) -> dict[str, str]:
    """One ``interpretation.csv`` row (text values, in :data:`INTERPRETATION_COLUMNS` order)."""

    cut = interp.cutoffs

    def num(v: float | None, det: bool, role: str) -> str:
        if not det:
            return "undetectable"
        if v is None or math.isnan(v):
            return ""
        return format_near(v, cut.get(role, ()), decimals)

    return {
        "patient_id": patient_id,
        "sample_id": sample_id,
        "tgn_pmol_8e8": num(interp.tgn, interp.tgn_detected, "tgn"),
        "mmp_pmol_8e8": num(interp.mmp, interp.mmp_detected, "mmp"),
        "ratio": format_ratio(interp.ratio, cut.get("ratio", ())),
        "category": interp.category,
        "comment": interp.comment,
        "notes": " | ".join(interp.notes),
        "profile": interp.profile,
        "method_family": interp.method_family or "",
        "dose_band": interp.dose_band or "",
        "flags": ";".join(interp.flags),
    }


def _get(rec: Any, name: str, default: Any = "") -> Any:
    if isinstance(rec, Mapping):
        return rec.get(name, default)
    return getattr(rec, name, default)


def _role(analyte: str) -> str | None:
    try:
        a = canonical_analyte(analyte)
    except InputError:
        return None
    return {"6-TG": "tgn", "6-MMP": "mmp", "AMTCI": "mmp"}.get(a)


def interpretation_rows(
    results: Iterable[Any],
    *,
    profile: str | Path | Profile = "default",
    contexts: Mapping[str, ClinicalContext] | None = None,
    method_family: str | None = None,
) -> list[dict[str, str]]:
    """Rows of ``interpretation.csv`` from per-analyte results, one per patient sample.

    Parameters
    ----------
    results : iterable of Result or mapping
        Records with ``sample_id, sample_type, analyte, reported, flags`` and optionally
        ``patient_id`` and ``method_family``. Calibrators, QCs and blanks are skipped. The 6-TGN
        row is the analyte 6-TG (6-TGN); the 6-MMP row is 6-MMP (or AMTCI). Replicate
        injections are averaged. A result flagged NOT_DETECTED/BELOW_LOD/BELOW_LLOQ/NO_PEAK is
        undetectable; a NaN ``reported`` value without such a flag is not available, and so is
        any result flagged RUN_INVALID (the run failed acceptance), DUPLICATE_ID (its sample_id
        names more than one worklist row), or NO_RBC / BAD_RBC (no usable RBC count: even an
        undetectable concentration cannot be called undetectable per 8x10^8 RBC).
    profile : str, Path or Profile
        Interpretation profile (per method or per run).
    contexts : mapping, optional
        ClinicalContext per sample_id (looked up first) or patient_id.
    method_family : str, optional
        Family for results that do not carry their own ``method_family``.

    Returns
    -------
    list of dict
        Keys :data:`INTERPRETATION_COLUMNS`, in order of first appearance.
    """
    prof = load_profile(profile)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        stype = str(_get(r, "sample_type", "") or "").strip().lower()
        if stype in _NON_PATIENT_TYPES:
            continue
        role = _role(str(_get(r, "analyte", "")))
        if role is None:
            continue
        sid = str(_get(r, "sample_id", ""))
        pid = str(_get(r, "patient_id", "") or "")
        g = groups.setdefault((pid, sid), {"tgn": [], "mmp": [], "fam": ""})
        rflags = {str(f).split(":")[0] for f in (_get(r, "flags", ()) or ())}
        try:
            val = float(_get(r, "reported", math.nan))
        except (TypeError, ValueError):
            val = math.nan
        blocking = [f for f in NOT_INTERPRETED_FLAGS if f in rflags]
        if blocking:
            val = math.nan
            rflags = {blocking[0]}  # the note names the deciding flag
        g[role].append((val, not (rflags & UNDETECTED_FLAGS)))
        if not math.isfinite(val) and not (rflags & UNDETECTED_FLAGS):
            g.setdefault(f"{role}_why", []).extend(sorted(rflags))
        lo, hi = _get(r, "reported_low", math.nan), _get(r, "reported_high", math.nan)
        with contextlib.suppress(TypeError, ValueError):
            g.setdefault(f"{role}_iv", []).append((float(lo), float(hi)))
        g["fam"] = g["fam"] or str(_get(r, "method_family", "") or "")

    rows = []
    for (pid, sid), g in groups.items():
        args = {}
        for role in ("tgn", "mmp"):
            reps = g[role]
            detected = [v for v, d in reps if d]
            if not reps:
                args[role], args[f"{role}_detected"] = math.nan, True
            elif not detected:
                args[role], args[f"{role}_detected"] = None, False
            else:
                finite = [v for v in detected if math.isfinite(v)]
                args[role] = sum(finite) / len(finite) if finite else math.nan
                args[f"{role}_detected"] = True
        ctx = None
        if contexts:
            ctx = contexts.get(sid) or (contexts.get(pid) if pid else None)
        fam = g["fam"] or method_family
        ivs = {}
        for role in ("tgn", "mmp"):
            finite = [iv for iv in g.get(f"{role}_iv", []) if all(math.isfinite(x) for x in iv)]
            # with replicates, the widest envelope of the replicate intervals is used
            ivs[role] = (min(a for a, _ in finite), max(b for _, b in finite)) if finite else None
        interp = interpret(args["tgn"], args["mmp"], profile=prof, tgn_detected=args["tgn_detected"],
                           mmp_detected=args["mmp_detected"], context=ctx, method_family=fam,
                           tgn_interval=ivs["tgn"], mmp_interval=ivs["mmp"])
        row = interpretation_row(interp, patient_id=pid or sid, sample_id=sid)
        why = []
        for role, label in (("tgn", "6-TGN"), ("mmp", "6-MMP")):
            if args[f"{role}_detected"] and args[role] is not None and math.isnan(args[role]):
                codes = list(dict.fromkeys(g.get(f"{role}_why", [])))
                reason = f" ({_flags.describe(codes)})" if codes else (
                    " (no result for this analyte)" if not g[role] else "")
                why.append(f"{label} not reportable{reason}.")
        if why:
            row["notes"] = " | ".join([*why, *([row["notes"]] if row["notes"] else [])])
        rows.append(row)
    return rows


def write_interpretation_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write rows (from :func:`interpretation_rows`) to ``path`` as CSV (formula-safe text cells,
    see :mod:`thioquant.csvcell`); returns the path."""
    from thioquant.csvcell import safe_cell

    p = Path(path)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(INTERPRETATION_COLUMNS), extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: safe_cell(v) if isinstance(v, str) else v for k, v in row.items()})
    return p
