"""Interpretation profiles: the cut-offs and clinical settings, from TOML (validated on load).

Shipped profiles are in ``thioquant/assay/profiles/*.toml`` (``default``, ``prometheus``,
``aga2017``, ``ratio20``); any file can be passed by path, and a file may ``extends`` another.
Every key, its default and its source are listed in docs/interpretation.md.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from thioquant.assay.normalise import method_family
from thioquant.clinical.context import _DRUG_ALIASES, _INDICATION_BY_KEY, DRUGS, INDICATIONS, _key
from thioquant.clinical.formatting import _cmp
from thioquant.clinical.wording import DEFAULT_COMMENTS, DEFAULT_MONITORING
from thioquant.errors import MethodError


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
    mmp_loss_pct_per_day_room_temperature: tuple[float, float] = (6.4, 6.4)
    mmp_loss_pct_per_day_refrigerated: tuple[float, float] = (2.0, 2.0)
    mmp_loss_source_room_temperature: str = "de Graaf 2010: median 55 % of baseline after 7 days at 22 C"
    mmp_loss_source_refrigerated: str = "de Graaf 2010: median 86 % of baseline after 7 days at 4 C"
    tgn_very_low: float = 100.0
    mmp_very_low: float = 500.0
    sample_after_weeks: float = 4.0
    allopurinol_fraction: tuple[float, float] = (0.25, 0.33)
    indication_band_source: str = "autoimmune-hepatitis practice with prednisolone (dosing source; not a CPIC band)"
    wbc_low: float = 3.5
    neutrophils_low: float = 1.6
    platelets_low: float = 140.0
    blood_count_source: str = (
        "BSR/BHPR 2017 DMARD monitoring guideline: WBC < 3.5, neutrophils < 1.6, platelets < 140 "
        "x10^9/L")
    tpmt_activity_unit: str = "U/mL"
    tpmt_activity_poor_below: float | None = 17.0
    tpmt_activity_normal_from: float | None = 24.0
    tpmt_activity_source: str = (
        "ARUP test 0092066 (TPMT activity, RBC): < 17.0 low, 17.0-23.9 intermediate, >= 24.0 U/mL "
        "normal; laboratory-specific")
    monitoring: str = DEFAULT_MONITORING
    steady_state_weeks: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    intermediate_fraction: tuple[float, float] = (0.30, 0.80)
    intermediate_both_fraction: tuple[float, float] = (0.20, 0.50)
    poor_malignancy_fraction: float = 0.10
    normal_mg_kg_day: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    comments: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    sha256: str = ""

    def mmp_reference(self) -> str:
        """The 6-MMP reference as text: "<= 5700", or "< 5700" when 5700 itself is raised."""
        return f"{'<' if self.mmp_high_includes_limit else '<='} {self.mmp_high:g}"

    def ratio_reference(self) -> str:
        """The MMP:TGN reference as text: "<= 11", or "< 11" when 11 itself is raised."""
        return f"{'<' if self.ratio_high_includes_limit else '<='} {self.ratio_high:g}"

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
        "mmp_loss_pct_per_day_room_temperature", "mmp_loss_pct_per_day_refrigerated",
        "mmp_loss_source_room_temperature", "mmp_loss_source_refrigerated",
    },
    "steady_state_weeks": {"normal", "intermediate", "poor", "sample_after"},
    "adherence": {"tgn_very_low", "mmp_very_low"},
    "dose": {"intermediate_fraction", "intermediate_both_fraction", "poor_malignancy_fraction",
             "normal_mg_kg_day", "allopurinol_fraction", "indication_band_source"},
    "blood_count": {"wbc_low", "neutrophils_low", "platelets_low", "source"},
    "tpmt_activity": {"unit", "poor_below", "normal_from", "source"},
    "monitoring": {"text"},
    "comments": set(DEFAULT_COMMENTS),
}


def _profile_dir() -> Any:
    # the TOML files stay where method files and users have always found them
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
    pair("stability", "mmp_loss_pct_per_day_room_temperature", "mmp_loss_pct_per_day_room_temperature", hi=100)
    pair("stability", "mmp_loss_pct_per_day_refrigerated", "mmp_loss_pct_per_day_refrigerated", hi=100)
    for k in ("tgn_loss_source_room_temperature", "tgn_loss_source_refrigerated",
              "mmp_loss_source_room_temperature", "mmp_loss_source_refrigerated"):
        if k in tables["stability"]:
            kw[k] = ck.text(tables["stability"][k], f"stability.{k}")
    ss_table = dict(tables["steady_state_weeks"])
    if "sample_after" in ss_table:
        kw["sample_after_weeks"] = ck.number(ss_table.pop("sample_after"), "steady_state_weeks.sample_after")
    ss = {k: ck.pair(v, f"steady_state_weeks.{k}") for k, v in ss_table.items()}
    kw["steady_state_weeks"] = MappingProxyType(ss)
    num("adherence", "tgn_very_low", "tgn_very_low")
    num("adherence", "mmp_very_low", "mmp_very_low")
    pair("dose", "intermediate_fraction", "intermediate_fraction", hi=1.0)
    pair("dose", "intermediate_both_fraction", "intermediate_both_fraction", hi=1.0)
    num("dose", "poor_malignancy_fraction", "poor_malignancy_fraction", hi=1.0)
    pair("dose", "allopurinol_fraction", "allopurinol_fraction", hi=1.0)
    if "indication_band_source" in tables["dose"]:
        kw["indication_band_source"] = ck.text(tables["dose"]["indication_band_source"],
                                               "dose.indication_band_source")
    num("blood_count", "wbc_low", "wbc_low")
    num("blood_count", "neutrophils_low", "neutrophils_low")
    num("blood_count", "platelets_low", "platelets_low")
    if "source" in tables["blood_count"]:
        kw["blood_count_source"] = ck.text(tables["blood_count"]["source"], "blood_count.source")
    act = tables["tpmt_activity"]
    if "unit" in act:
        kw["tpmt_activity_unit"] = ck.text(act["unit"], "tpmt_activity.unit")
    if "source" in act:
        kw["tpmt_activity_source"] = ck.text(act["source"], "tpmt_activity.source")
    num("tpmt_activity", "poor_below", "tpmt_activity_poor_below")
    num("tpmt_activity", "normal_from", "tpmt_activity_normal_from")
    if "text" in tables["monitoring"]:
        kw["monitoring"] = ck.text(tables["monitoring"]["text"], "monitoring.text")
    bands = tables["dose"].get("normal_mg_kg_day", {})
    if not isinstance(bands, Mapping):
        raise ck.fail("dose.normal_mg_kg_day", "must be a table of drug = [low, high]")
    parsed_bands: dict[str, tuple[float, float]] = {}
    for k, v in bands.items():
        bkey = f"dose.normal_mg_kg_day.{k}"
        drug, _, indication = str(k).partition(":")
        if _key(drug) not in _DRUG_ALIASES:
            raise ck.fail(bkey, f"unknown drug {drug!r}; use one of {', '.join(DRUGS)}")
        ind = ""
        if indication:
            ind = _INDICATION_BY_KEY.get(_key(indication), "")
            if not ind:
                raise ck.fail(bkey, f"unknown indication {indication!r}; use one of {', '.join(INDICATIONS)}")
        name = _DRUG_ALIASES[_key(drug)] + (f":{ind}" if ind else "")
        parsed_bands[name] = ck.pair(v, bkey, hi=100)
    kw["normal_mg_kg_day"] = MappingProxyType(parsed_bands)
    comments = {k: ck.text(v, f"comments.{k}") for k, v in tables["comments"].items()}
    kw["comments"] = MappingProxyType(comments)

    prof = Profile(**kw, source=source, sha256=sha256)
    if not prof.tgn_low < prof.tgn_high:
        raise ck.fail("tgn.high", f"must be greater than tgn.low ({prof.tgn_low:g})")
    if not prof.tgn_high < prof.tgn_very_high:
        raise ck.fail("tgn.very_high", f"must be greater than tgn.high ({prof.tgn_high:g})")
    lo_act, hi_act = prof.tpmt_activity_poor_below, prof.tpmt_activity_normal_from
    if lo_act is not None and hi_act is not None and lo_act > hi_act:
        raise ck.fail("tpmt_activity.normal_from", "must not be below tpmt_activity.poor_below")
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

